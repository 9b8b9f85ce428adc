/* Chunks and the public zero-copy API (nn_allocmsg, nn_reallocmsg, nn_freemsg).
   Layout: [allocation ... [struct sp_chunk_hdr][data]] where the header may sit
   further into the allocation after an in-place trim (hdr->offset says where
   the allocation starts). */
#include "core/chunk.h"

#include "core/appmsg.h"
#include "core/blockpool.h"
#include "utils/err.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <nanomsg/nn.h>

static inline uint64_t tag_for(const void *p)
{
    return SP_CHUNK_TAG ^ (uint64_t) (uintptr_t) p;
}

/* Large blocks are kept for reuse instead of going back to malloc: they
   are typically allocated by the I/O thread and freed by the application's,
   and glibc would hand the memory back to the kernel and fault it in again
   for every message. */
#define CACHE_MIN (32 * 1024)
#define CACHE_SLOTS 8
#define CACHE_MAX_BYTES (32u << 20)

static struct {
    pthread_mutex_t lock;
    void *blk[CACHE_SLOTS];
    size_t len[CACHE_SLOTS];
    int n;
    size_t bytes;
} cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* A cached block of at least need bytes (and not wastefully larger). */
static void *cache_take(size_t need, size_t *len)
{
    void *b = NULL;
    pthread_mutex_lock(&cache.lock);
    for (int i = 0; i < cache.n; i++) {
        if (cache.len[i] >= need && cache.len[i] / 2 <= need) {
            b = cache.blk[i];
            *len = cache.len[i];
            cache.bytes -= cache.len[i];
            cache.n--;
            cache.blk[i] = cache.blk[cache.n];
            cache.len[i] = cache.len[cache.n];
            break;
        }
    }
    pthread_mutex_unlock(&cache.lock);
    return b;
}

static void cache_put_or_free(void *b, size_t len)
{
    if (len >= CACHE_MIN) {
        pthread_mutex_lock(&cache.lock);
        if (cache.n < CACHE_SLOTS && cache.bytes + len <= CACHE_MAX_BYTES) {
            cache.blk[cache.n] = b;
            cache.len[cache.n] = len;
            cache.n++;
            cache.bytes += len;
            b = NULL;
        }
        pthread_mutex_unlock(&cache.lock);
        if (b)
            free(b);
        return;
    }
    sp_blockpool_put(b, len);
}

void sp_chunk_cache_drain(void)
{
    pthread_mutex_lock(&cache.lock);
    while (cache.n > 0) {
        cache.n--;
        free(cache.blk[cache.n]);
    }
    cache.bytes = 0;
    pthread_mutex_unlock(&cache.lock);
    sp_blockpool_drain();
}

SP_HOT void *sp_chunk_alloc(size_t size)
{
    if (size > SIZE_MAX - sizeof(struct sp_chunk_hdr) - 64)
        return NULL;
    size_t need = sizeof(struct sp_chunk_hdr) + size, len = need;
    struct sp_chunk_hdr *h = need >= CACHE_MIN ? cache_take(need, &len) : NULL;
    if (!h)
        h = sp_blockpool_get(need, &len);
    if (!h)
        return NULL;
    atomic_init(&h->refs, 1);
    h->offset = 0;
    h->size = size;
    h->cap = len - sizeof *h;
    void *p = h + 1;
    h->tag = tag_for(p);
    return p;
}

bool sp_chunk_valid(const void *p)
{
    if (!p || ((uintptr_t) p & 7) != 0 || (uintptr_t) p < 4096)
        return false;
    const struct sp_chunk_hdr *h = sp_chunk_hdr_of(p);
    return h->tag == tag_for(p) && atomic_load_explicit(&h->refs, memory_order_relaxed) > 0;
}

void sp_chunk_addref(void *p, uint32_t n)
{
    atomic_fetch_add_explicit(&sp_chunk_hdr_of(p)->refs, n, memory_order_relaxed);
}

bool sp_chunk_exclusive(const void *p)
{
    return atomic_load_explicit(&sp_chunk_hdr_of(p)->refs, memory_order_acquire) == 1;
}

