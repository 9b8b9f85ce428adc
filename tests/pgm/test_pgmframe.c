/* The SP-over-PGM framing (transports/pgm/pgmenc.c, pgmdec.c; specified in
   man/nn_pgm.7.adoc): messages are cut into datagrams of at most one TPDU
   and come out whole, in order, byte-exact; a late joiner or a receiver
   after a loss starts at the next message boundary; a message cut by loss
   is dropped whole and counted; oversize messages are skipped without being
   stored; garbage is rejected. Datagrams are passed by hand here, as
   OpenPGM would deliver them. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <nanomsg/bus.h>
#include <nanomsg/pubsub.h>

#include "testutil.h"
#include "core/chunk.h"
#include "core/msg.h"
#include "pgm/pgmdec.h"
#include "pgm/pgmenc.h"
#include "pgm/pgmwire.h"

/* epgm's maximum TSDU at an MTU of 1500 (PGM.md). */
#define DGMAX 1448

/* ---- helpers: a list of datagrams, messages with recognisable content ---- */

struct dgram {
    uint8_t *p;
    size_t len;
};

struct dglist {
    struct dgram *d;
    size_t n;
};

static void dglist_add(struct dglist *l, const uint8_t *p, size_t len)
{
    l->d = realloc(l->d, (l->n + 1) * sizeof *l->d);
    assert_non_null(l->d);
    l->d[l->n].p = malloc(len);
    assert_non_null(l->d[l->n].p);
    memcpy(l->d[l->n].p, p, len);
    l->d[l->n].len = len;
    l->n++;
}

static void dglist_free(struct dglist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->d[i].p);
    free(l->d);
    l->d = NULL;
    l->n = 0;
}

/* Message seed s of len bytes. */
static void push_msg(struct sp_pgmenc *e, size_t len, unsigned seed)
{
    struct sp_msg m;
    assert_int_equal(sp_msg_init_size(&m, len), 0);
    tu_fill(sp_msg_bodyp(&m), len, seed);
    assert_int_equal(sp_pgmenc_push(e, &m), 0);
}

/* Takes every datagram the encoder has (flushing at the end). */
static void drain(struct sp_pgmenc *e, struct dglist *l)
{
    const uint8_t *dg;
    size_t len;
    while (sp_pgmenc_next(e, true, &dg, &len)) {
        assert_true(len <= e->dgmax);
        dglist_add(l, dg, len);
        sp_pgmenc_sent(e);
    }
}

/* Encodes messages of the given sizes (seed = index) into l. */
static void encode(const size_t *sizes, size_t n, size_t dgmax, struct dglist *l)
{
    struct sp_pgmenc e;
    assert_int_equal(sp_pgmenc_init(&e, NN_PUB, dgmax), 0);
    for (size_t i = 0; i < n; i++)
        push_msg(&e, sizes[i], (unsigned) i);
    drain(&e, l);
    assert_int_equal(sp_pgmenc_backlog(&e), 0);
    sp_pgmenc_term(&e);
}

/* Pops the next decoded message and checks it is message seed of len. */
static void expect_msg(struct sp_msgq *q, size_t len, unsigned seed)
{
    struct sp_msg m;
    if (sp_msgq_pop(q, &m) != 0)
        fail_msg("expected message %u (%zu bytes), got none", seed, len);
    assert_true(sp_chunk_valid(m.body));
    if (sp_msg_bodylen(&m) != len)
        fail_msg("message %u: %zu bytes, expected %zu", seed, sp_msg_bodylen(&m), len);
    assert_true(tu_check_fill(sp_msg_bodyp(&m), len, seed, 0));
    assert_int_equal(m.hdrlen, 0);
    sp_msg_term(&m);
}

static void expect_none(struct sp_msgq *q)
{
    assert_int_equal(q->count, 0);
}

static unsigned first_start(const struct dgram *d)
{
    return sp_pgm_get16(d->p + 6);
}

/* ---- the length prefix ---- */

