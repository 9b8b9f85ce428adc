/* Allocation failure injection: the Nth allocation of a run fails, for N
   swept over the whole run. A run (a fresh process each, forked before the
   library was ever used) opens sockets, binds, connects, sends, receives,
   polls and closes over inproc, ipc, tcp, ws and tls+tcp, and runs a device
   between two raw sockets. What a user must see whatever N is: every call
   succeeds or fails with ENOMEM, and the same call made again then succeeds
   (a failed call left nothing broken behind); no abort; after the last
   nn_close the heap holds exactly what it held before the first nn_socket
   (no leak, counted here block by block: a sanitizer's runtime cannot start
   under this interposer, so sanitized builds leave this case out).

   The allocator is interposed here, in the executable, so it sees every
   allocation of the process: the library's (chunks, the block pool, its
   threads), mbedTLS's and libc's on the library's behalf (getaddrinfo,
   thread creation...). malloc, calloc, realloc, posix_memalign,
   aligned_alloc, memalign and valloc count (strdup and the like call malloc
   inside libc); they forward to the next definition (libc's).

   A failure inside the library's I/O thread has no call to report it to:
   the connection it hit is dropped and made again, and REQ resends what was
   lost with it, so the run's requests use REQ/REP and are answered in the
   end; a recv only has to succeed within a deadline.

   Short mode: the library's and libc's allocations every N up to 20, then
   a stride that covers the whole run in about 50 runs; mbedTLS's every N up
   to 5, then about 15 more over its run. Long mode: every N of the
   library's and libc's, mbedTLS's every N up to 200 and then about 2000
   more. The figures: allocations per run, runs, failures injected inside a
   call and in the I/O thread. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <execinfo.h>
#include <link.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nanomsg/nn.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/reqrep.h>
#if FX_TLS
#include <nanomsg/tls.h>
#endif

#include "faults.h"

/* ---- the interposed allocator ---- */

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);
static int (*real_posix_memalign)(void **, size_t, size_t);
static void *(*real_aligned_alloc)(size_t, size_t);
static void *(*real_memalign)(size_t, size_t);
static void *(*real_valloc)(size_t);
static size_t (*real_usable)(void *);

/* What the program holds: blocks and their usable bytes, counted here
   (the allocator's own statistics count blocks kept in per-thread caches
   as used). */
static atomic_long live_blocks, live_bytes;

static void *took(void *p)
{
    if (p) {
        atomic_fetch_add_explicit(&live_blocks, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&live_bytes, (long) real_usable(p), memory_order_relaxed);
    }
    return p;
}

static void gave(void *p)
{
    atomic_fetch_sub_explicit(&live_blocks, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&live_bytes, (long) real_usable(p), memory_order_relaxed);
}

/* dlsym allocates while we look the real functions up: from here. */
static _Alignas(64) char boot[8192];
static size_t boot_used;

static bool in_boot(const void *p)
{
    return (const char *) p >= boot && (const char *) p < boot + sizeof boot;
}

static void *boot_alloc(size_t n)
{
    n = (n + 63) & ~(size_t) 63;
    if (boot_used + n > sizeof boot)
        return NULL;
    void *p = boot + boot_used;
    boot_used += n;
    return p;
}

static atomic_int resolving;

static void resolve(void)
{
    if (real_free)
        return;
    atomic_store(&resolving, 1);
    real_malloc = (void *(*)(size_t)) dlsym(RTLD_NEXT, "malloc");
    real_calloc = (void *(*)(size_t, size_t)) dlsym(RTLD_NEXT, "calloc");
    real_realloc = (void *(*)(void *, size_t)) dlsym(RTLD_NEXT, "realloc");
    real_posix_memalign = (int (*)(void **, size_t, size_t)) dlsym(RTLD_NEXT, "posix_memalign");
    real_aligned_alloc = (void *(*)(size_t, size_t)) dlsym(RTLD_NEXT, "aligned_alloc");
    real_memalign = (void *(*)(size_t, size_t)) dlsym(RTLD_NEXT, "memalign");
    real_valloc = (void *(*)(size_t)) dlsym(RTLD_NEXT, "valloc");
    real_usable = (size_t(*)(void *)) dlsym(RTLD_NEXT, "malloc_usable_size");
    real_free = (void (*)(void *)) dlsym(RTLD_NEXT, "free");
    atomic_store(&resolving, 0);
}

