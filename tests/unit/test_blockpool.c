/* The block pool behind small chunks (core/blockpool): size classes 128 B ..
   4 KiB and exact lengths beyond, LIFO reuse on one thread, more than a
   magazine's worth round-tripping through the depot with nothing lost or
   handed out twice, a depot that stays bounded, blocks put on one thread
   served to another, non-class lengths going straight to free(), and the
   memory given back by sp_blockpool_drain and by a thread's exit.

   LeakSanitizer cannot tell whether the pool really lets go of memory:
   blocks sitting in the depot are reachable from a global and never count as
   leaks. Under ASan the tests therefore also read the allocator's count of
   live bytes (__sanitizer_get_current_allocated_bytes, which counts what the
   program asked for); plain builds skip those checks (glibc's tcache keeps
   freed blocks counted as in use). Between two readings the test thread
   makes no allocation of its own. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "core/blockpool.h"

#if TU_HAVE_ASAN
size_t __sanitizer_get_current_allocated_bytes(void);
static size_t live_bytes(void)
{
    return __sanitizer_get_current_allocated_bytes();
}
#endif

/* What the pool promises (core/blockpool.c). */
#define CLASS_MIN 128u
#define CLASS_MAX 4096u
#define NCLASS 6
#define MAG_MAX 64u                 /* blocks a thread keeps per class */
#define DEPOT_MAX_BYTES (1u << 20)  /* per class */

static size_t class_len(int c)
{
    return (size_t) CLASS_MIN << c;
}

/* The size class serving len (computed the slow way), or len itself. */
static size_t expected_got(size_t len)
{
    if (len > CLASS_MAX)
        return len;
    size_t c = CLASS_MIN;
    while (c < len)
        c *= 2;
    return c;
}

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) *(void *const *) a, y = (uintptr_t) *(void *const *) b;
    return x < y ? -1 : x > y;
}

/* True when the n pointers of v are all distinct and non-NULL (sorts v). */
static bool all_distinct(void **v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_ptr);
    for (size_t i = 0; i < n; i++)
        if (!v[i] || (i > 0 && v[i] == v[i - 1]))
            return false;
    return true;
}

/* Number of the n pointers of v found in the sorted array set[0..m). */
static size_t count_in(void *const *v, size_t n, void *const *set, size_t m)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (bsearch(&v[i], set, m, sizeof *set, cmp_ptr))
            k++;
    return k;
}

/* Gets n blocks of class length len, checking what get reports and writing
   each over its whole length. */
static void get_n(void **v, size_t n, size_t len)
{
    for (size_t i = 0; i < n; i++) {
        size_t got = 0;
        v[i] = sp_blockpool_get(len, &got);
        assert_non_null(v[i]);
        assert_int_equal(got, len);
        memset(v[i], (int) (i & 0xff), len);
    }
}

static void put_n(void **v, size_t n, size_t len)
{
    for (size_t i = 0; i < n; i++)
        sp_blockpool_put(v[i], len);
}

static void test_get_returns_the_size_class_up_to_4096_and_exactly_len_beyond(void **state)
{
    (void) state;
    for (size_t len = 1; len <= CLASS_MAX; len++) {
        size_t got = 0;
        unsigned char *b = sp_blockpool_get(len, &got);
        assert_non_null(b);
        assert_int_equal(got, expected_got(len));
        /* Writable over the whole reported length (ASan catches an
           overrun); the ends keep what was written. */
        memset(b, 0xa5, got);
        b[0] = 1;
        b[got - 1] = 2;
        assert_int_equal(b[0], 1);
        assert_int_equal(b[got - 1], 2);
        sp_blockpool_put(b, got);
    }
    /* Class boundaries, spelled out. */
    static const struct {
        size_t len, got;
    } edges[] = {
        {1, 128},     {128, 128},   {129, 256},   {256, 256},   {257, 512},   {512, 512},
        {513, 1024},  {1024, 1024}, {1025, 2048}, {2048, 2048}, {2049, 4096}, {4096, 4096},
        {4097, 4097}, {5000, 5000}, {8192, 8192}, {65536, 65536}, {1000000, 1000000},
    };
    for (size_t i = 0; i < TU_ARRAY_LEN(edges); i++) {
        size_t got = 0;
        unsigned char *b = sp_blockpool_get(edges[i].len, &got);
        assert_non_null(b);
        assert_int_equal(got, edges[i].got);
        memset(b, 0x5a, got);
        sp_blockpool_put(b, got);
    }
}