static void test_pgmframe_length_prefix_is_the_shortest_quic_varint(void **state)
{
    (void) state;
    const struct {
        uint64_t v;
        size_t n;
    } cases[] = {
        {0, 1},     {63, 1},   {64, 2},           {16383, 2},
        {16384, 4}, {(1u << 30) - 1, 4}, {1u << 30, 8}, {SP_PGM_VARINT_MAX, 8},
    };
    for (size_t i = 0; i < TU_ARRAY_LEN(cases); i++) {
        uint8_t b[8];
        size_t n = sp_pgm_varint_put(b, cases[i].v);
        assert_int_equal(n, cases[i].n);
        assert_int_equal(sp_pgm_varint_size(b[0]), n);
        assert_true(sp_pgm_varint_get(b, n) == cases[i].v);
    }
    /* RFC 9000's examples. */
    const uint8_t ex4[] = {0x9d, 0x7f, 0x3e, 0x7d};
    assert_true(sp_pgm_varint_get(ex4, 4) == 494878333u);
    const uint8_t ex2[] = {0x7b, 0xbd};
    assert_true(sp_pgm_varint_get(ex2, 2) == 15293u);
}

/* ---- encoding ---- */

static void test_pgmframe_header_carries_magic_version_protocol_and_first_start(void **state)
{
    (void) state;
    struct sp_pgmenc e;
    assert_int_equal(sp_pgmenc_init(&e, NN_BUS, DGMAX), 0);
    push_msg(&e, 5, 1);
    const uint8_t *dg;
    size_t len;
    assert_true(sp_pgmenc_next(&e, true, &dg, &len));
    const uint8_t want[] = {'S', 'P', 1, 0, NN_BUS >> 8, NN_BUS & 0xff, 0, 0, 5};
    assert_int_equal(len, SP_PGM_HDR_LEN + 1 + 5);
    assert_memory_equal(dg, want, sizeof want);
    sp_pgmenc_sent(&e);
    sp_pgmenc_term(&e);
}

static void test_pgmframe_small_messages_share_a_datagram(void **state)
{
    (void) state;
    struct sp_pgmenc e;
    assert_int_equal(sp_pgmenc_init(&e, NN_PUB, DGMAX), 0);
    for (unsigned i = 0; i < 10; i++)
        push_msg(&e, 64, i);
    const uint8_t *dg;
    size_t len;
    /* Not full: without a flush it waits for more. */
    assert_false(sp_pgmenc_next(&e, false, &dg, &len));
    assert_true(sp_pgmenc_next(&e, true, &dg, &len));
    assert_int_equal(len, SP_PGM_HDR_LEN + 10 * (2 + 64));
    struct dglist l = {0};
    dglist_add(&l, dg, len);
    sp_pgmenc_sent(&e);
    assert_false(sp_pgmenc_next(&e, true, &dg, &len));
    sp_pgmenc_term(&e);

    struct sp_pgmdec d;
    struct sp_msgq q;
    sp_pgmdec_init(&d, -1);
    sp_msgq_init(&q);
    assert_int_equal(sp_pgmdec_put(&d, l.d[0].p, l.d[0].len, &q), 0);
    for (unsigned i = 0; i < 10; i++)
        expect_msg(&q, 64, i);
    expect_none(&q);
    assert_int_equal(sp_pgmdec_proto(&d), NN_PUB);
    sp_msgq_term(&q);
    sp_pgmdec_term(&d);
    dglist_free(&l);
}

static void test_pgmframe_full_datagram_goes_out_without_flush(void **state)
{
    (void) state;
    struct sp_pgmenc e;
    assert_int_equal(sp_pgmenc_init(&e, NN_PUB, DGMAX), 0);
    for (unsigned i = 0; i < 30; i++)
        push_msg(&e, 100, i); /* 30 x 102 bytes: two datagrams and a bit */
    const uint8_t *dg;
    size_t len;
    assert_true(sp_pgmenc_next(&e, false, &dg, &len));
    assert_int_equal(len, DGMAX);
    sp_pgmenc_sent(&e);
    assert_true(sp_pgmenc_next(&e, false, &dg, &len));
    assert_int_equal(len, DGMAX);
    sp_pgmenc_sent(&e);
    assert_false(sp_pgmenc_next(&e, false, &dg, &len));
    assert_int_equal(sp_pgmenc_backlog(&e), 30 * 102 - 2 * (DGMAX - SP_PGM_HDR_LEN));
    assert_true(sp_pgmenc_next(&e, true, &dg, &len));
    sp_pgmenc_sent(&e);
    assert_int_equal(sp_pgmenc_backlog(&e), 0);
    assert_int_equal(e.datagrams, 3);
    sp_pgmenc_term(&e);
}