/* Counting: while armed, every allocation takes a number in its class;
   the one numbered fail_at in class fail_class fails. mbedTLS allocates
   for every big-number operation of a handshake (some 50,000 times in a
   run, against a few hundred allocations for everything else), so its
   allocations (made from its own code) are a class of their own, swept
   with a stride. */
enum { OURS, MBEDTLS, NCLASSES };
static const char *class_name[] = {"the library, libc", "mbedTLS"};
static atomic_bool armed;
static atomic_long counter[NCLASSES];
static int fail_class;
static long fail_at;
static atomic_int failed_tid; /* the thread it hit, 0 before */
static void *failed_caller;   /* the code that asked for it */
static const char *current;   /* the part of the scenario running */
static const char *failed_in; /* ... when it failed */
static bool want_bt;          /* ALLOCFAIL_BT set: the failure's stack */
static void *failed_bt[32];
static int failed_nbt;

/* The code of mbedTLS's libraries (filled before arming). */
static struct {
    uintptr_t lo, hi;
} mbed_text[8];
static int nmbed;

static int find_mbed(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void) size;
    (void) arg;
    if (!info->dlpi_name || !strstr(info->dlpi_name, "libmbed"))
        return 0;
    for (int i = 0; i < info->dlpi_phnum && nmbed < 8; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            mbed_text[nmbed].lo = info->dlpi_addr + ph->p_vaddr;
            mbed_text[nmbed].hi = mbed_text[nmbed].lo + ph->p_memsz;
            nmbed++;
        }
    }
    return 0;
}

static int class_of(const void *caller)
{
    uintptr_t a = (uintptr_t) caller;
    for (int i = 0; i < nmbed; i++)
        if (a >= mbed_text[i].lo && a < mbed_text[i].hi)
            return MBEDTLS;
    return OURS;
}

#define should_fail() should_fail_from(__builtin_return_address(0))

static bool should_fail_from(const void *caller)
{
    if (!atomic_load_explicit(&armed, memory_order_relaxed))
        return false;
    int c = class_of(caller);
    long n = atomic_fetch_add(&counter[c], 1) + 1;
    if (c != fail_class || n != fail_at)
        return false;
    failed_caller = (void *) caller;
    failed_in = current;
    if (want_bt)
        failed_nbt = backtrace(failed_bt, 32); /* may allocate: after the count */
    atomic_store(&failed_tid, (int) syscall(SYS_gettid));
    return true;
}

void *malloc(size_t n)
{
    if (!real_malloc) {
        if (atomic_load(&resolving))
            return boot_alloc(n);
        resolve();
    }
    if (should_fail()) {
        errno = ENOMEM;
        return NULL;
    }
    return took(real_malloc(n));
}

void *calloc(size_t n, size_t m)
{
    if (!real_calloc) {
        if (atomic_load(&resolving))
            return boot_alloc(n * m); /* static memory is zeroed */
        resolve();
    }
    if (should_fail()) {
        errno = ENOMEM;
        return NULL;
    }
    return took(real_calloc(n, m));
}

void *realloc(void *p, size_t n)
{
    if (!real_realloc)
        resolve();
    if (in_boot(p)) {
        void *q = malloc(n);
        if (q)
            memcpy(q, p, n); /* boot blocks are small and never grow */
        return q;
    }
    if (should_fail()) {
        errno = ENOMEM;
        return NULL;
    }
    if (!p)
        return took(real_realloc(p, n));
    size_t old = real_usable(p);
    void *q = real_realloc(p, n);
    if (q) {
        atomic_fetch_add_explicit(&live_bytes, (long) real_usable(q) - (long) old, memory_order_relaxed);
    } else if (n == 0) {
        atomic_fetch_sub_explicit(&live_blocks, 1, memory_order_relaxed); /* freed */
        atomic_fetch_sub_explicit(&live_bytes, (long) old, memory_order_relaxed);
    }
    return q;
}

