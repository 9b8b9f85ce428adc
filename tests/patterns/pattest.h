/* Helpers shared by the pattern suites (REQ/REP, SURVEY, PUB/SUB, BUS,
   devices, nn_poll, concurrency): sockets with bounded timeouts, string
   send/receive with assertions, SP_HDR control data, waits with deadlines,
   plain-TCP peers and forked children. Public nanomsg API only, so every
   program also builds against Debian's libnanomsg 1.1.5 with
   -DAGAINST_LIBNANOMSG (which hides the tests of crashes we fix):
     gcc -DAGAINST_LIBNANOMSG -I tests/common tests/patterns/reqrep.c \
         tests/common/testutil.c /usr/lib/x86_64-linux-gnu/libnanomsg.so.5 \
         -lcmocka -lpthread */
#ifndef PATTEST_H
#define PATTEST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <nanomsg/nn.h>

#include "testutil.h"

#ifndef NN_MAX_SOCKETS
#define NN_MAX_SOCKETS 512
#endif

/* Upper bound for anything that should happen "soon". Only a failing test
   ever waits this long. */
#define PT_DEADLINE_MS 5000

/* How long a test watches for something that must NOT arrive, after it has
   already made sure (by a witness or a sentinel) that it would have been
   sent by now. An observation window, never a synchronisation. */
#define PT_QUIET_MS 200

#define PT_URL_LEN 256

/* ---- errno assertions --------------------------------------------------- */