static void test_pgmframe_unsent_datagram_takes_later_messages(void **state)
{
    (void) state;
    struct sp_pgmenc e;
    assert_int_equal(sp_pgmenc_init(&e, NN_PUB, DGMAX), 0);
    push_msg(&e, 10, 0);
    const uint8_t *dg;
    size_t len;
    assert_true(sp_pgmenc_next(&e, true, &dg, &len));
    assert_int_equal(len, SP_PGM_HDR_LEN + 11);
    /* The socket did not take it (rate limit): meanwhile another message. */
    push_msg(&e, 20, 1);
    assert_int_equal(sp_pgmenc_backlog(&e), 11 + 21);
    assert_true(sp_pgmenc_next(&e, true, &dg, &len));
    assert_int_equal(len, SP_PGM_HDR_LEN + 11 + 21);
    struct dglist l = {0};
    dglist_add(&l, dg, len);
    sp_pgmenc_sent(&e);
    sp_pgmenc_term(&e);

    struct sp_pgmdec d;
    struct sp_msgq q;
    sp_pgmdec_init(&d, -1);
    sp_msgq_init(&q);
    assert_int_equal(sp_pgmdec_put(&d, l.d[0].p, l.d[0].len, &q), 0);
    expect_msg(&q, 10, 0);
    expect_msg(&q, 20, 1);
    sp_msgq_term(&q);
    sp_pgmdec_term(&d);
    dglist_free(&l);
}

static void test_pgmframe_sp_header_travels_in_front_of_the_body(void **state)
{
    (void) state;
    struct sp_pgmenc e;
    assert_int_equal(sp_pgmenc_init(&e, NN_PUB, DGMAX), 0);
    struct sp_msg m;
    assert_int_equal(sp_msg_init_size(&m, 3), 0);
    memcpy(sp_msg_bodyp(&m), "abc", 3);
    assert_int_equal(sp_msg_set_hdr(&m, "\x80\0\0\1", 4), 0);
    assert_int_equal(sp_pgmenc_push(&e, &m), 0);
    struct dglist l = {0};
    drain(&e, &l);
    sp_pgmenc_term(&e);

    struct sp_pgmdec d;
    struct sp_msgq q;
    sp_pgmdec_init(&d, -1);
    sp_msgq_init(&q);
    assert_int_equal(sp_pgmdec_put(&d, l.d[0].p, l.d[0].len, &q), 0);
    assert_int_equal(sp_msgq_pop(&q, &m), 0);
    assert_int_equal(sp_msg_bodylen(&m), 7);
    assert_memory_equal(sp_msg_bodyp(&m), "\x80\0\0\1" "abc", 7);
    sp_msg_term(&m);
    sp_msgq_term(&q);
    sp_pgmdec_term(&d);
    dglist_free(&l);
}

static void test_pgmframe_encoder_rejects_impossible_sizes(void **state)
{
    (void) state;
    struct sp_pgmenc e;
    assert_int_equal(sp_pgmenc_init(&e, NN_PUB, SP_PGM_HDR_LEN), -EINVAL);
    assert_int_equal(sp_pgmenc_init(&e, NN_PUB, 65536), -EINVAL);
    assert_int_equal(sp_pgmenc_init(&e, -1, DGMAX), -EINVAL);
    assert_int_equal(sp_pgmenc_init(&e, 0x10000, DGMAX), -EINVAL);
    assert_int_equal(sp_pgmenc_init(&e, NN_PUB, SP_PGM_HDR_LEN + 1), 0);
    sp_pgmenc_term(&e);
}

/* ---- decoding ---- */

/* Feeds datagrams [from, to) of l. */
static void feed(struct sp_pgmdec *d, struct dglist *l, size_t from, size_t to, struct sp_msgq *q)
{
    for (size_t i = from; i < to; i++)
        assert_int_equal(sp_pgmdec_put(d, l->d[i].p, l->d[i].len, q), 0);
}

