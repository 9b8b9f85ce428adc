/* The OpenPGM session (transports/pgm/pgmsock.c), on the loopback interface
   of a private network namespace (the test unshares one, so it needs root:
   CI runs as root, and a failure to unshare is a failure, not a skip).
   Pinned: the descriptors each role watches, the datagram size, argument
   errors, delivery tagged with the sender's TSI over epgm and pgm, a BUS
   member not hearing itself, no cross-talk between groups on one port,
   two sessions of one process on one group, EACCES for raw PGM without
   CAP_NET_RAW, a rate-limited datagram held
   and finished by the service call, and OpenPGM's log silenced unless
   NN_PRINT_ERRORS. Loss and repairs are pgm_netns.sh's business. */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <pgm/pgm.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "core/global.h"
#include "pgm/pgmsock.h"
#include "pgm/pgmwire.h"

#define DEADLINE_MS 10000

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

static int port_seq = 7000;

/* Parses and resolves "127.0.0.1;GROUP:PORT". */
static void url(struct sp_pgmurl *u, bool udp, const char *group, int port)
{
    char a[64];
    snprintf(a, sizeof a, "127.0.0.1;%s:%d", group, port);
    assert_int_equal(sp_pgmurl_parse(u, udp, a), 0);
    assert_int_equal(sp_pgmurl_resolve(u, NULL), 0);
}

static struct sp_pgmsock *open_s(bool udp, const char *group, int port, int roles, const struct sp_pgmopts *o)
{
    struct sp_pgmurl u;
    url(&u, udp, group, port);
    struct sp_pgmopts def;
    sp_pgmopts_init(&def);
    struct sp_pgmsock *s = NULL;
    char detail[256];
    int rc = sp_pgmsock_open(&s, &u, o ? o : &def, roles, detail, sizeof detail);
    if (rc != 0)
        fail_msg("sp_pgmsock_open: %s (%s)", strerror(-rc), detail);
    return s;
}

/* What a receiver got. */
struct got {
    int n;
    uint64_t tsi[64];
    uint8_t first[64]; /* first payload byte of each datagram */
    size_t len[64];
};

static void on_data(void *arg, uint64_t tsi, const uint8_t *dg, size_t len)
{
    struct got *g = arg;
    if (g->n < 64) {
        g->tsi[g->n] = tsi;
        g->first[g->n] = len ? dg[0] : 0;
        g->len[g->n] = len;
    }
    g->n++;
}

static const struct sp_pgmsock_handler handler = {.data = on_data};

/* Runs sessions s[i] (with receivers g[i], or NULL) until *count >= want
   or the deadline, then serves them all once more: every copy of a
   multicast packet reaches its sockets in the same pass of the kernel, so
   after that round each session has read what the counted one read. False
   on timeout. */
static bool pump(struct sp_pgmsock **s, struct got **g, int n, const int *count, int want)
{
    uint64_t deadline = now_ms() + DEADLINE_MS;
    for (;;) {
        for (int i = 0; i < n; i++)
            sp_pgmsock_service(s[i], g[i] ? &handler : NULL, g[i]);
        if (*count >= want) {
            for (int i = 0; i < n; i++)
                sp_pgmsock_service(s[i], g[i] ? &handler : NULL, g[i]);
            return true;
        }
        if (now_ms() > deadline)
            return false;
        struct pollfd p[4 * SP_PGMSOCK_MAXFDS];
        int np = 0, t = 50;
        for (int i = 0; i < n; i++) {
            struct sp_pgmsock_fd f[SP_PGMSOCK_MAXFDS];
            int k = sp_pgmsock_fds(s[i], f);
            for (int j = 0; j < k; j++) {
                p[np].fd = f[j].fd;
                p[np].events = (short) (((f[j].events & EPOLLIN) ? POLLIN : 0) |
                                        ((f[j].events & EPOLLOUT) ? POLLOUT : 0));
                p[np].revents = 0;
                np++;
            }
            int ti = sp_pgmsock_timeout(s[i]);
            if (ti >= 0 && ti < t)
                t = ti;
        }
        (void) poll(p, (nfds_t) np, t);
    }
}

/* A datagram of len bytes whose first byte is tag. */
static int send_tagged(struct sp_pgmsock *s, uint8_t tag, size_t len)
{
    uint8_t buf[1500];
    memset(buf, tag, len);
    return sp_pgmsock_send(s, buf, len);
}

