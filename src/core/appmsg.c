/* The set of chunks the application holds: 64 shards, each an open-addressing
   table of data pointers (linear probing, deletion by backward shift, so no
   tombstones) under its own mutex. A pointer's hash picks the shard and the
   first slot. Tables grow at 3/4 load and never shrink while the library
   is in use: a program that held many messages once is likely to again.
   When the last socket closes, the empty ones are freed with the rest of
   the library's state. */
#include "core/appmsg.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define NSHARD 64
#define MIN_SLOTS 64

struct shard {
    _Alignas(64) pthread_mutex_t lock;
    uintptr_t *slot; /* 0 = empty; NULL until the first give */
    size_t mask;     /* slots - 1 */
    size_t count;
};

static struct shard shards[NSHARD] = {
    [0 ... NSHARD - 1] = {.lock = PTHREAD_MUTEX_INITIALIZER},
};

/* A 64-bit mix of the address (the murmur3 finaliser): chunks are 8-aligned
   and often a power of two apart, which must not map to few slots. */
static inline uint64_t mix(uintptr_t p)
{
    uint64_t x = (uint64_t) p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static inline struct shard *shard_of(uint64_t h)
{
    return &shards[h & (NSHARD - 1)];
}

/* The first slot for a pointer whose mix is h (the low bits chose the shard). */
static inline size_t slot_of(const struct shard *s, uint64_t h)
{
    return (size_t) (h >> 6) & s->mask;
}

static inline size_t home(const struct shard *s, uintptr_t p)
{
    return slot_of(s, mix(p));
}

/* Doubles the table (or makes the first one). Lock held. 0 or -ENOMEM. */
static int grow(struct shard *s)
{
    size_t n = s->slot ? (s->mask + 1) * 2 : MIN_SLOTS;
    uintptr_t *t = calloc(n, sizeof *t);
    if (!t)
        return -ENOMEM;
    uintptr_t *old = s->slot;
    size_t oldn = old ? s->mask + 1 : 0;
    s->slot = t;
    s->mask = n - 1;
    for (size_t i = 0; i < oldn; i++) {
        if (!old[i])
            continue;
        size_t j = home(s, old[i]);
        while (t[j])
            j = (j + 1) & s->mask;
        t[j] = old[i];
    }
    free(old);
    return 0;
}

/* The slot holding p (mix h), or -1. Lock held. */
static ptrdiff_t find(const struct shard *s, uintptr_t p, uint64_t h)
{
    if (!s->slot)
        return -1;
    for (size_t i = slot_of(s, h);; i = (i + 1) & s->mask) {
        if (s->slot[i] == p)
            return (ptrdiff_t) i;
        if (!s->slot[i])
            return -1;
    }
}

int sp_appmsg_give(void *p)
{
    uintptr_t v = (uintptr_t) p;
    uint64_t h = mix(v);
    struct shard *s = shard_of(h);
    pthread_mutex_lock(&s->lock);
    size_t cap = s->slot ? s->mask + 1 : 0;
    if (s->count + 1 > cap / 4 * 3 && grow(s) != 0 && s->count + 1 >= cap) {
        /* Only when the table is full and cannot grow: below that, a
           failed growth just runs it fuller for now. */
        pthread_mutex_unlock(&s->lock);
        return -ENOMEM;
    }
    size_t i = slot_of(s, h);
    while (s->slot[i])
        i = (i + 1) & s->mask;
    s->slot[i] = v;
    s->count++;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

bool sp_appmsg_take(const void *p)
{
    uintptr_t v = (uintptr_t) p;
    uint64_t h = mix(v);
    struct shard *s = shard_of(h);
    pthread_mutex_lock(&s->lock);
    ptrdiff_t at = find(s, v, h);
    if (at < 0) {
        pthread_mutex_unlock(&s->lock);
        return false;
    }
    /* Backward shift: move later entries of the probe run into the hole
       unless their home lies cyclically in (hole, j]. */
    size_t i = (size_t) at;
    for (size_t j = (i + 1) & s->mask; s->slot[j]; j = (j + 1) & s->mask) {
        size_t k = home(s, s->slot[j]);
        bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (!stays) {
            s->slot[i] = s->slot[j];
            i = j;
        }
    }
    s->slot[i] = 0;
    s->count--;
    pthread_mutex_unlock(&s->lock);
    return true;
}

bool sp_appmsg_held(const void *p)
{
    uintptr_t v = (uintptr_t) p;
    uint64_t h = mix(v);
    struct shard *s = shard_of(h);
    pthread_mutex_lock(&s->lock);
    bool held = find(s, v, h) >= 0;
    pthread_mutex_unlock(&s->lock);
    return held;
}

void sp_appmsg_trim(void)
{
    for (int i = 0; i < NSHARD; i++) {
        struct shard *s = &shards[i];
        pthread_mutex_lock(&s->lock);
        if (s->slot && s->count == 0) {
            free(s->slot);
            s->slot = NULL;
            s->mask = 0;
        }
        pthread_mutex_unlock(&s->lock);
    }
}
