/* Helpers of the fault-injection suite: what a user would look at from the
   outside of a process (its resident memory, its descriptors, the CPU time it
   burnt), other processes to kill or to drive (faultpeer, whose path is the
   test's first argument), and the figures each case reports. Every wait has
   a deadline; nothing sleeps to synchronise.

   Figures go to stdout as lines "figure: CASE: TEXT" (meson keeps them in
   meson-logs/testlog.txt); README.md's Reliability section quotes them.

   The short mode (the default, what CI runs) and the long mode (meson
   option faults_long, which sets NANOSP_FAULTS_LONG=true) differ only in
   sizes and durations, never in what is asserted. */
#ifndef FAULTS_H
#define FAULTS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nanomsg/nn.h>

#include "testutil.h"

extern char **environ;

/* Anything that should happen "soon" (a connection, a message in flight)
   on a loaded machine. Only a failing test waits this long. */
#define FX_DEADLINE_MS 20000

static inline bool fx_one_connection(void *s)
{
    return nn_get_statistic(*(int *) s, NN_STAT_CURRENT_CONNECTIONS) == 1;
}

/* A receive that blocks while a socket has exactly one connection makes the
   socket's wake-up descriptor for reading that connection in the caller's
   thread (once, for good). A test that counts descriptors makes it first
   with this, or the first such receive looks like a leaked fd: a peer_type
   socket connects to url, a receive on s times out, s's NN_RCVTIMEO is
   FX_DEADLINE_MS afterwards. */
static inline bool fx_make_callerfd(int s, const char *url, int peer_type)
{
    int c = nn_socket(AF_SP, peer_type), ms = 50;
    char buf[8];
    bool ok = c >= 0 && nn_connect(c, url) >= 0 && tu_wait_until(fx_one_connection, &s, FX_DEADLINE_MS) &&
              nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &ms, sizeof ms) == 0 &&
              nn_recv(s, buf, sizeof buf, 0) == -1 && nn_errno() == ETIMEDOUT;
    ms = FX_DEADLINE_MS;
    ok = nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &ms, sizeof ms) == 0 && ok;
    return (c < 0 || nn_close(c) == 0) && ok;
}

static inline bool fx_long(void)
{
    const char *v = getenv("NANOSP_FAULTS_LONG");
    return v && strcmp(v, "true") == 0;
}

/* short or long */
static inline int fx_pick(int short_mode, int long_mode)
{
    return fx_long() ? long_mode : short_mode;
}

static inline void fx_figure(const char *what, const char *fmt, ...)
{
    va_list ap;
    printf("figure: %s: ", what);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

/* ---- a process seen from outside (pid 0: this one) ---- */

/* Resident set size in KiB (VmRSS), or -1. */
static inline long fx_rss_kb(pid_t pid)
{
    char path[64], line[256];
    long kb = -1;
    snprintf(path, sizeof path, pid ? "/proc/%d/status" : "/proc/self/status", (int) pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

/* Open descriptors, or -1. (In this process the count includes the
   directory stream that reads them; it is the same in every reading.) */
static inline int fx_fds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, pid ? "/proc/%d/fd" : "/proc/self/fd", (int) pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* Lists the descriptors of pid (0: this process) on stderr, to say what a
   failed descriptor count found. */
static inline void fx_dump_fds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, pid ? "/proc/%d/fd" : "/proc/self/fd", (int) pid);
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        char link[PATH_MAX], target[256];
        if (e->d_name[0] == '.')
            continue;
        snprintf(link, sizeof link, "%s/%s", path, e->d_name);
        ssize_t k = readlink(link, target, sizeof target - 1);
        target[k > 0 ? k : 0] = 0;
        fprintf(stderr, "  fd %s -> %s\n", e->d_name, target);
    }
    closedir(d);
}

/* Of the descriptors of pid (0: this process), how many are TCP
   connections (IPv4 or IPv6, any state but LISTEN), or -1: what a server
   holds for its clients, apart from its listeners and its own plumbing. */
