/* The cmocka half of the test helpers (see testutil.h): assertions over the
   public nanomsg API. A separate object of the testutil library, so that
   programs that are not cmocka suites link testutil.c without cmocka. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "testutil.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/reqrep.h>

void tu_check_fail(int rc, int want, const char *expr, const char *file, int line)
{
    int e = nn_errno();
    if (rc != -1 || e != want) {
        print_error("%s: got rc=%d errno=%d (%s), want rc=-1 errno=%d (%s)\n", expr, rc, e,
                    nn_strerror(e), want, nn_strerror(want));
        _fail(file, line);
    }
}

int tu_check_ok(int rc, const char *expr, const char *file, int line)
{
    if (rc < 0) {
        int e = nn_errno();
        print_error("%s: failed with errno=%d (%s)\n", expr, e, nn_strerror(e));
        _fail(file, line);
    }
    return rc;
}

/* ---- sockets ---- */

int tu_socket_default(int domain, int protocol)
{
    return assert_nn_ok(nn_socket(domain, protocol));
}

int tu_socket(int domain, int protocol)
{
    int s = tu_socket_default(domain, protocol);
    tu_setint(s, NN_SOL_SOCKET, NN_SNDTIMEO, TU_DEADLINE_MS);
    tu_setint(s, NN_SOL_SOCKET, NN_RCVTIMEO, TU_DEADLINE_MS);
    return s;
}

void tu_setint(int s, int level, int option, int value)
{
    assert_nn_ok(nn_setsockopt(s, level, option, &value, sizeof value));
}

int tu_getint(int s, int level, int option)
{
    int value = -12345;
    size_t sz = sizeof value;
    assert_nn_ok(nn_getsockopt(s, level, option, &value, &sz));
    assert_int_equal(sz, sizeof value);
    return value;
}

void tu_setstr(int s, int level, int option, const char *value)
{
    assert_nn_ok(nn_setsockopt(s, level, option, value, strlen(value)));
}

int tu_bind(int s, const char *url)
{
    int eid = nn_bind(s, url);
    if (eid < 0)
        print_error("nn_bind(%s): %s\n", url, nn_strerror(nn_errno()));
    assert_true(eid >= 0);
    return eid;
}

int tu_connect(int s, const char *url)
{
    int eid = nn_connect(s, url);
    if (eid < 0)
        print_error("nn_connect(%s): %s\n", url, nn_strerror(nn_errno()));
    assert_true(eid >= 0);
    return eid;
}

void tu_close(int s)
{
    assert_int_equal(nn_close(s), 0);
}

int tu_close_all(void **state)
{
    (void) state;
    for (int i = 0; i < NN_MAX_SOCKETS; i++)
        nn_close(i);
    return 0;
}

const char *const tu_transport_names[3] = {"inproc", "ipc", "tcp"};

char *tu_url(char *buf, enum tu_transport t, const char *name)
{
    char unique[128];
    switch (t) {
    case TU_INPROC:
        tu_inproc_url(buf, TU_URL_LEN, name);
        break;
    case TU_IPC:
        /* The inproc form is unique within the run: its tail names the file. */
        tu_inproc_url(unique, sizeof unique, name);
        tu_ipc_url(buf, TU_URL_LEN, unique + strlen("inproc://"));
        break;
    case TU_TCP:
        tu_tcp_url(buf, TU_URL_LEN, tu_free_port());
        break;
    }
    return buf;
}

static void inproc_pair(int (*open)(int, int), int proto_a, int proto_b, int *a, int *b)
{
    char addr[TU_URL_LEN];
    tu_inproc_url(addr, sizeof addr, "apitest");
    *a = open(AF_SP, proto_a);
    *b = open(AF_SP, proto_b);
    assert_nn_ok(nn_bind(*a, addr));
    assert_nn_ok(nn_connect(*b, addr));
}

void tu_inproc_pair(int proto_a, int proto_b, int *a, int *b)
{
    inproc_pair(tu_socket_default, proto_a, proto_b, a, b);
}

