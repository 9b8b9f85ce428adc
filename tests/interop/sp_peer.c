/* sp_peer: "our side" of the wire interop tests. A small command-line program
   that opens one SP socket through the public nn_* API only, binds and/or
   connects it, sends and receives a scripted set of messages and prints every
   received message on its own line. The interop scripts run it against nanocat
   and nngcat; because it uses nothing but the public API, the same source also
   builds against Debian's libnanomsg, which is how the scripts are validated. */

#define _POSIX_C_SOURCE 200809L

#include <nanomsg/nn.h>
#include <nanomsg/bus.h>
#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>
#include <nanomsg/survey.h>

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ITEMS 64

static const char usage[] =
    "usage: sp_peer --type TYPE (--bind URL | --connect URL)...\n"
    "               [--send DATA]... [--send-file PATH]... [--count N]\n"
    "               [--interval MS] [--recv N] [--subscribe PREFIX]...\n"
    "               [--timeout MS] [--hold MS] [--repeat MS] [--retry MS] [--serve]\n"
    "\n"
    "  --type TYPE        pair push pull req rep pub sub surveyor respondent bus\n"
    "  --bind/--connect   endpoint(s) to add (any number, in order)\n"
    "  --send DATA        a message to send (repeatable; sent in order)\n"
    "  --send-file PATH   a message whose body is the content of PATH\n"
    "  --count N          send the whole list N times (default 1)\n"
    "  --interval MS      pause between two rounds of the list (default 0)\n"
    "  --recv N           receive N messages, print each on its own line\n"
    "  --subscribe PREFIX NN_SUB_SUBSCRIBE (sub only; default: everything)\n"
    "  --timeout MS       NN_SNDTIMEO and NN_RCVTIMEO (default 5000)\n"
    "  --hold MS          when done, keep the socket open until SIGTERM/SIGINT\n"
    "                     or MS ms passed; announces \"sp_peer: holding\" on stderr\n"
    "  --repeat MS        fan-out senders (pub, bus), whose messages are lost while\n"
    "                     no peer is connected yet: send the list one message every\n"
    "                     MS ms and keep cycling through it while holding\n"
    "  --retry MS         surveyor: NN_SURVEYOR_DEADLINE = MS; a survey that got no\n"
    "                     (or too few) responses by then is sent again, until\n"
    "                     --timeout MS passed for that message\n"
    "  --serve            rep/respondent: keep answering while holding (a peer that\n"
    "                     gave up waiting for an answer asks again: see interop.sh)\n"
    "\n"
    "Order: req/surveyor send a message, then receive its reply (surveyor: --recv\n"
    "replies per survey); rep/respondent receive, then answer with the next\n"
    "message of the list; every other type sends everything, then receives.\n"
    "Exit 0 on success; 1 with a message on stderr on any failure; 2 on bad usage.\n";

struct item {
    char *data;
    size_t len;
};

struct config {
    const char *type_name;
    int type;
    const char *endpoints[MAX_ITEMS];
    int endpoint_is_bind[MAX_ITEMS];
    int n_endpoints;
    struct item sends[MAX_ITEMS];
    int n_sends;
    const char *subscriptions[MAX_ITEMS];
    int n_subscriptions;
    long count;
    long interval_ms;
    long recv_n;
    long timeout_ms;
    long hold_ms;
    long repeat_ms;   /* > 0: pace the list and keep re-sending it while holding */
    long retry_ms;    /* > 0: surveyor deadline; unanswered surveys are re-sent */
    int serve;        /* rep/respondent: go on answering while holding */
};

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void) sig;
    stop_requested = 1;
}