static inline int fx_tcp_conns(pid_t pid)
{
    char path[64], line[512];
    unsigned long inodes[8192];
    size_t ninodes = 0;
    for (int v6 = 0; v6 < 2; v6++) {
        if (pid)
            snprintf(path, sizeof path, "/proc/%d/net/tcp%s", (int) pid, v6 ? "6" : "");
        else
            snprintf(path, sizeof path, "/proc/self/net/tcp%s", v6 ? "6" : "");
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        while (fgets(line, sizeof line, f)) {
            unsigned st;
            unsigned long ino;
            if (sscanf(line, " %*d: %*s %*s %x %*s %*s %*s %*s %*s %lu", &st, &ino) == 2 && st != 0x0A && ino &&
                ninodes < sizeof inodes / sizeof inodes[0])
                inodes[ninodes++] = ino;
        }
        fclose(f);
    }
    snprintf(path, sizeof path, pid ? "/proc/%d/fd" : "/proc/self/fd", (int) pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char link[PATH_MAX], target[64];
        unsigned long ino;
        snprintf(link, sizeof link, "%s/%s", path, e->d_name);
        ssize_t k = readlink(link, target, sizeof target - 1);
        if (k <= 0)
            continue;
        target[k] = 0;
        if (sscanf(target, "socket:[%lu]", &ino) != 1)
            continue;
        for (size_t i = 0; i < ninodes; i++)
            if (inodes[i] == ino) {
                n++;
                break;
            }
    }
    closedir(d);
    return n;
}

/* CPU time (user + system, all threads) in milliseconds, or -1. */
static inline long fx_cpu_ms(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, pid ? "/proc/%d/stat" : "/proc/self/stat", (int) pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    /* Fields after the command name (which may hold spaces): state is field
       3, utime 14, stime 15. */
    char *p = strrchr(buf, ')');
    unsigned long ut, st;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (long) ((ut + st) * 1000 / (unsigned long) sysconf(_SC_CLK_TCK));
}

/* Heap bytes this process has allocated and not freed (malloc's own
   count, all arenas, mmapped blocks included): unlike the RSS it does not
   depend on how the allocator returns pages to the kernel. */
static inline size_t fx_inuse(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

/* Raises RLIMIT_NOFILE to want (or to the hard limit, which root may raise).
   The limit in force afterwards. */
static inline long fx_raise_nofile(long want)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if ((long) rl.rlim_cur >= want)
        return (long) rl.rlim_cur;
    rl.rlim_cur = (rlim_t) want;
    if ((long) rl.rlim_max < want)
        rl.rlim_max = (rlim_t) want;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        getrlimit(RLIMIT_NOFILE, &rl);
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    return (long) rl.rlim_cur;
}

/* ---- certificates (tests/tls/mkcerts.sh) ---- */

/* Makes the throw-away certificates once (ca, server, self, expired,
   client, rogue: see mkcerts.sh) and returns the path of NAME.crt or
   NAME.key (NAME "ca.crt", say) in one of four rotating buffers; NULL when
   openssl is missing (the test then fails with tu_missing). */
static inline const char *fx_cert(const char *name)
{
    static char dir[512];
    static char bufs[4][600];
    static int next;
    if (!dir[0]) {
        if (system("command -v openssl >/dev/null 2>&1") != 0)
            return NULL;
        const char *src = getenv("NANOSP_SOURCE_DIR");
        char cmd[2048];
        snprintf(dir, sizeof dir, "%s/certs", tu_tmpdir());
        snprintf(cmd, sizeof cmd, "mkdir -p '%s' && '%s/tests/tls/mkcerts.sh' '%s'", dir, src ? src : ".", dir);
        if (system(cmd) != 0) {
            fprintf(stderr, "could not make the test certificates: %s\n", cmd);
            exit(1);
        }
    }
    char *b = bufs[next++ & 3];
    snprintf(b, sizeof bufs[0], "%s/%s", dir, name);
    return b;
}

/* ---- other processes ---- */

struct fx_child {
    pid_t pid;
    int in;        /* its stdin (fx_tell), closed by fx_child_end */
    int out;       /* its stdout, read by fx_child_line */
    char buf[4096];
    size_t len;
};

/* Starts argv[0] with argv, stdin and stdout piped to us; env entries
   ("NAME=value", NULL-terminated, may be NULL) are added to ours; stderr goes
   to the file errpath (created) unless it is NULL. false on failure. */