static void test_pgmframe_1mib_message_crosses_about_730_datagrams_intact(void **state)
{
    (void) state;
    const size_t sizes[] = {1024 * 1024, 10};
    struct dglist l = {0};
    encode(sizes, 2, DGMAX, &l);
    /* 1 MiB and its 4-byte prefix, 1440 payload bytes a datagram. */
    assert_int_equal(l.n, (1024 * 1024 + 4 + 11 + DGMAX - SP_PGM_HDR_LEN - 1) / (DGMAX - SP_PGM_HDR_LEN));
    assert_int_equal(first_start(&l.d[0]), 0);
    for (size_t i = 1; i + 1 < l.n; i++)
        assert_int_equal(first_start(&l.d[i]), SP_PGM_NO_START);
    assert_int_equal(first_start(&l.d[l.n - 1]), (1024 * 1024 + 4) % (DGMAX - SP_PGM_HDR_LEN));

    struct sp_pgmdec d;
    struct sp_msgq q;
    sp_pgmdec_init(&d, 1024 * 1024);
    sp_msgq_init(&q);
    feed(&d, &l, 0, l.n - 1, &q);
    expect_none(&q);
    feed(&d, &l, l.n - 1, l.n, &q);
    expect_msg(&q, 1024 * 1024, 0);
    expect_msg(&q, 10, 1);
    expect_none(&q);
    assert_int_equal(d.st.delivered, 2);
    assert_int_equal(d.st.lost + d.st.oversize + d.st.malformed + d.st.nomem, 0);
    sp_msgq_term(&q);
    sp_pgmdec_term(&d);
    dglist_free(&l);
}

static void test_pgmframe_late_joiner_starts_at_the_next_message(void **state)
{
    (void) state;
    const size_t sizes[] = {5000, 5000, 5000, 30, 30};
    struct dglist l = {0};
    encode(sizes, 5, DGMAX, &l);
    /* Join at datagram 2: in the middle of message 0 (5002 bytes span
       datagrams 0-3); message 1 starts in datagram 3. */
    assert_int_equal(first_start(&l.d[2]), SP_PGM_NO_START);
    struct sp_pgmdec d;
    struct sp_msgq q;
    sp_pgmdec_init(&d, -1);
    sp_msgq_init(&q);
    feed(&d, &l, 2, l.n, &q);
    expect_msg(&q, 5000, 1);
    expect_msg(&q, 5000, 2);
    expect_msg(&q, 30, 3);
    expect_msg(&q, 30, 4);
    expect_none(&q);
    /* Joining late loses nothing it had a part of. */
    assert_int_equal(d.st.lost, 0);
    assert_int_equal(d.st.malformed, 0);
    sp_msgq_term(&q);
    sp_pgmdec_term(&d);
    dglist_free(&l);
}

static void test_pgmframe_datagram_of_continuation_only_waits_for_a_start(void **state)
{
    (void) state;
    const size_t sizes[] = {4000, 100};
    struct dglist l = {0};
    encode(sizes, 2, DGMAX, &l);
    assert_int_equal(l.n, 3);
    assert_int_equal(first_start(&l.d[1]), SP_PGM_NO_START);
    struct sp_pgmdec d;
    struct sp_msgq q;
    sp_pgmdec_init(&d, -1);
    sp_msgq_init(&q);
    feed(&d, &l, 1, 2, &q);
    expect_none(&q);
    assert_false(d.synced);
    feed(&d, &l, 2, 3, &q);
    expect_msg(&q, 100, 1);
    expect_none(&q);
    sp_msgq_term(&q);
    sp_pgmdec_term(&d);
    dglist_free(&l);
}

static void test_pgmframe_loss_inside_a_large_message_drops_it_and_delivers_the_next(void **state)
{
    (void) state;
    const size_t sizes[] = {20, 100 * 1024, 300, 40};
    struct dglist l = {0};
    encode(sizes, 4, DGMAX, &l);
    size_t mid = l.n / 2; /* well inside the 100 KiB message */
    assert_int_equal(first_start(&l.d[mid]), SP_PGM_NO_START);
    struct sp_pgmdec d;
    struct sp_msgq q;
    sp_pgmdec_init(&d, -1);
    sp_msgq_init(&q);
    feed(&d, &l, 0, mid, &q);
    expect_msg(&q, 20, 0);
    /* OpenPGM gave up on datagram mid: RESET. */
    sp_pgmdec_gap(&d);
    feed(&d, &l, mid + 1, l.n, &q);
    expect_msg(&q, 300, 2);
    expect_msg(&q, 40, 3);
    expect_none(&q);
    assert_int_equal(d.st.lost, 1);
    assert_int_equal(d.st.delivered, 3);
    assert_int_equal(d.st.malformed, 0);
    /* Started once, resumed once after the gap (the transport's warm-up
       tells a discontinuity by this count). */
    assert_int_equal(d.st.syncs, 2);
    sp_msgq_term(&q);
    sp_pgmdec_term(&d);
    dglist_free(&l);
}