void free(void *p)
{
    if (!p || in_boot(p))
        return;
    if (!real_free)
        resolve();
    gave(p);
    real_free(p);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    if (!real_posix_memalign)
        resolve();
    if (should_fail())
        return ENOMEM;
    int rc = real_posix_memalign(out, align, n);
    if (rc == 0)
        took(*out);
    return rc;
}

void *aligned_alloc(size_t align, size_t n)
{
    if (!real_aligned_alloc)
        resolve();
    if (should_fail()) {
        errno = ENOMEM;
        return NULL;
    }
    return took(real_aligned_alloc(align, n));
}

void *memalign(size_t align, size_t n)
{
    if (!real_memalign)
        resolve();
    if (should_fail()) {
        errno = ENOMEM;
        return NULL;
    }
    return took(real_memalign(align, n));
}

void *valloc(size_t n)
{
    if (!real_valloc)
        resolve();
    if (should_fail()) {
        errno = ENOMEM;
        return NULL;
    }
    return took(real_valloc(n));
}

/* ---- one run ---- */

static int problems;
static int enomem_calls; /* calls that failed with ENOMEM (and then worked) */

static void problem(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void problem(const char *fmt, ...)
{
    va_list ap;
    if (!problems && failed_caller) {
        Dl_info di;
        if (dladdr(failed_caller, &di) && di.dli_fname)
            fprintf(stderr, "allocfail N=%ld: the failed allocation was made at %s+%#lx (%s), during %s\n",
                    fail_at, di.dli_fname, (unsigned long) ((char *) failed_caller - (char *) di.dli_fbase),
                    di.dli_sname ? di.dli_sname : "?", failed_in ? failed_in : "?");
        if (failed_nbt)
            backtrace_symbols_fd(failed_bt, failed_nbt, 2);
    }
    va_start(ap, fmt);
    fprintf(stderr, "allocfail N=%ld: ", fail_at);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    problems++;
}

/* Runs a call; one that fails with ENOMEM is made again and must then
   succeed (only one allocation fails per run). */
#define CALL(what, expr)                                                                          \
    ({                                                                                            \
        __typeof__(expr) r_ = (expr);                                                             \
        if (r_ < 0 && nn_errno() == ENOMEM) {                                                     \
            enomem_calls++;                                                                       \
            r_ = (expr);                                                                          \
        }                                                                                         \
        if (r_ < 0)                                                                               \
            problem("%s (line %d): %s", what, __LINE__, nn_strerror(nn_errno()));                 \
        r_;                                                                                       \
    })

static int sock(int domain, int protocol)
{
    int s = CALL("nn_socket", nn_socket(domain, protocol));
    if (s < 0)
        return s;
    int tmo = 10000, ivl = 10, resend = 100;
    CALL("NN_SNDTIMEO", nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDTIMEO, &tmo, sizeof tmo));
    CALL("NN_RCVTIMEO", nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &tmo, sizeof tmo));
    CALL("NN_RECONNECT_IVL", nn_setsockopt(s, NN_SOL_SOCKET, NN_RECONNECT_IVL, &ivl, sizeof ivl));
    if (domain == AF_SP && protocol == NN_REQ)
        CALL("NN_REQ_RESEND_IVL", nn_setsockopt(s, NN_REQ, NN_REQ_RESEND_IVL, &resend, sizeof resend));
    return s;
}

/* A receive without waiting: the message (NUL-terminated in buf), 0 when
   there is none, -1 on a failure (reported). A receive failing with ENOMEM
   is made again and must then return the message it could not hand over. */
static int take(int s, char *buf, size_t cap, bool zero_copy)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        void *m = NULL;
        int n = zero_copy ? nn_recv(s, &m, NN_MSG, NN_DONTWAIT) : nn_recv(s, buf, cap - 1, NN_DONTWAIT);
        if (n < 0 && nn_errno() == EAGAIN && attempt == 0)
            return 0;
        if (n < 0 && nn_errno() == ENOMEM && attempt == 0) {
            enomem_calls++;
            continue;
        }
        if (n < 0) {
            problem("nn_recv%s%s: %s", zero_copy ? " NN_MSG" : "", attempt ? " again after ENOMEM" : "",
                    nn_strerror(nn_errno()));
            return -1;
        }
        if (zero_copy) {
            size_t k = (size_t) n < cap - 1 ? (size_t) n : cap - 1;
            memcpy(buf, m, k);
            nn_freemsg(m);
        }
        buf[(size_t) n < cap - 1 ? (size_t) n : cap - 1] = 0;
        return 1;
    }
    return -1;
}

