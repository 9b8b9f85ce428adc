/* The stream frame decoder (SPEC §3.2, §3.3, §4.13) and the SP header helpers
   (§3.1). The decoder is driven exactly as a connection drives it: bytes are
   copied into the space it offers, never more, then committed. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "core/chunk.h"
#include "core/msg.h"
#include "utils/decoder.h"

/* The huge-frame tests make malloc fail on purpose; under ASan that must
   return NULL as it does in production instead of reporting. The sanitizer
   runtime looks this hook up dynamically, hence the default visibility (the
   build hides everything else). */
__attribute__((visibility("default"), used)) const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}

/* NN_RCVMAXSIZE as the socket holds it: the decoder reads it at each header. */
static atomic_int unlimited = -1;

struct stream {
    uint8_t *buf;
    size_t len;
    size_t cap;
};

static void stream_put(struct stream *s, const void *p, size_t n)
{
    if (s->len + n > s->cap) {
        s->cap = (s->len + n) * 2 + 64;
        s->buf = realloc(s->buf, s->cap);
        assert_non_null(s->buf);
    }
    if (n)
        memcpy(s->buf + s->len, p, n);
    s->len += n;
}

/* Appends one frame whose payload is tu_fill(len, seed). */
static void stream_frame(struct stream *s, enum sp_framing f, size_t len, unsigned seed)
{
    uint8_t hdr[9];
    size_t hl = sp_frame_hdr(f, hdr, len);
    stream_put(s, hdr, hl);
    uint8_t *p = malloc(len ? len : 1);
    assert_non_null(p);
    tu_fill(p, len, seed);
    stream_put(s, p, len);
    free(p);
}

static void stream_free(struct stream *s)
{
    free(s->buf);
    memset(s, 0, sizeof *s);
}

/* Feeds data[0..len) in commits of at most step bytes (0: whatever the
   decoder offers). Returns the first non-zero commit result, else 0. */