static void die(const char *fmt, ...)
{
    va_list ap;
    fputs("sp_peer: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static void bad_usage(const char *what, const char *arg)
{
    fprintf(stderr, "sp_peer: %s%s%s\n\n%s", what, arg ? ": " : "", arg ? arg : "", usage);
    exit(2);
}

static long parse_long(const char *opt, const char *s, long min)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min)
        bad_usage("bad number for", opt);
    return v;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !stop_requested)
        ;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void read_file(const char *path, struct item *it)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die("cannot open %s: %s", path, strerror(errno));
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf)
            die("out of memory reading %s", path);
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
        if (len == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
    }
    if (ferror(f))
        die("cannot read %s", path);
    fclose(f);
    it->data = buf;
    it->len = len;
}

static int type_from_name(const char *name)
{
    static const struct { const char *name; int type; } types[] = {
        { "pair", NN_PAIR }, { "push", NN_PUSH }, { "pull", NN_PULL },
        { "req", NN_REQ }, { "rep", NN_REP }, { "pub", NN_PUB }, { "sub", NN_SUB },
        { "surveyor", NN_SURVEYOR }, { "respondent", NN_RESPONDENT }, { "bus", NN_BUS },
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcmp(types[i].name, name) == 0)
            return types[i].type;
    bad_usage("unknown socket type", name);
    return -1;
}

static void parse_args(int argc, char **argv, struct config *c)
{
    memset(c, 0, sizeof *c);
    c->count = 1;
    c->timeout_ms = 5000;
    c->hold_ms = -1;
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
            fputs(usage, stdout);
            exit(0);
        }
        if (strcmp(opt, "--serve") == 0) {
            c->serve = 1;
            continue;
        }
        if (i + 1 >= argc)
            bad_usage("missing argument or unknown option", opt);
        const char *arg = argv[++i];
        if (strcmp(opt, "--type") == 0) {
            c->type_name = arg;
            c->type = type_from_name(arg);
        } else if (strcmp(opt, "--bind") == 0 || strcmp(opt, "--connect") == 0) {
            if (c->n_endpoints == MAX_ITEMS)
                bad_usage("too many endpoints", NULL);
            c->endpoint_is_bind[c->n_endpoints] = opt[2] == 'b';
            c->endpoints[c->n_endpoints++] = arg;
        } else if (strcmp(opt, "--send") == 0 || strcmp(opt, "--send-file") == 0) {
            if (c->n_sends == MAX_ITEMS)
                bad_usage("too many messages", NULL);
            struct item *it = &c->sends[c->n_sends++];
            if (strcmp(opt, "--send") == 0) {
                it->data = strdup(arg);
                it->len = strlen(arg);
                if (!it->data)
                    die("out of memory");
            } else {
                read_file(arg, it);
            }
        } else if (strcmp(opt, "--subscribe") == 0) {
            if (c->n_subscriptions == MAX_ITEMS)
                bad_usage("too many subscriptions", NULL);
            c->subscriptions[c->n_subscriptions++] = arg;
        } else if (strcmp(opt, "--count") == 0) {
            c->count = parse_long(opt, arg, 0);
        } else if (strcmp(opt, "--interval") == 0) {
            c->interval_ms = parse_long(opt, arg, 0);
        } else if (strcmp(opt, "--recv") == 0) {
            c->recv_n = parse_long(opt, arg, 0);
        } else if (strcmp(opt, "--timeout") == 0) {
            c->timeout_ms = parse_long(opt, arg, 1);
        } else if (strcmp(opt, "--hold") == 0) {
            c->hold_ms = parse_long(opt, arg, 0);
        } else if (strcmp(opt, "--repeat") == 0) {
            c->repeat_ms = parse_long(opt, arg, 1);
        } else if (strcmp(opt, "--retry") == 0) {
            c->retry_ms = parse_long(opt, arg, 1);
        } else {
            bad_usage("unknown option", opt);
        }
    }
    if (!c->type_name)
        bad_usage("--type is required", NULL);
    if (c->n_endpoints == 0)
        bad_usage("at least one --bind or --connect is required", NULL);
    if (c->timeout_ms > 0x7fffffffL || c->retry_ms > 0x7fffffffL)
        bad_usage("--timeout or --retry too large", NULL);
    if (c->repeat_ms > 0 && c->n_sends == 0)
        bad_usage("--repeat needs messages to send", NULL);
    if (c->retry_ms > 0 && c->type != NN_SURVEYOR)
        bad_usage("--retry is for surveyor only", NULL);
    if (c->serve && c->type != NN_REP && c->type != NN_RESPONDENT)
        bad_usage("--serve is for rep and respondent only", NULL);
}