void tu_inproc_pair_bounded(int proto_a, int proto_b, int *a, int *b)
{
    inproc_pair(tu_socket, proto_a, proto_b, a, b);
}

/* ---- messages ---- */

void tu_send(int s, const char *str)
{
    int rc = nn_send(s, str, strlen(str), 0);
    if (rc < 0)
        print_error("nn_send(%d, \"%s\"): %s\n", s, str, nn_strerror(nn_errno()));
    assert_int_equal(rc, (int) strlen(str));
}

int tu_recv_str(int s, char *buf, size_t len, int flags)
{
    int rc = nn_recv(s, buf, len - 1, flags);
    if (rc >= 0)
        buf[(size_t) rc < len - 1 ? (size_t) rc : len - 1] = 0;
    else
        buf[0] = 0;
    return rc;
}

void tu_recv_expect(int s, const char *str, const char *file, int line)
{
    char buf[4096];
    int rc = tu_recv_str(s, buf, sizeof buf, 0);
    if (rc < 0) {
        print_error("nn_recv(%d) expecting \"%s\": %s\n", s, str, nn_strerror(nn_errno()));
        _fail(file, line);
    }
    if (strcmp(buf, str) != 0 || rc != (int) strlen(str)) {
        print_error("nn_recv(%d) got \"%s\" (%d bytes), want \"%s\"\n", s, buf, rc, str);
        _fail(file, line);
    }
}

void tu_recv_nothing(int s)
{
    char buf[64];
    assert_nn_fail(nn_recv(s, buf, sizeof buf, NN_DONTWAIT), EAGAIN);
}

void tu_recv_nothing_for(int s, int ms)
{
    char buf[64];
    int old = tu_getint(s, NN_SOL_SOCKET, NN_RCVTIMEO);
    tu_setint(s, NN_SOL_SOCKET, NN_RCVTIMEO, ms);
    int rc = tu_recv_str(s, buf, sizeof buf, 0);
    int e = nn_errno();
    tu_setint(s, NN_SOL_SOCKET, NN_RCVTIMEO, old);
    if (rc >= 0)
        print_error("socket %d unexpectedly received \"%s\"\n", s, buf);
    assert_int_equal(rc, -1);
    assert_int_equal(e, ETIMEDOUT);
}

bool tu_send_until_received(int s, int r, const char *msg, int attempt_ms)
{
    uint64_t end = tu_now_ms() + TU_DEADLINE_MS;
    int old_snd = tu_getint(s, NN_SOL_SOCKET, NN_SNDTIMEO);
    int old_rcv = tu_getint(r, NN_SOL_SOCKET, NN_RCVTIMEO);
    bool ok = false;
    tu_setint(s, NN_SOL_SOCKET, NN_SNDTIMEO, attempt_ms);
    tu_setint(r, NN_SOL_SOCKET, NN_RCVTIMEO, attempt_ms);
    while (!ok && tu_now_ms() < end) {
        char buf[256];
        int rc;
        nn_send(s, msg, strlen(msg), 0);
        rc = tu_recv_str(r, buf, sizeof buf, 0);
        if (rc >= 0 && strcmp(buf, msg) == 0)
            ok = true;
    }
    tu_setint(s, NN_SOL_SOCKET, NN_SNDTIMEO, old_snd);
    tu_setint(r, NN_SOL_SOCKET, NN_RCVTIMEO, old_rcv);
    return ok;
}

/* ---- statistics and descriptors ---- */

struct tu_stat_arg {
    int s;
    int stat;
    uint64_t value;
};

static bool stat_equals(void *p)
{
    struct tu_stat_arg *a = p;
    return nn_get_statistic(a->s, a->stat) == a->value;
}

