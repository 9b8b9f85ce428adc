/* The SPSC message ring behind inproc: FIFO order across node boundaries
   (SP_MSGRING_NODE messages per node) with bodies and headers intact, -EAGAIN
   and sp_msgring_ready on an empty ring, the producer's view of what is
   queued (sp_msgring_fill: exact when fresh, never an understatement when
   stale), the consumer's view (sp_msgring_left: exact while the producer is
   idle), term freeing what is still queued (LSan), and a producer thread and
   a consumer thread moving 200000 numbered messages with nothing lost,
   duplicated or reordered. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "core/chunk.h"
#include "core/msg.h"
#include "core/msgring.h"

/* Message n: a body of 4 + n % 13 bytes starting with n and followed by a
   pattern seeded by n, and an SP header of hdrlen pattern bytes (inline up to
   24, on the heap beyond). */
static void make_numbered(struct sp_msg *m, uint32_t n, size_t hdrlen)
{
    size_t len = 4 + n % 13;
    sp_msg_init(m);
    m->body = sp_chunk_alloc(len);
    assert_non_null(m->body);
    memcpy(m->body, &n, 4);
    tu_fill((uint8_t *) m->body + 4, len - 4, n);
    if (hdrlen) {
        uint8_t h[64];
        assert_true(hdrlen <= sizeof h);
        tu_fill(h, hdrlen, n + 1000);
        assert_int_equal(sp_msg_set_hdr(m, h, hdrlen), 0);
    }
}

static size_t numbered_wirelen(uint32_t n, size_t hdrlen)
{
    return 4 + n % 13 + hdrlen;
}

/* Checks that m is exactly what make_numbered(m, n, hdrlen) built. */
static void check_numbered(struct sp_msg *m, uint32_t n, size_t hdrlen)
{
    assert_non_null(m->body);
    assert_true(sp_chunk_valid(m->body));
    assert_int_equal(sp_msg_bodylen(m), 4 + n % 13);
    uint32_t got;
    memcpy(&got, m->body, 4);
    assert_int_equal(got, n);
    assert_true(tu_check_fill((uint8_t *) m->body + 4, n % 13, n, 0));
    assert_int_equal(m->hdrlen, hdrlen);
    if (hdrlen)
        assert_true(tu_check_fill(sp_msg_hdr(m), hdrlen, n + 1000, 0));
    assert_null(m->ctrl);
}

static size_t hdrlen_of(uint32_t n)
{
    /* 0, inline sizes and heap sizes in turn. */
    static const size_t lens[] = {0, 8, 24, 25, 4, 40};
    return lens[n % TU_ARRAY_LEN(lens)];
}

static void push_numbered(struct sp_msgring *r, uint32_t n)
{
    struct sp_msg m;
    make_numbered(&m, n, hdrlen_of(n));
    assert_int_equal(sp_msgring_push(r, &m), 0);
    /* Ownership moved: the caller's message is empty. */
    assert_null(m.body);
    assert_null(m.ctrl);
    assert_int_equal(m.hdrlen, 0);
}

static void pop_numbered(struct sp_msgring *r, uint32_t n)
{
    struct sp_msg m;
    assert_int_equal(sp_msgring_pop(r, &m), 0);
    check_numbered(&m, n, hdrlen_of(n));
    sp_msg_term(&m);
}

static void test_msgring_pop_of_empty_ring_fails_with_eagain_and_ready_is_false(void **state)
{
    (void) state;
    struct sp_msgring r;
    assert_int_equal(sp_msgring_init(&r), 0);
    struct sp_msg m;
    sp_msg_init(&m);
    assert_false(sp_msgring_ready(&r));
    assert_int_equal(sp_msgring_pop(&r, &m), -EAGAIN);
    assert_int_equal(sp_msgring_pop(&r, &m), -EAGAIN);
    assert_null(m.body);

    push_numbered(&r, 7);
    assert_true(sp_msgring_ready(&r));
    assert_true(sp_msgring_ready(&r)); /* asking does not consume */
    pop_numbered(&r, 7);

    /* Empty again, also after the ring has been used. */
    assert_false(sp_msgring_ready(&r));
    assert_int_equal(sp_msgring_pop(&r, &m), -EAGAIN);
    sp_msgring_term(&r);
}

