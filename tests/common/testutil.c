#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <strings.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[256];

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void) sb; (void) flag; (void) ftw;
    remove(path);
    return 0;
}

static void rm_tmpdir(void)
{
    if (tmpdir[0])
        nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *tu_tmpdir(void)
{
    if (!tmpdir[0]) {
        const char *base = getenv("TMPDIR");
        if (!base || !*base)
            base = "/tmp";
        snprintf(tmpdir, sizeof tmpdir, "%s/nanosp-test-XXXXXX", base);
        if (!mkdtemp(tmpdir)) {
            perror("mkdtemp");
            exit(1);
        }
        atexit(rm_tmpdir);
    }
    return tmpdir;
}

char *tu_ipc_url(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "ipc://%s/%s", tu_tmpdir(), name);
    return buf;
}

char *tu_inproc_url(char *buf, size_t len, const char *name)
{
    static int seq;
    snprintf(buf, len, "inproc://%s-%d-%d", name, (int) getpid(), ++seq);
    return buf;
}

int tu_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof sa) != 0 ||
        getsockname(fd, (struct sockaddr *) &sa, &sl) != 0) {
        perror("tu_free_port");
        exit(1);
    }
    close(fd);
    return ntohs(sa.sin_port);
}

char *tu_tcp_url(char *buf, size_t len, int port)
{
    snprintf(buf, len, "tcp://127.0.0.1:%d", port);
    return buf;
}

uint64_t tu_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

void tu_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

void tu_fill(void *p, size_t len, unsigned seed)
{
    unsigned char *b = p;
    for (size_t i = 0; i < len; i++)
        b[i] = (unsigned char) (i * 31u + seed * 7u + (i >> 8));
}

bool tu_check_fill(const void *p, size_t len, unsigned seed, size_t from)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < len; i++) {
        size_t k = i + from;
        if (b[i] != (unsigned char) (k * 31u + seed * 7u + (k >> 8)))
            return false;
    }
    return true;
}

bool tu_skip_allowed(void)
{
    const char *v = getenv("NANOSP_ALLOW_SKIP");
    return v && strcmp(v, "true") == 0;
}

int tu_unmet(const char *why)
{
    if (tu_skip_allowed()) {
        fprintf(stderr, "SKIP: %s (allowed by -Dallow_skip=true)\n", why);
        return 77;
    }
    fprintf(stderr, "FAIL: %s.\n      (Configure with -Dallow_skip=true to let such tests skip instead.)\n",
            why);
    return 1;
}

int tu_missing(const char *what, const char *package)
{
    char why[512];
    snprintf(why, sizeof why,
             "%s is not installed: install the Debian package %s (tools/install-deps.sh "
             "installs every package the tests use)",
             what, package);
    return tu_unmet(why);
}

bool tu_wait_until(bool (*cond)(void *arg), void *arg, int timeout_ms)
{
    uint64_t end = tu_now_ms() + (uint64_t) timeout_ms;
    for (;;) {
        if (cond(arg))
            return true;
        if (tu_now_ms() >= end)
            return false;
        tu_sleep_ms(1);
    }
}

struct tu_start {
    void (*fn)(void *);
    void *arg;
};

static void *tu_trampoline(void *p)
{
    struct tu_start s = *(struct tu_start *) p;
    free(p);
    s.fn(s.arg);
    return NULL;
}

void tu_thread_start(tu_thread *t, void (*fn)(void *), void *arg)
{
    pthread_t th;
    struct tu_start *s = malloc(sizeof *s);
    s->fn = fn;
    s->arg = arg;
    if (pthread_create(&th, NULL, tu_trampoline, s) != 0) {
        perror("pthread_create");
        exit(1);
    }
    t->handle = (unsigned long) th;
}

void tu_thread_join(tu_thread *t)
{
    pthread_join((pthread_t) t->handle, NULL);
}

bool tu_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t) n;
    }
    return true;
}

bool tu_read_exact(int fd, void *buf, size_t len, int timeout_ms)
{
    uint64_t end = tu_now_ms() + (uint64_t) timeout_ms;
    char *p = buf;
    while (len > 0) {
        struct pollfd pfd = {fd, POLLIN, 0};
        uint64_t now = tu_now_ms();
        ssize_t n;
        if (now >= end || poll(&pfd, 1, (int) (end - now)) != 1)
            return false;
        n = recv(fd, p, len, 0);
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t) n;
    }
    return true;
}

bool tu_wait_closed(int fd, int timeout_ms)
{
    uint64_t end = tu_now_ms() + (uint64_t) timeout_ms;
    for (;;) {
        struct pollfd pfd = {fd, POLLIN, 0};
        uint64_t now = tu_now_ms();
        char buf[4096];
        ssize_t n;
        if (now >= end)
            return false;
        if (poll(&pfd, 1, (int) (end - now)) != 1)
            continue;
        n = recv(fd, buf, sizeof buf, 0);
        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
            return true;
    }
}

