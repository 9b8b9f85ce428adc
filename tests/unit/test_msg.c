/* Messages and the message FIFO: SP headers inline up to 24 bytes and on the
   heap beyond, header push and split (how protocols build and parse their
   backtraces), dup sharing the body chunk (fan-out), and a FIFO that keeps its
   order and its byte count while its ring grows. */
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

static void make_body(struct sp_msg *m, size_t len, unsigned seed)
{
    assert_int_equal(sp_msg_init_size(m, len), 0);
    tu_fill(sp_msg_bodyp(m), len, seed);
}

static void test_msg_header_up_to_24_bytes_is_stored_inline(void **state)
{
    (void) state;
    struct sp_msg m;
    sp_msg_init(&m);
    uint8_t h[SP_MSG_HDR_INLINE];
    tu_fill(h, sizeof h, 1);
    for (size_t len = 0; len <= SP_MSG_HDR_INLINE; len++) {
        assert_int_equal(sp_msg_set_hdr(&m, h, len), 0);
        assert_int_equal(m.hdrlen, len);
        assert_ptr_equal(sp_msg_hdr(&m), m.hdr.inl);
        if (len)
            assert_memory_equal(sp_msg_hdr(&m), h, len);
    }
    sp_msg_term(&m);
}

static void test_msg_header_over_24_bytes_is_stored_on_heap_and_freed(void **state)
{
    (void) state;
    struct sp_msg m;
    sp_msg_init(&m);
    uint8_t h[100];
    tu_fill(h, sizeof h, 2);
    assert_int_equal(sp_msg_set_hdr(&m, h, 25), 0);
    assert_int_equal(m.hdrlen, 25);
    assert_ptr_not_equal(sp_msg_hdr(&m), m.hdr.inl);
    assert_memory_equal(sp_msg_hdr(&m), h, 25);
    /* Heap to bigger heap, then back inline: no leak (LSan), content right. */
    assert_int_equal(sp_msg_set_hdr(&m, h, 100), 0);
    assert_memory_equal(sp_msg_hdr(&m), h, 100);
    assert_int_equal(sp_msg_set_hdr(&m, h + 50, 4), 0);
    assert_int_equal(m.hdrlen, 4);
    assert_ptr_equal(sp_msg_hdr(&m), m.hdr.inl);
    assert_memory_equal(sp_msg_hdr(&m), h + 50, 4);
    assert_int_equal(sp_msg_set_hdr(&m, h, 60), 0);
    sp_msg_term(&m); /* frees the heap header */
    assert_int_equal(m.hdrlen, 0);
    assert_null(m.body);
}

static void test_msg_push_hdr_prepends_across_inline_and_heap(void **state)
{
    (void) state;
    struct sp_msg m;
    sp_msg_init(&m);
    uint8_t want[64];
    tu_fill(want, sizeof want, 3);
    /* Build the header back to front in pieces of 4, 8 and 20 bytes: every
       transition (inline->inline, inline->heap, heap->heap) happens. */
    size_t pieces[] = {4, 8, 20, 4, 28};
    size_t total = 0;
    for (size_t i = 0; i < TU_ARRAY_LEN(pieces); i++)
        total += pieces[i];
    assert_int_equal(total, 64);
    size_t start = total;
    for (size_t i = 0; i < TU_ARRAY_LEN(pieces); i++) {
        start -= pieces[i];
        assert_int_equal(sp_msg_push_hdr(&m, want + start, pieces[i]), 0);
        assert_int_equal(m.hdrlen, total - start);
        assert_memory_equal(sp_msg_hdr(&m), want + start, total - start);
    }
    sp_msg_term(&m);
}

static void test_msg_split_hdr_moves_body_prefix_to_header_end(void **state)
{
    (void) state;
    struct sp_msg m;
    make_body(&m, 10, 4);
    uint8_t body[10];
    memcpy(body, sp_msg_bodyp(&m), 10);
    assert_int_equal(sp_msg_set_hdr(&m, "H", 1), 0);
    assert_int_equal(sp_msg_split_hdr(&m, 4), 0);
    assert_int_equal(m.hdrlen, 5);
    assert_memory_equal(sp_msg_hdr(&m), "H", 1);
    assert_memory_equal(sp_msg_hdr(&m) + 1, body, 4);
    assert_int_equal(sp_msg_bodylen(&m), 6);
    assert_memory_equal(sp_msg_bodyp(&m), body + 4, 6);
    assert_int_equal(sp_msg_wirelen(&m), 11);
    sp_msg_term(&m);
}