/* A REQ/REP round trip, the REP side served the way a server loop does it
   (a request lost with a connection comes again: REQ resends it, and it is
   answered again), copy and zero-copy sends and receives alternating. */
static void round_trip(int req, int rep, int i)
{
    char q[32], a[32], buf[64];
    snprintf(q, sizeof q, "request %d", i);
    snprintf(a, sizeof a, "reply %d", i);
    if (CALL("nn_send", nn_send(req, q, strlen(q), 0)) < 0)
        return;
    uint64_t end = tu_now_ms() + 10000;
    while (tu_now_ms() < end) {
        struct nn_pollfd pfd[2] = {{rep, NN_POLLIN, 0}, {req, NN_POLLIN, 0}};
        if (CALL("nn_poll", nn_poll(pfd, 2, 100)) < 0)
            return;
        int got = take(rep, buf, sizeof buf, i % 2);
        if (got < 0)
            return;
        if (got > 0) {
            /* A late copy of an earlier request (REQ resent it while its
               reply was on the way) is answered too, as a server would. */
            int k;
            if (sscanf(buf, "request %d", &k) != 1 || k > i) {
                problem("REP received \"%s\", not \"%s\"", buf, q);
                return;
            }
            snprintf(a, sizeof a, "reply %d", k);
            void *m = nn_allocmsg(strlen(a), 0);
            if (!m && nn_errno() == ENOMEM) {
                enomem_calls++;
                m = nn_allocmsg(strlen(a), 0);
            }
            if (!m) {
                problem("nn_allocmsg: %s", nn_strerror(nn_errno()));
                return;
            }
            memcpy(m, a, strlen(a));
            if (CALL("nn_send NN_MSG", nn_send(rep, &m, NN_MSG, 0)) < 0) {
                nn_freemsg(m);
                return;
            }
        }
        got = take(req, buf, sizeof buf, !(i % 2));
        if (got < 0)
            return;
        if (got > 0) {
            /* REQ drops replies to earlier requests. */
            snprintf(a, sizeof a, "reply %d", i);
            if (strcmp(buf, a) != 0)
                problem("REQ received \"%s\", not \"%s\"", buf, a);
            return;
        }
    }
    problem("no reply to \"%s\" within 10 s", q);
}

static void over(const char *bind_url, const char *conn_url)
{
    int rep = sock(AF_SP, NN_REP), req = sock(AF_SP, NN_REQ);
    if (rep < 0 || req < 0)
        return;
    if (CALL("nn_bind", nn_bind(rep, bind_url)) >= 0 && CALL("nn_connect", nn_connect(req, conn_url)) >= 0) {
        for (int i = 0; i < 2; i++)
            round_trip(req, rep, i);
    }
    CALL("nn_close", nn_close(req));
    CALL("nn_close", nn_close(rep));
}

struct device_arg {
    int a, b;
    int rc, err;
};

static void *device_main(void *p)
{
    struct device_arg *d = p;
    d->rc = nn_device(d->a, d->b);
    d->err = nn_errno();
    return NULL;
}