static void test_put_block_is_handed_out_again_by_the_next_get_of_its_class_lifo(void **state)
{
    (void) state;
    for (int c = 0; c < NCLASS; c++) {
        size_t len = class_len(c), got;
        void *a = sp_blockpool_get(len, &got);
        void *b = sp_blockpool_get(len, &got);
        assert_non_null(a);
        assert_non_null(b);
        assert_ptr_not_equal(a, b);
        sp_blockpool_put(a, len);
        sp_blockpool_put(b, len);
        /* Last in, first out. */
        assert_ptr_equal(sp_blockpool_get(len, &got), b);
        assert_int_equal(got, len);
        assert_ptr_equal(sp_blockpool_get(len, &got), a);
        /* Any length of the class is served from it: the smallest one... */
        sp_blockpool_put(a, len);
        size_t smallest = c == 0 ? 1 : class_len(c - 1) + 1;
        assert_ptr_equal(sp_blockpool_get(smallest, &got), a);
        assert_int_equal(got, len);
        memset(a, 0x11, got);
        /* ...but not a length of another class. */
        sp_blockpool_put(a, len);
        void *other = sp_blockpool_get(len == CLASS_MAX ? len / 2 : len * 2, &got);
        assert_ptr_not_equal(other, a);
        sp_blockpool_put(other, got);
        sp_blockpool_put(b, len);
    }
}

/* 200 blocks: three magazines' worth, so most of them move to the depot on
   put and come back from it on get (within the depot's bound for every
   class: 160 blocks of 4 KiB is under 1 MiB). */
#define ROUND_TRIP 200u

static void test_more_than_a_magazine_round_trips_through_the_depot_with_none_lost(void **state)
{
    (void) state;
    static void *first[ROUND_TRIP], *second[ROUND_TRIP];
    for (int c = 0; c < NCLASS; c++) {
        size_t len = class_len(c);
        /* An empty pool: every block of the first round is new. */
        sp_blockpool_drain();
        get_n(first, ROUND_TRIP, len);
        put_n(first, ROUND_TRIP, len);
#if TU_HAVE_ASAN
        size_t live = live_bytes();
#endif
        get_n(second, ROUND_TRIP, len);
#if TU_HAVE_ASAN
        /* All of them served by the pool: nothing new from malloc. */
        assert_int_equal(live_bytes(), live);
#endif
        /* No block handed out twice, and exactly the blocks put back. */
        assert_true(all_distinct(first, ROUND_TRIP));
        assert_true(all_distinct(second, ROUND_TRIP));
        assert_int_equal(count_in(second, ROUND_TRIP, first, ROUND_TRIP), ROUND_TRIP);
        assert_memory_equal(first, second, sizeof first);
        put_n(second, ROUND_TRIP, len);
    }
    sp_blockpool_drain();
}

/* Far more 4 KiB blocks than the depot takes (1 MiB per class). */
#define FLOOD 1000u

static void test_depot_is_bounded_and_blocks_beyond_it_are_freed(void **state)
{
    (void) state;
    static void *v[FLOOD];
    sp_blockpool_drain();
#if TU_HAVE_ASAN
    size_t base = live_bytes();
#endif
    get_n(v, FLOOD, CLASS_MAX);
    assert_true(all_distinct(v, FLOOD));
    put_n(v, FLOOD, CLASS_MAX);
#if TU_HAVE_ASAN
    /* What the pool holds: at most the depot's bound and one magazine. */
    size_t held = live_bytes() - base;
    assert_true(held <= DEPOT_MAX_BYTES + MAG_MAX * CLASS_MAX);
    assert_true(held >= CLASS_MAX);
#endif
    /* Getting them all again still gives distinct blocks. */
    get_n(v, FLOOD, CLASS_MAX);
    assert_true(all_distinct(v, FLOOD));
    put_n(v, FLOOD, CLASS_MAX);
    sp_blockpool_drain();
#if TU_HAVE_ASAN
    assert_int_equal(live_bytes(), base);
#endif
}