void tu_wait_stat_at(int s, int stat, uint64_t value, const char *file, int line)
{
    struct tu_stat_arg a = {s, stat, value};
    if (!tu_wait_until(stat_equals, &a, TU_DEADLINE_MS)) {
        print_error("statistic %d of socket %d stayed %llu, want %llu\n", stat, s,
                    (unsigned long long) nn_get_statistic(s, stat),
                    (unsigned long long) value);
        _fail(file, line);
    }
}

static bool stat_at_least(void *p)
{
    struct tu_stat_arg *a = p;
    uint64_t v = nn_get_statistic(a->s, a->stat);
    return v != (uint64_t) -1 && v >= a->value;
}

bool tu_wait_stat_min(int s, int stat, uint64_t min, int timeout_ms)
{
    struct tu_stat_arg a = {s, stat, min};
    return tu_wait_until(stat_at_least, &a, timeout_ms);
}

bool tu_fd_readable(int fd, int timeout_ms)
{
    struct pollfd pfd = {fd, POLLIN, 0};
    int rc;
    do
        rc = poll(&pfd, 1, timeout_ms);
    while (rc < 0 && errno == EINTR);
    assert_true(rc >= 0);
    return rc == 1 && (pfd.revents & POLLIN);
}

int tu_fd_count(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

int tu_find_socket(bool (*match)(int fd, void *arg), void *arg)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int found = -1;
    struct dirent *e;
    while (found < 0 && (e = readdir(d)) != NULL) {
        int fd = atoi(e->d_name);
        struct stat st;
        if (e->d_name[0] == '.' || fd == dirfd(d) || fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode))
            continue;
        if (match(fd, arg))
            found = fd;
    }
    closedir(d);
    return found;
}

int tu_fd(int s, int option)
{
    int fd = -1;
    size_t sz = sizeof fd;
    assert_nn_ok(nn_getsockopt(s, NN_SOL_SOCKET, option, &fd, &sz));
    assert_int_equal(sz, sizeof fd);
    assert_true(fd >= 0);
    return fd;
}

/* ---- SP_HDR control data ---- */

/* A control buffer holding one PROTO_SP/SP_HDR cmsg with hdr[0..len). */
struct ctl {
    size_t words[16]; /* aligned storage, room for a 96-byte header */
    size_t size;      /* bytes in use: NN_CMSG_SPACE(sizeof(size_t) + len) */
};

static void ctl_make(struct ctl *ctl, const void *hdr, size_t len)
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

int tu_sendmsg_hdr(int s, const void *hdr, size_t hdrlen, const char *body, int flags)
{
    struct ctl ctl;
    struct nn_iovec iov = {(void *) body, strlen(body)};
    struct nn_msghdr mh;
    ctl_make(&ctl, hdr, hdrlen);
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctl.words;
    mh.msg_controllen = ctl.size;
    return nn_sendmsg(s, &mh, flags);
}

int tu_recvmsg_hdr(int s, char *body, size_t bodycap, void *hdr, size_t hdrcap, size_t *hdrlen,
                   int flags)
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

/* ---- calls parked in another thread ---- */

void tu_blocked_run(void *arg)
{
    struct tu_blocked *b = arg;
    b->tid = tu_gettid();
    __atomic_store_n(&b->started, 1, __ATOMIC_SEQ_CST);
    switch (b->op) {
    case TU_OP_RECV:
        b->rc = nn_recv(b->s, b->buf, sizeof b->buf, 0);
        break;
    case TU_OP_SEND:
        b->rc = nn_send(b->s, "x", 1, 0);
        break;
    case TU_OP_DEVICE:
        b->rc = nn_device(b->s, b->s2);
        break;
    case TU_OP_POLL:
        b->pfd.fd = b->s;
        b->pfd.events = NN_POLLIN;
        b->pfd.revents = 0;
        b->rc = nn_poll(&b->pfd, 1, 30000);
        break;
    case TU_OP_POLL_FD: {
        struct pollfd pfd = {b->s, POLLIN, 0};
        b->rc = poll(&pfd, 1, 30000);
        b->err = errno;
        __atomic_store_n(&b->done, 1, __ATOMIC_SEQ_CST);
        return;
    }
    }
    b->err = nn_errno();
    __atomic_store_n(&b->done, 1, __ATOMIC_SEQ_CST);
}

