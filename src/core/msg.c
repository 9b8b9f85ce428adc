/* Message helpers and the message FIFO. */
#include "utils/err.h"
#include "core/msg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/chunk.h"

SP_HOT void sp_msg_term(struct sp_msg *m)
{
    if (m->body)
        sp_chunk_free(m->body);
    if (m->ctrl)
        sp_chunk_free(m->ctrl);
    if (m->hdrlen > SP_MSG_HDR_INLINE)
        free(m->hdr.heap);
    sp_msg_init(m);
}

int sp_msg_init_size(struct sp_msg *m, size_t size)
{
    sp_msg_init(m);
    m->body = sp_chunk_alloc(size);
    return m->body ? 0 : -ENOMEM;
}

SP_HOT size_t sp_msg_bodylen(const struct sp_msg *m)
{
    return m->body ? sp_chunk_size(m->body) : 0;
}

static int hdr_replace(struct sp_msg *m, const void *a, size_t alen, const void *b, size_t blen)
{
    if (blen > SIZE_MAX - alen)
        return -ENOMEM;
    size_t len = alen + blen;
    uint8_t tmp[SP_MSG_HDR_INLINE];
    uint8_t *heap = NULL;
    uint8_t *dst = tmp;
    if (len > SP_MSG_HDR_INLINE || alen > SP_MSG_HDR_INLINE || blen > SP_MSG_HDR_INLINE) {
        heap = malloc(len);
        if (!heap)
            return -ENOMEM;
        dst = heap;
    }
    if (alen)
        memcpy(dst, a, alen);
    if (blen)
        memcpy(dst + alen, b, blen);
    if (m->hdrlen > SP_MSG_HDR_INLINE)
        free(m->hdr.heap);
    m->hdrlen = len;
    if (heap)
        m->hdr.heap = heap;
    else if (len)
        memcpy(m->hdr.inl, tmp, len);
    return 0;
}

int sp_msg_set_hdr(struct sp_msg *m, const void *data, size_t len)
{
    return hdr_replace(m, data, len, NULL, 0);
}

int sp_msg_push_hdr(struct sp_msg *m, const void *data, size_t len)
{
    if (m->hdrlen <= SP_MSG_HDR_INLINE) {
        uint8_t old[SP_MSG_HDR_INLINE];
        memcpy(old, m->hdr.inl, m->hdrlen);
        return hdr_replace(m, data, len, old, m->hdrlen);
    }
    uint8_t *old = m->hdr.heap;
    size_t oldlen = m->hdrlen;
    m->hdrlen = 0; /* keep hdr_replace from freeing old before copying it */
    int rc = hdr_replace(m, data, len, old, oldlen);
    if (rc != 0) {
        m->hdrlen = oldlen;
        return rc;
    }
    free(old);
    return 0;
}

int sp_msg_split_hdr(struct sp_msg *m, size_t n)
{
    if (n == 0)
        return 0;
    if (sp_msg_bodylen(m) < n)
        return -EINVAL;
    if (m->hdrlen <= SP_MSG_HDR_INLINE) {
        uint8_t old[SP_MSG_HDR_INLINE];
        size_t oldlen = m->hdrlen;
        memcpy(old, m->hdr.inl, oldlen);
        int rc = hdr_replace(m, old, oldlen, m->body, n);
        if (rc)
            return rc;
    } else {
        uint8_t *old = m->hdr.heap;
        size_t oldlen = m->hdrlen;
        m->hdrlen = 0;
        int rc = hdr_replace(m, old, oldlen, m->body, n);
        if (rc) {
            m->hdrlen = oldlen;
            return rc;
        }
        free(old);
    }
    void *nb = sp_chunk_trim(m->body, n);
    if (!nb) {
        /* Undo is not worth it: the message is unusable, drop its body bytes. */
        return -ENOMEM;
    }
    m->body = nb;
    return 0;
}

int sp_msg_dup(struct sp_msg *dst, struct sp_msg *src)
{
    sp_msg_init(dst);
    if (src->hdrlen && sp_msg_set_hdr(dst, sp_msg_hdr(src), src->hdrlen) != 0)
        return -ENOMEM;
    if (src->body) {
        sp_chunk_addref(src->body, 1);
        dst->body = src->body;
    }
    if (src->ctrl) {
        sp_chunk_addref(src->ctrl, 1);
        dst->ctrl = src->ctrl;
    }
    return 0;
}

void sp_msgq_init(struct sp_msgq *q)
{
    memset(q, 0, sizeof *q);
}

void sp_msgq_term(struct sp_msgq *q)
{
    struct sp_msg m;
    while (sp_msgq_pop(q, &m) == 0)
        sp_msg_term(&m);
    free(q->ring);
    memset(q, 0, sizeof *q);
}

/* The capacity is always a power of two: indices wrap with a mask. A ring
   starts with room for two: every connection has such queues (sent,
   received), and most of them never hold more than a message or two at a
   time (a hello, a request, a reply). One that holds a third is taking a
   stream of messages: it goes to sixteen at once, then doubles, rather
   than copying itself at four and eight on the way. */
#define SP_MSGQ_FIRST 2
#define SP_MSGQ_STREAM 16

SP_HOT int sp_msgq_push(struct sp_msgq *q, struct sp_msg *m)
{
    if (q->count == q->cap) {
        size_t cap = q->cap == 0               ? SP_MSGQ_FIRST
                     : q->cap < SP_MSGQ_STREAM ? SP_MSGQ_STREAM
                                               : q->cap * 2;
        struct sp_msg *r = malloc(cap * sizeof *r);
        if (!r)
            return -ENOMEM;
        for (size_t i = 0; i < q->count; i++)
            r[i] = q->ring[(q->head + i) & (q->cap - 1)];
        free(q->ring);
        q->ring = r;
        q->cap = cap;
        q->head = 0;
    }
    q->ring[(q->head + q->count) & (q->cap - 1)] = *m;
    q->count++;
    q->bytes += sp_msg_wirelen(m);
    sp_msg_init(m);
    return 0;
}

SP_HOT int sp_msgq_pop(struct sp_msgq *q, struct sp_msg *m)
{
    if (q->count == 0)
        return -EAGAIN;
    *m = q->ring[q->head];
    q->head = (q->head + 1) & (q->cap - 1);
    q->count--;
    q->bytes -= sp_msg_wirelen(m);
    if (q->count == 0)
        q->head = 0;
    return 0;
}