static void test_msgring_ready_turns_true_after_push_and_false_after_last_pop(void **state)
{
    (void) state;
    struct sp_msgring r;
    assert_int_equal(sp_msgring_init(&r), 0);
    /* Across a node boundary: ready is true exactly while messages remain. */
    const uint32_t total = SP_MSGRING_NODE + 2;
    for (uint32_t i = 0; i < total; i++) {
        push_numbered(&r, i);
        assert_true(sp_msgring_ready(&r));
    }
    for (uint32_t i = 0; i < total; i++) {
        assert_true(sp_msgring_ready(&r));
        pop_numbered(&r, i);
    }
    assert_false(sp_msgring_ready(&r));
    sp_msgring_term(&r);
}

static void test_msgring_keeps_fifo_order_and_content_across_node_boundaries(void **state)
{
    (void) state;
    struct sp_msgring r;
    assert_int_equal(sp_msgring_init(&r), 0);
    /* Five full nodes and a partial sixth, pushed all at once: the consumer
       walks the node links the producer made. */
    const uint32_t total = 5 * SP_MSGRING_NODE + 3;
    for (uint32_t i = 0; i < total; i++)
        push_numbered(&r, i);
    for (uint32_t i = 0; i < total; i++)
        pop_numbered(&r, i);
    struct sp_msg m;
    assert_int_equal(sp_msgring_pop(&r, &m), -EAGAIN);

    /* Exactly full nodes (the producer's index sits at the end of a node):
       the next push links a new node and the order still holds. */
    const uint32_t base = total;
    const uint32_t full = 2 * SP_MSGRING_NODE;
    for (uint32_t i = 0; i < full; i++)
        push_numbered(&r, base + i);
    for (uint32_t i = 0; i < full; i++)
        pop_numbered(&r, base + i);
    assert_false(sp_msgring_ready(&r));
    push_numbered(&r, base + full);
    pop_numbered(&r, base + full);
    assert_int_equal(sp_msgring_pop(&r, &m), -EAGAIN);
    sp_msgring_term(&r);
}

static void test_msgring_interleaved_push_pop_reuses_nodes_and_keeps_order(void **state)
{
    (void) state;
    struct sp_msgring r;
    assert_int_equal(sp_msgring_init(&r), 0);
    /* A short queue (1 to 4 messages) over many node boundaries: the retired
       node goes to the spare slot and the producer takes it back, so a reuse
       that corrupted a link or a slot would show up as a wrong message. */
    uint32_t next_in = 0, next_out = 0;
    for (unsigned round = 0; round < 40 * SP_MSGRING_NODE; round++) {
        unsigned npush = 1 + round % 3;
        for (unsigned k = 0; k < npush; k++)
            push_numbered(&r, next_in++);
        while (next_in - next_out > 1 + round % 4)
            pop_numbered(&r, next_out++);
    }
    while (next_out < next_in)
        pop_numbered(&r, next_out++);
    assert_true(next_in > 40 * SP_MSGRING_NODE);
    assert_false(sp_msgring_ready(&r));
    sp_msgring_term(&r);
}

static void test_msgring_carries_empty_body_messages(void **state)
{
    (void) state;
    struct sp_msgring r;
    assert_int_equal(sp_msgring_init(&r), 0);
    /* A message with no body (NULL) and only a header, and one with nothing
       at all, count their header bytes and come out unchanged. */
    struct sp_msg m;
    sp_msg_init(&m);
    uint8_t h[4] = {1, 2, 3, 4};
    assert_int_equal(sp_msg_set_hdr(&m, h, sizeof h), 0);
    assert_int_equal(sp_msgring_push(&r, &m), 0);
    sp_msg_init(&m);
    assert_int_equal(sp_msgring_push(&r, &m), 0);

    uint64_t count, bytes;
    sp_msgring_fill(&r, true, &count, &bytes);
    assert_int_equal(count, 2);
    assert_int_equal(bytes, 4);

    assert_int_equal(sp_msgring_pop(&r, &m), 0);
    assert_null(m.body);
    assert_int_equal(m.hdrlen, 4);
    assert_memory_equal(sp_msg_hdr(&m), h, 4);
    sp_msg_term(&m);
    assert_int_equal(sp_msgring_pop(&r, &m), 0);
    assert_null(m.body);
    assert_int_equal(m.hdrlen, 0);
    assert_int_equal(sp_msgring_pop(&r, &m), -EAGAIN);
    sp_msgring_term(&r);
}