static void test_put_of_a_non_class_length_frees_the_block(void **state)
{
    (void) state;
    sp_blockpool_drain();
    static const size_t lens[] = {1000, 100, 129, 3000, 5000, 70000};
    for (size_t i = 0; i < TU_ARRAY_LEN(lens); i++) {
        void *b = malloc(lens[i]);
        assert_non_null(b);
        memset(b, 0x33, lens[i]);
#if TU_HAVE_ASAN
        size_t before = live_bytes();
#endif
        sp_blockpool_put(b, lens[i]);
#if TU_HAVE_ASAN
        /* Gone at once, not kept by the pool. */
        assert_int_equal(before - live_bytes(), lens[i]);
#endif
        /* Were it kept in the class it falls in, the next get of that class
           would hand it out and the write below would overrun it (ASan). */
        size_t got = 0;
        void *n = sp_blockpool_get(lens[i], &got);
        assert_non_null(n);
        memset(n, 0x44, got);
        sp_blockpool_put(n, got);
    }
    sp_blockpool_drain();
}

/* Cross-thread reuse. cmocka's assertions may only run on the main thread:
   the workers record what they saw and the test asserts after joining. */

#define XFER 300u
#define XFER_LEN 512u

struct xfer {
    void *blk[XFER];   /* A's blocks, handed to B */
    void *again[XFER]; /* what C got */
    size_t bad_got;    /* gets that returned NULL or the wrong length */
};

static void *xfer_get(void *arg)
{
    struct xfer *x = arg;
    for (size_t i = 0; i < XFER; i++) {
        size_t got = 0;
        x->blk[i] = sp_blockpool_get(XFER_LEN, &got);
        if (!x->blk[i] || got != XFER_LEN)
            x->bad_got++;
        else
            memset(x->blk[i], 0x77, XFER_LEN);
    }
    return NULL;
}

static void *xfer_put(void *arg)
{
    struct xfer *x = arg;
    for (size_t i = 0; i < XFER; i++)
        sp_blockpool_put(x->blk[i], XFER_LEN);
    return NULL;
}

static void *xfer_get_again(void *arg)
{
    struct xfer *x = arg;
    for (size_t i = 0; i < XFER; i++) {
        size_t got = 0;
        x->again[i] = sp_blockpool_get(XFER_LEN, &got);
        if (!x->again[i] || got != XFER_LEN)
            x->bad_got++;
        else
            memset(x->again[i], 0x66, XFER_LEN);
    }
    return NULL;
}

static void run_thread(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, fn, arg), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
}

static void test_blocks_put_on_one_thread_are_served_to_another(void **state)
{
    (void) state;
    static struct xfer x;
    memset(&x, 0, sizeof x);
    sp_blockpool_drain();
    /* A gets the blocks, B puts them and exits (its magazine goes back to
       malloc, its overflow stays in the depot), then C gets as many. */
    run_thread(xfer_get, &x);
    assert_int_equal(x.bad_got, 0);
    run_thread(xfer_put, &x);
    run_thread(xfer_get_again, &x);
    assert_int_equal(x.bad_got, 0);
    assert_true(all_distinct(x.blk, XFER));
    assert_true(all_distinct(x.again, XFER));
    /* Everything B passed to the depot went to C: all but what B's own
       magazine held when it exited (fewer than a magazine). */
    size_t reused = count_in(x.again, XFER, x.blk, XFER);
    assert_true(reused >= XFER - MAG_MAX);
    assert_true(reused <= XFER);
    /* The main thread gives them back and drains. */
    put_n(x.again, XFER, XFER_LEN);
    sp_blockpool_drain();
}

