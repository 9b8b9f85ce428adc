/* SP-over-PGM decoding: one sender's datagrams back into whole messages. */
#include "pgm/pgmdec.h"

#include <errno.h>
#include <string.h>

#include "core/chunk.h"
#include "pgm/pgmwire.h"

/* A message's chunk starts at this size (or its length, if smaller) and
   doubles as bytes arrive: a 64 KiB message takes one allocation, and a
   length prefix that lies costs only what was really received. */
#define SP_PGMDEC_FIRST_ALLOC (64 * 1024)

void sp_pgmdec_init(struct sp_pgmdec *d, int64_t maxsize)
{
    memset(d, 0, sizeof *d);
    d->maxsize = maxsize;
    d->proto = -1;
}

static void clear_msg(struct sp_pgmdec *d)
{
    if (d->body)
        sp_chunk_free(d->body);
    d->body = NULL;
    d->pfx_have = 0;
    d->in_body = false;
    d->skipping = false;
    d->len = 0;
    d->have = 0;
}

void sp_pgmdec_term(struct sp_pgmdec *d)
{
    clear_msg(d);
}

void sp_pgmdec_set_maxsize(struct sp_pgmdec *d, int64_t maxsize)
{
    d->maxsize = maxsize;
}

static bool in_progress(const struct sp_pgmdec *d)
{
    return d->pfx_have > 0 || d->in_body;
}

/* The message in progress cannot be completed: drop it. One being skipped
   was counted when it started. */
static void lose_msg(struct sp_pgmdec *d)
{
    if (in_progress(d) && !d->skipping)
        d->st.lost++;
    clear_msg(d);
}

void sp_pgmdec_gap(struct sp_pgmdec *d)
{
    lose_msg(d);
    d->synced = false;
}

static void start_body(struct sp_pgmdec *d, uint64_t len)
{
    d->in_body = true;
    d->len = len;
    d->have = 0;
    d->skipping = false;
    if (d->maxsize >= 0 && len > (uint64_t) d->maxsize) {
        d->skipping = true;
        d->st.oversize++;
    } else if (len > SIZE_MAX / 2) {
        d->skipping = true;
        d->st.nomem++;
    }
}

/* Room for n more bytes of the body; false (and the message is skipped from
   here on) when memory runs out. */
static bool reserve(struct sp_pgmdec *d, size_t n)
{
    size_t cap = d->body ? sp_chunk_size(d->body) : 0;
    size_t need = (size_t) d->have + n;
    if (need <= cap && d->body)
        return true;
    size_t want = cap * 2 > SP_PGMDEC_FIRST_ALLOC ? cap * 2 : SP_PGMDEC_FIRST_ALLOC;
    if (want < need)
        want = need;
    if (want > d->len)
        want = (size_t) d->len;
    void *nb = d->body ? sp_chunk_realloc(d->body, want) : sp_chunk_alloc(want);
    if (!nb) {
        if (d->body)
            sp_chunk_free(d->body);
        d->body = NULL;
        d->skipping = true;
        d->st.nomem++;
        return false;
    }
    d->body = nb;
    return true;
}

static void finish_msg(struct sp_pgmdec *d, struct sp_msgq *out)
{
    if (d->skipping) {
        clear_msg(d);
        return;
    }
    /* The chunk grew to exactly len bytes (a zero-length message has none
       yet): its size is the message length. */
    if (!d->body && !reserve(d, 0)) {
        clear_msg(d);
        return;
    }
    struct sp_msg m;
    sp_msg_init(&m);
    m.body = d->body;
    d->body = NULL;
    if (sp_msgq_push(out, &m) != 0) {
        sp_msg_term(&m);
        d->st.nomem++;
    } else {
        d->st.delivered++;
    }
    clear_msg(d);
}

/* Consumes bytes of at most one message (the one in progress, or one that
   starts at p[0]); returns how many (at least one when n > 0). */