static inline void pt_check_fail(int rc, int want, const char *expr, const char *file,
                                 int line)
{
    int e = nn_errno();
    if (rc != -1 || e != want) {
        print_error("%s: got rc=%d errno=%d (%s), want -1 errno=%d (%s)\n", expr, rc, e,
                    nn_strerror(e), want, nn_strerror(want));
        _fail(file, line);
    }
}
#define assert_nn_fail(expr, err) \
    do { \
        errno = 0; \
        pt_check_fail((int) (expr), (err), #expr, __FILE__, __LINE__); \
    } while (0)

static inline int pt_check_ok(int rc, const char *expr, const char *file, int line)
{
    if (rc < 0) {
        int e = nn_errno();
        print_error("%s: failed with errno=%d (%s)\n", expr, e, nn_strerror(e));
        _fail(file, line);
    }
    return rc;
}
#define assert_nn_ok(expr) pt_check_ok((int) (expr), #expr, __FILE__, __LINE__)

/* ---- sockets ------------------------------------------------------------ */

static inline void pt_setint(int s, int level, int option, int value)
{
    assert_nn_ok(nn_setsockopt(s, level, option, &value, sizeof value));
}

static inline int pt_getint(int s, int level, int option)
{
    int value = -12345;
    size_t sz = sizeof value;
    assert_nn_ok(nn_getsockopt(s, level, option, &value, &sz));
    assert_int_equal(sz, sizeof value);
    return value;
}

/* A socket whose blocking calls give up after PT_DEADLINE_MS, so a broken
   library fails the test instead of hanging it. */
static inline int pt_socket(int domain, int protocol)
{
    int s = assert_nn_ok(nn_socket(domain, protocol));
    pt_setint(s, NN_SOL_SOCKET, NN_SNDTIMEO, PT_DEADLINE_MS);
    pt_setint(s, NN_SOL_SOCKET, NN_RCVTIMEO, PT_DEADLINE_MS);
    return s;
}

static inline int pt_bind(int s, const char *url)
{
    int eid = nn_bind(s, url);
    if (eid < 0)
        print_error("nn_bind(%s): %s\n", url, nn_strerror(nn_errno()));
    assert_true(eid >= 0);
    return eid;
}

static inline int pt_connect(int s, const char *url)
{
    int eid = nn_connect(s, url);
    if (eid < 0)
        print_error("nn_connect(%s): %s\n", url, nn_strerror(nn_errno()));
    assert_true(eid >= 0);
    return eid;
}

static inline void pt_close(int s)
{
    assert_int_equal(nn_close(s), 0);
}

/* Per-test teardown: closes every socket id so that a failing test cannot
   leave sockets (or threads blocked on them) behind for the next one. */
static inline int pt_close_all(void **state)
{
    (void) state;
    for (int i = 0; i < NN_MAX_SOCKETS; i++)
        nn_close(i);
    return 0;
}
#define pt_test(f) cmocka_unit_test_teardown(f, pt_close_all)

enum pt_transport { PT_INPROC, PT_IPC, PT_TCP };
static const char *const pt_transport_names[] = {"inproc", "ipc", "tcp"};

/* A fresh address on transport t (unique within the process run). */
static inline char *pt_url(char *buf, enum pt_transport t, const char *name)
{
    static int seq;
    char unique[128];
    snprintf(unique, sizeof unique, "%s-%d-%d", name, (int) getpid(), ++seq);
    switch (t) {
    case PT_INPROC:
        snprintf(buf, PT_URL_LEN, "inproc://%s", unique);
        break;
    case PT_IPC:
        tu_ipc_url(buf, PT_URL_LEN, unique);
        break;
    case PT_TCP:
        tu_tcp_url(buf, PT_URL_LEN, tu_free_port());
        break;
    }
    return buf;
}

/* ---- messages ----------------------------------------------------------- */

static inline void pt_send(int s, const char *str)
{
    int rc = nn_send(s, str, strlen(str), 0);
    if (rc < 0)
        print_error("nn_send(%d, \"%s\"): %s\n", s, str, nn_strerror(nn_errno()));
    assert_int_equal(rc, (int) strlen(str));
}

/* Receives one message into buf (NUL-terminated); returns nn_recv's result. */
static inline int pt_recv_str(int s, char *buf, size_t len, int flags)
{
    int rc = nn_recv(s, buf, len - 1, flags);
    if (rc >= 0)
        buf[(size_t) rc < len - 1 ? (size_t) rc : len - 1] = 0;
    else
        buf[0] = 0;
    return rc;
}

/* Receives one message and checks that it equals str. */
static inline void pt_recv_expect(int s, const char *str, const char *file, int line)
{
    char buf[512];
    int rc = pt_recv_str(s, buf, sizeof buf, 0);
    if (rc < 0) {
        print_error("nn_recv(%d) expecting \"%s\": %s\n", s, str, nn_strerror(nn_errno()));
        _fail(file, line);
    }
    if (strcmp(buf, str) != 0 || rc != (int) strlen(str)) {
        print_error("nn_recv(%d) got \"%s\" (%d bytes), want \"%s\"\n", s, buf, rc, str);
        _fail(file, line);
    }
}
#define pt_recv(s, str) pt_recv_expect((s), (str), __FILE__, __LINE__)

/* Asserts that no message is waiting right now. */
static inline void pt_recv_nothing(int s)
{
    char buf[64];
    assert_nn_fail(nn_recv(s, buf, sizeof buf, NN_DONTWAIT), EAGAIN);
}

/* Asserts that nothing arrives during the observation window. */
static inline void pt_recv_nothing_for(int s, int ms)
{
    char buf[64];
    int old = pt_getint(s, NN_SOL_SOCKET, NN_RCVTIMEO);
    pt_setint(s, NN_SOL_SOCKET, NN_RCVTIMEO, ms);
    int rc = pt_recv_str(s, buf, sizeof buf, 0);
    int e = nn_errno();
    pt_setint(s, NN_SOL_SOCKET, NN_RCVTIMEO, old);
    if (rc >= 0)
        print_error("socket %d unexpectedly received \"%s\"\n", s, buf);
    assert_int_equal(rc, -1);
    assert_int_equal(e, ETIMEDOUT);
}

/* ---- statistics and other waits --------------------------------------- */

struct pt_stat_arg {
    int s;
    int stat;
    uint64_t value;
};

static inline bool pt_stat_reached(void *p)
{
    struct pt_stat_arg *a = p;
    return nn_get_statistic(a->s, a->stat) == a->value;
}

/* Waits until nn_get_statistic(s, stat) == value, or fails the test. */
static inline void pt_wait_stat_at(int s, int stat, uint64_t value, const char *file, int line)
{
    struct pt_stat_arg a = {s, stat, value};
    if (!tu_wait_until(pt_stat_reached, &a, PT_DEADLINE_MS)) {
        print_error("statistic %d of socket %d stayed %llu, want %llu\n", stat, s,
                    (unsigned long long) nn_get_statistic(s, stat),
                    (unsigned long long) value);
        _fail(file, line);
    }
}
#define pt_wait_stat(s, stat, value) pt_wait_stat_at((s), (stat), (value), __FILE__, __LINE__)
#define pt_wait_connections(s, n) pt_wait_stat((s), NN_STAT_CURRENT_CONNECTIONS, (n))

/* True when fd polls readable within timeout_ms (0 = right now). */
static inline bool pt_fd_readable(int fd, int timeout_ms)
{
    struct pollfd pfd = {fd, POLLIN, 0};
    int rc;
    do
        rc = poll(&pfd, 1, timeout_ms);
    while (rc < 0 && errno == EINTR);
    return rc == 1 && (pfd.revents & POLLIN);
}

static inline int pt_fd(int s, int option)
{
    int fd = -1;
    size_t sz = sizeof fd;
    assert_nn_ok(nn_getsockopt(s, NN_SOL_SOCKET, option, &fd, &sz));
    assert_int_equal(sz, sizeof fd);
    return fd;
}

/* ---- SP_HDR control data ------------------------------------------------ */

/* A control buffer holding one PROTO_SP/SP_HDR cmsg with hdr[0..len). */
struct pt_ctl {
    size_t words[16]; /* aligned storage, room for a 96-byte header */
    size_t size;      /* bytes in use: NN_CMSG_SPACE(sizeof(size_t) + len) */
};

static inline void pt_ctl_make(struct pt_ctl *ctl, const void *hdr, size_t len)
{
    struct nn_cmsghdr *c = (struct nn_cmsghdr *) ctl->words;
    assert_true(NN_CMSG_SPACE(sizeof(size_t) + len) <= sizeof ctl->words);
    memset(ctl->words, 0, sizeof ctl->words);
    c->cmsg_len = NN_CMSG_LEN(sizeof(size_t) + len);
    c->cmsg_level = PROTO_SP;
    c->cmsg_type = SP_HDR;
    memcpy(NN_CMSG_DATA(c), &len, sizeof len);
    if (len)
        memcpy(NN_CMSG_DATA(c) + sizeof len, hdr, len);
    ctl->size = NN_CMSG_SPACE(sizeof(size_t) + len);
}

/* Sends body with the given SP header; returns nn_sendmsg's result. */
static inline int pt_sendmsg_hdr(int s, const void *hdr, size_t hdrlen, const char *body,
                                 int flags)
{
    struct pt_ctl ctl;
    struct nn_iovec iov = {(void *) body, strlen(body)};
    struct nn_msghdr mh;
    pt_ctl_make(&ctl, hdr, hdrlen);
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctl.words;
    mh.msg_controllen = ctl.size;
    return nn_sendmsg(s, &mh, flags);
}

/* Receives one message: body (NUL-terminated) into body, its SP header into
   hdr (up to hdrcap bytes) and its length into *hdrlen. Returns the body
   length or -1. */
static inline int pt_recvmsg_hdr(int s, char *body, size_t bodycap, void *hdr, size_t hdrcap,
                                 size_t *hdrlen, int flags)
{
    size_t ctlbuf[32];
    struct nn_iovec iov = {body, bodycap - 1};
    struct nn_msghdr mh;
    *hdrlen = (size_t) -1;
    body[0] = 0;
    memset(&mh, 0, sizeof mh);
    memset(ctlbuf, 0, sizeof ctlbuf);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctlbuf;
    mh.msg_controllen = sizeof ctlbuf;
    int rc = nn_recvmsg(s, &mh, flags);
    if (rc < 0)
        return rc;
    body[(size_t) rc < bodycap - 1 ? (size_t) rc : bodycap - 1] = 0;
    for (struct nn_cmsghdr *c = NN_CMSG_FIRSTHDR(&mh); c; c = NN_CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level == PROTO_SP && c->cmsg_type == SP_HDR) {
            size_t len;
            memcpy(&len, NN_CMSG_DATA(c), sizeof len);
            *hdrlen = len;
            memcpy(hdr, NN_CMSG_DATA(c) + sizeof len, len < hdrcap ? len : hdrcap);
            break;
        }
    }
    return rc;
}

