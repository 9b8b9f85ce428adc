#!/usr/bin/perl
# A real application of the library: Perl's NanoMsg::Raw (Debian libnanomsg-raw-perl, an
# XS binding compiled against libnanomsg 1.1.5 and linked with BIND_NOW, which takes every
# constant from nn_symbol() at load time) running on OUR libnanomsg.so.5. Prints TAP.
#
# usage: NANOSP_BUILD_DIR=DIR LD_LIBRARY_PATH=DIR perl nanomsg_raw.pl
#        (run_app.sh sets both, and preloads the sanitizer runtime in a sanitizer build)
#
# The first test proves that the process maps our library and no other libnanomsg (else
# it bails out: every later test would prove nothing). Then: constants from nn_symbol,
# REQ/REP over tcp with a zero-copy message, PUB/SUB over tcp with subscriptions (a
# subscribed topic is delivered, others and unsubscribed ones are not), PUSH/PULL over ipc
# with nn_sendmsg/nn_recvmsg, NN_RCVFD/NN_SNDFD readiness with select(), a raw REQ/REP
# device (nn_device) in a child process with a request through it, and statistics
# (nn_get_statistic, and nn_poll, which the binding does not wrap: called through
# FFI::Platypus when it is installed, else those tests are skipped).

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX ();
use Test::More;
use Time::HiRes qw(time);

use NanoMsg::Raw;

my $TIMEOUT_MS = 5000;   # bound on every blocking receive

my $build = $ENV{NANOSP_BUILD_DIR};
defined $build && -d $build or BAIL_OUT('NANOSP_BUILD_DIR must name the build directory');
my $ours = abs_path("$build/libnanomsg.so.5");
defined $ours && -e $ours or BAIL_OUT("no libnanomsg.so.5 in $build");

# --- which library is this? -----------------------------------------------------------

sub mapped_nanomsg
{
    my ($pid) = @_;
    open my $maps, '<', "/proc/$pid/maps" or return;
    my %seen;
    while (<$maps>) {
        my $path = (split ' ', $_, 6)[5];
        next unless defined $path;
        chomp $path;
        $seen{$path} = 1 if $path =~ m{/libnanomsg\.so[^/]*$};
    }
    return sort keys %seen;
}

is_deeply([mapped_nanomsg('self')], [$ours],
    "the process maps our $ours and no other libnanomsg")
    or BAIL_OUT('NanoMsg::Raw is not running on our library: nothing below would mean anything');

# --- constants: the binding imported them through our nn_symbol -----------------------

# 120 is what the binding imports on Debian's libnanomsg 1.1.5 (it skips one entry).
is(scalar(my @syms = NanoMsg::Raw::_symbols()), 120, 'nn_symbol yields the 120 constants the binding imports');
is(AF_SP, 1, 'AF_SP');
is(AF_SP_RAW, 2, 'AF_SP_RAW');
is(NN_REQ, 48, 'NN_REQ');
is(NN_SUB_SUBSCRIBE, 1, 'NN_SUB_SUBSCRIBE');
is(NN_RCVFD, 11, 'NN_RCVFD');
is(EFSM, 156384766, 'EFSM (NN_HAUSNUMERO based)');
is(NN_STAT_MESSAGES_SENT, 301, 'NN_STAT_MESSAGES_SENT');

my $dir = tempdir('nanosp-perl.XXXXXX', TMPDIR => 1, CLEANUP => 1);
length("$dir/front.ipc") < 100 or $dir = tempdir('nanosp-perl.XXXXXX', DIR => '/tmp', CLEANUP => 1);

# --- the device runs in a child forked before this process opens any socket -----------

my $front = "ipc://$dir/front.ipc";
my $back = "ipc://$dir/back.ipc";
pipe(my $ready_r, my $ready_w) or die "pipe: $!";
my $device_pid = fork;
defined $device_pid or die "fork: $!";
if ($device_pid == 0) {
    close $ready_r;
    my $f = nn_socket(AF_SP_RAW, NN_REP);
    my $b = nn_socket(AF_SP_RAW, NN_REQ);
    if (!defined $f || !defined $b || !defined nn_bind($f, $front) || !defined nn_bind($b, $back)) {
        print {$ready_w} 'setup failed: ' . nn_strerror(nn_errno()) . "\n";
        POSIX::_exit(1);
    }
    print {$ready_w} "ready\n";
    close $ready_w;
    nn_device($f, $b);   # returns only on error
    print STDERR 'device child: nn_device returned: ' . nn_strerror(nn_errno()) . "\n";
    POSIX::_exit(2);
}
close $ready_w;

