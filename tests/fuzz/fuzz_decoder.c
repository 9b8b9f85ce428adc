/* Fuzz target for the stream frame decoder (TCP and IPC framing). The input
   says how the stream is cut into reads, so frame boundaries, big-frame
   switches and buffer compaction land everywhere; the decoder is driven
   exactly as a connection drives it (never more bytes than it offers), and
   what it produces is compared with an independent parse of the stream.

   Input layout:
     byte 0      bit 0: framing (0 TCP, 1 IPC)
                 bits 1-3: maxsize (see maxsizes[])
                 bits 4-7: K, the number of read-size bytes that follow
     bytes 1..K  read sizes, used in a cycle: 0 = all the space offered,
                 1..239 = that many bytes, 240..255 = (v - 239) * 4 KiB
     the rest    the byte stream */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/chunk.h"
#include "core/msg.h"
#include "utils/decoder.h"

#include "fuzz.h"

/* With unlimited maxsize the decoder reserves whatever a frame header
   announces (as libnanomsg does). To keep the fuzzer's memory bounded, an
   input that announces more than this is run with this as maxsize instead. */
#define FUZZ_ALLOC_LIMIT (4u << 20)

static const int64_t maxsizes[8] = {-1, 0, 1, 8, 100, 16 * 1024, 16 * 1024 + 1, 1024 * 1024};

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "fuzz_decoder: %s:%d: check failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                            \
            abort();                                                                   \
        }                                                                              \
    } while (0)

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

/* The reference parse: what a correct decoder must produce from the whole
   stream. Frames are (offset, length) of complete payloads; error is set when
   a complete frame header is invalid (bad type byte, over maxsize, or a
   length no memory can hold). */
struct ref {
    size_t nframes;
    size_t cap;
    size_t *off;
    size_t *len;
    int error;
    uint64_t max_announced; /* largest length in a header the decoder will see */
};

static void ref_parse(struct ref *r, enum sp_framing f, int64_t maxsize, const uint8_t *s, size_t n)
{
    memset(r, 0, sizeof *r);
    size_t fhl = sp_frame_hdr_len(f);
    size_t pos = 0;
    while (n - pos >= fhl) {
        const uint8_t *p = s + pos;
        if (f == SP_FRAMING_IPC) {
            if (p[0] != 1) {
                r->error = 1;
                return;
            }
            p++;
        }
        uint64_t len = get_u64(p);
        if (len > r->max_announced)
            r->max_announced = len;
        if ((maxsize >= 0 && len > (uint64_t) maxsize) || len > SIZE_MAX / 2) {
            r->error = 1;
            return;
        }
        if (len > n - pos - fhl)
            return; /* incomplete */
        if (r->nframes == r->cap) {
            r->cap = r->cap ? r->cap * 2 : 16;
            r->off = realloc(r->off, r->cap * sizeof *r->off);
            r->len = realloc(r->len, r->cap * sizeof *r->len);
            CHECK(r->off && r->len);
        }
        r->off[r->nframes] = pos + fhl;
        r->len[r->nframes] = (size_t) len;
        r->nframes++;
        pos += fhl + (size_t) len;
    }
}

static void ref_free(struct ref *r)
{
    free(r->off);
    free(r->len);
}