static inline uint32_t pt_get32(const unsigned char *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

static inline void pt_put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char) (v >> 24);
    p[1] = (unsigned char) (v >> 16);
    p[2] = (unsigned char) (v >> 8);
    p[3] = (unsigned char) v;
}

/* ---- threads ------------------------------------------------------------ */

static inline long pt_gettid(void)
{
    return (long) syscall(SYS_gettid);
}

/* True when thread tid of this process is sleeping in the kernel. */
static inline bool pt_thread_sleeping(long tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/task/%ld/stat", tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && p[2] == 'S';
}

/* A call run in a helper thread that is expected to block: the thread
   publishes its tid, then makes the call; the test waits until the thread
   has been asleep on several consecutive polls (parked in the call). */
enum pt_op { PT_OP_RECV, PT_OP_SEND, PT_OP_DEVICE, PT_OP_POLL };
struct pt_blocked {
    int s;
    int s2;                 /* second socket of PT_OP_DEVICE */
    enum pt_op op;
    volatile long tid;
    volatile int started;
    volatile int done;
    int samples;
    int rc;
    int err;
    char buf[64];
    struct nn_pollfd pfd;   /* PT_OP_POLL: polls s for NN_POLLIN */
};

static inline void pt_blocked_run(void *arg)
{
    struct pt_blocked *b = arg;
    b->tid = pt_gettid();
    __atomic_store_n(&b->started, 1, __ATOMIC_SEQ_CST);
    switch (b->op) {
    case PT_OP_RECV:
        b->rc = nn_recv(b->s, b->buf, sizeof b->buf, 0);
        break;
    case PT_OP_SEND:
        b->rc = nn_send(b->s, "x", 1, 0);
        break;
    case PT_OP_DEVICE:
        b->rc = nn_device(b->s, b->s2);
        break;
    case PT_OP_POLL:
        b->pfd.fd = b->s;
        b->pfd.events = NN_POLLIN;
        b->pfd.revents = 0;
        b->rc = nn_poll(&b->pfd, 1, 30000);
        break;
    }
    b->err = nn_errno();
    __atomic_store_n(&b->done, 1, __ATOMIC_SEQ_CST);
}