# --- helpers ---------------------------------------------------------------------------

sub socket_ok
{
    my ($domain, $protocol, $what) = @_;
    my $s = nn_socket($domain, $protocol);
    ok(defined $s, "nn_socket($what)") or diag('nn_socket: ' . nn_strerror(nn_errno()));
    defined $s or BAIL_OUT("cannot create a $what socket");
    nn_setsockopt($s, NN_SOL_SOCKET, NN_RCVTIMEO, $TIMEOUT_MS) or die 'NN_RCVTIMEO: ' . nn_errno();
    nn_setsockopt($s, NN_SOL_SOCKET, NN_SNDTIMEO, $TIMEOUT_MS) or die 'NN_SNDTIMEO: ' . nn_errno();
    return $s;
}

# Receives one message (as a string), or undef with a diagnostic.
sub recv_str
{
    my ($s, $flags) = @_;
    my $n = nn_recv($s, my $buf, NN_MSG, $flags // 0);
    return undef unless defined $n;
    return "$buf";
}

# An fd option (NN_RCVFD, NN_SNDFD) as a number.
sub fd_option
{
    my ($s, $option) = @_;
    my $v = nn_getsockopt($s, NN_SOL_SOCKET, $option);
    defined $v or return undef;
    return unpack 'i', $v;
}

# Is FD readable within SECONDS (0: right now)?
sub fd_readable
{
    my ($fd, $seconds) = @_;
    my $rin = '';
    vec($rin, $fd, 1) = 1;
    my $n = select(my $rout = $rin, undef, undef, $seconds);
    return $n > 0;
}

# A TCP port on 127.0.0.1 that was free a moment ago.
sub free_port
{
    my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1)
        or die "cannot find a free port: $!";
    my $port = $sock->sockport;
    close $sock;
    return $port;
}

# Binds S to a fresh tcp://127.0.0.1 port (retrying when another process took it).
sub bind_tcp
{
    my ($s) = @_;
    for (1 .. 5) {
        my $url = 'tcp://127.0.0.1:' . free_port();
        return $url if defined nn_bind($s, $url);
        die 'nn_bind: ' . nn_strerror(nn_errno()) unless nn_errno() == EADDRINUSE;
    }
    die 'no free tcp port';
}

# --- REQ/REP over tcp -------------------------------------------------------------------

{
    my $rep = socket_ok(AF_SP, NN_REP, 'NN_REP');
    my $req = socket_ok(AF_SP, NN_REQ, 'NN_REQ');
    my $url = bind_tcp($rep);
    ok(defined nn_connect($req, $url), "REQ connects to $url");

    ok(!defined nn_recv($req, my $none, NN_MSG, NN_DONTWAIT) && nn_errno() == EFSM,
        'REQ recv before any request fails with EFSM');
    my $msg = nn_allocmsg(5, 0);
    ok(defined $msg, 'nn_allocmsg') or diag(nn_strerror(nn_errno()));
    $msg->copy('hello');
    is(nn_send($req, $msg), 5, 'REQ sends a zero-copy request');
    is(recv_str($rep), 'hello', 'REP receives the request');
    is(nn_send($rep, 'world'), 5, 'REP replies');
    is(recv_str($req), 'world', 'REQ receives the reply');
    ok(!defined nn_send($rep, 'again') && nn_errno() == EFSM,
        'REP cannot reply twice (EFSM)');
    nn_close($req);
    nn_close($rep);
}

# --- PUB/SUB over tcp with subscriptions --------------------------------------------------