static void test_pgmsock_each_role_watches_its_descriptors(void **state)
{
    (void) state;
    struct sp_pgmsock *r = open_s(true, "239.1.0.1", port_seq++, SP_PGMSOCK_RECV, NULL);
    struct sp_pgmsock_fd f[SP_PGMSOCK_MAXFDS];
    assert_int_equal(sp_pgmsock_fds(r, f), 2);
    assert_int_equal(f[0].events, EPOLLIN);
    assert_int_equal(f[1].events, EPOLLIN);
    assert_true(f[0].fd >= 0 && f[1].fd >= 0 && f[0].fd != f[1].fd);
    sp_pgmsock_close(r);

    for (int roles = SP_PGMSOCK_SEND; roles <= (SP_PGMSOCK_SEND | SP_PGMSOCK_RECV); roles += 2) {
        struct sp_pgmsock *s = open_s(true, "239.1.0.1", port_seq++, roles, NULL);
        assert_int_equal(sp_pgmsock_fds(s, f), 5);
        assert_int_equal(f[2].events, EPOLLIN); /* repairs */
        assert_int_equal(f[3].events, 0);       /* POLLOUT only when blocked */
        assert_int_equal(f[4].events, EPOLLIN); /* the rate timer */
        /* A sender has SPMs to send: its timer is armed. */
        assert_true(sp_pgmsock_timeout(s) >= 0);
        sp_pgmsock_close(s);
    }
}

static void test_pgmsock_datagram_is_one_tpdu_payload(void **state)
{
    (void) state;
    struct sp_pgmsock *s = open_s(true, "239.1.0.2", port_seq++, SP_PGMSOCK_SEND, NULL);
    assert_int_equal(sp_pgmsock_maxdgram(s), 1448); /* 1500 - IP, UDP, PGM headers */
    sp_pgmsock_close(s);
    s = open_s(false, "239.1.0.2", port_seq++, SP_PGMSOCK_SEND, NULL);
    assert_int_equal(sp_pgmsock_maxdgram(s), 1456); /* no UDP header */
    sp_pgmsock_close(s);
    struct sp_pgmopts o;
    sp_pgmopts_init(&o);
    o.maxtpdu = 9000;
    s = open_s(true, "239.1.0.2", port_seq++, SP_PGMSOCK_SEND, &o);
    assert_int_equal(sp_pgmsock_maxdgram(s), 8948);
    sp_pgmsock_close(s);
}

static void test_pgmsock_options_at_their_limits_open(void **state)
{
    (void) state;
    struct sp_pgmopts lo, hi;
    sp_pgmopts_init(&lo);
    lo.rate = SP_PGM_RATE_MIN;
    lo.recovery_ivl = SP_PGM_RECOVERY_IVL_MIN;
    lo.hops = 1;
    lo.loop = 0;
    lo.maxtpdu = SP_PGM_MAXTPDU_MIN;
    sp_pgmopts_init(&hi);
    hi.rate = 0x7fffffff;
    hi.recovery_ivl = SP_PGM_RECOVERY_IVL_MAX;
    hi.hops = 255;
    hi.maxtpdu = SP_PGM_MAXTPDU_MAX;
    const struct sp_pgmopts *all[] = {&lo, &hi};
    for (int i = 0; i < 2; i++) {
        for (int udp = 0; udp < 2; udp++) {
            struct sp_pgmsock *s =
                open_s(udp, "239.1.0.14", port_seq++, SP_PGMSOCK_SEND | SP_PGMSOCK_RECV, all[i]);
            assert_true(sp_pgmsock_maxdgram(s) > SP_PGM_HDR_LEN);
            sp_pgmsock_close(s);
        }
    }
}