static void test_pgmframe_loss_without_reset_is_caught_by_the_offsets(void **state)
{
    (void) state;
    /* Message 1 ends, and message 2 starts, in a datagram that goes
       missing unannounced: the next datagram's first start contradicts the
       message in progress. Neither 1 nor 2 may come out spliced. */
    const size_t sizes[] = {3000, 2000, 50, 50};
    struct dglist l = {0};
    encode(sizes, 4, DGMAX, &l);
    /* Message 0: bytes 0-3001, message 1: 3002-5003 (datagrams 2-3). */
    assert_int_equal(l.n, 4);
    struct sp_pgmdec d;
    struct sp_msgq q;
    sp_pgmdec_init(&d, -1);
    sp_msgq_init(&q);
    feed(&d, &l, 0, 2, &q);
    feed(&d, &l, 3, 4, &q);
    /* Message 0 ended in datagram 2, lost; message 1 began there. */
    expect_msg(&q, 50, 2);
    expect_msg(&q, 50, 3);
    expect_none(&q);
    assert_int_equal(d.st.lost, 1);
    sp_msgq_term(&q);
    sp_pgmdec_term(&d);
    dglist_free(&l);
}

static void test_pgmframe_reset_between_messages_loses_nothing_received(void **state)
{
    (void) state;
    const size_t sizes[] = {1440 - 2, 1440 - 2, 10};
    struct dglist l = {0};
    encode(sizes, 3, DGMAX, &l);
    assert_int_equal(l.n, 3); /* one message per datagram exactly */
    struct sp_pgmdec d;
    struct sp_msgq q;
    sp_pgmdec_init(&d, -1);
    sp_msgq_init(&q);
    feed(&d, &l, 0, 1, &q);
    sp_pgmdec_gap(&d);
    feed(&d, &l, 2, 3, &q);
    expect_msg(&q, 1438, 0);
    expect_msg(&q, 10, 2);
    expect_none(&q);
    assert_int_equal(d.st.lost, 0);
    sp_msgq_term(&q);
    sp_pgmdec_term(&d);
    dglist_free(&l);
}

static void test_pgmframe_length_prefix_cut_by_a_datagram_boundary(void **state)
{
    (void) state;
    /* Datagrams of 3 payload bytes: every 2-byte prefix and body straddles. */
    const size_t sizes[] = {0, 70, 1, 200, 0};
    struct dglist l = {0};
    encode(sizes, 5, SP_PGM_HDR_LEN + 3, &l);
    struct sp_pgmdec d;
    struct sp_msgq q;
    sp_pgmdec_init(&d, -1);
    sp_msgq_init(&q);
    feed(&d, &l, 0, l.n, &q);
    for (unsigned i = 0; i < 5; i++)
        expect_msg(&q, sizes[i], i);
    expect_none(&q);
    assert_int_equal(d.st.malformed + d.st.lost, 0);
    sp_msgq_term(&q);
    sp_pgmdec_term(&d);
    dglist_free(&l);
}

static void test_pgmframe_empty_messages_come_out_empty(void **state)
{
    (void) state;
    const size_t sizes[] = {0, 0, 5, 0};
    struct dglist l = {0};
    encode(sizes, 4, DGMAX, &l);
    assert_int_equal(l.n, 1);
    struct sp_pgmdec d;
    struct sp_msgq q;
    sp_pgmdec_init(&d, 0); /* NN_RCVMAXSIZE 0: only empty messages */
    sp_msgq_init(&q);
    feed(&d, &l, 0, 1, &q);
    expect_msg(&q, 0, 0);
    expect_msg(&q, 0, 1);
    expect_msg(&q, 0, 3);
    expect_none(&q);
    assert_int_equal(d.st.oversize, 1);
    sp_msgq_term(&q);
    sp_pgmdec_term(&d);
    dglist_free(&l);
}