static void device(void)
{
    int front = sock(AF_SP_RAW, NN_REP), back = sock(AF_SP_RAW, NN_REQ);
    int req = sock(AF_SP, NN_REQ), rep = sock(AF_SP, NN_REP);
    if (front < 0 || back < 0 || req < 0 || rep < 0)
        return;
    CALL("nn_bind", nn_bind(front, "inproc://allocfail-front"));
    CALL("nn_bind", nn_bind(back, "inproc://allocfail-back"));
    CALL("nn_connect", nn_connect(req, "inproc://allocfail-front"));
    CALL("nn_connect", nn_connect(rep, "inproc://allocfail-back"));
    struct device_arg d = {front, back, 0, 0};
    pthread_t t;
    int rc = pthread_create(&t, NULL, device_main, &d);
    if (rc == EAGAIN || rc == ENOMEM)
        rc = pthread_create(&t, NULL, device_main, &d); /* the test's own thread */
    if (rc != 0) {
        problem("pthread_create: %s", strerror(rc));
        return;
    }
    round_trip(req, rep, 0);
    CALL("nn_close", nn_close(front));
    CALL("nn_close", nn_close(back));
    pthread_join(t, NULL);
    /* nn_device returns when one of its sockets closes; ENOMEM from its
       own threads would be a failure to start. */
    if (d.rc != -1 || (d.err != EBADF && d.err != ENOMEM))
        problem("nn_device returned %d (%s)", d.rc, nn_strerror(d.err));
    CALL("nn_close", nn_close(req));
    CALL("nn_close", nn_close(rep));
}

/* part: the scenario's parts to run (NULL: all), for debugging. */
static bool part(const char *name)
{
    const char *only = getenv("ALLOCFAIL_ONLY");
    current = name;
    return !only || strstr(only, name);
}

static void scenario(void)
{
    char a[128], b[128];
    if (part("inproc"))
        over("inproc://allocfail", "inproc://allocfail");
    if (part("ipc")) {
        tu_ipc_url(a, sizeof a, "allocfail");
        over(a, a);
    }
    if (part("tcp")) {
        snprintf(a, sizeof a, "tcp://127.0.0.1:%d", tu_free_port());
        over(a, a);
    }
#if FX_TLS
    if (part("ws")) {
        snprintf(a, sizeof a, "ws://127.0.0.1:%d", tu_free_port());
        over(a, a);
    }
    if (part("tls")) {
        int port = tu_free_port();
        snprintf(a, sizeof a, "tls+tcp://127.0.0.1:%d", port);
        snprintf(b, sizeof b, "tls+tcp://localhost:%d", port);
        over(a, b);
    }
#else
    (void) b;
#endif
    if (part("device"))
        device();
}

/* A child: runs the scenario with allocation n of class c failing (n 0:
   none). Exit status 0 when all went well; reports "allocs OURS MBEDTLS
   WHERE ENOMEM_CALLS" on fd report (WHERE: none, inside (the failure hit
   the calling thread) or loop (another thread)). The parent ran the
   scenario once before it forked: what the library keeps per thread for
   good (the calling thread's block magazines and write scratch space) and
   libc's one-time allocations (name service modules) are made already, so
   the heap must come back to exactly what it holds now. */
static int child(int c, long n, int report)
{
    long blocks = atomic_load(&live_blocks), bytes = atomic_load(&live_bytes);
    fail_class = c;
    fail_at = n;
    int tid = (int) syscall(SYS_gettid);
    atomic_store(&armed, true);
    scenario();
    atomic_store(&armed, false);
    long blocks_after = atomic_load(&live_blocks), bytes_after = atomic_load(&live_bytes);
    if (blocks_after != blocks || bytes_after != bytes)
        problem("before the first socket %ld blocks (%ld bytes) were allocated, after the last close %ld (%ld bytes)",
                blocks, bytes, blocks_after, bytes_after);
    int ft = atomic_load(&failed_tid);
    char line[128];
    int len = snprintf(line, sizeof line, "allocs %ld %ld %s %d\n", atomic_load(&counter[OURS]),
                       atomic_load(&counter[MBEDTLS]), ft == 0 ? "none" : ft == tid ? "inside" : "loop",
                       enomem_calls);
    if (write(report, line, (size_t) len) != len)
        return 1;
    return problems ? 1 : 0;
}

struct outcome {
    bool ok;
    long allocs[NCLASSES];
    char where[16];
};

