/*
    Helpers shared by the perf programs: a monotonic stopwatch, CPU time of the
    whole process (all threads, user + sys, from getrusage) and resident memory.

    Only libc and POSIX here: the nn_* programs must build unchanged against
    our library, Debian's libnanomsg and NNG's compat layer, so nothing in this
    header may depend on any of them.
*/

#ifndef PERF_UTIL_H
#define PERF_UTIL_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/*  Microseconds on the monotonic clock. */
static inline uint64_t perf_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

/*  CPU time consumed so far by this process, every thread included
    (library I/O threads count: they are part of the cost of a message). */
struct perf_cpu {
    double user_us;
    double sys_us;
};

static inline struct perf_cpu perf_cpu_now(void)
{
    struct rusage ru;
    struct perf_cpu c;
    getrusage(RUSAGE_SELF, &ru);
    c.user_us = ru.ru_utime.tv_sec * 1e6 + ru.ru_utime.tv_usec;
    c.sys_us = ru.ru_stime.tv_sec * 1e6 + ru.ru_stime.tv_usec;
    return c;
}

/*  Prints the CPU used between two samples, in total and per message.
    The bench runner adds the per-message figures of both processes.
    Format: "cpu: <us/msg> [us/msg] (user <us> [us], sys <us> [us])". */
static inline void perf_cpu_print(struct perf_cpu a, struct perf_cpu b, double msgs)
{
    double user = b.user_us - a.user_us;
    double sys = b.sys_us - a.sys_us;
    printf("cpu: %.3f [us/msg] (user %.0f [us], sys %.0f [us])\n",
        msgs > 0 ? (user + sys) / msgs : 0.0, user, sys);
}

/*  Prints a receiving side's throughput as nanomsg's local_thr does (the
    bench runner parses these lines), then its CPU use: count messages of
    sz bytes between t0 and t1 (perf_now_us), CPU samples c0 and c1. */
static inline void perf_thr_print(size_t sz, long count, uint64_t t0, uint64_t t1,
    struct perf_cpu c0, struct perf_cpu c1)
{
    double secs = (double) (t1 - t0) / 1e6;
    if (secs <= 0)
        secs = 1e-6;
    double thr = (double) count / secs;
    printf("message size: %d [B]\n", (int) sz);
    printf("message count: %ld\n", count);
    printf("throughput: %.0f [msg/s]\n", thr);
    printf("throughput: %.3f [Mb/s]\n", thr * (double) sz * 8 / 1000000);
    perf_cpu_print(c0, c1, (double) count);
}

/*  Resident set size of this process in KiB (from /proc/self/statm). */
static inline long perf_rss_kib(void)
{
    long pages_total = 0, pages_res = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL)
        return -1;
    if (fscanf(f, "%ld %ld", &pages_total, &pages_res) != 2)
        pages_res = -1;
    fclose(f);
    return pages_res < 0 ? -1 : pages_res * (sysconf(_SC_PAGESIZE) / 1024);
}

/*  Sleeps a few milliseconds. Used after the last message of a test and
    before nn_close: libnanomsg has no linger, and NNG sends asynchronously,
    so a message sent right before close may otherwise never leave. */
static inline void perf_pause_ms(int ms)
{
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long) (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/*  A positive decimal integer argument, or exit with a usage error. */
static inline long perf_arg_long(const char *s, const char *what)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0) {
        fprintf(stderr, "bad %s: '%s'\n", what, s);
        exit(1);
    }
    return v;
}

/*  True when the environment asks the throughput programs for PUSH/PULL
    instead of nanomsg's original PAIR (PERF_PATTERN=pushpull). */
static inline int perf_pushpull(void)
{
    const char *p = getenv("PERF_PATTERN");
    return p != NULL && strcmp(p, "pushpull") == 0;
}

/*  In PUSH/PULL mode the stream has no way back, so the end-of-test
    acknowledgement travels on a PAIR socket at a derived address: the next
    tcp port, or the ipc path with ".ack" appended. NULL when the transport
    has no such derivation (the remote side then lingers a second). */
static inline char *perf_ack_url(const char *url)
{
    char *out = malloc(strlen(url) + 16);
    if (out == NULL)
        return NULL;
    if (strncmp(url, "ipc://", 6) == 0) {
        sprintf(out, "%s.ack", url);
        return out;
    }
    if (strncmp(url, "tcp://", 6) == 0) {
        const char *colon = strrchr(url, ':');
        char *end;
        long port;
        if (colon != NULL && colon > url + 5) {
            port = strtol(colon + 1, &end, 10);
            if (*end == '\0' && port > 0 && port < 65535) {
                sprintf(out, "%.*s:%ld", (int) (colon - url), url, port + 1);
                return out;
            }
        }
    }
    free(out);
    return NULL;
}

#define PERF_CHECK(cond, what)                                                     \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, (what),  \
                strerror(errno));                                                  \
            exit(2);                                                               \
        }                                                                          \
    } while (0)

#endif