static int connect_to(const struct sockaddr *sa, socklen_t len, int rcvbuf)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (connect(fd, sa, len) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int tu_connect_tcp(int port, int rcvbuf)
{
    struct sockaddr_in sa;
    int one = 1;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t) port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = connect_to((struct sockaddr *) &sa, sizeof sa, rcvbuf);
    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

int tu_connect_ipc(const char *path, int rcvbuf)
{
    struct sockaddr_un sa;
    if (strlen(path) >= sizeof sa.sun_path)
        return -1;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    strcpy(sa.sun_path, path);
    return connect_to((struct sockaddr *) &sa, sizeof sa, rcvbuf);
}

int tu_accept(int lfd, int timeout_ms)
{
    struct pollfd pfd = {lfd, POLLIN, 0};
    if (poll(&pfd, 1, timeout_ms) != 1)
        return -1;
    return accept(lfd, NULL, NULL);
}

bool tu_wait_acked(int fd, int timeout_ms)
{
    uint64_t end = tu_now_ms() + (uint64_t) timeout_ms;
    for (;;) {
        int queued = -1;
        if (ioctl(fd, SIOCOUTQ, &queued) != 0)
            return false;
        if (queued == 0)
            return true;
        if (tu_now_ms() >= end)
            return false;
        tu_sleep_ms(1);
    }
}

void tu_sp_header(unsigned char hdr[8], int proto)
{
    static const unsigned char base[8] = {0x00, 'S', 'P', 0x00, 0, 0, 0x00, 0x00};
    memcpy(hdr, base, 8);
    hdr[4] = (unsigned char) (proto >> 8);
    hdr[5] = (unsigned char) proto;
}

size_t tu_frame_prefix(unsigned char out[9], bool ipc, uint64_t len)
{
    size_t n = 0;
    if (ipc)
        out[n++] = 0x01;
    for (int i = 7; i >= 0; i--)
        out[n++] = (unsigned char) (len >> (8 * i));
    return n;
}

bool tu_write_frame(int fd, bool ipc, const void *body, size_t len)
{
    unsigned char pre[9];
    size_t n = tu_frame_prefix(pre, ipc, len);
    if (len <= 4096) {
        /* One send, so that a small frame arrives in one piece. */
        unsigned char buf[9 + 4096];
        memcpy(buf, pre, n);
        memcpy(buf + n, body, len);
        return tu_write_all(fd, buf, n + len);
    }
    return tu_write_all(fd, pre, n) && tu_write_all(fd, body, len);
}

int tu_read_frame(int fd, void *buf, size_t cap, int timeout_ms)
{
    unsigned char prefix[8];
    uint64_t len = 0;
    if (!tu_read_exact(fd, prefix, sizeof prefix, timeout_ms))
        return -1;
    for (int i = 0; i < 8; i++)
        len = len << 8 | prefix[i];
    if (len > cap)
        return -1;
    if (len && !tu_read_exact(fd, buf, (size_t) len, timeout_ms))
        return -1;
    return (int) len;
}

size_t tu_read_http(int fd, char *buf, size_t cap, int timeout_ms)
{
    size_t n = 0;
    while (n + 1 < cap) {
        if (!tu_read_exact(fd, buf + n, 1, timeout_ms))
            break;
        n++;
        if (n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    buf[n] = 0;
    return n;
}

bool tu_http_header(const char *head, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            const char *e = strstr(v, "\r\n");
            size_t n = e ? (size_t) (e - v) : strlen(v);
            if (n >= cap)
                n = cap - 1;
            memcpy(out, v, n);
            out[n] = 0;
            return true;
        }
    }
    return false;
}

uint32_t tu_get32(const unsigned char *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

void tu_put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char) (v >> 24);
    p[1] = (unsigned char) (v >> 16);
    p[2] = (unsigned char) (v >> 8);
    p[3] = (unsigned char) v;
}

long tu_gettid(void)
{
    return (long) syscall(SYS_gettid);
}

bool tu_thread_asleep(long tid)
{
    char path[64];
    char line[512];
    FILE *f;
    char *p;

    snprintf(path, sizeof path, "/proc/self/task/%ld/stat", tid);
    if (!(f = fopen(path, "r")))
        return false;
    p = fgets(line, sizeof line, f) ? strrchr(line, ')') : NULL;
    fclose(f);
    return p && p[1] == ' ' && p[2] == 'S';
}

int tu_thread_count(void)
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

bool tu_thread_sleeps(int tid, bool in_poll)
{
    char path[64];
    char line[512];
    FILE *f;
    char *p;
    long nr;

    if (!tu_thread_asleep(tid))
        return false;

    snprintf(path, sizeof path, "/proc/self/task/%d/syscall", tid);
    if (!(f = fopen(path, "r")))
        return !in_poll;
    p = fgets(line, sizeof line, f);
    fclose(f);
    if (!p || sscanf(line, "%ld", &nr) != 1)
        return !in_poll; /* "running", or not readable here */
#ifdef SYS_poll
    if (nr == SYS_poll)
        return true;
#endif
    if (nr == SYS_ppoll)
        return true;
    /* A blocked PAIR nn_recv over tcp waits in a read of its connection. */
    if (nr == SYS_recvfrom || nr == SYS_recvmsg || nr == SYS_read)
        return true;
    if (in_poll)
        return false;
    return
#ifdef SYS_epoll_wait
        nr == SYS_epoll_wait ||
#endif
        nr == SYS_futex || nr == SYS_epoll_pwait;
}