static void test_pgmsock_bad_arguments_are_einval(void **state)
{
    (void) state;
    struct sp_pgmurl u;
    url(&u, true, "239.1.0.3", port_seq++);
    struct sp_pgmopts o;
    sp_pgmopts_init(&o);
    struct sp_pgmsock *s = (struct sp_pgmsock *) &u;
    assert_int_equal(sp_pgmsock_open(&s, &u, &o, 0, NULL, 0), -EINVAL);
    assert_null(s);
    assert_int_equal(sp_pgmsock_open(&s, &u, &o, 4, NULL, 0), -EINVAL);
    /* The rate must let one packet through per second (OpenPGM asserts). */
    o.rate = 1499;
    assert_int_equal(sp_pgmsock_open(&s, &u, &o, SP_PGMSOCK_SEND, NULL, 0), -EINVAL);
    sp_pgmopts_init(&o);
    /* Parsed but not resolved. */
    assert_int_equal(sp_pgmurl_parse(&u, true, "127.0.0.1;239.1.0.3:7000"), 0);
    assert_int_equal(sp_pgmsock_open(&s, &u, &o, SP_PGMSOCK_SEND, NULL, 0), -EINVAL);

    s = open_s(true, "239.1.0.3", port_seq++, SP_PGMSOCK_RECV, NULL);
    assert_int_equal(send_tagged(s, 1, 10), -EINVAL);
    sp_pgmsock_close(s);
    s = open_s(true, "239.1.0.3", port_seq++, SP_PGMSOCK_SEND, NULL);
    assert_int_equal(sp_pgmsock_send(s, "", 0), -EMSGSIZE);
    uint8_t big[1449] = {0};
    assert_int_equal(sp_pgmsock_send(s, big, sizeof big), -EMSGSIZE);
    sp_pgmsock_close(s);
}

static void delivers_with_sender_tsi(bool udp, const char *group)
{
    int port = port_seq++;
    struct sp_pgmsock *r = open_s(udp, group, port, SP_PGMSOCK_RECV, NULL);
    struct sp_pgmsock *s = open_s(udp, group, port, SP_PGMSOCK_SEND, NULL);
    for (int i = 0; i < 20; i++)
        assert_int_equal(send_tagged(s, (uint8_t) i, (size_t) (100 + i)), 0);
    struct got g = {0};
    struct sp_pgmsock *ss[] = {r, s};
    struct got *gg[] = {&g, NULL};
    assert_true(pump(ss, gg, 2, &g.n, 20));
    assert_int_equal(g.n, 20);
    for (int i = 0; i < 20; i++) {
        assert_true(g.tsi[i] == sp_pgmsock_tsi(s));
        assert_int_equal(g.first[i], i);
        assert_int_equal(g.len[i], 100 + i);
    }
    assert_true(sp_pgmsock_tsi(r) != sp_pgmsock_tsi(s));
    assert_int_equal(sp_pgmsock_stats(r)->received, 20);
    assert_int_equal(sp_pgmsock_stats(s)->sent, 20);
    sp_pgmsock_close(s);
    sp_pgmsock_close(r);
}

static void test_pgmsock_epgm_delivers_in_order_with_the_sender_tsi(void **state)
{
    (void) state;
    delivers_with_sender_tsi(true, "239.1.0.4");
}

static void test_pgmsock_pgm_delivers_in_order_with_the_sender_tsi(void **state)
{
    (void) state;
    delivers_with_sender_tsi(false, "239.1.0.5");
}

static void test_pgmsock_bus_member_does_not_hear_itself(void **state)
{
    (void) state;
    int port = port_seq++;
    struct sp_pgmsock *b = open_s(true, "239.1.0.6", port, SP_PGMSOCK_SEND | SP_PGMSOCK_RECV, NULL);
    struct sp_pgmsock *r = open_s(true, "239.1.0.6", port, SP_PGMSOCK_RECV, NULL);
    for (int i = 0; i < 10; i++)
        assert_int_equal(send_tagged(b, (uint8_t) i, 50), 0);
    struct got gb = {0}, gr = {0};
    struct sp_pgmsock *ss[] = {b, r};
    struct got *gg[] = {&gb, &gr};
    assert_true(pump(ss, gg, 2, &gr.n, 10));
    /* Looped back to b as well (NN_PGM_LOOP), and dropped there. */
    assert_int_equal(gb.n, 0);
    assert_int_equal(sp_pgmsock_stats(b)->own, 10);
    assert_int_equal(gr.n, 10);
    assert_true(gr.tsi[0] == sp_pgmsock_tsi(b));
    sp_pgmsock_close(r);
    sp_pgmsock_close(b);
}

