/* SP-over-PGM encoding: the message stream cut into TPDU-sized datagrams. */
#include "pgm/pgmenc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pgm/pgmwire.h"

int sp_pgmenc_init(struct sp_pgmenc *e, int proto, size_t dgmax)
{
    memset(e, 0, sizeof *e);
    if (proto < 0 || proto > 0xffff || dgmax <= SP_PGM_HDR_LEN || dgmax > SP_PGM_DGRAM_MAX)
        return -EINVAL;
    e->dg = malloc(dgmax);
    if (!e->dg)
        return -ENOMEM;
    e->proto = proto;
    e->dgmax = dgmax;
    sp_msgq_init(&e->q);
    return 0;
}

void sp_pgmenc_term(struct sp_pgmenc *e)
{
    sp_msgq_term(&e->q);
    free(e->dg);
    memset(e, 0, sizeof *e);
}

/* A message's frame on the stream: length prefix, SP header, body. */
static size_t frame_len(const struct sp_msg *m)
{
    size_t len = sp_msg_wirelen(m);
    return sp_pgm_varint_len(len) + len;
}

int sp_pgmenc_push(struct sp_pgmenc *e, struct sp_msg *m)
{
    size_t flen = frame_len(m);
    int rc = sp_msgq_push(&e->q, m);
    if (rc != 0)
        return rc;
    e->queued += flen;
    return 0;
}

size_t sp_pgmenc_backlog(const struct sp_pgmenc *e)
{
    return e->queued + (e->dglen > SP_PGM_HDR_LEN ? e->dglen - SP_PGM_HDR_LEN : 0);
}

/* Copies n bytes of m's frame, starting at frame offset from, to out. */
static void copy_frame(struct sp_msg *m, size_t from, size_t n, uint8_t *out)
{
    size_t len = sp_msg_wirelen(m);
    uint8_t pfx[8];
    size_t plen = sp_pgm_varint_put(pfx, len);
    const struct {
        const uint8_t *p;
        size_t n;
    } seg[3] = {
        {pfx, plen},
        {sp_msg_hdr(m), m->hdrlen},
        {sp_msg_bodyp(m), sp_msg_bodylen(m)},
    };
    for (int i = 0; i < 3 && n > 0; i++) {
        if (from >= seg[i].n) {
            from -= seg[i].n;
            continue;
        }
        size_t k = seg[i].n - from;
        if (k > n)
            k = n;
        memcpy(out, seg[i].p + from, k);
        out += k;
        n -= k;
        from = 0;
    }
}

bool sp_pgmenc_next(struct sp_pgmenc *e, bool flush, const uint8_t **dg, size_t *len)
{
    if (e->dglen == 0) {
        sp_pgm_hdr_put(e->dg, e->proto, SP_PGM_NO_START);
        e->dglen = SP_PGM_HDR_LEN;
        e->started = false;
    }
    while (e->dglen < e->dgmax && e->q.count > 0) {
        struct sp_msg *m = sp_msgq_at(&e->q, 0);
        size_t flen = frame_len(m);
        if (e->done == 0 && !e->started) {
            size_t at = e->dglen - SP_PGM_HDR_LEN;
            e->dg[6] = (uint8_t) (at >> 8);
            e->dg[7] = (uint8_t) at;
            e->started = true;
        }
        size_t n = flen - e->done;
        if (n > e->dgmax - e->dglen)
            n = e->dgmax - e->dglen;
        copy_frame(m, e->done, n, e->dg + e->dglen);
        e->dglen += n;
        e->done += n;
        e->queued -= n;
        if (e->done == flen) {
            struct sp_msg gone;
            sp_msgq_pop(&e->q, &gone);
            sp_msg_term(&gone);
            e->done = 0;
        }
    }
    if (e->dglen == e->dgmax || (flush && e->dglen > SP_PGM_HDR_LEN)) {
        *dg = e->dg;
        *len = e->dglen;
        return true;
    }
    return false;
}

void sp_pgmenc_sent(struct sp_pgmenc *e)
{
    e->dglen = 0;
    e->datagrams++;
}