static void set_int_opt(int s, int level, int option, int value, const char *name)
{
    if (nn_setsockopt(s, level, option, &value, sizeof value) < 0)
        die("nn_setsockopt(%s): %s", name, nn_strerror(nn_errno()));
}

static void send_item(int s, const struct item *it, long seq)
{
    int rc = nn_send(s, it->data, it->len, 0);
    if (rc < 0)
        die("nn_send of message %ld (%zu bytes) failed: %s", seq, it->len,
            nn_strerror(nn_errno()));
    if ((size_t) rc != it->len)
        die("nn_send of message %ld returned %d, expected %zu", seq, rc, it->len);
}

/* Receives one message and prints it followed by a newline. Returns 0, or -1 with
   errno ETIMEDOUT when the caller allows a time-out (a surveyor's deadline). */
static int recv_and_print_or_timeout(int s, long seq, int timeout_ok)
{
    void *buf = NULL;
    int rc = nn_recv(s, &buf, NN_MSG, 0);
    if (rc < 0) {
        int err = nn_errno();
        if (timeout_ok && err == ETIMEDOUT) {
            errno = err;
            return -1;
        }
        die("nn_recv of message %ld failed: %s", seq, nn_strerror(err));
    }
    if (fwrite(buf, 1, (size_t) rc, stdout) != (size_t) rc || fputc('\n', stdout) == EOF ||
        fflush(stdout) != 0)
        die("cannot write to stdout");
    nn_freemsg(buf);
    return 0;
}

static void recv_and_print(int s, long seq)
{
    (void) recv_and_print_or_timeout(s, seq, 0);
}

/* Sends survey IT and prints REPLIES responses to it. A survey is broadcast only to the
   peers connected at that moment, so one sent before the connection is up is lost: with
   --retry the survey goes out again each time its deadline passes without enough
   responses, for at most --timeout ms. */
static void survey(const struct config *c, int s, const struct item *it, long seq,
    long replies, long *received)
{
    long long give_up = now_ms() + c->timeout_ms;
    long got = 0;
    send_item(s, it, seq);
    while (got < replies) {
        if (recv_and_print_or_timeout(s, *received + 1, c->retry_ms > 0) == 0) {
            got++;
            (*received)++;
            continue;
        }
        if (now_ms() >= give_up)
            die("survey %ld: %ld of %ld responses within %ld ms", seq, got, replies,
                c->timeout_ms);
        send_item(s, it, seq);
    }
}

/* rep/respondent: answers the request just received with the next message of the list
   (cycling through it; nothing if the list is empty). */
static void answer(const struct config *c, int s, long *seq)
{
    if (c->n_sends > 0) {
        send_item(s, &c->sends[*seq % c->n_sends], *seq + 1);
        ++*seq;
    }
}

/* Keeps the socket open until SIGTERM/SIGINT or HOLD_MS passed. Meanwhile, with --repeat,
   keeps sending the list, one message every REPEAT_MS (starting after NEXT); with --serve,
   keeps receiving (and printing) requests and answering them. */
