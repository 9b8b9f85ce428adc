/* Seeds for request, survey and pipe ids: from the kernel's random source,
   falling back to time and address bits if it is unavailable. */
#ifndef SP_RANDOM_H
#define SP_RANDOM_H

#include <stdint.h>
#include <sys/random.h>
#include <time.h>

static inline uint32_t sp_random_u32(void)
{
    uint32_t v;
    if (getrandom(&v, sizeof v, GRND_NONBLOCK) == (ssize_t) sizeof v)
        return v;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t) ts.tv_nsec ^ (uint32_t) ts.tv_sec ^ (uint32_t) (uintptr_t) &v;
}

#endif
