/* Stream frame decoding. */
#include "utils/err.h"
#include "utils/decoder.h"

#include <stdlib.h>
#include <string.h>

#include "core/chunk.h"

/* The read buffer: large enough to split hundreds of small messages out of
   one read, small enough that a large frame is mostly read straight into
   its own chunk (only what came with the previous read is copied). It starts
   small (a connection with little traffic costs little) and grows to the
   full size once a read fills it. */
#define SP_RBUF_SIZE (16 * 1024)
#define SP_RBUF_MIN 2048
/* Frames larger than this are read straight into their own chunk; smaller
   ones always fit in the read buffer with room to spare. */
#define SP_BIG_FRAME (4 * 1024)
/* A large body at least this long is read without the bytes behind it but
   for the next frame's header (sp_decoder_tail): at this size a read per
   frame is the rule anyway, and the next body then skips the read buffer
   (the copy out of it, and the read that takes the rest). Below it, one
   read into the read buffer still brings several frames. */
#define SP_TAIL_FRAME (SP_RBUF_SIZE / 2)

static inline void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t) v;
        v >>= 8;
    }
}

static inline uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

size_t sp_frame_hdr(enum sp_framing f, uint8_t *out, uint64_t len)
{
    if (f == SP_FRAMING_IPC) {
        out[0] = 1;
        put_u64(out + 1, len);
        return 9;
    }
    put_u64(out, len);
    return 8;
}

void sp_sphdr_make(uint8_t out[8], int protocol)
{
    out[0] = 0x00;
    out[1] = 'S';
    out[2] = 'P';
    out[3] = 0x00;
    out[4] = (uint8_t) (protocol >> 8);
    out[5] = (uint8_t) protocol;
    out[6] = 0;
    out[7] = 0;
}

int sp_sphdr_parse(const uint8_t in[8])
{
    if (in[0] != 0x00 || in[1] != 'S' || in[2] != 'P' || in[3] != 0x00)
        return -1;
    return (in[4] << 8) | in[5];
}

int sp_decoder_init(struct sp_decoder *d, enum sp_framing framing, const atomic_int *maxsize)
{
    memset(d, 0, sizeof *d);
    d->framing = framing;
    d->maxsize = maxsize;
    /* The read buffer comes with the first read: a connection that only
       sends (a PUSH, a PUB) never pays for it. */
    d->rbuf = NULL;
    return 0;
}

void sp_decoder_term(struct sp_decoder *d)
{
    free(d->rbuf);
    if (d->big && !d->landing)
        sp_chunk_free(d->big); /* never the caller's buffer */
    memset(d, 0, sizeof *d);
}

static int big_begin(struct sp_decoder *d, const uint8_t *p, size_t avail, size_t len);

SP_HOT void sp_decoder_space(struct sp_decoder *d, void **buf, size_t *len)
{
    if (d->next_pending) {
        /* The body of a frame whose header came alone: into the land if a
           caller offers one now, else a chunk. */
        if (big_begin(d, NULL, 0, d->next_len) != 0) {
            *buf = NULL; /* out of memory: a read of nothing ends it */
            *len = 0;
            return;
        }
        d->next_pending = false;
    }
    if (d->big) {
        *buf = (char *) d->big + d->big_done;
        *len = d->big_len - d->big_done;
    } else {
        if (!d->rbuf) {
            d->rbuf = malloc(SP_RBUF_MIN);
            d->rcap = SP_RBUF_MIN;
        } else if (d->grow) {
            uint8_t *nb = realloc(d->rbuf, SP_RBUF_SIZE);
            if (nb) {
                d->rbuf = nb;
                d->rcap = SP_RBUF_SIZE;
            }
            d->grow = false;
        }
        if (!d->rbuf || d->rlen == d->rcap) {
            /* Out of memory: a read of nothing, which ends the connection
               (the socket goes on). */
            *buf = NULL;
            *len = 0;
            return;
        }
        *buf = d->rbuf + d->rlen;
        *len = d->rcap - d->rlen;
    }
}

SP_HOT void sp_decoder_tail(struct sp_decoder *d, void **buf, size_t *len)
{
    /* rbuf is empty while a body is read (its bytes went to the body), and
       exists: the frame's header came through it. */
    if (!d->big || d->big_len < SP_TAIL_FRAME || !d->rbuf || d->rlen != 0) {
        *buf = NULL;
        *len = 0;
        return;
    }
    *buf = d->rbuf;
    *len = sp_frame_hdr_len(d->framing);
}

SP_HOT static int push_body(struct sp_decoder *d, struct sp_msgq *out, void *body)
{
    d->pushed = true;
    struct sp_msg m;
    sp_msg_init(&m);
    m.body = body;
    if (sp_msgq_push(out, &m) != 0) {
        sp_msg_term(&m);
        return -1;
    }
    return 0;
}

SP_HOT void sp_decoder_land_offer(struct sp_decoder *d, void *buf, size_t cap)
{
    d->land = buf;
    d->land_cap = cap;
    d->landing = d->landed = false;
    d->pushed = false;
}