static void hold(const struct config *c, int s, long *seq, int next, long received)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    fputs("sp_peer: holding\n", stderr);
    fflush(stderr);
    long long deadline = now_ms() + c->hold_ms;
    long long next_send = now_ms() + c->repeat_ms;
    while (!stop_requested && now_ms() < deadline) {
        sleep_ms(10);
        if (c->repeat_ms > 0 && !stop_requested && now_ms() >= next_send) {
            send_item(s, &c->sends[next], ++*seq);
            next = (next + 1) % c->n_sends;
            next_send += c->repeat_ms;
        }
        while (c->serve && !stop_requested) {
            void *buf = NULL;
            int rc = nn_recv(s, &buf, NN_MSG, NN_DONTWAIT);
            if (rc < 0) {
                if (nn_errno() != EAGAIN)
                    die("nn_recv of message %ld failed: %s", received + 1,
                        nn_strerror(nn_errno()));
                break;
            }
            if (fwrite(buf, 1, (size_t) rc, stdout) != (size_t) rc ||
                fputc('\n', stdout) == EOF || fflush(stdout) != 0)
                die("cannot write to stdout");
            nn_freemsg(buf);
            received++;
            answer(c, s, seq);
        }
    }
    if (!stop_requested)
        fputs("sp_peer: hold time expired\n", stderr);
}

int main(int argc, char **argv)
{
    struct config c;
    parse_args(argc, argv, &c);

    int s = nn_socket(AF_SP, c.type);
    if (s < 0)
        die("nn_socket(%s): %s", c.type_name, nn_strerror(nn_errno()));
    set_int_opt(s, NN_SOL_SOCKET, NN_SNDTIMEO, (int) c.timeout_ms, "NN_SNDTIMEO");
    if (c.type != NN_PUB)
        set_int_opt(s, NN_SOL_SOCKET, NN_RCVTIMEO, (int) c.timeout_ms, "NN_RCVTIMEO");
    if (c.type == NN_SUB) {
        if (c.n_subscriptions == 0)
            c.subscriptions[c.n_subscriptions++] = "";
        for (int i = 0; i < c.n_subscriptions; i++)
            if (nn_setsockopt(s, NN_SUB, NN_SUB_SUBSCRIBE, c.subscriptions[i],
                    strlen(c.subscriptions[i])) < 0)
                die("subscribe to \"%s\": %s", c.subscriptions[i], nn_strerror(nn_errno()));
    }
    for (int i = 0; i < c.n_endpoints; i++) {
        int rc = c.endpoint_is_bind[i] ? nn_bind(s, c.endpoints[i])
                                       : nn_connect(s, c.endpoints[i]);
        if (rc < 0)
            die("nn_%s(%s): %s", c.endpoint_is_bind[i] ? "bind" : "connect",
                c.endpoints[i], nn_strerror(nn_errno()));
    }

    if (c.type == NN_SURVEYOR && c.retry_ms > 0)
        set_int_opt(s, NN_SURVEYOR, NN_SURVEYOR_DEADLINE, (int) c.retry_ms,
            "NN_SURVEYOR_DEADLINE");

    long seq = 0, received = 0;
    if (c.type == NN_REP || c.type == NN_RESPONDENT) {
        /* Answer each request with the next message of the list (cycling). */
        for (; received < c.recv_n; received++) {
            recv_and_print(s, received + 1);
            answer(&c, s, &seq);
        }
    } else {
        int paired = c.type == NN_REQ || c.type == NN_SURVEYOR;
        for (long round = 0; round < c.count; round++) {
            if (round > 0 && c.interval_ms > 0)
                sleep_ms(c.interval_ms);
            for (int i = 0; i < c.n_sends; i++) {
                if (c.repeat_ms > 0 && seq > 0)
                    sleep_ms(c.repeat_ms);
                if (c.type == NN_SURVEYOR) {
                    survey(&c, s, &c.sends[i], ++seq, c.recv_n, &received);
                } else {
                    send_item(s, &c.sends[i], ++seq);
                    if (c.type == NN_REQ)
                        recv_and_print(s, ++received);
                }
            }
        }
        if (!paired)
            for (; received < c.recv_n; received++)
                recv_and_print(s, received + 1);
    }

    if (c.hold_ms >= 0)
        hold(&c, s, &seq, 0, received);

    if (nn_close(s) < 0)
        die("nn_close: %s", nn_strerror(nn_errno()));
    for (int i = 0; i < c.n_sends; i++)
        free(c.sends[i].data);
    return 0;
}