static struct outcome run_one(int c, long n)
{
    struct outcome o = {false, {0, 0}, ""};
    int p[2];
    if (pipe(p) != 0)
        return o;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        _exit(child(c, n, p[1]));
    }
    close(p[1]);
    char buf[128] = "";
    ssize_t len = 0, r;
    while (len < (ssize_t) sizeof buf - 1 && (r = read(p[0], buf + len, sizeof buf - 1 - (size_t) len)) > 0)
        len += r;
    buf[len] = 0;
    close(p[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    int enomem = 0;
    if (sscanf(buf, "allocs %ld %ld %15s %d", &o.allocs[OURS], &o.allocs[MBEDTLS], o.where, &enomem) != 4)
        o.where[0] = 0;
    o.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 && o.where[0];
    if (!o.ok)
        fprintf(stderr, "allocfail: allocation %ld of %s failing: the run ended with status %#x%s\n", n,
                class_name[c], status, WIFSIGNALED(status) ? " (killed by a signal: an abort or a crash)" : "");
    return o;
}

/* Sweeps class c over total allocations: the first `dense` one by one,
   then about `spread` more evenly over the rest. */
static bool sweep(int c, long total, long dense, long spread)
{
    uint64_t t0 = tu_now_ms();
    long runs = 0, bad = 0, inside = 0, loop = 0, missed = 0;
    long stride = total <= dense + spread ? 1 : (total - dense) / spread + 1;
    for (long n = 1; n <= total; n += n < dense ? 1 : stride) {
        struct outcome o = run_one(c, n);
        runs++;
        if (!o.ok)
            bad++;
        else if (strcmp(o.where, "inside") == 0)
            inside++;
        else if (strcmp(o.where, "loop") == 0)
            loop++;
        else
            missed++; /* this run made fewer than n allocations of the class */
    }
    fx_figure("allocfail", "allocations by %s: %ld in a run; %ld runs (N = 1..%ld%s): the failure hit the calling "
              "thread in %ld, the library's threads in %ld, no allocation (a shorter run) in %ld; %ld runs failed; "
              "%.1f s",
              class_name[c], total, runs, total, stride > 1 ? ", every N at first, then a stride" : "", inside,
              loop, missed, bad, (tu_now_ms() - t0) / 1000.0);
    return bad == 0;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
#if FX_TLS
    if (!fx_cert("ca.crt"))
        return tu_missing("openssl (it makes the test certificates)", "openssl");
    setenv("NN_TLS_CA_FILE", fx_cert("ca.crt"), 1);
    setenv("NN_TLS_CERT_FILE", fx_cert("server.crt"), 1);
    setenv("NN_TLS_KEY_FILE", fx_cert("server.key"), 1);
#endif
    want_bt = getenv("ALLOCFAIL_BT") != NULL;
    /* The warm-up run (see child), also the reference: it must work. */
    scenario();
    if (problems) {
        fprintf(stderr, "allocfail: the scenario fails without any injected failure\n");
        return 1;
    }
    dl_iterate_phdr(find_mbed, NULL);
    if (argc == 4 && strcmp(argv[1], "one") == 0) {
        /* allocfail one CLASS N: a single run, for debugging. */
        int c = atoi(argv[2]);
        struct outcome o = run_one(c, atol(argv[3]));
        printf("class %d N=%ld: %s, allocations %ld + %ld, failure %s\n", c, atol(argv[3]),
               o.ok ? "ok" : "FAILED", o.allocs[OURS], o.allocs[MBEDTLS], o.where);
        return o.ok ? 0 : 1;
    }
    struct outcome clean = run_one(OURS, 0);
    if (!clean.ok) {
        fprintf(stderr, "allocfail: a run without an injected failure fails\n");
        return 1;
    }
    /* ALLOCFAIL_CLASS=0 or 1: one class only (debugging). */
    const char *only = getenv("ALLOCFAIL_CLASS");
    bool ok = true;
    if (!only || atoi(only) == OURS)
        ok = sweep(OURS, clean.allocs[OURS], fx_pick(20, clean.allocs[OURS]), fx_pick(30, 0));
    if (clean.allocs[MBEDTLS] && (!only || atoi(only) == MBEDTLS))
        ok = sweep(MBEDTLS, clean.allocs[MBEDTLS], fx_pick(5, 200), fx_pick(15, 2000)) && ok;
    return ok ? 0 : 1;
}