SP_HOT void sp_chunk_free(void *p)
{
    struct sp_chunk_hdr *h = sp_chunk_hdr_of(p);
    /* The only reference (the usual case: one message, one owner): nobody
       else can add or drop one, so no locked instruction is needed. */
    if (atomic_load_explicit(&h->refs, memory_order_acquire) == 1)
        atomic_store_explicit(&h->refs, 0, memory_order_relaxed);
    else if (atomic_fetch_sub_explicit(&h->refs, 1, memory_order_acq_rel) != 1)
        return;
    h->tag = 0;
    cache_put_or_free((char *) h - h->offset, h->offset + sizeof *h + h->cap);
}

void sp_chunk_shrink(void *p, size_t size)
{
    struct sp_chunk_hdr *h = sp_chunk_hdr_of(p);
    if (size < h->size)
        h->size = size;
}

void *sp_chunk_realloc(void *p, size_t size)
{
    struct sp_chunk_hdr *h = sp_chunk_hdr_of(p);
    if (sp_chunk_exclusive(p)) {
        if (size <= h->cap) {
            h->size = size;
            return p;
        }
        if (h->offset == 0) {
            if (size > SIZE_MAX - sizeof(struct sp_chunk_hdr) - 64)
                return NULL;
            h->tag = 0;
            struct sp_chunk_hdr *n = realloc(h, sizeof *n + size);
            if (!n) {
                h->tag = tag_for(p);
                return NULL;
            }
            n->size = n->cap = size;
            void *np = n + 1;
            n->tag = tag_for(np);
            return np;
        }
    }
    void *np = sp_chunk_alloc(size);
    if (!np)
        return NULL;
    memcpy(np, p, h->size < size ? h->size : size);
    sp_chunk_free(p);
    return np;
}

void *sp_chunk_trim(void *p, size_t n)
{
    struct sp_chunk_hdr *h = sp_chunk_hdr_of(p);
    if (n == 0)
        return p;
    if (n > h->size)
        n = h->size;
    /* In place only when the new header stays aligned and nobody else sees it. */
    if ((n & 7) == 0 && sp_chunk_exclusive(p) && (uint64_t) h->offset + n <= UINT32_MAX) {
        struct sp_chunk_hdr nh;
        atomic_init(&nh.refs, 1);
        nh.offset = h->offset + (uint32_t) n;
        nh.size = h->size - n;
        nh.cap = h->cap - n;
        char *np = (char *) p + n;
        nh.tag = tag_for(np);
        h->tag = 0;
        memcpy(sp_chunk_hdr_of(np), &nh, sizeof nh);
        return np;
    }
    void *np = sp_chunk_alloc(h->size - n);
    if (!np)
        return NULL;
    memcpy(np, (char *) p + n, h->size - n);
    sp_chunk_free(p);
    return np;
}

/* ---- public API ---- */

/* Every pointer the application passes in is looked up in the set of
   messages it holds (core/appmsg.h) before anything behind it is read. */

void *nn_allocmsg(size_t size, int type)
{
    if (type != 0) {
        errno = EINVAL;
        return NULL;
    }
    void *p = sp_chunk_alloc(size);
    if (p && sp_appmsg_give(p) != 0) {
        sp_chunk_free(p);
        p = NULL;
    }
    if (!p)
        errno = ENOMEM;
    return p;
}

/* As libnanomsg: a message keeps its pointer while it shrinks or keeps its
   size, and moves to a new chunk (allocate, copy, free) whenever it grows
   past its current size, even when its buffer had room. Programs compare
   the two pointers to know whether the old one is still good. */
void *nn_reallocmsg(void *msg, size_t size)
{
    if (!msg || !sp_appmsg_held(msg)) {
        errno = EFAULT;
        return NULL;
    }
    size_t cur = sp_chunk_size(msg);
    if (size <= cur && sp_chunk_exclusive(msg)) {
        sp_chunk_shrink(msg, size);
        return msg;
    }
    void *np = sp_chunk_alloc(size);
    if (np && sp_appmsg_give(np) != 0) {
        sp_chunk_free(np);
        np = NULL;
    }
    if (!np) {
        errno = ENOMEM;
        return NULL;
    }
    memcpy(np, msg, cur < size ? cur : size);
    sp_appmsg_take(msg);
    sp_chunk_free(msg);
    return np;
}

int nn_freemsg(void *msg)
{
    if (!msg || !sp_appmsg_take(msg)) {
        errno = EFAULT;
        return -1;
    }
    sp_chunk_free(msg);
    return 0;
}
