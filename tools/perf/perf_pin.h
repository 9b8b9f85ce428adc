/*
    perf_pin_thread: one CPU per thread for the inproc programs
    (PERF_THREAD_CPUS). A header of its own because CPU_SET needs
    _GNU_SOURCE before the first system header, which only the programs
    that pin define.
*/

#ifndef PERF_PIN_H
#define PERF_PIN_H

#ifndef _GNU_SOURCE
#error "perf_pin.h needs _GNU_SOURCE defined before any system header"
#endif

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

/*  PERF_THREAD_CPUS="A,B" pins the calling thread of a two-thread inproc
    program to one CPU: role 0 (the receiver, the main thread) to A, role 1
    (the sender, the worker) to B. taskset pins a whole process, so it cannot
    put the two threads on different CPUs; unset, nothing is pinned. */
static inline void perf_pin_thread(int role)
{
    const char *p = getenv("PERF_THREAD_CPUS");
    char *end;
    long cpu[2];
    cpu_set_t set;

    if (p == NULL || *p == '\0')
        return;
    cpu[0] = strtol(p, &end, 10);
    cpu[1] = *end == ',' ? strtol(end + 1, &end, 10) : -1;
    if (*end != '\0' || cpu[0] < 0 || cpu[1] < 0 || cpu[role] >= CPU_SETSIZE) {
        fprintf(stderr, "bad PERF_THREAD_CPUS: '%s' (want A,B)\n", p);
        exit(1);
    }
    CPU_ZERO(&set);
    CPU_SET((int) cpu[role], &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) {
        perror("sched_setaffinity (PERF_THREAD_CPUS)");
        exit(1);
    }
}

#endif
