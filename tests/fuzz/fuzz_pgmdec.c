/* Fuzz target for the SP-over-PGM datagram decoder (transports/pgm/pgmdec.c),
   with the encoder (pgmenc.c) as a reference in the structured mode.

   Input layout:
     byte 0      bit 0: mode (0 raw datagrams, 1 structured)
                 bits 1-3: maxsize (see maxsizes[])
                 bits 4-7: datagram capacity (see dgmaxes[]; structured mode)
   raw mode, then records until the input ends:
     [u8 flags][u16 BE length][that many bytes]
       flags bit 0: a gap (RESET) before this datagram
     Whatever the bytes, the decoder must not crash, leak or read out of
     bounds, and must deliver only messages within maxsize.
   structured mode, then:
     byte 1      K, the number of messages
     K x u16 BE  their sizes: v, or (v & 0x7fff) * 64 when the top bit is set
     byte        F: bit i (i < 7): flush after messages i, i+7, ...;
                 bit 7: losses are silent (no gap reported)
     the rest    a bitmap: bit j set = datagram j is lost
     The messages (contents derived from their index) are encoded, the
     datagrams not lost are decoded with a gap reported after each run of
     losses, and the decoder must deliver exactly the messages whose every
     datagram arrived (and that fit maxsize), in order, byte for byte: never
     one truncated or spliced. With silent losses only the raw mode's
     properties are checked (OpenPGM never loses silently; the headers
     catch most such losses, not all). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/chunk.h"
#include "core/msg.h"
#include "pgm/pgmdec.h"
#include "pgm/pgmenc.h"
#include "pgm/pgmwire.h"

#include "fuzz.h"

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "fuzz_pgmdec: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                    \
        }                                                                               \
    } while (0)

static const int64_t maxsizes[8] = {-1, 0, 1, 64, 1000, 5000, 65536, 1 << 20};
static const size_t dgmaxes[16] = {9, 10, 11, 12, 16, 24, 64, 100, 200, 576, 1000, 1448, 1456, 4000, 9000, 65535};

/* Bounds on one structured input: bytes of messages, and datagrams (with
   small datagrams a few KiB already make thousands). */
#define FUZZ_MSG_BYTES (256u * 1024)
#define FUZZ_MAX_DGRAMS 1024
#define FUZZ_PROTO 0x20

static void check_msg(const struct sp_msg *m, int64_t maxsize)
{
    CHECK(m->hdrlen == 0 && m->ctrl == NULL);
    CHECK(m->body != NULL && sp_chunk_valid(m->body));
    CHECK(maxsize < 0 || sp_msg_bodylen(m) <= (uint64_t) maxsize);
}

static void run_raw(const uint8_t *data, size_t size, int64_t maxsize)
{
    struct sp_pgmdec d;
    struct sp_msgq q;
    sp_pgmdec_init(&d, maxsize);
    sp_msgq_init(&q);
    size_t pos = 0;
    uint64_t popped = 0;
    while (size - pos >= 3) {
        uint8_t flags = data[pos];
        size_t len = (size_t) data[pos + 1] << 8 | data[pos + 2];
        pos += 3;
        if (len > size - pos)
            len = size - pos;
        if (flags & 1)
            sp_pgmdec_gap(&d);
        /* A private copy of exactly len bytes, so ASan sees any over-read. */
        uint8_t *dg = malloc(len ? len : 1);
        CHECK(dg);
        memcpy(dg, data + pos, len);
        int rc = sp_pgmdec_put(&d, dg, len, &q);
        CHECK(rc == 0 || rc == -EPROTO);
        free(dg);
        pos += len;
        struct sp_msg m;
        while (sp_msgq_pop(&q, &m) == 0) {
            check_msg(&m, maxsize);
            popped++;
            sp_msg_term(&m);
        }
    }
    CHECK(popped == d.st.delivered);
    sp_msgq_term(&q);
    sp_pgmdec_term(&d);
}

static uint8_t content(size_t idx, size_t j)
{
    return (uint8_t) (idx * 131u + j * 7u + (j >> 8) + 1);
}

struct dgram {
    uint8_t *p;
    size_t len;
    uint64_t start; /* stream offset of its first payload byte */
};