static void test_pgmsock_other_group_on_the_same_port_is_not_heard(void **state)
{
    (void) state;
    int port = port_seq++;
    struct sp_pgmsock *r1 = open_s(true, "239.1.0.7", port, SP_PGMSOCK_RECV, NULL);
    struct sp_pgmsock *r2 = open_s(true, "239.1.0.8", port, SP_PGMSOCK_RECV, NULL);
    struct sp_pgmsock *s = open_s(true, "239.1.0.7", port, SP_PGMSOCK_SEND, NULL);
    for (int i = 0; i < 10; i++)
        assert_int_equal(send_tagged(s, (uint8_t) i, 50), 0);
    struct got g1 = {0}, g2 = {0};
    struct sp_pgmsock *ss[] = {r1, r2, s};
    struct got *gg[] = {&g1, &g2, NULL};
    /* r2's socket got its copy, if any, when r1's did: pump serves r2 after
       r1 has everything. */
    assert_true(pump(ss, gg, 3, &g1.n, 10));
    assert_int_equal(g2.n, 0);
    sp_pgmsock_close(s);
    sp_pgmsock_close(r2);
    sp_pgmsock_close(r1);
}

static void test_pgmsock_two_sessions_of_one_process_share_a_group(void **state)
{
    (void) state;
    int port = port_seq++;
    struct sp_pgmsock *r1 = open_s(true, "239.1.0.9", port, SP_PGMSOCK_RECV, NULL);
    struct sp_pgmsock *r2 = open_s(true, "239.1.0.9", port, SP_PGMSOCK_RECV, NULL);
    struct sp_pgmsock *s = open_s(true, "239.1.0.9", port, SP_PGMSOCK_SEND, NULL);
    for (int i = 0; i < 10; i++)
        assert_int_equal(send_tagged(s, (uint8_t) i, 50), 0);
    struct got g1 = {0}, g2 = {0};
    struct sp_pgmsock *ss[] = {r1, r2, s};
    struct got *gg[] = {&g1, &g2, NULL};
    assert_true(pump(ss, gg, 3, &g1.n, 10));
    assert_true(pump(ss, gg, 3, &g2.n, 10));
    assert_int_equal(g1.n, 10);
    assert_int_equal(g2.n, 10);
    sp_pgmsock_close(s);
    sp_pgmsock_close(r2);
    sp_pgmsock_close(r1);
}