static inline bool pt_blocked_is_sleeping(void *arg)
{
    struct pt_blocked *b = arg;
    if (__atomic_load_n(&b->started, __ATOMIC_SEQ_CST) && pt_thread_sleeping(b->tid))
        b->samples++;
    else
        b->samples = 0;
    return b->samples >= 5;
}

static inline bool pt_blocked_is_done(void *arg)
{
    struct pt_blocked *b = arg;
    return __atomic_load_n(&b->done, __ATOMIC_SEQ_CST) != 0;
}

/* Starts the call in thread t; returns true once it is parked in it. */
static inline bool pt_blocked_start(tu_thread *t, struct pt_blocked *b, int s, int s2,
                                    enum pt_op op)
{
    memset(b, 0, sizeof *b);
    b->s = s;
    b->s2 = s2;
    b->op = op;
    tu_thread_start(t, pt_blocked_run, b);
    return tu_wait_until(pt_blocked_is_sleeping, b, PT_DEADLINE_MS) && !pt_blocked_is_done(b);
}

/* Number of threads of this process. */
static inline int pt_thread_count(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    int n = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    fclose(f);
    return n;
}

/* ---- forked children ------------------------------------------------------ */

/* Inside a forked child: report the first broken expectation and exit
   non-zero (cmocka's asserts would unwind into the child's test runner). */