static void test_msgring_fill_fresh_reports_count_and_wire_bytes_not_yet_popped(void **state)
{
    (void) state;
    struct sp_msgring r;
    assert_int_equal(sp_msgring_init(&r), 0);
    uint64_t count, bytes;
    sp_msgring_fill(&r, true, &count, &bytes);
    assert_int_equal(count, 0);
    assert_int_equal(bytes, 0);

    uint64_t want_bytes = 0;
    const uint32_t total = 3 * SP_MSGRING_NODE + 5;
    for (uint32_t i = 0; i < total; i++) {
        push_numbered(&r, i);
        want_bytes += numbered_wirelen(i, hdrlen_of(i));
        /* The producer's own pushes count at once, fresh or not. */
        sp_msgring_fill(&r, false, &count, &bytes);
        assert_int_equal(count, i + 1);
        assert_int_equal(bytes, want_bytes);
        sp_msgring_fill(&r, true, &count, &bytes);
        assert_int_equal(count, i + 1);
        assert_int_equal(bytes, want_bytes);
    }
    for (uint32_t i = 0; i < total; i++) {
        pop_numbered(&r, i);
        want_bytes -= numbered_wirelen(i, hdrlen_of(i));
        sp_msgring_fill(&r, true, &count, &bytes);
        assert_int_equal(count, total - i - 1);
        assert_int_equal(bytes, want_bytes);
    }
    assert_int_equal(want_bytes, 0);
    sp_msgring_term(&r);
}

static void test_msgring_fill_stale_never_understates_after_pops(void **state)
{
    (void) state;
    struct sp_msgring r;
    assert_int_equal(sp_msgring_init(&r), 0);
    uint64_t queued = 0, queued_bytes = 0;
    uint32_t next_in = 0, next_out = 0;
    uint64_t count, bytes;
    for (unsigned round = 0; round < 6; round++) {
        for (unsigned k = 0; k < 20; k++) {
            queued_bytes += numbered_wirelen(next_in, hdrlen_of(next_in));
            push_numbered(&r, next_in++);
            queued++;
        }
        /* The producer looks once (fresh), then the consumer pops behind its
           back: the stale view still reports what the fresh one did. */
        sp_msgring_fill(&r, true, &count, &bytes);
        assert_int_equal(count, queued);
        assert_int_equal(bytes, queued_bytes);
        uint64_t seen_count = count, seen_bytes = bytes;
        for (unsigned k = 0; k < 13; k++) {
            queued_bytes -= numbered_wirelen(next_out, hdrlen_of(next_out));
            pop_numbered(&r, next_out++);
            queued--;
            sp_msgring_fill(&r, false, &count, &bytes);
            assert_true(count >= queued);
            assert_true(bytes >= queued_bytes);
            assert_int_equal(count, seen_count);
            assert_int_equal(bytes, seen_bytes);
        }
        /* A push without a fresh read: the stale view grows by exactly it. */
        uint64_t wl = numbered_wirelen(next_in, hdrlen_of(next_in));
        push_numbered(&r, next_in++);
        queued++;
        queued_bytes += wl;
        sp_msgring_fill(&r, false, &count, &bytes);
        assert_int_equal(count, seen_count + 1);
        assert_int_equal(bytes, seen_bytes + wl);
        assert_true(count >= queued);
        assert_true(bytes >= queued_bytes);
        /* A fresh read catches up exactly. */
        sp_msgring_fill(&r, true, &count, &bytes);
        assert_int_equal(count, queued);
        assert_int_equal(bytes, queued_bytes);
    }
    while (next_out < next_in)
        pop_numbered(&r, next_out++);
    sp_msgring_fill(&r, false, &count, &bytes);
    assert_true(count > 0); /* stale: still the last fresh view */
    sp_msgring_fill(&r, true, &count, &bytes);
    assert_int_equal(count, 0);
    assert_int_equal(bytes, 0);
    sp_msgring_term(&r);
}