SP_HOT int sp_decoder_land_state(const struct sp_decoder *d, size_t *len)
{
    if (d->landed) {
        *len = d->land_len;
        return 1;
    }
    if (d->landing)
        return 0;
    /* A header alone, whose body the next space puts into the land. */
    if (d->next_pending && d->land && !d->landed && d->next_len <= d->land_cap && !d->pushed)
        return 0;
    return -1;
}

SP_HOT int sp_decoder_land_withdraw(struct sp_decoder *d)
{
    int rc = 0;
    if (d->landing) {
        void *c = sp_chunk_alloc(d->big_len);
        if (c)
            memcpy(c, d->land, d->big_done);
        else
            rc = -1;
        d->big = c;
        d->landing = false;
    }
    d->land = NULL;
    d->land_cap = 0;
    d->landed = false;
    return rc;
}

/* A large frame of len bytes begins with the avail bytes at p: into the
   offered buffer when it may go there, else into a chunk of its own. The
   caller has checked len against the limits. 0 or -1 (out of memory). */
SP_HOT static int big_begin(struct sp_decoder *d, const uint8_t *p, size_t avail, size_t len)
{
    if (d->land && !d->landed && len <= d->land_cap && !d->pushed) {
        d->big = d->land;
        d->landing = true;
    } else if (!(d->big = sp_chunk_alloc(len))) {
        return -1;
    }
    if (avail)
        memcpy(d->big, p, avail);
    d->big_len = len;
    d->big_done = avail;
    return 0;
}

/* The large frame being read is complete. */
SP_HOT static int big_end(struct sp_decoder *d, struct sp_msgq *out)
{
    void *body = d->big;
    d->big = NULL;
    if (d->landing) {
        d->landing = false;
        d->landed = true;
        d->land_len = d->big_len;
        d->land = NULL;
        return 0;
    }
    return push_body(d, out, body);
}

SP_HOT int sp_decoder_commit(struct sp_decoder *d, size_t n, struct sp_msgq *out)
{
    if (d->big) {
        size_t rest = d->big_len - d->big_done;
        if (n < rest) {
            d->big_done += n;
            return 0;
        }
        d->big_done = d->big_len;
        if (big_end(d, out) != 0)
            return -1;
        n -= rest; /* read into the tail: the start of the read buffer */
        if (n == 0)
            return 0;
    }
    d->rlen += n;
    if (d->rlen == d->rcap && d->rcap < SP_RBUF_SIZE)
        d->grow = true; /* a busy peer: read more at a time */
    size_t fhl = sp_frame_hdr_len(d->framing);
    size_t off = 0;
    int rc = 0;
    while (d->rlen - off >= fhl) {
        const uint8_t *p = d->rbuf + off;
        if (d->framing == SP_FRAMING_IPC) {
            if (p[0] != 1) {
                rc = -1;
                break;
            }
            p++;
        }
        uint64_t len = get_u64(p);
        int max = atomic_load_explicit(d->maxsize, memory_order_relaxed);
        if ((max >= 0 && len > (uint64_t) max) || len > SIZE_MAX / 2) {
            rc = -1;
            break;
        }
        size_t avail = d->rlen - off - fhl;
        if (len > SP_BIG_FRAME && avail == 0) {
            /* The header alone: where its body goes is chosen when it is
               read (sp_decoder_space), by then maybe into a caller's land. */
            d->next_pending = true;
            d->next_len = (size_t) len;
            off = d->rlen;
            break;
        }
        if (len > SP_BIG_FRAME && avail < len) {
            /* Take what we have; the rest is read straight into the chunk
               (or the offered buffer). */
            if (big_begin(d, d->rbuf + off + fhl, avail, (size_t) len) != 0) {
                rc = -1;
                break;
            }
            off = d->rlen;
            break;
        }
        if (avail < len) {
            if (fhl + len > d->rcap)
                d->grow = true; /* a small frame must fit whole */
            break;
        }
        if (d->land && !d->landed && len <= d->land_cap && !d->pushed) {
            /* Whole in the read buffer, and wanted by a waiting caller:
               copied once, into its buffer, instead of into a chunk that
               its recv would copy again. */
            if (big_begin(d, d->rbuf + off + fhl, (size_t) len, (size_t) len) != 0 || big_end(d, out) != 0) {
                rc = -1;
                break;
            }
            off += fhl + (size_t) len;
            continue;
        }
        void *body = sp_chunk_alloc((size_t) len);
        if (!body) {
            rc = -1;
            break;
        }
        memcpy(body, d->rbuf + off + fhl, (size_t) len);
        off += fhl + (size_t) len;
        if (push_body(d, out, body) != 0) {
            rc = -1;
            break;
        }
    }
    /* Keep the partial frame at the start of the buffer. */
    if (off) {
        memmove(d->rbuf, d->rbuf + off, d->rlen - off);
        d->rlen -= off;
    }
    return rc;
}