static void run_structured(const uint8_t *data, size_t size, int64_t maxsize, size_t dgmax)
{
    if (size < 2)
        return;
    size_t k = data[1];
    if (size < 2 + 2 * k + 1)
        return;
    size_t *sizes = calloc(k ? k : 1, sizeof *sizes);
    uint64_t *fstart = calloc(k ? k : 1, sizeof *fstart);
    CHECK(sizes && fstart);
    size_t total = 0, n = 0;
    size_t limit = (dgmax - SP_PGM_HDR_LEN) * FUZZ_MAX_DGRAMS;
    if (limit > FUZZ_MSG_BYTES)
        limit = FUZZ_MSG_BYTES;
    for (; n < k; n++) {
        unsigned v = (unsigned) data[2 + 2 * n] << 8 | data[3 + 2 * n];
        size_t s = (v & 0x8000) ? (size_t) (v & 0x7fff) * 64 : v;
        if (total + sp_pgm_varint_len(s) + s > limit)
            break;
        sizes[n] = s;
        total += sp_pgm_varint_len(s) + s;
    }
    uint8_t flushes = data[2 + 2 * k];
    bool silent = flushes & 0x80;
    const uint8_t *lossmap = data + 3 + 2 * k;
    size_t lossbytes = size - 3 - 2 * k;

    /* Encode. */
    struct sp_pgmenc e;
    CHECK(sp_pgmenc_init(&e, FUZZ_PROTO, dgmax) == 0);
    struct dgram *dgs = NULL;
    size_t ndg = 0, cap = 0;
    uint64_t stream = 0, fpos = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n) {
            struct sp_msg m;
            CHECK(sp_msg_init_size(&m, sizes[i]) == 0);
            for (size_t j = 0; j < sizes[i]; j++)
                sp_msg_bodyp(&m)[j] = content(i, j);
            fstart[i] = fpos;
            fpos += sp_pgm_varint_len(sizes[i]) + sizes[i];
            CHECK(sp_pgmenc_push(&e, &m) == 0);
        }
        bool flush = i == n || ((flushes >> (i % 7)) & 1);
        const uint8_t *dg;
        size_t len;
        while (sp_pgmenc_next(&e, flush, &dg, &len)) {
            CHECK(len > SP_PGM_HDR_LEN && len <= dgmax);
            if (ndg == cap) {
                cap = cap ? cap * 2 : 64;
                dgs = realloc(dgs, cap * sizeof *dgs);
                CHECK(dgs);
            }
            dgs[ndg].p = malloc(len);
            CHECK(dgs[ndg].p);
            memcpy(dgs[ndg].p, dg, len);
            dgs[ndg].len = len;
            dgs[ndg].start = stream;
            stream += len - SP_PGM_HDR_LEN;
            ndg++;
            sp_pgmenc_sent(&e);
        }
    }
    CHECK(stream == fpos);
    CHECK(sp_pgmenc_backlog(&e) == 0);
    sp_pgmenc_term(&e);

    /* Which messages arrived whole: none of their frame's bytes in a lost
       datagram (frames and datagrams are both in stream order). */
    bool *whole = calloc(n ? n : 1, sizeof *whole);
    CHECK(whole);
    for (size_t i = 0; i < n; i++)
        whole[i] = maxsize < 0 || sizes[i] <= (uint64_t) maxsize;
    size_t first = 0;
    for (size_t t = 0; t < ndg; t++) {
        if (!(t / 8 < lossbytes && ((lossmap[t / 8] >> (t % 8)) & 1)))
            continue;
        uint64_t s = dgs[t].start, e2 = s + dgs[t].len - SP_PGM_HDR_LEN;
        while (first < n && fstart[first] + sp_pgm_varint_len(sizes[first]) + sizes[first] <= s)
            first++;
        for (size_t i = first; i < n && fstart[i] < e2; i++)
            whole[i] = false;
    }

    /* Decode what survives. */
    struct sp_pgmdec d;
    struct sp_msgq q;
    sp_pgmdec_init(&d, maxsize);
    sp_msgq_init(&q);
    bool lost_before = false;
    size_t next = 0; /* index of the next message that may come out */
    for (size_t j = 0; j < ndg; j++) {
        bool lost = j / 8 < lossbytes && ((lossmap[j / 8] >> (j % 8)) & 1);
        if (lost) {
            lost_before = true;
            continue;
        }
        if (lost_before && !silent)
            sp_pgmdec_gap(&d);
        lost_before = false;
        CHECK(sp_pgmdec_put(&d, dgs[j].p, dgs[j].len, &q) == 0);
        struct sp_msg m;
        while (sp_msgq_pop(&q, &m) == 0) {
            check_msg(&m, maxsize);
            if (!silent) {
                size_t len = sp_msg_bodylen(&m);
                /* It must be the next message that arrived whole. */
                while (next < n && !whole[next])
                    next++;
                CHECK(next < n);
                CHECK(len == sizes[next]);
                for (size_t t = 0; t < len; t++)
                    CHECK(sp_msg_bodyp(&m)[t] == content(next, t));
                next++;
            }
            sp_msg_term(&m);
        }
    }
    if (!silent) {
        /* And none that arrived whole is missing at the end. */
        for (; next < n; next++)
            CHECK(!whole[next]);
        CHECK(d.st.malformed == 0);
    }
    sp_msgq_term(&q);
    sp_pgmdec_term(&d);
    for (size_t j = 0; j < ndg; j++)
        free(dgs[j].p);
    free(dgs);
    free(whole);
    free(sizes);
    free(fstart);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int64_t maxsize = maxsizes[(data[0] >> 1) & 7];
    if (data[0] & 1)
        run_structured(data, size, maxsize, dgmaxes[data[0] >> 4]);
    else
        run_raw(data + 1, size - 1, maxsize);
    return 0;
}

/* Structured inputs for the standalone runner: message sizes around the
   interesting ones (0, 63/64, a datagram, 16383/16384, large), flush
   patterns, and sparse losses. */
size_t fuzz_generate(uint8_t *buf, size_t cap, uint64_t (*rnd)(void))
{
    static const unsigned picks[] = {0, 1, 63, 64, 65, 100, 1439, 1440, 1441, 16383, 16384, 0x8000 | 1024};
    size_t len = 0;
    buf[len++] = (uint8_t) (1 | (rnd() % 8) << 1 | (rnd() % 16) << 4);
    size_t k = rnd() % 40;
    buf[len++] = (uint8_t) k;
    for (size_t i = 0; i < k && len + 2 < cap; i++) {
        unsigned v = rnd() % 3 ? picks[rnd() % (sizeof picks / sizeof picks[0])] : (unsigned) (rnd() % 3000);
        buf[len++] = (uint8_t) (v >> 8);
        buf[len++] = (uint8_t) v;
    }
    buf[len++] = (uint8_t) (rnd() % 8 == 0 ? rnd() : rnd() & 0x7f);
    size_t nloss = rnd() % 64;
    for (size_t i = 0; i < nloss && len < cap; i++)
        buf[len++] = (uint8_t) (rnd() % 4 ? 0 : 1u << (rnd() % 8));
    return len;
}