#define CHILD_CHECK(cond) \
    do { \
        if (!(cond)) { \
            fprintf(stderr, "%s:%d: child check failed: %s (errno %d: %s)\n", __FILE__, \
                    __LINE__, #cond, errno, nn_strerror(errno)); \
            fflush(stderr); \
            _exit(1); \
        } \
    } while (0)

struct pt_child_wait {
    pid_t pid;
    int status;
    bool exited;
};

static inline bool pt_child_exited(void *arg)
{
    struct pt_child_wait *w = arg;
    if (!w->exited && waitpid(w->pid, &w->status, WNOHANG) == w->pid)
        w->exited = true;
    return w->exited;
}

/* Runs scenario() in a child process (so nn_term cannot affect this one) and
   fails the test unless it exits 0 within the deadline. */
static inline void pt_run_in_child(void (*scenario)(void))
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        scenario();
        _exit(0);
    }
    struct pt_child_wait w = {pid, 0, false};
    if (!tu_wait_until(pt_child_exited, &w, 20000)) {
        kill(pid, SIGKILL);
        waitpid(pid, &w.status, 0);
        print_error("child did not finish in time\n");
        fail();
    }
    if (WIFSIGNALED(w.status)) {
        print_error("child killed by signal %d\n", WTERMSIG(w.status));
        fail();
    }
    assert_true(WIFEXITED(w.status));
    assert_int_equal(WEXITSTATUS(w.status), 0);
}

/* ---- plain TCP peers ------------------------------------------------------ */

static inline int pt_raw_connect(int port)
{
    struct sockaddr_in sa;
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t) port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *) &sa, sizeof sa), 0);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* A plain listening socket on a kernel-chosen port; *port receives it. */
static inline int pt_raw_listen(int *port)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *) &sa, &sl), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static inline int pt_raw_accept(int lfd)
{
    struct pollfd pfd = {lfd, POLLIN, 0};
    if (poll(&pfd, 1, PT_DEADLINE_MS) != 1)
        return -1;
    return accept(lfd, NULL, NULL);
}

static inline void pt_raw_write(int fd, const void *buf, size_t len)
{
    assert_true(tu_write_all(fd, buf, len));
}

/* Reads exactly len bytes within PT_DEADLINE_MS; false on EOF/error/timeout. */
static inline bool pt_raw_read(int fd, void *buf, size_t len)
{
    return tu_read_exact(fd, buf, len, PT_DEADLINE_MS);
}

/* Sends the 8-byte SP header naming proto, then reads and checks the
   peer's, which must name peer_proto. */
static inline void pt_raw_handshake(int fd, int proto, int peer_proto)
{
    unsigned char mine[8] = {0x00, 0x53, 0x50, 0x00, 0, 0, 0x00, 0x00};
    unsigned char want[8] = {0x00, 0x53, 0x50, 0x00, 0, 0, 0x00, 0x00};
    unsigned char got[8];
    mine[4] = (unsigned char) (proto >> 8);
    mine[5] = (unsigned char) proto;
    want[4] = (unsigned char) (peer_proto >> 8);
    want[5] = (unsigned char) peer_proto;
    pt_raw_write(fd, mine, sizeof mine);
    assert_true(pt_raw_read(fd, got, sizeof got));
    assert_memory_equal(got, want, sizeof want);
}

/* Writes one TCP frame: u64 big-endian length, then payload. */
static inline void pt_raw_send_frame(int fd, const void *payload, size_t len)
{
    unsigned char prefix[8];
    for (int i = 0; i < 8; i++)
        prefix[i] = (unsigned char) ((uint64_t) len >> (56 - 8 * i));
    pt_raw_write(fd, prefix, sizeof prefix);
    if (len)
        pt_raw_write(fd, payload, len);
}

/* Reads one TCP frame into buf (cap bytes); returns its length or -1. */
static inline int pt_raw_recv_frame(int fd, void *buf, size_t cap)
{
    unsigned char prefix[8];
    uint64_t len = 0;
    if (!pt_raw_read(fd, prefix, sizeof prefix))
        return -1;
    for (int i = 0; i < 8; i++)
        len = len << 8 | prefix[i];
    if (len > cap)
        return -1;
    if (len && !pt_raw_read(fd, buf, (size_t) len))
        return -1;
    return (int) len;
}

#endif