static void test_pgmframe_oversize_message_is_skipped_without_storing_it(void **state)
{
    (void) state;
    const size_t sizes[] = {500, 50000, 501};
    struct dglist l = {0};
    encode(sizes, 3, DGMAX, &l);
    struct sp_pgmdec d;
    struct sp_msgq q;
    sp_pgmdec_init(&d, 1000);
    sp_msgq_init(&q);
    feed(&d, &l, 0, 2, &q);
    /* Inside the 50000-byte message: nothing held for it. */
    assert_true(d.in_body && d.skipping);
    assert_null(d.body);
    feed(&d, &l, 2, l.n, &q);
    expect_msg(&q, 500, 0);
    expect_msg(&q, 501, 2);
    expect_none(&q);
    assert_int_equal(d.st.oversize, 1);
    assert_int_equal(d.st.lost, 0);
    sp_msgq_term(&q);
    sp_pgmdec_term(&d);
    dglist_free(&l);
}

static void test_pgmframe_size_limit_change_applies_from_the_next_message(void **state)
{
    (void) state;
    const size_t sizes[] = {3000, 3000};
    struct dglist l = {0};
    encode(sizes, 2, DGMAX, &l);
    struct sp_pgmdec d;
    struct sp_msgq q;
    sp_pgmdec_init(&d, -1);
    sp_msgq_init(&q);
    feed(&d, &l, 0, 1, &q);
    sp_pgmdec_set_maxsize(&d, 100); /* message 0 has started: it stays */
    feed(&d, &l, 1, l.n, &q);
    expect_msg(&q, 3000, 0);
    expect_none(&q);
    assert_int_equal(d.st.oversize, 1);
    sp_msgq_term(&q);
    sp_pgmdec_term(&d);
    dglist_free(&l);
}

static void test_pgmframe_lying_length_costs_only_what_arrived(void **state)
{
    (void) state;
    /* A prefix announcing 2^40 bytes with no size limit. */
    uint8_t dg[SP_PGM_HDR_LEN + 8 + 100];
    sp_pgm_hdr_put(dg, NN_PUB, 0);
    assert_int_equal(sp_pgm_varint_put(dg + SP_PGM_HDR_LEN, UINT64_C(1) << 40), 8);
    memset(dg + SP_PGM_HDR_LEN + 8, 'x', 100);
    struct sp_pgmdec d;
    struct sp_msgq q;
    sp_pgmdec_init(&d, -1);
    sp_msgq_init(&q);
    assert_int_equal(sp_pgmdec_put(&d, dg, sizeof dg, &q), 0);
    assert_non_null(d.body);
    assert_true(sp_chunk_size(d.body) <= 64 * 1024);
    /* The next datagram starts a message: the liar is dropped. */
    uint8_t next[SP_PGM_HDR_LEN + 3] = {0};
    sp_pgm_hdr_put(next, NN_PUB, 0);
    next[SP_PGM_HDR_LEN] = 2;
    next[SP_PGM_HDR_LEN + 1] = 'o';
    next[SP_PGM_HDR_LEN + 2] = 'k';
    assert_int_equal(sp_pgmdec_put(&d, next, sizeof next, &q), 0);
    struct sp_msg m;
    assert_int_equal(sp_msgq_pop(&q, &m), 0);
    assert_int_equal(sp_msg_bodylen(&m), 2);
    assert_memory_equal(sp_msg_bodyp(&m), "ok", 2);
    sp_msg_term(&m);
    assert_int_equal(d.st.lost, 1);
    sp_msgq_term(&q);
    sp_pgmdec_term(&d);
}