static int feed(struct sp_decoder *d, const uint8_t *data, size_t len, size_t step, struct sp_msgq *out)
{
    size_t off = 0;
    while (off < len) {
        void *buf;
        size_t room;
        sp_decoder_space(d, &buf, &room);
        assert_non_null(buf);
        assert_true(room > 0);
        size_t n = len - off;
        if (n > room)
            n = room;
        if (step && n > step)
            n = step;
        memcpy(buf, data + off, n);
        off += n;
        int rc = sp_decoder_commit(d, n, out);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Pops the next message and checks it is a fresh body of len bytes holding
   tu_fill(len, seed), without SP header or control data. */
static void expect_msg(struct sp_msgq *q, size_t len, unsigned seed)
{
    struct sp_msg m;
    assert_int_equal(sp_msgq_pop(q, &m), 0);
    assert_int_equal(m.hdrlen, 0);
    assert_null(m.ctrl);
    assert_non_null(m.body);
    assert_true(sp_chunk_valid(m.body));
    assert_int_equal(sp_msg_bodylen(&m), len);
    assert_true(tu_check_fill(sp_msg_bodyp(&m), len, seed, 0));
    sp_msg_term(&m);
}

static const enum sp_framing framings[] = {SP_FRAMING_TCP, SP_FRAMING_IPC};

static void test_frame_hdr_is_big_endian_length_with_ipc_type_byte(void **state)
{
    (void) state;
    uint8_t out[9];
    assert_int_equal(sp_frame_hdr_len(SP_FRAMING_TCP), 8);
    assert_int_equal(sp_frame_hdr_len(SP_FRAMING_IPC), 9);
    assert_int_equal(sp_frame_hdr(SP_FRAMING_TCP, out, 8), 8);
    const uint8_t tcp8[] = {0, 0, 0, 0, 0, 0, 0, 8};
    assert_memory_equal(out, tcp8, 8);
    assert_int_equal(sp_frame_hdr(SP_FRAMING_IPC, out, 0x0102030405060708ull), 9);
    const uint8_t ipc[] = {1, 1, 2, 3, 4, 5, 6, 7, 8};
    assert_memory_equal(out, ipc, 9);
}

static void test_decoder_tcp_frame_yields_payload_as_body(void **state)
{
    (void) state;
    /* SPEC §3.2: REQ->REP request with id 0x92345679 and body "ping". */
    const uint8_t wire[] = {0, 0, 0, 0, 0, 0, 0, 8, 0x92, 0x34, 0x56, 0x79, 'p', 'i', 'n', 'g'};
    struct sp_decoder d;
    assert_int_equal(sp_decoder_init(&d, SP_FRAMING_TCP, &unlimited), 0);
    struct sp_msgq q;
    sp_msgq_init(&q);
    assert_int_equal(feed(&d, wire, sizeof wire, 0, &q), 0);
    assert_int_equal(q.count, 1);
    struct sp_msg m;
    assert_int_equal(sp_msgq_pop(&q, &m), 0);
    assert_int_equal(sp_msg_bodylen(&m), 8);
    assert_memory_equal(sp_msg_bodyp(&m), wire + 8, 8); /* unsplit: header is the protocol's job */
    assert_int_equal(m.hdrlen, 0);
    sp_msg_term(&m);
    sp_msgq_term(&q);
    sp_decoder_term(&d);
}

static void test_decoder_ipc_frame_yields_payload_as_body(void **state)
{
    (void) state;
    const uint8_t wire[] = {1, 0, 0, 0, 0, 0, 0, 0, 4, 'p', 'o', 'n', 'g'};
    struct sp_decoder d;
    assert_int_equal(sp_decoder_init(&d, SP_FRAMING_IPC, &unlimited), 0);
    struct sp_msgq q;
    sp_msgq_init(&q);
    assert_int_equal(feed(&d, wire, sizeof wire, 0, &q), 0);
    assert_int_equal(q.count, 1);
    struct sp_msg m;
    assert_int_equal(sp_msgq_pop(&q, &m), 0);
    assert_int_equal(sp_msg_bodylen(&m), 4);
    assert_memory_equal(sp_msg_bodyp(&m), "pong", 4);
    sp_msg_term(&m);
    sp_msgq_term(&q);
    sp_decoder_term(&d);
}

static void test_decoder_grows_its_buffer_and_splits_many_frames_out_of_one_read(void **state)
{
    (void) state;
    for (size_t fi = 0; fi < TU_ARRAY_LEN(framings); fi++) {
        struct stream s = {0};
        size_t n = 0;
        for (size_t len = 0; s.len < 15000; len = (len * 7 + 13) % 700, n++)
            stream_frame(&s, framings[fi], len, (unsigned) n);
        struct sp_decoder d;
        assert_int_equal(sp_decoder_init(&d, framings[fi], &unlimited), 0);
        struct sp_msgq q;
        sp_msgq_init(&q);
        /* The read buffer starts small and grows to its full size once a
           read fills it: the first commit fills it, the second takes the
           rest of the ~15 KB stream (hundreds of frames) at once. */
        size_t fed = 0;
        int commits = 0;
        while (fed < s.len) {
            void *buf;
            size_t room;
            sp_decoder_space(&d, &buf, &room);
            assert_true(room > 0);
            size_t k = room < s.len - fed ? room : s.len - fed;
            memcpy(buf, s.buf + fed, k);
            assert_int_equal(sp_decoder_commit(&d, k, &q), 0);
            fed += k;
            commits++;
        }
        assert_true(commits <= 2);
        assert_int_equal(q.count, n);
        size_t len = 0;
        for (size_t i = 0; i < n; i++, len = (len * 7 + 13) % 700)
            expect_msg(&q, len, (unsigned) i);
        sp_msgq_term(&q);
        sp_decoder_term(&d);
        stream_free(&s);
    }
}

static void test_decoder_reassembles_frames_split_at_every_byte_boundary(void **state)
{
    (void) state;
    const size_t lens[] = {5, 0, 17, 1, 300};
    for (size_t fi = 0; fi < TU_ARRAY_LEN(framings); fi++) {
        struct stream s = {0};
        for (size_t i = 0; i < TU_ARRAY_LEN(lens); i++)
            stream_frame(&s, framings[fi], lens[i], (unsigned) i);
        /* Two commits split at k, for every k. */
        for (size_t k = 1; k < s.len; k++) {
            struct sp_decoder d;
            assert_int_equal(sp_decoder_init(&d, framings[fi], &unlimited), 0);
            struct sp_msgq q;
            sp_msgq_init(&q);
            assert_int_equal(feed(&d, s.buf, k, 0, &q), 0);
            assert_int_equal(feed(&d, s.buf + k, s.len - k, 0, &q), 0);
            assert_int_equal(q.count, TU_ARRAY_LEN(lens));
            for (size_t i = 0; i < TU_ARRAY_LEN(lens); i++)
                expect_msg(&q, lens[i], (unsigned) i);
            sp_msgq_term(&q);
            sp_decoder_term(&d);
        }
        /* And one byte at a time, checking nothing comes out early. */
        struct sp_decoder d;
        assert_int_equal(sp_decoder_init(&d, framings[fi], &unlimited), 0);
        struct sp_msgq q;
        sp_msgq_init(&q);
        size_t hl = sp_frame_hdr_len(framings[fi]);
        size_t end = 0, done = 0;
        for (size_t k = 0; k < s.len; k++) {
            assert_int_equal(feed(&d, s.buf + k, 1, 0, &q), 0);
            while (done < TU_ARRAY_LEN(lens) && k + 1 >= end + hl + lens[done]) {
                end += hl + lens[done];
                done++;
            }
            assert_int_equal(q.count, done);
        }
        for (size_t i = 0; i < TU_ARRAY_LEN(lens); i++)
            expect_msg(&q, lens[i], (unsigned) i);
        sp_msgq_term(&q);
        sp_decoder_term(&d);
        stream_free(&s);
    }
}

static void test_decoder_reads_large_frame_straight_into_its_own_chunk(void **state)
{
    (void) state;
    const size_t big = 100000;
    for (size_t fi = 0; fi < TU_ARRAY_LEN(framings); fi++) {
        struct stream s = {0};
        stream_frame(&s, framings[fi], big, 11);
        stream_frame(&s, framings[fi], 3, 12);
        size_t hl = sp_frame_hdr_len(framings[fi]);
        struct sp_decoder d;
        assert_int_equal(sp_decoder_init(&d, framings[fi], &unlimited), 0);
        struct sp_msgq q;
        sp_msgq_init(&q);
        /* Header and the first 100 payload bytes arrive first. */
        assert_int_equal(feed(&d, s.buf, hl + 100, 0, &q), 0);
        assert_int_equal(q.count, 0);
        /* From now on the decoder offers exactly the rest of the frame, in
           the chunk that becomes the body (no copy). */
        void *buf;
        size_t room;
        sp_decoder_space(&d, &buf, &room);
        assert_int_equal(room, big - 100);
        uint8_t *body_start = (uint8_t *) buf - 100;
        assert_int_equal(feed(&d, s.buf + hl + 100, s.len - hl - 100, 1000, &q), 0);
        assert_int_equal(q.count, 2);
        assert_ptr_equal(sp_msgq_at(&q, 0)->body, body_start);
        expect_msg(&q, big, 11);
        expect_msg(&q, 3, 12);
        sp_msgq_term(&q);
        sp_decoder_term(&d);
        stream_free(&s);
    }
}

static void test_decoder_takes_large_frame_that_arrived_whole_from_read_buffer(void **state)
{
    (void) state;
    /* 20 KiB frames are "big", but when one is already complete in the read
       buffer it is cut out of it like a small one. */
    for (size_t fi = 0; fi < TU_ARRAY_LEN(framings); fi++) {
        struct stream s = {0};
        stream_frame(&s, framings[fi], 7, 1);
        stream_frame(&s, framings[fi], 20000, 2);
        stream_frame(&s, framings[fi], 20000, 3);
        stream_frame(&s, framings[fi], 16 * 1024, 4);
        stream_frame(&s, framings[fi], 16 * 1024 + 1, 5);
        stream_frame(&s, framings[fi], 0, 6);
        struct sp_decoder d;
        assert_int_equal(sp_decoder_init(&d, framings[fi], &unlimited), 0);
        struct sp_msgq q;
        sp_msgq_init(&q);
        assert_int_equal(feed(&d, s.buf, s.len, 0, &q), 0);
        assert_int_equal(q.count, 6);
        expect_msg(&q, 7, 1);
        expect_msg(&q, 20000, 2);
        expect_msg(&q, 20000, 3);
        expect_msg(&q, 16 * 1024, 4);
        expect_msg(&q, 16 * 1024 + 1, 5);
        expect_msg(&q, 0, 6);
        sp_msgq_term(&q);
        sp_decoder_term(&d);
        stream_free(&s);
    }
}

static void test_decoder_handles_mixed_sizes_in_odd_sized_reads(void **state)
{
    (void) state;
    const size_t lens[] = {0, 16383, 16384, 16385, 1, 70000, 65536, 5, 0, 200000, 9};
    const size_t steps[] = {1, 7, 999, 4096, 65535, 0};
    for (size_t fi = 0; fi < TU_ARRAY_LEN(framings); fi++) {
        struct stream s = {0};
        for (size_t i = 0; i < TU_ARRAY_LEN(lens); i++)
            stream_frame(&s, framings[fi], lens[i], (unsigned) i + 20);
        for (size_t si = 0; si < TU_ARRAY_LEN(steps); si++) {
            if (steps[si] == 1 && fi == 1)
                continue; /* one framing byte-by-byte is enough */
            struct sp_decoder d;
            assert_int_equal(sp_decoder_init(&d, framings[fi], &unlimited), 0);
            struct sp_msgq q;
            sp_msgq_init(&q);
            assert_int_equal(feed(&d, s.buf, s.len, steps[si], &q), 0);
            assert_int_equal(q.count, TU_ARRAY_LEN(lens));
            for (size_t i = 0; i < TU_ARRAY_LEN(lens); i++)
                expect_msg(&q, lens[i], (unsigned) i + 20);
            sp_msgq_term(&q);
            sp_decoder_term(&d);
        }
        stream_free(&s);
    }
}

static void test_decoder_zero_length_frames_yield_empty_messages(void **state)
{
    (void) state;
    for (size_t fi = 0; fi < TU_ARRAY_LEN(framings); fi++) {
        struct stream s = {0};
        for (int i = 0; i < 1000; i++)
            stream_frame(&s, framings[fi], 0, 0);
        struct sp_decoder d;
        atomic_int zero = 0;
        assert_int_equal(sp_decoder_init(&d, framings[fi], &zero), 0); /* maxsize 0 */
        struct sp_msgq q;
        sp_msgq_init(&q);
        assert_int_equal(feed(&d, s.buf, s.len, 0, &q), 0);
        assert_int_equal(q.count, 1000);
        for (int i = 0; i < 1000; i++)
            expect_msg(&q, 0, 0);
        sp_msgq_term(&q);
        sp_decoder_term(&d);
        stream_free(&s);
    }
}

static void test_decoder_accepts_frame_of_maxsize_and_rejects_maxsize_plus_one(void **state)
{
    (void) state;
    const int64_t limits[] = {0, 1, 100, 16 * 1024, 20000, 1024 * 1024};
    for (size_t fi = 0; fi < TU_ARRAY_LEN(framings); fi++) {
        for (size_t li = 0; li < TU_ARRAY_LEN(limits); li++) {
            size_t max = (size_t) limits[li];
            struct stream s = {0};
            stream_frame(&s, framings[fi], max, 1);
            struct sp_decoder d;
            atomic_int limit = (int) limits[li];
            assert_int_equal(sp_decoder_init(&d, framings[fi], &limit), 0);
            struct sp_msgq q;
            sp_msgq_init(&q);
            assert_int_equal(feed(&d, s.buf, s.len, 0, &q), 0);
            expect_msg(&q, max, 1);
            /* The oversize frame is refused on its header alone, before any
               payload arrived or memory was reserved for it. */
            uint8_t hdr[9];
            size_t hl = sp_frame_hdr(framings[fi], hdr, (uint64_t) max + 1);
            assert_int_equal(feed(&d, hdr, hl, 0, &q), -1);
            assert_int_equal(q.count, 0);
            sp_msgq_term(&q);
            sp_decoder_term(&d);
            stream_free(&s);
        }
    }
}

/* NN_RCVMAXSIZE is the socket's live value: the application may change it
   while a connection runs, and each frame is judged by the limit in force
   when its header arrives (as libnanomsg reads it per message header). */
static void test_decoder_judges_each_frame_by_the_limit_when_its_header_arrives(void **state)
{
    (void) state;
    for (size_t fi = 0; fi < TU_ARRAY_LEN(framings); fi++) {
        atomic_int limit = 4;
        struct sp_decoder d;
        assert_int_equal(sp_decoder_init(&d, framings[fi], &limit), 0);
        struct sp_msgq q;
        sp_msgq_init(&q);
        struct stream s = {0};
        /* Raised before the header of a 5-byte frame: it passes. */
        atomic_store(&limit, 5);
        stream_frame(&s, framings[fi], 5, 1);
        assert_int_equal(feed(&d, s.buf, s.len, 0, &q), 0);
        expect_msg(&q, 5, 1);
        stream_free(&s);
        /* A header read under a limit of 6000, then the limit is lowered
           while the payload arrives: the frame was already accepted. */
        atomic_store(&limit, 6000);
        stream_frame(&s, framings[fi], 6000, 2);
        size_t hl = sp_frame_hdr_len(framings[fi]);
        assert_int_equal(feed(&d, s.buf, hl + 10, 0, &q), 0);
        atomic_store(&limit, 4);
        assert_int_equal(feed(&d, s.buf + hl + 10, s.len - hl - 10, 0, &q), 0);
        expect_msg(&q, 6000, 2);
        stream_free(&s);
        /* Lowered to 4: the next 5-byte frame breaks the connection. */
        stream_frame(&s, framings[fi], 5, 3);
        assert_int_equal(feed(&d, s.buf, s.len, 0, &q), -1);
        assert_int_equal(q.count, 0);
        stream_free(&s);
        sp_msgq_term(&q);
        sp_decoder_term(&d);
    }
}

static void test_decoder_with_maxsize_minus_1_accepts_any_size(void **state)
{
    (void) state;
    struct stream s = {0};
    stream_frame(&s, SP_FRAMING_TCP, 1024 * 1024 + 1, 3); /* over the 1 MiB default */
    struct sp_decoder d;
    assert_int_equal(sp_decoder_init(&d, SP_FRAMING_TCP, &unlimited), 0);
    struct sp_msgq q;
    sp_msgq_init(&q);
    assert_int_equal(feed(&d, s.buf, s.len, 0, &q), 0);
    expect_msg(&q, 1024 * 1024 + 1, 3);
    sp_msgq_term(&q);
    sp_decoder_term(&d);
    stream_free(&s);
}

static void test_decoder_drops_connection_on_impossible_length_instead_of_aborting(void **state)
{
    (void) state;
    /* Unlimited maxsize and a peer announcing 2^63 or 2^62 - 1 bytes: the
       decoder gives up (-1), it neither aborts nor pretends to have room. */
    const uint64_t lens[] = {UINT64_MAX, 1ull << 63, (1ull << 62) - 1};
    for (size_t fi = 0; fi < TU_ARRAY_LEN(framings); fi++) {
        for (size_t i = 0; i < TU_ARRAY_LEN(lens); i++) {
            struct sp_decoder d;
            assert_int_equal(sp_decoder_init(&d, framings[fi], &unlimited), 0);
            struct sp_msgq q;
            sp_msgq_init(&q);
            uint8_t wire[9 + 16];
            size_t hl = sp_frame_hdr(framings[fi], wire, lens[i]);
            memset(wire + hl, 'x', 16);
            assert_int_equal(feed(&d, wire, hl + 16, 0, &q), -1);
            assert_int_equal(q.count, 0);
            sp_msgq_term(&q);
            sp_decoder_term(&d);
        }
    }
}

static void test_decoder_ipc_rejects_type_byte_other_than_1(void **state)
{
    (void) state;
    /* libnanomsg aborts on this (SPEC §3.3); we drop the connection. */
    const uint8_t types[] = {0, 2, 0x80, 0xff};
    for (size_t i = 0; i < TU_ARRAY_LEN(types); i++) {
        struct sp_decoder d;
        assert_int_equal(sp_decoder_init(&d, SP_FRAMING_IPC, &unlimited), 0);
        struct sp_msgq q;
        sp_msgq_init(&q);
        struct stream s = {0};
        stream_frame(&s, SP_FRAMING_IPC, 3, 1);
        size_t bad = s.len;
        stream_frame(&s, SP_FRAMING_IPC, 3, 2);
        s.buf[bad] = types[i];
        /* The good frame before it still arrives; the bad one ends it. */
        assert_int_equal(feed(&d, s.buf, bad, 0, &q), 0);
        expect_msg(&q, 3, 1);
        assert_int_equal(feed(&d, s.buf + bad, s.len - bad, 0, &q), -1);
        assert_int_equal(q.count, 0);
        sp_msgq_term(&q);
        sp_decoder_term(&d);
        stream_free(&s);
    }
}

static void test_decoder_term_frees_partial_small_and_big_frames(void **state)
{
    (void) state;
    /* LSan reports if the partial big chunk or the read buffer leaks. */
    for (size_t fi = 0; fi < TU_ARRAY_LEN(framings); fi++) {
        struct stream s = {0};
        stream_frame(&s, framings[fi], 50000, 1);
        struct sp_decoder d;
        assert_int_equal(sp_decoder_init(&d, framings[fi], &unlimited), 0);
        struct sp_msgq q;
        sp_msgq_init(&q);
        assert_int_equal(feed(&d, s.buf, 30000, 0, &q), 0);
        assert_int_equal(q.count, 0);
        sp_decoder_term(&d);
        assert_int_equal(sp_decoder_init(&d, framings[fi], &unlimited), 0);
        assert_int_equal(feed(&d, s.buf, 100, 0, &q), 0);
        sp_decoder_term(&d);
        sp_msgq_term(&q);
        stream_free(&s);
    }
}

/* ---- Landing: a large frame read straight into a waiting caller's buffer ---- */

/* Feeds data in commits of at most step bytes (0: what the decoder offers)
   and says how the offered buffer fared: 1 landed (*len), 0 partly filled,
   -1 not used; -2 when a commit failed. */
static int feed_land(struct sp_decoder *d, const uint8_t *data, size_t len, size_t step, struct sp_msgq *out,
                     size_t *landed_len)
{
    if (feed(d, data, len, step, out) != 0)
        return -2;
    return sp_decoder_land_state(d, landed_len);
}

static void test_decoder_lands_large_frame_split_across_many_partial_reads(void **state)
{
    (void) state;
    const size_t big = 100000;
    const size_t steps[] = {1, 7, 999, 4096, 65535, 0};
    for (size_t fi = 0; fi < TU_ARRAY_LEN(framings); fi++) {
        for (size_t si = 0; si < TU_ARRAY_LEN(steps); si++) {
            struct stream s = {0};
            stream_frame(&s, framings[fi], big, 21);
            stream_frame(&s, framings[fi], 5, 22);
            stream_frame(&s, framings[fi], big, 23);
            size_t first = sp_frame_hdr_len(framings[fi]) + big;
            struct sp_decoder d;
            assert_int_equal(sp_decoder_init(&d, framings[fi], &unlimited), 0);
            struct sp_msgq q;
            sp_msgq_init(&q);
            uint8_t *land = malloc(big + 10);
            assert_non_null(land);
            sp_decoder_land_offer(&d, land, big + 10);
            size_t len = 0;
            /* All but the last byte: the frame is partly in the buffer. */
            assert_int_equal(feed_land(&d, s.buf, first - 1, steps[si], &q, &len), 0);
            assert_int_equal(feed_land(&d, s.buf + first - 1, 1, steps[si], &q, &len), 1);
            assert_int_equal(len, big);
            assert_int_equal(q.count, 0);
            assert_true(tu_check_fill(land, big, 21, 0));
            /* The offer is used up: what follows is decoded as usual, the
               second large frame into a chunk of its own. */
            assert_int_equal(sp_decoder_land_withdraw(&d), 0);
            memset(land, 0xee, big + 10);
            assert_int_equal(feed(&d, s.buf + first, s.len - first, steps[si], &q), 0);
            assert_int_equal(q.count, 2);
            expect_msg(&q, 5, 22);
            expect_msg(&q, big, 23);
            sp_msgq_term(&q);
            sp_decoder_term(&d);
            free(land);
            stream_free(&s);
        }
    }
}

/* A frame of any size lands when it fits the buffer: a small one once it
   is whole in the read buffer (copied once, into the caller's buffer, not
   into a chunk that the recv copies again), a large one read straight into
   it; not when it is one byte too long. */
static void test_decoder_lands_frames_that_fit_the_offered_buffer(void **state)
{
    (void) state;
    const size_t lens[] = {1, 64, 4095, 4096, 4097, 8192, 16383, 16384, 16385, 65536, 1 << 20};
    const size_t steps[] = {0, 3, 5000};
    for (size_t fi = 0; fi < TU_ARRAY_LEN(framings); fi++) {
        for (size_t li = 0; li < TU_ARRAY_LEN(lens); li++) {
            for (size_t si = 0; si < TU_ARRAY_LEN(steps); si++) {
                for (int fit = -1; fit <= 1; fit++) {
                    size_t n = lens[li], cap = n + (size_t) fit;
                    struct stream s = {0};
                    stream_frame(&s, framings[fi], n, 31);
                    struct sp_decoder d;
                    assert_int_equal(sp_decoder_init(&d, framings[fi], &unlimited), 0);
                    struct sp_msgq q;
                    sp_msgq_init(&q);
                    uint8_t *land = malloc(cap);
                    assert_non_null(land);
                    sp_decoder_land_offer(&d, land, cap);
                    size_t len = 0;
                    int st = feed_land(&d, s.buf, s.len, steps[si], &q, &len);
                    if (fit >= 0) {
                        assert_int_equal(st, 1);
                        assert_int_equal(len, n);
                        assert_int_equal(q.count, 0);
                        assert_true(tu_check_fill(land, n, 31, 0));
                    } else {
                        assert_int_equal(st, -1);
                        assert_int_equal(q.count, 1);
                        expect_msg(&q, n, 31);
                    }
                    assert_int_equal(sp_decoder_land_withdraw(&d), 0);
                    sp_msgq_term(&q);
                    sp_decoder_term(&d);
                    free(land);
                    stream_free(&s);
                }
            }
        }
    }
}

/* A message decoded before it in the same read goes first: a frame behind
   it (small, or large) then takes a chunk, so that the caller's buffer
   never receives a message that would overtake one. Behind a frame that
   landed, the rest of the read is queued in order. */
static void test_decoder_lands_nothing_behind_a_message_of_the_same_read(void **state)
{
    (void) state;
    for (size_t fi = 0; fi < TU_ARRAY_LEN(framings); fi++) {
        for (size_t second = 50; second <= 50000; second += 49950) {
            /* The first frame is too long for the land, so it is queued. */
            struct stream s = {0};
            stream_frame(&s, framings[fi], 70000, 41);
            stream_frame(&s, framings[fi], second, 42);
            struct sp_decoder d;
            assert_int_equal(sp_decoder_init(&d, framings[fi], &unlimited), 0);
            struct sp_msgq q;
            sp_msgq_init(&q);
            static uint8_t land[60000];
            sp_decoder_land_offer(&d, land, sizeof land);
            size_t len;
            assert_int_equal(feed_land(&d, s.buf, s.len, 0, &q, &len), -1);
            assert_int_equal(q.count, 2);
            expect_msg(&q, 70000, 41);
            expect_msg(&q, second, 42);
            assert_int_equal(sp_decoder_land_withdraw(&d), 0);
            sp_msgq_term(&q);
            sp_decoder_term(&d);
            stream_free(&s);
        }
        struct stream s = {0};
        stream_frame(&s, framings[fi], 10, 43);
        stream_frame(&s, framings[fi], 20, 44);
        stream_frame(&s, framings[fi], 30, 45);
        struct sp_decoder d;
        assert_int_equal(sp_decoder_init(&d, framings[fi], &unlimited), 0);
        struct sp_msgq q;
        sp_msgq_init(&q);
        uint8_t land[100];
        sp_decoder_land_offer(&d, land, sizeof land);
        size_t len;
        assert_int_equal(feed_land(&d, s.buf, s.len, 0, &q, &len), 1);
        assert_int_equal(len, 10);
        assert_true(tu_check_fill(land, 10, 43, 0));
        assert_int_equal(q.count, 2);
        expect_msg(&q, 20, 44);
        expect_msg(&q, 30, 45);
        assert_int_equal(sp_decoder_land_withdraw(&d), 0);
        sp_msgq_term(&q);
        sp_decoder_term(&d);
        stream_free(&s);
    }
}

/* The caller stops waiting mid-frame: what it has moves to a chunk and the
   rest of the frame completes there; the caller's buffer is left alone
   from then on (scribbled over here), also by sp_decoder_term. */
static void test_decoder_withdrawn_offer_moves_partial_frame_to_its_own_chunk(void **state)
{
    (void) state;
    const size_t big = 70000;
    const size_t cuts[] = {1, 100, 16000, 40000, big - 1};
    for (size_t fi = 0; fi < TU_ARRAY_LEN(framings); fi++) {
        for (size_t ci = 0; ci < TU_ARRAY_LEN(cuts); ci++) {
            struct stream s = {0};
            stream_frame(&s, framings[fi], big, 51);
            stream_frame(&s, framings[fi], 3, 52);
            size_t hl = sp_frame_hdr_len(framings[fi]);
            struct sp_decoder d;
            assert_int_equal(sp_decoder_init(&d, framings[fi], &unlimited), 0);
            struct sp_msgq q;
            sp_msgq_init(&q);
            uint8_t *land = malloc(big);
            assert_non_null(land);
            sp_decoder_land_offer(&d, land, big);
            size_t len;
            /* The header alone picks the buffer already. */
            assert_int_equal(feed_land(&d, s.buf, hl, 0, &q, &len), 0);
            assert_int_equal(feed_land(&d, s.buf + hl, cuts[ci], 0, &q, &len), 0);
            assert_int_equal(sp_decoder_land_withdraw(&d), 0);
            memset(land, 0xee, big);
            assert_int_equal(sp_decoder_land_state(&d, &len), -1);
            if (ci % 2 == 0) {
                assert_int_equal(feed(&d, s.buf + hl + cuts[ci], s.len - hl - cuts[ci], 0, &q), 0);
                assert_int_equal(q.count, 2);
                expect_msg(&q, big, 51);
                expect_msg(&q, 3, 52);
            }
            /* Else the connection ends mid-frame: term frees the chunk
               (ASan/valgrind would see a leak or a bad free of land). */
            sp_msgq_term(&q);
            sp_decoder_term(&d);
            free(land);
            stream_free(&s);
        }
    }
}

/* Reads as the stream does: into the space, then the tail, at most step
   bytes a read (0: as much as both offer). Each read lands at most one
   frame in land (offered again before each read that follows a landing),
   and every frame that does not land goes to out. Counts the frames that
   landed and checks each against its seed (seeds[i] for the i-th frame,
   lens[i] its length). Returns 0, or the first failing commit's result. */
static int feed_tails(struct sp_decoder *d, const uint8_t *data, size_t len, size_t step, struct sp_msgq *out,
                      uint8_t *land, size_t cap, const size_t *lens, const unsigned *seeds, size_t *nframes,
                      size_t *nlanded, size_t *rbuf_bytes)
{
    size_t off = 0;
    sp_decoder_land_offer(d, land, cap);
    while (off < len) {
        void *buf, *tail;
        size_t room, tlen;
        sp_decoder_space(d, &buf, &room);
        assert_non_null(buf);
        assert_true(room > 0);
        sp_decoder_tail(d, &tail, &tlen);
        bool into_rbuf = (uint8_t *) buf == d->rbuf + d->rlen;
        size_t n = len - off;
        if (n > room + tlen)
            n = room + tlen;
        if (step && n > step)
            n = step;
        size_t a = n < room ? n : room;
        memcpy(buf, data + off, a);
        if (n > a)
            memcpy(tail, data + off + a, n - a);
        if (into_rbuf)
            *rbuf_bytes += a;
        off += n;
        size_t before = out->count;
        int rc = sp_decoder_commit(d, n, out);
        if (rc != 0)
            return rc;
        size_t got;
        int st = sp_decoder_land_state(d, &got);
        if (st == 1) {
            /* Nothing was decoded before it in this read: it is the first
               frame the read completed, and those behind it were queued. */
            assert_int_equal(got, lens[*nframes]);
            assert_true(tu_check_fill(land, got, seeds[*nframes], 0));
            ++*nframes;
            ++*nlanded;
            memset(land, 0xee, cap);
        }
        *nframes += out->count - before;
        /* The recv returns unless part of a frame is in its buffer; the
           next one offers it again (having taken what was queued). */
        if (st != 0) {
            assert_int_equal(sp_decoder_land_withdraw(d), 0);
            sp_decoder_land_offer(d, land, cap);
        }
    }
    return 0;
}

/* Behind a large body a read takes only the next frame's header (the
   tail): a stream of large frames then has every body after the first read
   straight into the offered buffer, none through the read buffer, whether
   the header comes whole with the body before it, split over two reads or
   alone; smaller frames and those that do not fit still come through the
   queue, in order. */
static void test_decoder_tail_lets_every_large_body_of_a_stream_land(void **state)
{
    (void) state;
    const size_t lens[] = {70000, 9000, 70000, 3, 8000, 70000, 70000, 200000, 9000};
    const unsigned seeds[] = {31, 32, 33, 34, 35, 36, 37, 38, 39};
    const size_t steps[] = {0, 1, 5, 9, 10, 4096, 70009};
    const size_t cap = 100000;
    for (size_t fi = 0; fi < TU_ARRAY_LEN(framings); fi++) {
        for (size_t si = 0; si < TU_ARRAY_LEN(steps); si++) {
            struct stream s = {0};
            for (size_t i = 0; i < TU_ARRAY_LEN(lens); i++)
                stream_frame(&s, framings[fi], lens[i], seeds[i]);
            struct sp_decoder d;
            assert_int_equal(sp_decoder_init(&d, framings[fi], &unlimited), 0);
            struct sp_msgq q;
            sp_msgq_init(&q);
            uint8_t *land = malloc(cap);
            assert_non_null(land);
            size_t nframes = 0, nlanded = 0, rbuf_bytes = 0;
            assert_int_equal(feed_tails(&d, s.buf, s.len, steps[si], &q, land, cap, lens, seeds, &nframes,
                                        &nlanded, &rbuf_bytes),
                             0);
            assert_int_equal(nframes, TU_ARRAY_LEN(lens));
            /* Those that went through the queue: the one too large for the
               land, and those behind a frame that a read brought with
               them (a landing must not overtake). */
            size_t queued = q.count;
            assert_int_equal(queued + nlanded, TU_ARRAY_LEN(lens));
            struct sp_msg m;
            while (sp_msgq_pop(&q, &m) == 0)
                sp_msg_term(&m);
            if (steps[si] == 0 || steps[si] >= 4096) {
                /* Every large frame that fits but the one whose start
                   came in one read with a message before it. */
                assert_true(nlanded >= 5);
            }
            /* The read buffer saw the first frame's start and the small
               frames, never a large body behind a large body. */
            assert_true(rbuf_bytes < 16384 + 3 + 8000 + 9000 + 10 * 9 + 1);
            free(land);
            sp_msgq_term(&q);
            sp_decoder_term(&d);
            stream_free(&s);
        }
    }
}

/* NN_RCVMAXSIZE is checked before anything lands; an offer changes no
   verdict on a bad frame. */
static void test_decoder_with_offer_still_rejects_oversize_and_bad_type(void **state)
{
    (void) state;
    atomic_int max = 5000;
    for (size_t fi = 0; fi < TU_ARRAY_LEN(framings); fi++) {
        struct stream s = {0};
        stream_frame(&s, framings[fi], 5001, 61);
        struct sp_decoder d;
        assert_int_equal(sp_decoder_init(&d, framings[fi], &max), 0);
        struct sp_msgq q;
        sp_msgq_init(&q);
        uint8_t *land = malloc(10000);
        assert_non_null(land);
        memset(land, 0x5a, 10000);
        sp_decoder_land_offer(&d, land, 10000);
        assert_int_equal(feed(&d, s.buf, s.len, 0, &q), -1);
        assert_int_equal(q.count, 0);
        size_t len;
        assert_int_equal(sp_decoder_land_state(&d, &len), -1);
        assert_int_equal(land[0], 0x5a);
        assert_int_equal(sp_decoder_land_withdraw(&d), 0);
        sp_msgq_term(&q);
        sp_decoder_term(&d);
        free(land);
        stream_free(&s);
    }
    /* ipc: a wrong type byte before a frame that would land. */
    struct stream s = {0};
    stream_frame(&s, SP_FRAMING_IPC, 9000, 62);
    s.buf[0] = 2;
    struct sp_decoder d;
    assert_int_equal(sp_decoder_init(&d, SP_FRAMING_IPC, &unlimited), 0);
    struct sp_msgq q;
    sp_msgq_init(&q);
    uint8_t land[9000];
    sp_decoder_land_offer(&d, land, sizeof land);
    assert_int_equal(feed(&d, s.buf, s.len, 0, &q), -1);
    assert_int_equal(q.count, 0);
    assert_int_equal(sp_decoder_land_withdraw(&d), 0);
    sp_msgq_term(&q);
    sp_decoder_term(&d);
    stream_free(&s);
}

static void test_sphdr_make_writes_exact_wire_bytes(void **state)
{
    (void) state;
    uint8_t out[8];
    sp_sphdr_make(out, 0x31); /* REP */
    const uint8_t rep[] = {0x00, 0x53, 0x50, 0x00, 0x00, 0x31, 0x00, 0x00};
    assert_memory_equal(out, rep, 8);
    sp_sphdr_make(out, 0x10); /* PAIR */
    const uint8_t pair[] = {0x00, 'S', 'P', 0x00, 0x00, 0x10, 0x00, 0x00};
    assert_memory_equal(out, pair, 8);
    sp_sphdr_make(out, 0x1234);
    assert_int_equal(out[4], 0x12);
    assert_int_equal(out[5], 0x34);
}

static void test_sphdr_parse_returns_peer_protocol(void **state)
{
    (void) state;
    const int protos[] = {0x10, 0x20, 0x21, 0x30, 0x31, 0x50, 0x51, 0x62, 0x63, 0x70, 0, 0xffff};
    for (size_t i = 0; i < TU_ARRAY_LEN(protos); i++) {
        uint8_t h[8];
        sp_sphdr_make(h, protos[i]);
        assert_int_equal(sp_sphdr_parse(h), protos[i]);
    }
}

static void test_sphdr_parse_ignores_reserved_bytes_6_and_7(void **state)
{
    (void) state;
    /* SPEC §3.1: nanomsg accepts ff ff there. */
    const uint8_t h[] = {0x00, 'S', 'P', 0x00, 0x00, 0x51, 0xff, 0xff};
    assert_int_equal(sp_sphdr_parse(h), 0x51);
    const uint8_t h2[] = {0x00, 'S', 'P', 0x00, 0x00, 0x50, 0x12, 0x00};
    assert_int_equal(sp_sphdr_parse(h2), 0x50);
}

static void test_sphdr_parse_rejects_wrong_magic_or_version(void **state)
{
    (void) state;
    const uint8_t good[] = {0x00, 'S', 'P', 0x00, 0x00, 0x10, 0x00, 0x00};
    for (int i = 0; i < 4; i++) {
        for (int bit = 0; bit < 8; bit++) {
            uint8_t h[8];
            memcpy(h, good, 8);
            h[i] ^= (uint8_t) (1u << bit);
            assert_int_equal(sp_sphdr_parse(h), -1);
        }
    }
    const uint8_t http[] = {'G', 'E', 'T', ' ', '/', ' ', 'H', 'T'};
    assert_int_equal(sp_sphdr_parse(http), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_hdr_is_big_endian_length_with_ipc_type_byte),
        cmocka_unit_test(test_decoder_tcp_frame_yields_payload_as_body),
        cmocka_unit_test(test_decoder_ipc_frame_yields_payload_as_body),
        cmocka_unit_test(test_decoder_grows_its_buffer_and_splits_many_frames_out_of_one_read),
        cmocka_unit_test(test_decoder_reassembles_frames_split_at_every_byte_boundary),
        cmocka_unit_test(test_decoder_reads_large_frame_straight_into_its_own_chunk),
        cmocka_unit_test(test_decoder_takes_large_frame_that_arrived_whole_from_read_buffer),
        cmocka_unit_test(test_decoder_handles_mixed_sizes_in_odd_sized_reads),
        cmocka_unit_test(test_decoder_zero_length_frames_yield_empty_messages),
        cmocka_unit_test(test_decoder_accepts_frame_of_maxsize_and_rejects_maxsize_plus_one),
        cmocka_unit_test(test_decoder_judges_each_frame_by_the_limit_when_its_header_arrives),
        cmocka_unit_test(test_decoder_with_maxsize_minus_1_accepts_any_size),
        cmocka_unit_test(test_decoder_drops_connection_on_impossible_length_instead_of_aborting),
        cmocka_unit_test(test_decoder_ipc_rejects_type_byte_other_than_1),
        cmocka_unit_test(test_decoder_term_frees_partial_small_and_big_frames),
        cmocka_unit_test(test_decoder_lands_large_frame_split_across_many_partial_reads),
        cmocka_unit_test(test_decoder_lands_frames_that_fit_the_offered_buffer),
        cmocka_unit_test(test_decoder_lands_nothing_behind_a_message_of_the_same_read),
        cmocka_unit_test(test_decoder_withdrawn_offer_moves_partial_frame_to_its_own_chunk),
        cmocka_unit_test(test_decoder_tail_lets_every_large_body_of_a_stream_land),
        cmocka_unit_test(test_decoder_with_offer_still_rejects_oversize_and_bad_type),
        cmocka_unit_test(test_sphdr_make_writes_exact_wire_bytes),
        cmocka_unit_test(test_sphdr_parse_returns_peer_protocol),
        cmocka_unit_test(test_sphdr_parse_ignores_reserved_bytes_6_and_7),
        cmocka_unit_test(test_sphdr_parse_rejects_wrong_magic_or_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