static void test_msgring_left_reports_exactly_what_is_queued_when_producer_idle(void **state)
{
    (void) state;
    struct sp_msgring r;
    assert_int_equal(sp_msgring_init(&r), 0);
    uint64_t count, bytes;
    sp_msgring_left(&r, &count, &bytes);
    assert_int_equal(count, 0);
    assert_int_equal(bytes, 0);

    uint64_t queued = 0, queued_bytes = 0;
    uint32_t next_in = 0, next_out = 0;
    for (unsigned round = 0; round < 8; round++) {
        /* The consumer caches the producer's count through ready, then the
           producer pushes more: left re-reads and sees all of them. */
        (void) sp_msgring_ready(&r);
        unsigned npush = 7 + round * 5;
        for (unsigned k = 0; k < npush; k++) {
            queued_bytes += numbered_wirelen(next_in, hdrlen_of(next_in));
            push_numbered(&r, next_in++);
            queued++;
        }
        sp_msgring_left(&r, &count, &bytes);
        assert_int_equal(count, queued);
        assert_int_equal(bytes, queued_bytes);
        unsigned npop = 3 + round * 4;
        for (unsigned k = 0; k < npop && next_out < next_in; k++) {
            queued_bytes -= numbered_wirelen(next_out, hdrlen_of(next_out));
            pop_numbered(&r, next_out++);
            queued--;
            sp_msgring_left(&r, &count, &bytes);
            assert_int_equal(count, queued);
            assert_int_equal(bytes, queued_bytes);
        }
    }
    assert_true(next_in > 2 * SP_MSGRING_NODE);
    while (next_out < next_in)
        pop_numbered(&r, next_out++);
    sp_msgring_left(&r, &count, &bytes);
    assert_int_equal(count, 0);
    assert_int_equal(bytes, 0);
    sp_msgring_term(&r);
}

static void test_msgring_term_frees_queued_messages_and_nodes(void **state)
{
    (void) state;
    /* LSan would report the bodies, the heap headers and the nodes if term
       leaked them: several full nodes, a partial one, and a retired node in
       the spare slot (some messages popped first). */
    struct sp_msgring r;
    assert_int_equal(sp_msgring_init(&r), 0);
    const uint32_t total = 4 * SP_MSGRING_NODE + 9;
    for (uint32_t i = 0; i < total; i++)
        push_numbered(&r, i);
    for (uint32_t i = 0; i < SP_MSGRING_NODE + 2; i++)
        pop_numbered(&r, i);
    sp_msgring_term(&r);

    /* A ring never used, and one whose every message was popped. */
    assert_int_equal(sp_msgring_init(&r), 0);
    sp_msgring_term(&r);
    assert_int_equal(sp_msgring_init(&r), 0);
    push_numbered(&r, 1);
    pop_numbered(&r, 1);
    sp_msgring_term(&r);
}

/* Two threads: cmocka's assertions may only run on the main thread, so the
   workers record what went wrong and the test asserts after joining. */

#define STRESS_MESSAGES 200000u
#define STRESS_MAX_QUEUED 4096u /* producer-side flow control through fill */

struct stress {
    struct sp_msgring ring;
    /* Producer's results (read by the main thread after the join). */
    int push_err;
    int alloc_err;
    atomic_bool producer_failed; /* tells the consumer to stop waiting */
    int fill_err;        /* a fresh fill above what was pushed */
    /* Consumer's results. */
    uint32_t received;
    uint32_t first_bad;  /* index of the first wrong message */
    uint32_t bad_value;  /* what it carried */
    int bad;
    int left_err;        /* a left above what the producer could have pushed */
};

static void *stress_producer(void *arg)
{
    struct stress *s = arg;
    for (uint32_t i = 0; i < STRESS_MESSAGES; i++) {
        /* Flow control the way inproc does it: stale view first, a fresh
           read only when the stale one says the ring is full. The view only
           overstates, so this can wait too long but never too little. */
        uint64_t count, bytes;
        sp_msgring_fill(&s->ring, false, &count, &bytes);
        while (count >= STRESS_MAX_QUEUED) {
            sched_yield();
            sp_msgring_fill(&s->ring, true, &count, &bytes);
            if (count > i)
                s->fill_err = 1;
        }
        struct sp_msg m;
        sp_msg_init(&m);
        size_t len = 4 + i % 9;
        m.body = sp_chunk_alloc(len);
        if (!m.body) {
            s->alloc_err = 1;
            atomic_store(&s->producer_failed, true);
            break;
        }
        memcpy(m.body, &i, 4);
        memset((uint8_t *) m.body + 4, (int) (i & 0xff), len - 4);
        if (sp_msgring_push(&s->ring, &m) != 0) {
            sp_msg_term(&m);
            s->push_err = 1;
            atomic_store(&s->producer_failed, true);
            break;
        }
    }
    return NULL;
}