static void test_pgmframe_garbage_is_rejected_and_decoding_resumes(void **state)
{
    (void) state;
    const size_t sizes[] = {10, 2000, 10};
    struct dglist l = {0};
    encode(sizes, 3, DGMAX, &l);
    struct sp_pgmdec d;
    struct sp_msgq q;
    sp_pgmdec_init(&d, -1);
    sp_msgq_init(&q);
    feed(&d, &l, 0, 1, &q);
    expect_msg(&q, 10, 0);
    assert_true(d.in_body);

    uint8_t bad[SP_PGM_HDR_LEN + 4];
    memcpy(bad, l.d[1].p, sizeof bad);
    /* Short. */
    assert_int_equal(sp_pgmdec_put(&d, bad, SP_PGM_HDR_LEN - 1, &q), -EPROTO);
    /* Message 1 was in progress: a broken stream drops it. */
    assert_int_equal(d.st.lost, 1);
    /* Bad magic, unknown version, another protocol, a start past the end. */
    bad[0] = 'X';
    assert_int_equal(sp_pgmdec_put(&d, bad, sizeof bad, &q), -EPROTO);
    bad[0] = 'S';
    bad[2] = 2;
    assert_int_equal(sp_pgmdec_put(&d, bad, sizeof bad, &q), -EPROTO);
    bad[2] = 1;
    bad[5] ^= 1;
    assert_int_equal(sp_pgmdec_put(&d, bad, sizeof bad, &q), -EPROTO);
    bad[5] ^= 1;
    bad[6] = 0;
    bad[7] = 4;
    assert_int_equal(sp_pgmdec_put(&d, bad, sizeof bad, &q), -EPROTO);
    assert_int_equal(d.st.malformed, 5);
    assert_int_equal(sp_pgmdec_proto(&d), NN_PUB);
    expect_none(&q);
    /* The sender's real datagrams go on: the next start is found. */
    feed(&d, &l, 1, l.n, &q);
    expect_msg(&q, 10, 2);
    expect_none(&q);
    sp_msgq_term(&q);
    sp_pgmdec_term(&d);
    dglist_free(&l);
}

static void test_pgmframe_decoder_freed_mid_message_leaks_nothing(void **state)
{
    (void) state;
    const size_t sizes[] = {200000};
    struct dglist l = {0};
    encode(sizes, 1, DGMAX, &l);
    struct sp_pgmdec d;
    struct sp_msgq q;
    sp_pgmdec_init(&d, -1);
    sp_msgq_init(&q);
    feed(&d, &l, 0, l.n / 2, &q);
    assert_non_null(d.body);
    sp_pgmdec_term(&d); /* LeakSanitizer checks */
    sp_msgq_term(&q);
    dglist_free(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pgmframe_length_prefix_is_the_shortest_quic_varint),
        cmocka_unit_test(test_pgmframe_header_carries_magic_version_protocol_and_first_start),
        cmocka_unit_test(test_pgmframe_small_messages_share_a_datagram),
        cmocka_unit_test(test_pgmframe_full_datagram_goes_out_without_flush),
        cmocka_unit_test(test_pgmframe_unsent_datagram_takes_later_messages),
        cmocka_unit_test(test_pgmframe_sp_header_travels_in_front_of_the_body),
        cmocka_unit_test(test_pgmframe_encoder_rejects_impossible_sizes),
        cmocka_unit_test(test_pgmframe_1mib_message_crosses_about_730_datagrams_intact),
        cmocka_unit_test(test_pgmframe_late_joiner_starts_at_the_next_message),
        cmocka_unit_test(test_pgmframe_datagram_of_continuation_only_waits_for_a_start),
        cmocka_unit_test(test_pgmframe_loss_inside_a_large_message_drops_it_and_delivers_the_next),
        cmocka_unit_test(test_pgmframe_loss_without_reset_is_caught_by_the_offsets),
        cmocka_unit_test(test_pgmframe_reset_between_messages_loses_nothing_received),
        cmocka_unit_test(test_pgmframe_length_prefix_cut_by_a_datagram_boundary),
        cmocka_unit_test(test_pgmframe_empty_messages_come_out_empty),
        cmocka_unit_test(test_pgmframe_oversize_message_is_skipped_without_storing_it),
        cmocka_unit_test(test_pgmframe_size_limit_change_applies_from_the_next_message),
        cmocka_unit_test(test_pgmframe_lying_length_costs_only_what_arrived),
        cmocka_unit_test(test_pgmframe_garbage_is_rejected_and_decoding_resumes),
        cmocka_unit_test(test_pgmframe_decoder_freed_mid_message_leaks_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