{
    my $pub = socket_ok(AF_SP, NN_PUB, 'NN_PUB');
    my $sub = socket_ok(AF_SP, NN_SUB, 'NN_SUB');
    ok(nn_setsockopt($sub, NN_SUB, NN_SUB_SUBSCRIBE, 'news.'), 'subscribe to "news."');
    ok(nn_setsockopt($sub, NN_SUB, NN_SUB_SUBSCRIBE, 'weather.'), 'subscribe to "weather."');
    ok(nn_setsockopt($sub, NN_SUB, NN_SUB_UNSUBSCRIBE, 'weather.'), 'unsubscribe from "weather."');
    my $url = bind_tcp($pub);
    ok(defined nn_connect($sub, $url), "SUB connects to $url");

    # The connection comes up asynchronously and a PUB drops what it sends before: publish
    # every 100 ms until the subscriber has the first message.
    my $fd = fd_option($sub, NN_RCVFD);
    ok(defined $fd, 'NN_RCVFD of the SUB');
    my ($first, $sends, $deadline) = (undef, 0, time + $TIMEOUT_MS / 1000);
    while (!defined $first && time < $deadline) {
        nn_send($pub, 'sports.early') // die 'PUB send: ' . nn_errno();
        nn_send($pub, 'news.hello') // die 'PUB send: ' . nn_errno();
        $sends++;
        $first = recv_str($sub, NN_DONTWAIT) if fd_readable($fd, 0.1);
    }
    is($first, 'news.hello', "the subscribed topic arrives (after $sends rounds)");

    # One pipe keeps the order: everything published now comes after the repeats in flight.
    nn_send($pub, $_) // die 'PUB send: ' . nn_errno()
        for 'sports.late', 'weather.late', 'newsletter', 'news.last';
    my @got;
    while (defined(my $m = recv_str($sub))) {
        push @got, $m;
        last if $m eq 'news.last';
    }
    is($got[-1], 'news.last', 'the last subscribed message arrives');
    is_deeply([grep { $_ ne 'news.hello' } @got], ['news.last'],
        'nothing unsubscribed ("sports.", "weather." after unsubscribe, "newsletter") arrives')
        or diag("got: @got");
    ok(!defined nn_recv($sub, my $x, NN_MSG, NN_DONTWAIT) && nn_errno() == EAGAIN,
        'nothing else is queued');
    ok(!defined nn_recv($pub, my $y, NN_MSG, NN_DONTWAIT) && nn_errno() == ENOTSUP,
        'recv on a PUB fails with ENOTSUP');
    nn_close($sub);
    nn_close($pub);
}

# --- PUSH/PULL over ipc, nn_sendmsg/nn_recvmsg, RCVFD/SNDFD readiness -------------------

{
    my $pull = socket_ok(AF_SP, NN_PULL, 'NN_PULL');
    my $push = socket_ok(AF_SP, NN_PUSH, 'NN_PUSH');
    my $url = "ipc://$dir/pipeline.ipc";
    ok(defined nn_bind($pull, $url), "PULL binds $url");
    ok(defined nn_connect($push, $url), 'PUSH connects');

    my $rcvfd = fd_option($pull, NN_RCVFD);
    my $sndfd = fd_option($push, NN_SNDFD);
    ok(defined $rcvfd && defined $sndfd, 'NN_RCVFD of the PULL, NN_SNDFD of the PUSH');
    ok(!defined fd_option($push, NN_RCVFD) && nn_errno() == ENOPROTOOPT,
        'a PUSH has no NN_RCVFD (ENOPROTOOPT)');
    ok(!fd_readable($rcvfd, 0), 'RCVFD is not readable while there is nothing to receive');
    ok(fd_readable($sndfd, $TIMEOUT_MS / 1000), 'SNDFD becomes readable once the PUSH can send');

    is(nn_send($push, 'one'), 3, 'PUSH sends "one"');
    is(nn_sendmsg($push, 0, 'tw', 'o-', 'parts'), 9, 'PUSH sends "two-parts" with nn_sendmsg (3 parts)');
    is(nn_send($push, 'three'), 5, 'PUSH sends "three"');
    ok(fd_readable($rcvfd, $TIMEOUT_MS / 1000), 'RCVFD becomes readable when a message arrives');
    ok(fd_readable($rcvfd, 0), 'RCVFD stays readable until the message is received (level-triggered)');
    is(recv_str($pull, NN_DONTWAIT), 'one', 'PULL receives "one" without waiting');
    is(nn_recvmsg($pull, 0, my $p1 => 4, my $p2 => 100), 9, 'nn_recvmsg returns the full length');
    is("$p1|$p2", 'two-|parts', 'nn_recvmsg scatters the message into two buffers');
    is(recv_str($pull), 'three', 'PULL receives "three"');
    ok(!fd_readable($rcvfd, 0), 'RCVFD is not readable once everything was received');
    ok(!defined nn_recv($pull, my $z, NN_MSG, NN_DONTWAIT) && nn_errno() == EAGAIN,
        'PULL recv with NN_DONTWAIT: EAGAIN');
    nn_close($push);
    nn_close($pull);
}

# --- a raw REQ/REP device in the child, a request through it ---------------------------