static size_t feed(struct sp_pgmdec *d, const uint8_t *p, size_t n, struct sp_msgq *out)
{
    size_t used = 0;
    if (n == 0)
        return 0;
    if (!d->in_body) {
        if (d->pfx_have == 0)
            d->pfx[d->pfx_have++] = p[used++];
        size_t size = sp_pgm_varint_size(d->pfx[0]);
        size_t k = size - d->pfx_have;
        if (k > n - used)
            k = n - used;
        memcpy(d->pfx + d->pfx_have, p + used, k);
        d->pfx_have = (uint8_t) (d->pfx_have + k);
        used += k;
        if (d->pfx_have < size)
            return used;
        d->pfx_have = 0;
        start_body(d, sp_pgm_varint_get(d->pfx, size));
    }
    uint64_t left = d->len - d->have;
    size_t k = n - used;
    if (k > left)
        k = (size_t) left;
    if (k > 0 && !d->skipping && reserve(d, k))
        memcpy((uint8_t *) d->body + d->have, p + used, k);
    d->have += k;
    used += k;
    if (d->have == d->len)
        finish_msg(d, out);
    return used;
}

/* From a message boundary to the end of the datagram. */
static void feed_all(struct sp_pgmdec *d, const uint8_t *p, size_t n, struct sp_msgq *out)
{
    size_t pos = 0;
    while (pos < n)
        pos += feed(d, p + pos, n - pos, out);
}

/* Stream bytes from here to the end of the message in progress, given the
   next n bytes at p; false when they do not even complete its length. */
static bool remaining(const struct sp_pgmdec *d, const uint8_t *p, size_t n, uint64_t *need)
{
    if (d->in_body) {
        *need = d->len - d->have;
        return true;
    }
    size_t size = sp_pgm_varint_size(d->pfx[0]);
    size_t rem = size - d->pfx_have;
    if (n < rem)
        return false;
    uint8_t b[8];
    memcpy(b, d->pfx, d->pfx_have);
    memcpy(b + d->pfx_have, p, rem);
    *need = rem + sp_pgm_varint_get(b, size);
    return true;
}

int sp_pgmdec_put(struct sp_pgmdec *d, const uint8_t *dg, size_t len, struct sp_msgq *out)
{
    if (len < SP_PGM_HDR_LEN || dg[0] != SP_PGM_MAGIC0 || dg[1] != SP_PGM_MAGIC1 ||
        dg[2] != SP_PGM_VERSION)
        goto bad;
    int proto = (int) sp_pgm_get16(dg + 4);
    if (d->proto >= 0 && proto != d->proto)
        goto bad;
    size_t off = sp_pgm_get16(dg + 6);
    const uint8_t *p = dg + SP_PGM_HDR_LEN;
    size_t plen = len - SP_PGM_HDR_LEN;
    /* A start must have at least the first byte of its length here. */
    if (off != SP_PGM_NO_START && off >= plen)
        goto bad;
    d->proto = proto;

    if (!d->synced) {
        /* A late joiner, or after a loss: wait for a message to begin. */
        if (off == SP_PGM_NO_START)
            return 0;
        d->synced = true;
        d->st.syncs++;
        feed_all(d, p + off, plen - off, out);
        return 0;
    }
    if (!in_progress(d)) {
        /* A boundary is expected here: bytes before the first start belong
           to a message we had no part of (lost without a RESET). */
        if (off == SP_PGM_NO_START) {
            if (plen > 0)
                d->synced = false;
            return 0;
        }
        feed_all(d, p + off, plen - off, out);
        return 0;
    }
    /* The message in progress may complete only where the sender says the
       next one begins (or at the end of a datagram without a start, or not
       in this datagram at all); anything else means bytes went missing, and
       completing it would splice two messages. Checked before delivery. */
    uint64_t need;
    bool known = remaining(d, p, off == SP_PGM_NO_START ? plen : off, &need);
    if (off == SP_PGM_NO_START) {
        if (!known || need >= plen) {
            feed(d, p, plen, out);
            return 0;
        }
        lose_msg(d);
        d->synced = false;
        return 0;
    }
    if (known && need == off)
        feed(d, p, off, out);
    else
        lose_msg(d);
    feed_all(d, p + off, plen - off, out);
    return 0;

bad:
    d->st.malformed++;
    sp_pgmdec_gap(d);
    return -EPROTO;
}