bool tu_blocked_is_sleeping(void *arg)
{
    struct tu_blocked *b = arg;
    if (__atomic_load_n(&b->started, __ATOMIC_SEQ_CST) && tu_thread_asleep(b->tid))
        b->samples++;
    else
        b->samples = 0;
    return b->samples >= 5;
}

bool tu_blocked_is_done(void *arg)
{
    struct tu_blocked *b = arg;
    return __atomic_load_n(&b->done, __ATOMIC_SEQ_CST) != 0;
}

bool tu_blocked_start(tu_thread *t, struct tu_blocked *b, int s, int s2, enum tu_op op)
{
    memset(b, 0, sizeof *b);
    b->s = s;
    b->s2 = s2;
    b->op = op;
    tu_thread_start(t, tu_blocked_run, b);
    return tu_wait_until(tu_blocked_is_sleeping, b, TU_DEADLINE_MS) && !tu_blocked_is_done(b);
}

/* ---- forked children ---- */

struct child_wait {
    pid_t pid;
    int status;
    bool exited;
};

static bool child_exited(void *arg)
{
    struct child_wait *w = arg;
    if (!w->exited && waitpid(w->pid, &w->status, WNOHANG) == w->pid)
        w->exited = true;
    return w->exited;
}

void tu_run_in_child(void (*scenario)(void))
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        scenario();
        _exit(0);
    }
    struct child_wait w = {pid, 0, false};
    if (!tu_wait_until(child_exited, &w, 30000)) {
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

/* ---- plain TCP peers ---- */

int tu_raw_connect(int port)
{
    int fd = tu_connect_tcp(port, 0);
    assert_true(fd >= 0);
    return fd;
}

int tu_raw_listen(int *port)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 8), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *) &sa, &sl), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

void tu_raw_write(int fd, const void *buf, size_t len)
{
    assert_true(tu_write_all(fd, buf, len));
}

void tu_raw_write_str(int fd, const char *str)
{
    tu_raw_write(fd, str, strlen(str));
}

void tu_sp_handshake(int fd, int proto, int peer_proto)
{
    unsigned char mine[8], want[8], got[8];
    tu_sp_header(mine, proto);
    tu_sp_header(want, peer_proto);
    tu_raw_write(fd, mine, sizeof mine);
    assert_true(tu_read_exact(fd, got, sizeof got, TU_DEADLINE_MS));
    assert_memory_equal(got, want, sizeof want);
}

void tu_raw_send_frame(int fd, const void *payload, size_t len)
{
    assert_true(tu_write_frame(fd, false, payload, len));
}

/* ---- misc ---- */

void tu_pair_exchange(const char *url)
{
    int a = tu_socket(AF_SP, NN_PAIR);
    int b = tu_socket(AF_SP, NN_PAIR);
    tu_bind(a, url);
    tu_connect(b, url);
    tu_send(b, "ping");
    tu_recv(a, "ping");
    tu_send(a, "pong");
    tu_recv(b, "pong");
    tu_close(a);
    tu_close(b);
}

void tu_assert_serves(int srv, int srv_protocol, const char *url)
{
    int peer_protocol = srv_protocol == NN_PAIR  ? NN_PAIR
                        : srv_protocol == NN_REP ? NN_REQ
                                                 : NN_PUSH;
    int c = tu_socket(AF_SP, peer_protocol);
    tu_connect(c, url);
    tu_send(c, "are you still there?");
    tu_recv(srv, "are you still there?");
    if (srv_protocol != NN_PULL) {
        tu_send(srv, "yes");
        tu_recv(c, "yes");
    }
    tu_close(c);
}

char *tu_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = malloc(65536);
    assert_non_null(buf);
    size_t n = fread(buf, 1, 65535, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}