{
    my $line = <$ready_r>;
    is($line, "ready\n", 'the device child bound its raw REP (front) and raw REQ (back)');
    my $req = socket_ok(AF_SP, NN_REQ, 'NN_REQ (client of the device)');
    my $rep = socket_ok(AF_SP, NN_REP, 'NN_REP (server behind the device)');
    ok(defined nn_connect($rep, $back), 'REP connects to the back of the device');
    ok(defined nn_connect($req, $front), 'REQ connects to the front of the device');
    my $request = 'through the device ' . ('x' x 70000);   # > 64 KiB
    is(nn_send($req, $request), length $request, 'REQ sends a 70 KiB request');
    is(recv_str($rep), $request, 'the REP behind the device receives it intact');
    is(nn_send($rep, 'answered'), 8, 'REP replies');
    is(recv_str($req), 'answered', 'the reply comes back through the device');
    is(nn_send($req, 'second'), 6, 'a second request');
    is(recv_str($rep), 'second', 'reaches the REP');
    is(nn_send($rep, 'answered again'), 14, 'REP replies again');
    is(recv_str($req), 'answered again', 'the second reply comes back');
    nn_close($req);
    nn_close($rep);

    my $alive = waitpid($device_pid, POSIX::WNOHANG()) == 0;
    ok($alive, 'the device is still running (nn_device did not return)');
    kill 'TERM', $device_pid;
    waitpid($device_pid, 0);
    my $status = $?;
    ok($alive && ($status & 127) == POSIX::SIGTERM(), 'the device child ends by our SIGTERM')
        or diag(sprintf 'device child wait status %#x', $status);
}

# --- statistics and nn_poll: not wrapped by the binding, called through FFI -------------

SKIP: {
    eval { require FFI::Platypus; require FFI::Platypus::Buffer; 1 }
        or skip 'FFI::Platypus (Debian libffi-platypus-perl) is not installed: '
        . 'no way to call nn_get_statistic or nn_poll from Perl', 13;

    # dlopen of the path that is already mapped returns that very object: the calls below
    # go to the library the binding uses (checked again afterwards).
    my $ffi = FFI::Platypus->new(api => 2, lib => [$ours]);
    my $stat = $ffi->function(nn_get_statistic => ['int', 'int'] => 'uint64');
    my $poll = $ffi->function(nn_poll => ['opaque', 'int', 'int'] => 'int');

    my $pull = socket_ok(AF_SP, NN_PULL, 'NN_PULL (statistics)');
    my $push = socket_ok(AF_SP, NN_PUSH, 'NN_PUSH (statistics)');
    nn_bind($pull, 'inproc://stats') // die 'bind: ' . nn_errno();
    nn_connect($push, 'inproc://stats') // die 'connect: ' . nn_errno();
    my @msgs = ('a', 'bb', 'ccc', 'dddd', 'e' x 1000);
    my $bytes = 0;
    $bytes += length for @msgs;
    nn_send($push, $_) // die 'send: ' . nn_errno() for @msgs;

    my $pollfds = pack 'iss', $pull, NN_POLLIN, 0;
    my ($ptr) = FFI::Platypus::Buffer::scalar_to_buffer($pollfds);
    is($poll->call($ptr, 1, $TIMEOUT_MS), 1, 'nn_poll: one socket ready');
    is((unpack 'iss', $pollfds)[2], NN_POLLIN, 'nn_poll: the PULL is ready for NN_POLLIN');

    my @got = map { recv_str($pull) } @msgs;
    is_deeply(\@got, \@msgs, 'PULL receives the five messages in order');
    is($stat->call($push, NN_STAT_MESSAGES_SENT), 5, 'NN_STAT_MESSAGES_SENT of the PUSH');
    is($stat->call($push, NN_STAT_BYTES_SENT), $bytes, 'NN_STAT_BYTES_SENT of the PUSH');
    is($stat->call($pull, NN_STAT_MESSAGES_RECEIVED), 5, 'NN_STAT_MESSAGES_RECEIVED of the PULL');
    is($stat->call($pull, NN_STAT_BYTES_RECEIVED), $bytes, 'NN_STAT_BYTES_RECEIVED of the PULL');
    is($stat->call($push, NN_STAT_MESSAGES_RECEIVED), 0, 'the PUSH received nothing');
    is($stat->call($pull, NN_STAT_CURRENT_CONNECTIONS), 1, 'NN_STAT_CURRENT_CONNECTIONS of the PULL');
    nn_close($push);
    nn_close($pull);
    is($stat->call($push, NN_STAT_MESSAGES_SENT), ~0,
        'nn_get_statistic on a closed socket returns (uint64_t)-1');
    is_deeply([mapped_nanomsg('self')], [$ours], 'still only our libnanomsg is mapped');
}

done_testing();