/* A thread that keeps blocks in its magazines (fewer than a magazine per
   class, so none reach the depot) and exits. */
static void *keep_and_exit(void *arg)
{
    size_t *bad = arg;
    void *v[MAG_MAX / 2];
    for (int c = 0; c < NCLASS; c++) {
        size_t len = class_len(c);
        for (size_t i = 0; i < TU_ARRAY_LEN(v); i++) {
            size_t got = 0;
            v[i] = sp_blockpool_get(len, &got);
            if (!v[i] || got != len)
                (*bad)++;
        }
        for (size_t i = 0; i < TU_ARRAY_LEN(v); i++)
            sp_blockpool_put(v[i], len);
    }
    return NULL;
}

static void *noop(void *arg)
{
    return arg;
}

static void test_a_thread_exit_frees_its_magazines(void **state)
{
    (void) state;
    size_t bad = 0;
    sp_blockpool_drain();
    /* A first thread so that whatever thread creation itself allocates and
       caches (glibc keeps exited threads' stacks) is in the baseline. */
    run_thread(noop, NULL);
#if TU_HAVE_ASAN
    size_t base = live_bytes();
#endif
    run_thread(keep_and_exit, &bad);
    assert_int_equal(bad, 0);
#if TU_HAVE_ASAN
    /* Its blocks and its magazine array went back when it exited; the
       depot got nothing. */
    assert_int_equal(live_bytes(), base);
#endif
}

static void test_drain_frees_the_depot_and_the_calling_threads_magazines(void **state)
{
    (void) state;
    static void *v[ROUND_TRIP];
    /* The calling thread's magazine array is made on its first use of the
       pool and lives until the thread exits: make sure it exists. */
    size_t got = 0;
    void *b = sp_blockpool_get(1, &got);
    assert_non_null(b);
    sp_blockpool_put(b, got);
    sp_blockpool_drain();
#if TU_HAVE_ASAN
    size_t base = live_bytes();
#endif
    /* Every class holds blocks, in the magazine and in the depot. */
    for (int c = 0; c < NCLASS; c++) {
        get_n(v, ROUND_TRIP, class_len(c));
        put_n(v, ROUND_TRIP, class_len(c));
    }
#if TU_HAVE_ASAN
    size_t held = 0;
    for (int c = 0; c < NCLASS; c++)
        held += ROUND_TRIP * class_len(c);
    assert_int_equal(live_bytes() - base, held);
#endif
    sp_blockpool_drain();
#if TU_HAVE_ASAN
    /* Nothing left behind. */
    assert_int_equal(live_bytes(), base);
#endif
    /* The pool still works after a drain, and a second drain is harmless. */
    get_n(v, ROUND_TRIP, CLASS_MIN);
    assert_true(all_distinct(v, ROUND_TRIP));
    put_n(v, ROUND_TRIP, CLASS_MIN);
    sp_blockpool_drain();
    sp_blockpool_drain();
#if TU_HAVE_ASAN
    assert_int_equal(live_bytes(), base);
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_returns_the_size_class_up_to_4096_and_exactly_len_beyond),
        cmocka_unit_test(test_put_block_is_handed_out_again_by_the_next_get_of_its_class_lifo),
        cmocka_unit_test(test_more_than_a_magazine_round_trips_through_the_depot_with_none_lost),
        cmocka_unit_test(test_depot_is_bounded_and_blocks_beyond_it_are_freed),
        cmocka_unit_test(test_put_of_a_non_class_length_frees_the_block),
        cmocka_unit_test(test_blocks_put_on_one_thread_are_served_to_another),
        cmocka_unit_test(test_a_thread_exit_frees_its_magazines),
        cmocka_unit_test(test_drain_frees_the_depot_and_the_calling_threads_magazines),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    /* Whatever the main thread's magazines still hold goes back before the
       leak check at exit. */
    sp_blockpool_drain();
    return rc;
}