static void test_msg_split_hdr_of_whole_body_leaves_empty_body(void **state)
{
    (void) state;
    struct sp_msg m;
    make_body(&m, 8, 5);
    uint8_t body[8];
    memcpy(body, sp_msg_bodyp(&m), 8);
    assert_int_equal(sp_msg_split_hdr(&m, 8), 0);
    assert_int_equal(sp_msg_bodylen(&m), 0);
    assert_int_equal(m.hdrlen, 8);
    assert_memory_equal(sp_msg_hdr(&m), body, 8);
    sp_msg_term(&m);
}

static void test_msg_split_hdr_beyond_body_fails_with_einval_and_changes_nothing(void **state)
{
    (void) state;
    struct sp_msg m;
    make_body(&m, 3, 6);
    assert_int_equal(sp_msg_set_hdr(&m, "ab", 2), 0);
    assert_int_equal(sp_msg_split_hdr(&m, 4), -EINVAL);
    assert_int_equal(m.hdrlen, 2);
    assert_memory_equal(sp_msg_hdr(&m), "ab", 2);
    assert_int_equal(sp_msg_bodylen(&m), 3);
    assert_true(tu_check_fill(sp_msg_bodyp(&m), 3, 6, 0));
    sp_msg_term(&m);

    struct sp_msg e;
    sp_msg_init(&e); /* no body at all */
    assert_int_equal(sp_msg_split_hdr(&e, 1), -EINVAL);
    assert_int_equal(sp_msg_split_hdr(&e, 0), 0);
    sp_msg_term(&e);
}

static void test_msg_split_hdr_grows_header_from_inline_to_heap(void **state)
{
    (void) state;
    /* REQ/REP backtraces: a header of 4-byte hops split off one by one. */
    struct sp_msg m;
    make_body(&m, 64, 7);
    uint8_t body[64];
    memcpy(body, sp_msg_bodyp(&m), 64);
    for (size_t hops = 1; hops <= 12; hops++) {
        assert_int_equal(sp_msg_split_hdr(&m, 4), 0);
        assert_int_equal(m.hdrlen, hops * 4);
        assert_memory_equal(sp_msg_hdr(&m), body, hops * 4);
        assert_int_equal(sp_msg_bodylen(&m), 64 - hops * 4);
        assert_memory_equal(sp_msg_bodyp(&m), body + hops * 4, 64 - hops * 4);
    }
    assert_ptr_not_equal(sp_msg_hdr(&m), m.hdr.inl);
    sp_msg_term(&m);
}

static void test_msg_split_hdr_of_shared_body_leaves_other_copy_unchanged(void **state)
{
    (void) state;
    struct sp_msg a, b;
    make_body(&a, 16, 8);
    assert_int_equal(sp_msg_dup(&b, &a), 0);
    assert_int_equal(sp_msg_split_hdr(&b, 8), 0);
    assert_int_equal(sp_msg_bodylen(&a), 16);
    assert_true(tu_check_fill(sp_msg_bodyp(&a), 16, 8, 0));
    assert_int_equal(a.hdrlen, 0);
    assert_int_equal(sp_msg_bodylen(&b), 8);
    assert_true(tu_check_fill(sp_msg_bodyp(&b), 8, 8, 8));
    sp_msg_term(&a);
    sp_msg_term(&b);
}

static void test_msg_dup_shares_body_and_copies_header(void **state)
{
    (void) state;
    struct sp_msg a, b;
    make_body(&a, 100, 9);
    uint8_t h[40];
    tu_fill(h, sizeof h, 10);
    assert_int_equal(sp_msg_set_hdr(&a, h, sizeof h), 0);
    a.ctrl = sp_chunk_alloc(16);
    assert_non_null(a.ctrl);
    assert_int_equal(sp_msg_dup(&b, &a), 0);
    assert_ptr_equal(b.body, a.body);
    assert_ptr_equal(b.ctrl, a.ctrl);
    assert_false(sp_chunk_exclusive(a.body));
    assert_int_equal(b.hdrlen, sizeof h);
    assert_ptr_not_equal(sp_msg_hdr(&b), sp_msg_hdr(&a));
    assert_memory_equal(sp_msg_hdr(&b), h, sizeof h);
    /* Headers are independent; the body lives on after one copy goes. */
    sp_msg_hdr(&b)[0] ^= 0xff;
    assert_memory_equal(sp_msg_hdr(&a), h, sizeof h);
    sp_msg_term(&a);
    assert_true(sp_chunk_valid(b.body));
    assert_true(sp_chunk_exclusive(b.body));
    assert_true(tu_check_fill(sp_msg_bodyp(&b), 100, 9, 0));
    sp_msg_term(&b);
}

static void test_msg_dup_of_empty_message_is_empty(void **state)
{
    (void) state;
    struct sp_msg a, b;
    sp_msg_init(&a);
    assert_int_equal(sp_msg_dup(&b, &a), 0);
    assert_null(b.body);
    assert_null(b.ctrl);
    assert_int_equal(b.hdrlen, 0);
    assert_int_equal(sp_msg_bodylen(&b), 0);
    sp_msg_term(&b);
}