static size_t read_size(const uint8_t *sizes, size_t k, size_t step, size_t room, size_t left)
{
    size_t n = room;
    if (k) {
        uint8_t v = sizes[step % k];
        if (v >= 240)
            n = (size_t) (v - 239) * 4096;
        else if (v > 0)
            n = v;
    }
    if (n > room)
        n = room;
    if (n > left)
        n = left;
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    enum sp_framing framing = (data[0] & 1) ? SP_FRAMING_IPC : SP_FRAMING_TCP;
    int64_t maxsize = maxsizes[(data[0] >> 1) & 7];
    size_t k = data[0] >> 4;
    if (size < 1 + k)
        return 0;
    const uint8_t *sizes = data + 1;
    const uint8_t *stream = data + 1 + k;
    size_t slen = size - 1 - k;

    struct ref ref;
    ref_parse(&ref, framing, maxsize, stream, slen);
    if (maxsize < 0 && ref.max_announced > FUZZ_ALLOC_LIMIT) {
        maxsize = FUZZ_ALLOC_LIMIT;
        ref_free(&ref);
        ref_parse(&ref, framing, maxsize, stream, slen);
    }

    struct sp_decoder d;
    atomic_int live_max = (int) maxsize;
    CHECK(sp_decoder_init(&d, framing, &live_max) == 0);
    struct sp_msgq q;
    sp_msgq_init(&q);
    size_t got = 0; /* messages produced and checked so far */
    int failed = 0;
    size_t off = 0;
    for (size_t step = 0; off < slen; step++) {
        void *buf;
        size_t room;
        sp_decoder_space(&d, &buf, &room);
        CHECK(buf != NULL);
        CHECK(room > 0);
        size_t n = read_size(sizes, k, step, room, slen - off);
        memcpy(buf, stream + off, n);
        off += n;
        int rc = sp_decoder_commit(&d, n, &q);
        CHECK(rc == 0 || rc == -1);
        struct sp_msg m;
        while (sp_msgq_pop(&q, &m) == 0) {
            size_t blen = sp_msg_bodylen(&m);
            CHECK(maxsize < 0 || blen <= (uint64_t) maxsize);
            CHECK(m.hdrlen == 0 && m.ctrl == NULL);
            CHECK(m.body != NULL && sp_chunk_valid(m.body));
            CHECK(got < ref.nframes);
            CHECK(blen == ref.len[got]);
            CHECK(blen == 0 || memcmp(m.body, stream + ref.off[got], blen) == 0);
            got++;
            sp_msg_term(&m);
        }
        if (rc == -1) {
            failed = 1;
            break;
        }
    }
    if (failed) {
        /* Only a broken stream may end the connection. */
        CHECK(ref.error);
    } else {
        /* Every complete frame came out, and a broken header that arrived
           whole was noticed. */
        CHECK(got == ref.nframes);
        CHECK(!ref.error);
    }
    sp_msgq_term(&q);
    sp_decoder_term(&d);
    ref_free(&ref);
    return 0;
}

/* Well-formed inputs for the standalone runner: mostly generous maxsizes and
   frames around the interesting sizes (0, the 16 KiB big-frame threshold,
   over the 64 KiB read buffer). */
size_t fuzz_generate(uint8_t *buf, size_t cap, uint64_t (*rnd)(void))
{
    static const uint8_t good_max[] = {0, 0, 5, 6, 7, 4};
    size_t framing = rnd() & 1;
    size_t k = rnd() % 16;
    size_t len = 0;
    buf[len++] = (uint8_t) (framing | good_max[rnd() % sizeof good_max] << 1 | k << 4);
    for (size_t i = 0; i < k; i++)
        buf[len++] = (uint8_t) (rnd() % 4 ? rnd() % 64 : rnd());
    size_t nframes = rnd() % 12;
    for (size_t i = 0; i < nframes; i++) {
        size_t plen;
        switch (rnd() % 6) {
        case 0:
            plen = 0;
            break;
        case 1:
            plen = 16 * 1024 - 2 + rnd() % 5;
            break;
        case 2:
            plen = rnd() % 100000;
            break;
        default:
            plen = rnd() % 200;
            break;
        }
        size_t hl = framing ? 9 : 8;
        if (len + hl + plen > cap)
            break;
        uint8_t hdr[9];
        hdr[0] = 1;
        uint64_t v = plen;
        for (size_t j = 8; j > 0; j--, v >>= 8)
            hdr[j] = (uint8_t) v;
        memcpy(buf + len, framing ? hdr : hdr + 1, hl);
        len += hl;
        uint8_t fill = (uint8_t) rnd();
        memset(buf + len, fill, plen);
        if (plen)
            buf[len + plen - 1] = (uint8_t) i; /* tells frames apart */
        len += plen;
    }
    if (rnd() % 4 == 0)
        len -= rnd() % (len / 2 + 1); /* cut the stream short, mid-frame */
    return len;
}