static void *stress_consumer(void *arg)
{
    struct stress *s = arg;
    uint32_t expect = 0;
    while (expect < STRESS_MESSAGES && !s->bad) {
        struct sp_msg m;
        int rc = sp_msgring_pop(&s->ring, &m);
        if (rc == -EAGAIN) {
            /* Empty for now: spin, unless the producer gave up (its error
               is asserted by the main thread after the join). No bound on
               the spins, so the outcome never depends on timing. */
            uint64_t count, bytes;
            sp_msgring_left(&s->ring, &count, &bytes);
            if (count > STRESS_MESSAGES - expect)
                s->left_err = 1;
            if (atomic_load(&s->producer_failed))
                break;
            sched_yield();
            continue;
        }
        if (rc != 0) {
            s->bad = 1;
            s->first_bad = expect;
            s->bad_value = (uint32_t) rc;
            break;
        }
        uint32_t n = UINT32_MAX;
        size_t len = sp_msg_bodylen(&m);
        if (len >= 4)
            memcpy(&n, m.body, 4);
        bool ok = n == expect && len == 4 + expect % 9 && m.hdrlen == 0;
        for (size_t k = 4; ok && k < len; k++)
            ok = ((uint8_t *) m.body)[k] == (uint8_t) (expect & 0xff);
        sp_msg_term(&m);
        if (!ok) {
            s->bad = 1;
            s->first_bad = expect;
            s->bad_value = n;
            break;
        }
        expect++;
    }
    s->received = expect;
    return NULL;
}

static void test_msgring_two_threads_deliver_every_message_once_in_order(void **state)
{
    (void) state;
    /* Static: the ring is aligned to cache lines (64), beyond malloc's. */
    static struct stress st;
    struct stress *s = &st;
    memset(s, 0, sizeof *s);
    atomic_init(&s->producer_failed, false);
    assert_int_equal(sp_msgring_init(&s->ring), 0);
    pthread_t prod, cons;
    assert_int_equal(pthread_create(&cons, NULL, stress_consumer, s), 0);
    assert_int_equal(pthread_create(&prod, NULL, stress_producer, s), 0);
    assert_int_equal(pthread_join(prod, NULL), 0);
    assert_int_equal(pthread_join(cons, NULL), 0);

    assert_int_equal(s->push_err, 0);
    assert_int_equal(s->alloc_err, 0);
    if (s->bad)
        fail_msg("message %u: got %u", s->first_bad, s->bad_value);
    assert_int_equal(s->received, STRESS_MESSAGES);
    assert_int_equal(s->fill_err, 0);
    assert_int_equal(s->left_err, 0);

    /* Nothing extra: both views agree the ring is empty. */
    struct sp_msg m;
    assert_int_equal(sp_msgring_pop(&s->ring, &m), -EAGAIN);
    uint64_t count, bytes;
    sp_msgring_left(&s->ring, &count, &bytes);
    assert_int_equal(count, 0);
    assert_int_equal(bytes, 0);
    sp_msgring_fill(&s->ring, true, &count, &bytes);
    assert_int_equal(count, 0);
    assert_int_equal(bytes, 0);
    sp_msgring_term(&s->ring);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_msgring_pop_of_empty_ring_fails_with_eagain_and_ready_is_false),
        cmocka_unit_test(test_msgring_ready_turns_true_after_push_and_false_after_last_pop),
        cmocka_unit_test(test_msgring_keeps_fifo_order_and_content_across_node_boundaries),
        cmocka_unit_test(test_msgring_interleaved_push_pop_reuses_nodes_and_keeps_order),
        cmocka_unit_test(test_msgring_carries_empty_body_messages),
        cmocka_unit_test(test_msgring_fill_fresh_reports_count_and_wire_bytes_not_yet_popped),
        cmocka_unit_test(test_msgring_fill_stale_never_understates_after_pops),
        cmocka_unit_test(test_msgring_left_reports_exactly_what_is_queued_when_producer_idle),
        cmocka_unit_test(test_msgring_term_frees_queued_messages_and_nodes),
        cmocka_unit_test(test_msgring_two_threads_deliver_every_message_once_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