static void test_msgq_pop_of_empty_queue_fails_with_eagain(void **state)
{
    (void) state;
    struct sp_msgq q;
    sp_msgq_init(&q);
    struct sp_msg m;
    assert_int_equal(sp_msgq_pop(&q, &m), -EAGAIN);
    assert_int_equal(q.count, 0);
    assert_int_equal(q.bytes, 0);
    sp_msgq_term(&q);
}

/* A message whose body is 4 bytes: its sequence number. */
static void make_numbered(struct sp_msg *m, uint32_t n, size_t hdrlen)
{
    assert_int_equal(sp_msg_init_size(m, 4 + n % 7), 0);
    memcpy(sp_msg_bodyp(m), &n, 4);
    uint8_t h[32] = {0};
    assert_true(hdrlen <= sizeof h);
    assert_int_equal(sp_msg_set_hdr(m, h, hdrlen), 0);
}

static uint32_t number_of(struct sp_msg *m)
{
    uint32_t n;
    memcpy(&n, sp_msg_bodyp(m), 4);
    return n;
}

static void test_msgq_keeps_fifo_order_and_byte_count_across_ring_growth(void **state)
{
    (void) state;
    struct sp_msgq q;
    sp_msgq_init(&q);
    uint32_t next_in = 0, next_out = 0;
    size_t bytes = 0;
    /* Interleave pushes and pops so that the ring has wrapped (head != 0)
       every time it grows. */
    for (int round = 0; round < 6; round++) {
        size_t push = 20u << round, pop = 9u << round;
        for (size_t i = 0; i < push; i++) {
            struct sp_msg m;
            make_numbered(&m, next_in, next_in % 30);
            size_t wl = sp_msg_wirelen(&m);
            assert_int_equal(sp_msgq_push(&q, &m), 0);
            /* Ownership moved: the caller's message is empty. */
            assert_null(m.body);
            assert_int_equal(m.hdrlen, 0);
            bytes += wl;
            next_in++;
            assert_int_equal(q.bytes, bytes);
            assert_int_equal(q.count, next_in - next_out);
        }
        for (size_t i = 0; i < pop; i++) {
            struct sp_msg m;
            assert_int_equal(sp_msgq_pop(&q, &m), 0);
            assert_int_equal(number_of(&m), next_out);
            assert_int_equal(m.hdrlen, next_out % 30);
            bytes -= sp_msg_wirelen(&m);
            next_out++;
            assert_int_equal(q.bytes, bytes);
            sp_msg_term(&m);
        }
        for (size_t i = 0; i < q.count; i++)
            assert_int_equal(number_of(sp_msgq_at(&q, i)), next_out + i);
    }
    while (next_out < next_in) {
        struct sp_msg m;
        assert_int_equal(sp_msgq_pop(&q, &m), 0);
        assert_int_equal(number_of(&m), next_out);
        next_out++;
        sp_msg_term(&m);
    }
    assert_int_equal(q.count, 0);
    assert_int_equal(q.bytes, 0);
    sp_msgq_term(&q);
}

static void test_msgq_term_frees_queued_messages(void **state)
{
    (void) state;
    /* LSan would report the bodies and heap headers if term leaked them. */
    struct sp_msgq q;
    sp_msgq_init(&q);
    for (uint32_t i = 0; i < 40; i++) {
        struct sp_msg m;
        make_numbered(&m, i, 30);
        assert_int_equal(sp_msgq_push(&q, &m), 0);
    }
    sp_msgq_term(&q);
    assert_int_equal(q.count, 0);
    assert_int_equal(q.bytes, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_msg_header_up_to_24_bytes_is_stored_inline),
        cmocka_unit_test(test_msg_header_over_24_bytes_is_stored_on_heap_and_freed),
        cmocka_unit_test(test_msg_push_hdr_prepends_across_inline_and_heap),
        cmocka_unit_test(test_msg_split_hdr_moves_body_prefix_to_header_end),
        cmocka_unit_test(test_msg_split_hdr_of_whole_body_leaves_empty_body),
        cmocka_unit_test(test_msg_split_hdr_beyond_body_fails_with_einval_and_changes_nothing),
        cmocka_unit_test(test_msg_split_hdr_grows_header_from_inline_to_heap),
        cmocka_unit_test(test_msg_split_hdr_of_shared_body_leaves_other_copy_unchanged),
        cmocka_unit_test(test_msg_dup_shares_body_and_copies_header),
        cmocka_unit_test(test_msg_dup_of_empty_message_is_empty),
        cmocka_unit_test(test_msgq_pop_of_empty_queue_fails_with_eagain),
        cmocka_unit_test(test_msgq_keeps_fifo_order_and_byte_count_across_ring_growth),
        cmocka_unit_test(test_msgq_term_frees_queued_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