static void test_pgmsock_rate_limited_datagram_is_held_and_finished_by_service(void **state)
{
    (void) state;
    int port = port_seq++;
    /* 3000 bytes a second: two full packets, then one every half second. */
    struct sp_pgmopts o;
    sp_pgmopts_init(&o);
    o.rate = 3000;
    struct sp_pgmsock *r = open_s(true, "239.1.0.10", port, SP_PGMSOCK_RECV, NULL);
    struct sp_pgmsock *s = open_s(true, "239.1.0.10", port, SP_PGMSOCK_SEND, &o);
    struct got g = {0};
    struct sp_pgmsock *ss[] = {r, s};
    struct got *gg[] = {&g, NULL};
    int sent = 0, again = 0;
    uint64_t deadline = now_ms() + DEADLINE_MS;
    while (sent < 4 && now_ms() < deadline) {
        int rc = send_tagged(s, (uint8_t) sent, 1448);
        if (rc == 0) {
            sent++;
            continue;
        }
        assert_int_equal(rc, -EAGAIN);
        again++;
        assert_true(sp_pgmsock_send_blocked(s));
        /* Held for the rate: a timer, not a descriptor, says when. */
        assert_true(sp_pgmsock_timeout(s) >= 0);
        struct sp_pgmsock_fd f[SP_PGMSOCK_MAXFDS];
        sp_pgmsock_fds(s, f);
        assert_int_equal(f[3].events, 0);
        int before = g.n;
        assert_true(pump(ss, gg, 2, &g.n, before + 1));
    }
    assert_int_equal(sent, 4);
    assert_true(again >= 1);
    assert_true(sp_pgmsock_stats(s)->blocked >= 1);
    /* The last one held goes out with no further send. */
    assert_true(pump(ss, gg, 2, &g.n, 4));
    assert_false(sp_pgmsock_send_blocked(s));
    assert_int_equal(g.n, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(g.first[i], i);
    sp_pgmsock_close(s);
    sp_pgmsock_close(r);
}

static void test_pgmsock_raw_pgm_without_cap_net_raw_is_eacces(void **state)
{
    (void) state;
    struct sp_pgmurl u, ue;
    url(&u, false, "239.1.0.13", port_seq);
    url(&ue, true, "239.1.0.13", port_seq++);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* An unprivileged user: no CAP_NET_RAW. */
        if (setgid(65534) != 0 || setuid(65534) != 0)
            _exit(10);
        struct sp_pgmopts o;
        sp_pgmopts_init(&o);
        struct sp_pgmsock *s;
        if (sp_pgmsock_open(&s, &u, &o, SP_PGMSOCK_SEND, NULL, 0) != -EACCES)
            _exit(11);
        /* epgm needs no privilege. */
        if (sp_pgmsock_open(&s, &ue, &o, SP_PGMSOCK_SEND, NULL, 0) != 0)
            _exit(12);
        sp_pgmsock_close(s);
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* Runs fn with stderr going to a temporary file; returns what it printed. */
static size_t stderr_of(void (*fn)(void), char *out, size_t cap)
{
    char path[] = "/tmp/nanosp-pgmsock-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    fn();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    ssize_t n = pread(fd, out, cap - 1, 0);
    close(fd);
    out[n > 0 ? n : 0] = '\0';
    return n > 0 ? (size_t) n : 0;
}

static void provoke_openpgm_warning(void)
{
    /* OpenPGM logs a warning for a failed precondition. */
    int v = 1;
    assert_false(pgm_setsockopt(NULL, IPPROTO_PGM, PGM_MTU, &v, sizeof v));
}

static void test_pgmsock_openpgm_log_only_with_print_errors(void **state)
{
    (void) state;
    struct sp_pgmsock *s = open_s(true, "239.1.0.11", port_seq++, SP_PGMSOCK_SEND, NULL);
    char buf[1024];
    bool saved = sp_print_errors;
    sp_print_errors = false;
    assert_int_equal(stderr_of(provoke_openpgm_warning, buf, sizeof buf), 0);
    sp_print_errors = true;
    assert_true(stderr_of(provoke_openpgm_warning, buf, sizeof buf) > 0);
    assert_non_null(strstr(buf, "nanomsg: pgm: "));
    sp_print_errors = saved;
    sp_pgmsock_close(s);
}

static void test_pgmsock_openpgm_restarts_after_the_last_session(void **state)
{
    (void) state;
    /* pgm_init with the first session, pgm_shutdown with the last, and
       again: nothing may be left over from the previous round. */
    for (int i = 0; i < 3; i++) {
        struct sp_pgmsock *s =
            open_s(i & 1, "239.1.0.12", port_seq++, SP_PGMSOCK_SEND | SP_PGMSOCK_RECV, NULL);
        sp_pgmsock_close(s);
    }
}

static void interface_up(const char *name)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    struct ifreq r;
    memset(&r, 0, sizeof r);
    snprintf(r.ifr_name, sizeof r.ifr_name, "%s", name);
    assert_int_equal(ioctl(fd, SIOCGIFFLAGS, &r), 0);
    r.ifr_flags |= IFF_UP | IFF_MULTICAST;
    assert_int_equal(ioctl(fd, SIOCSIFFLAGS, &r), 0);
    close(fd);
}

static int setup(void **state)
{
    (void) state;
    /* A namespace of our own: its loopback carries our multicast and
       nothing else's, and nothing we do leaks to the host. */
    if (unshare(CLONE_NEWNET) != 0) {
        fprintf(stderr, "pgmsock: unshare(CLONE_NEWNET): %s (this test needs root)\n", strerror(errno));
        return -1;
    }
    interface_up("lo");
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pgmsock_each_role_watches_its_descriptors),
        cmocka_unit_test(test_pgmsock_datagram_is_one_tpdu_payload),
        cmocka_unit_test(test_pgmsock_options_at_their_limits_open),
        cmocka_unit_test(test_pgmsock_bad_arguments_are_einval),
        cmocka_unit_test(test_pgmsock_epgm_delivers_in_order_with_the_sender_tsi),
        cmocka_unit_test(test_pgmsock_pgm_delivers_in_order_with_the_sender_tsi),
        cmocka_unit_test(test_pgmsock_bus_member_does_not_hear_itself),
        cmocka_unit_test(test_pgmsock_other_group_on_the_same_port_is_not_heard),
        cmocka_unit_test(test_pgmsock_two_sessions_of_one_process_share_a_group),
        cmocka_unit_test(test_pgmsock_rate_limited_datagram_is_held_and_finished_by_service),
        cmocka_unit_test(test_pgmsock_raw_pgm_without_cap_net_raw_is_eacces),
        cmocka_unit_test(test_pgmsock_openpgm_log_only_with_print_errors),
        cmocka_unit_test(test_pgmsock_openpgm_restarts_after_the_last_session),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
