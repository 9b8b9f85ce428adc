/* The block pool: size classes 128 B .. 4 KiB (powers of two). Each thread
   keeps up to MAG_MAX blocks per class; when its magazine overflows it
   moves half of it to the depot in one locked step, and when it runs dry it
   takes a batch back the same way, so the lock is taken once per MAG_MAX/2
   blocks. The depot is bounded (DEPOT_BATCHES batches and DEPOT_MAX_BYTES
   per class); beyond that blocks go back to malloc. */
#include "core/blockpool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "utils/err.h"
#include "utils/prefetch.h"

#define CLASS_MIN_SHIFT 7 /* 128 B */
#define NCLASS 6          /* 128 256 512 1024 2048 4096 */
#define MAG_MAX 64
#define DEPOT_MAX_BYTES (1u << 20) /* per class */

/* The depot keeps whole half-magazines (arrays of block pointers): moving
   a batch in or out copies 32 pointers and touches none of the blocks. */
#define BATCH (MAG_MAX / 2)
/* 3072 blocks: a default NN_RCVBUF (128 KiB) of 64-byte messages is 2048
   in flight; with room for fewer, a receiver catching up after a pause
   free()d what the sender then malloc()ed again (5 % of the sender's time
   in malloc between two CPUs, 2 % of the receiver's in free). */
#define DEPOT_BATCHES 96

static struct {
    pthread_mutex_t lock;
    unsigned n; /* batches held */
    void *batch[DEPOT_BATCHES][BATCH];
} depot[NCLASS] = {
    [0 ... NCLASS - 1] = {.lock = PTHREAD_MUTEX_INITIALIZER},
};

struct magazine {
    unsigned n;
    void *blk[MAG_MAX];
};

static SP_THREAD_LOCAL struct magazine *tl_mags; /* NCLASS of them */
static pthread_key_t mags_key;
static pthread_once_t mags_once = PTHREAD_ONCE_INIT;

static void mags_free(void *p)
{
    struct magazine *m = p;
    for (int c = 0; c < NCLASS; c++)
        while (m[c].n)
            free(m[c].blk[--m[c].n]);
    free(m);
    tl_mags = NULL;
}

static void mags_key_init(void)
{
    pthread_key_create(&mags_key, mags_free);
}

SP_HOT static struct magazine *mags(void)
{
    if (!tl_mags) {
        pthread_once(&mags_once, mags_key_init);
        struct magazine *m = calloc(NCLASS, sizeof *m);
        if (!m)
            return NULL;
        /* The key's destructor frees them when the thread exits. */
        if (pthread_setspecific(mags_key, m) != 0) {
            free(m);
            return NULL;
        }
        tl_mags = m;
    }
    return tl_mags;
}

SP_HOT static int class_of(size_t len)
{
    if (len > ((size_t) 1 << (CLASS_MIN_SHIFT + NCLASS - 1)))
        return -1;
    if (len <= ((size_t) 1 << CLASS_MIN_SHIFT))
        return 0;
    /* ceil(log2(len)) - CLASS_MIN_SHIFT */
    return (int) (64 - __builtin_clzll((unsigned long long) len - 1)) - CLASS_MIN_SHIFT;
}

static size_t class_len(int c)
{
    return (size_t) 1 << (CLASS_MIN_SHIFT + c);
}

SP_HOT void *sp_blockpool_get(size_t len, size_t *got)
{
    int c = class_of(len);
    struct magazine *m = c >= 0 ? mags() : NULL;
    if (!m) {
        *got = len;
        return malloc(len);
    }
    struct magazine *mg = &m[c];
    if (mg->n == 0) {
        /* Refill from the depot: half a magazine in one locked step. */
        pthread_mutex_lock(&depot[c].lock);
        if (depot[c].n > 0) {
            depot[c].n--;
            memcpy(mg->blk, depot[c].batch[depot[c].n], sizeof depot[c].batch[0]);
            mg->n = BATCH;
        }
        pthread_mutex_unlock(&depot[c].lock);
    }
    *got = class_len(c);
    if (mg->n) {
        void *b = mg->blk[--mg->n];
        /* The next block is usually one another thread freed, its lines
           in that CPU's cache: ask for them now (for writing), so that the
           next allocation does not stall on the transfer. */
        if (mg->n) {
            /* Its first 128 bytes: a chunk header and a small message, on
               two or three lines (malloc aligns to 16 bytes only). */
            char *nb = mg->blk[mg->n - 1];
            sp_prefetch_write(nb);
            sp_prefetch_write(nb + 64);
            sp_prefetch_write(nb + 127);
        }
        return b;
    }
    return malloc(class_len(c));
}

SP_HOT void sp_blockpool_put(void *blk, size_t len)
{
    int c = class_of(len);
    struct magazine *m = c >= 0 && class_len(c) == len ? mags() : NULL;
    if (!m) {
        free(blk);
        return;
    }
    struct magazine *mg = &m[c];
    if (mg->n == MAG_MAX) {
        /* Overflow: the upper half of the magazine goes to the depot, or to
           free() beyond the depot's bound. */
        mg->n -= BATCH;
        bool taken = false;
        pthread_mutex_lock(&depot[c].lock);
        if (depot[c].n < DEPOT_BATCHES && (depot[c].n + 1) * BATCH * class_len(c) <= DEPOT_MAX_BYTES) {
            memcpy(depot[c].batch[depot[c].n], &mg->blk[mg->n], sizeof depot[c].batch[0]);
            depot[c].n++;
            taken = true;
        }
        pthread_mutex_unlock(&depot[c].lock);
        if (!taken)
            for (unsigned i = 0; i < BATCH; i++)
                free(mg->blk[mg->n + i]);
    }
    mg->blk[mg->n++] = blk;
}

void sp_blockpool_drain(void)
{
    for (int c = 0; c < NCLASS; c++) {
        pthread_mutex_lock(&depot[c].lock);
        while (depot[c].n > 0) {
            depot[c].n--;
            for (unsigned i = 0; i < BATCH; i++)
                free(depot[c].batch[depot[c].n][i]);
        }
        pthread_mutex_unlock(&depot[c].lock);
    }
    if (tl_mags) {
        struct magazine *m = tl_mags;
        for (int c = 0; c < NCLASS; c++)
            while (m[c].n)
                free(m[c].blk[--m[c].n]);
    }
}