static inline bool fx_spawn_err(struct fx_child *c, char *const argv[], char *const env[], const char *errpath)
{
    int p[2], q[2];
    memset(c, 0, sizeof *c);
    c->pid = -1;
    c->in = c->out = -1;
    if (pipe2(p, O_CLOEXEC) != 0)
        return false;
    if (pipe2(q, O_CLOEXEC) != 0) {
        close(p[0]);
        close(p[1]);
        return false;
    }
    char **envp = environ;
    char *local[256];
    if (env && env[0]) {
        size_t n = 0;
        for (char **e = environ; *e && n < 200; e++)
            local[n++] = *e;
        for (size_t i = 0; env[i] && n < 255; i++)
            local[n++] = env[i];
        local[n] = NULL;
        envp = local;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    posix_spawn_file_actions_adddup2(&fa, q[0], 0);
    if (errpath)
        posix_spawn_file_actions_addopen(&fa, 2, errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int rc = posix_spawn(&c->pid, argv[0], &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    close(q[0]);
    if (rc != 0) {
        fprintf(stderr, "posix_spawn(%s): %s\n", argv[0], strerror(rc));
        close(p[0]);
        close(q[1]);
        c->pid = -1;
        return false;
    }
    c->out = p[0];
    c->in = q[1];
    return true;
}

static inline bool fx_spawn(struct fx_child *c, char *const argv[], char *const env[])
{
    return fx_spawn_err(c, argv, env, NULL);
}

/* The whole file, NUL-terminated (caller frees), or NULL. */
static inline char *fx_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb)
                break;
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf)
        buf[len] = 0;
    return buf;
}

/* How many times needle occurs in text. */
static inline int fx_count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; p && (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* The child's next line of output (without the newline) within
   timeout_ms: true, or false on EOF or timeout. */
static inline bool fx_child_line(struct fx_child *c, char *line, size_t cap, int timeout_ms)
{
    uint64_t end = tu_now_ms() + (uint64_t) timeout_ms;
    for (;;) {
        char *nl = memchr(c->buf, '\n', c->len);
        if (nl) {
            size_t n = (size_t) (nl - c->buf);
            size_t k = n < cap - 1 ? n : cap - 1;
            memcpy(line, c->buf, k);
            line[k] = 0;
            memmove(c->buf, nl + 1, c->len - n - 1);
            c->len -= n + 1;
            return true;
        }
        uint64_t now = tu_now_ms();
        if (now >= end || c->len == sizeof c->buf)
            return false;
        struct pollfd pfd = {c->out, POLLIN, 0};
        if (poll(&pfd, 1, (int) (end - now)) <= 0)
            continue;
        ssize_t r = read(c->out, c->buf + c->len, sizeof c->buf - c->len);
        if (r <= 0)
            return false;
        c->len += (size_t) r;
    }
}

/* Waits until the child printed a line starting with prefix (other lines
   are passed over); the whole line into line. */
static inline bool fx_child_expect(struct fx_child *c, const char *prefix, char *line, size_t cap, int timeout_ms)
{
    uint64_t end = tu_now_ms() + (uint64_t) timeout_ms;
    for (;;) {
        uint64_t now = tu_now_ms();
        if (now >= end || !fx_child_line(c, line, cap, (int) (end - now)))
            return false;
        if (strncmp(line, prefix, strlen(prefix)) == 0)
            return true;
    }
}

/* Reaps the child (after killing it with sig unless sig is 0); its wait
   status. */
static inline int fx_child_end(struct fx_child *c, int sig)
{
    int status = -1;
    if (c->in >= 0 && !sig) {
        close(c->in); /* end of input: a child waiting for a command exits */
        c->in = -1;
    }
    if (c->pid > 0) {
        if (sig)
            kill(c->pid, sig);
        while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
            ;
        c->pid = -1;
    }
    if (c->out >= 0)
        close(c->out);
    if (c->in >= 0)
        close(c->in);
    c->in = c->out = -1;
    return status;
}

/* Writes a command line (with its newline) to the child's stdin. */
static inline bool fx_tell(struct fx_child *c, const char *line)
{
    size_t n = strlen(line);
    return write(c->in, line, n) == (ssize_t) n;
}

#endif
