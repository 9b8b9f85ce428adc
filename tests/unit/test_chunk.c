/* Chunks: the refcounted buffers behind message bodies and NN_MSG pointers.
   Pins the header tag (the library's own consistency check; the public API
   refuses foreign pointers through core/appmsg.h instead, see
   test_appmsg.c), reference counting, realloc and the in-place trim that
   protocols use to split their headers off a received body. */
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

static void test_chunk_alloc_returns_8_aligned_valid_chunk_of_requested_size(void **state)
{
    (void) state;
    size_t sizes[] = {0, 1, 7, 8, 9, 100, 4096, 100000};
    for (size_t i = 0; i < TU_ARRAY_LEN(sizes); i++) {
        unsigned char *p = sp_chunk_alloc(sizes[i]);
        assert_non_null(p);
        assert_int_equal((uintptr_t) p & 7, 0);
        assert_true(sp_chunk_valid(p));
        assert_int_equal(sp_chunk_size(p), sizes[i]);
        assert_true(sp_chunk_exclusive(p));
        memset(p, 0x5a, sizes[i]); /* the whole size is writable (ASan checks) */
        sp_chunk_free(p);
    }
}

static void test_chunk_alloc_of_impossible_size_returns_null(void **state)
{
    (void) state;
    assert_null(sp_chunk_alloc(SIZE_MAX));
    assert_null(sp_chunk_alloc(SIZE_MAX - 64));
}

static void test_chunk_valid_rejects_null_and_low_addresses(void **state)
{
    (void) state;
    assert_false(sp_chunk_valid(NULL));
    assert_false(sp_chunk_valid((void *) (uintptr_t) 8));
    assert_false(sp_chunk_valid((void *) (uintptr_t) 4088));
}

/* Pointers into memory we own, so that the tag check reads nothing it may not. */
static _Alignas(16) unsigned char foreign_zero[512];
static _Alignas(16) unsigned char foreign_noise[512];

static void test_chunk_valid_rejects_foreign_pointers(void **state)
{
    (void) state;
    assert_false(sp_chunk_valid(foreign_zero + 256));
    tu_fill(foreign_noise, sizeof foreign_noise, 3);
    for (size_t off = 64; off < 256; off += 8)
        assert_false(sp_chunk_valid(foreign_noise + off));
    unsigned char *heap = malloc(512);
    assert_non_null(heap);
    tu_fill(heap, 512, 9);
    assert_false(sp_chunk_valid(heap + 256));
    free(heap);
}

static void test_chunk_valid_rejects_misaligned_and_interior_pointers(void **state)
{
    (void) state;
    unsigned char *p = sp_chunk_alloc(256);
    assert_non_null(p);
    memset(p, 0, 256);
    for (size_t off = 1; off < 8; off++)
        assert_false(sp_chunk_valid(p + off));
    for (size_t off = 8; off < 128; off += 8)
        assert_false(sp_chunk_valid(p + off));
    assert_true(sp_chunk_valid(p));
    sp_chunk_free(p);
}

static void test_chunk_valid_rejects_pointer_left_behind_by_in_place_trim(void **state)
{
    (void) state;
    /* The old data pointer stays inside the live allocation: a stale pointer
       that we can look at without touching freed memory. */
    unsigned char *p = sp_chunk_alloc(64);
    assert_non_null(p);
    unsigned char *q = sp_chunk_trim(p, 16);
    assert_ptr_equal(q, p + 16);
    assert_false(sp_chunk_valid(p));
    assert_true(sp_chunk_valid(q));
    sp_chunk_free(q);
}

#if TU_READS_FREED
static void test_chunk_valid_rejects_freed_chunk(void **state)
{
    (void) state;
    /* Reads freed memory on purpose (what nn_freemsg does on a double free);
       only in builds without ASan or TSan, which would rightly report it. */
    void *p = sp_chunk_alloc(4096);
    assert_non_null(p);
    sp_chunk_free(p);
    assert_false(sp_chunk_valid(p));
}
#endif

static void test_chunk_addref_keeps_chunk_alive_until_last_free(void **state)
{
    (void) state;
    unsigned char *p = sp_chunk_alloc(32);
    assert_non_null(p);
    tu_fill(p, 32, 1);
    sp_chunk_addref(p, 2);
    assert_false(sp_chunk_exclusive(p));
    sp_chunk_free(p);
    assert_true(sp_chunk_valid(p));
    assert_false(sp_chunk_exclusive(p));
    sp_chunk_free(p);
    assert_true(sp_chunk_valid(p));
    assert_true(sp_chunk_exclusive(p));
    assert_true(tu_check_fill(p, 32, 1, 0));
    sp_chunk_free(p); /* the last one: ASan/LSan see a leak or double free */
}

static void test_chunk_realloc_exclusive_shrink_keeps_pointer_and_content(void **state)
{
    (void) state;
    unsigned char *p = sp_chunk_alloc(1000);
    assert_non_null(p);
    tu_fill(p, 1000, 2);
    unsigned char *q = sp_chunk_realloc(p, 10);
    assert_ptr_equal(q, p);
    assert_int_equal(sp_chunk_size(q), 10);
    assert_true(tu_check_fill(q, 10, 2, 0));
    /* Growing back within the original capacity stays in place too. */
    q = sp_chunk_realloc(q, 1000);
    assert_ptr_equal(q, p);
    assert_int_equal(sp_chunk_size(q), 1000);
    assert_true(tu_check_fill(q, 10, 2, 0));
    sp_chunk_free(q);
}

static void test_chunk_realloc_grow_keeps_content(void **state)
{
    (void) state;
    unsigned char *p = sp_chunk_alloc(100);
    assert_non_null(p);
    tu_fill(p, 100, 4);
    unsigned char *q = sp_chunk_realloc(p, 100000);
    assert_non_null(q);
    assert_true(sp_chunk_valid(q));
    assert_true(sp_chunk_exclusive(q));
    assert_int_equal(sp_chunk_size(q), 100000);
    assert_true(tu_check_fill(q, 100, 4, 0));
    memset(q + 100, 0, 100000 - 100);
    sp_chunk_free(q);
}

static void test_chunk_realloc_of_shared_chunk_copies_and_drops_one_reference(void **state)
{
    (void) state;
    unsigned char *p = sp_chunk_alloc(64);
    assert_non_null(p);
    tu_fill(p, 64, 5);
    sp_chunk_addref(p, 1);
    /* Even a shrink must not change what the other holder sees. */
    unsigned char *q = sp_chunk_realloc(p, 16);
    assert_non_null(q);
    assert_ptr_not_equal(q, p);
    assert_int_equal(sp_chunk_size(q), 16);
    assert_true(tu_check_fill(q, 16, 5, 0));
    assert_true(sp_chunk_exclusive(q));
    assert_true(sp_chunk_valid(p));
    assert_true(sp_chunk_exclusive(p));
    assert_int_equal(sp_chunk_size(p), 64);
    assert_true(tu_check_fill(p, 64, 5, 0));
    sp_chunk_free(p);
    sp_chunk_free(q);
}

static void test_chunk_realloc_of_impossible_size_fails_and_leaves_chunk_intact(void **state)
{
    (void) state;
    unsigned char *p = sp_chunk_alloc(40);
    assert_non_null(p);
    tu_fill(p, 40, 6);
    assert_null(sp_chunk_realloc(p, SIZE_MAX - 8));
    assert_true(sp_chunk_valid(p));
    assert_int_equal(sp_chunk_size(p), 40);
    assert_true(tu_check_fill(p, 40, 6, 0));
    sp_chunk_free(p);
}

static void test_chunk_trim_by_multiple_of_8_on_exclusive_chunk_is_in_place(void **state)
{
    (void) state;
    unsigned char *p = sp_chunk_alloc(100);
    assert_non_null(p);
    tu_fill(p, 100, 7);
    unsigned char *q = sp_chunk_trim(p, 24);
    assert_ptr_equal(q, p + 24);
    assert_true(sp_chunk_valid(q));
    assert_int_equal(sp_chunk_size(q), 76);
    assert_true(tu_check_fill(q, 76, 7, 24));
    /* Twice in a row: the allocation start is still found when freeing. */
    unsigned char *r = sp_chunk_trim(q, 8);
    assert_ptr_equal(r, p + 32);
    assert_int_equal(sp_chunk_size(r), 68);
    assert_true(tu_check_fill(r, 68, 7, 32));
    sp_chunk_free(r);
}

static void test_chunk_trim_by_unaligned_count_copies_with_right_content(void **state)
{
    (void) state;
    for (size_t n = 1; n < 24; n++) {
        if (n % 8 == 0)
            continue;
        unsigned char *p = sp_chunk_alloc(50);
        assert_non_null(p);
        tu_fill(p, 50, 8);
        unsigned char *q = sp_chunk_trim(p, n);
        assert_non_null(q);
        assert_ptr_not_equal(q, p + n);
        assert_int_equal((uintptr_t) q & 7, 0);
        assert_true(sp_chunk_valid(q));
        assert_int_equal(sp_chunk_size(q), 50 - n);
        assert_true(tu_check_fill(q, 50 - n, 8, n));
        sp_chunk_free(q);
    }
}

static void test_chunk_trim_of_shared_chunk_copies_and_leaves_other_holder_intact(void **state)
{
    (void) state;
    unsigned char *p = sp_chunk_alloc(48);
    assert_non_null(p);
    tu_fill(p, 48, 9);
    sp_chunk_addref(p, 1);
    unsigned char *q = sp_chunk_trim(p, 16);
    assert_non_null(q);
    assert_ptr_not_equal(q, p + 16);
    assert_int_equal(sp_chunk_size(q), 32);
    assert_true(tu_check_fill(q, 32, 9, 16));
    assert_true(sp_chunk_valid(p));
    assert_true(sp_chunk_exclusive(p));
    assert_int_equal(sp_chunk_size(p), 48);
    assert_true(tu_check_fill(p, 48, 9, 0));
    sp_chunk_free(p);
    sp_chunk_free(q);
}

static void test_chunk_trim_of_zero_returns_same_chunk(void **state)
{
    (void) state;
    unsigned char *p = sp_chunk_alloc(10);
    assert_non_null(p);
    assert_ptr_equal(sp_chunk_trim(p, 0), p);
    assert_int_equal(sp_chunk_size(p), 10);
    sp_chunk_free(p);
}

static void test_chunk_trim_beyond_size_leaves_empty_chunk(void **state)
{
    (void) state;
    unsigned char *p = sp_chunk_alloc(16);
    assert_non_null(p);
    unsigned char *q = sp_chunk_trim(p, 1000);
    assert_non_null(q);
    assert_true(sp_chunk_valid(q));
    assert_int_equal(sp_chunk_size(q), 0);
    sp_chunk_free(q);
}

static void test_chunk_realloc_after_in_place_trim_keeps_content(void **state)
{
    (void) state;
    unsigned char *p = sp_chunk_alloc(64);
    assert_non_null(p);
    tu_fill(p, 64, 10);
    unsigned char *q = sp_chunk_trim(p, 16);
    assert_ptr_equal(q, p + 16);
    /* Within what is left of the allocation: in place. */
    unsigned char *r = sp_chunk_realloc(q, 48);
    assert_ptr_equal(r, q);
    assert_true(tu_check_fill(r, 48, 10, 16));
    /* Beyond it: moved, content kept, the whole old allocation released. */
    unsigned char *s = sp_chunk_realloc(r, 5000);
    assert_non_null(s);
    assert_true(sp_chunk_valid(s));
    assert_int_equal(sp_chunk_size(s), 5000);
    assert_true(tu_check_fill(s, 48, 10, 16));
    sp_chunk_free(s);
}

static void test_chunk_shrink_only_reduces_visible_size(void **state)
{
    (void) state;
    unsigned char *p = sp_chunk_alloc(100);
    assert_non_null(p);
    sp_chunk_shrink(p, 40);
    assert_int_equal(sp_chunk_size(p), 40);
    sp_chunk_shrink(p, 80);
    assert_int_equal(sp_chunk_size(p), 40);
    sp_chunk_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunk_alloc_returns_8_aligned_valid_chunk_of_requested_size),
        cmocka_unit_test(test_chunk_alloc_of_impossible_size_returns_null),
        cmocka_unit_test(test_chunk_valid_rejects_null_and_low_addresses),
        cmocka_unit_test(test_chunk_valid_rejects_foreign_pointers),
        cmocka_unit_test(test_chunk_valid_rejects_misaligned_and_interior_pointers),
        cmocka_unit_test(test_chunk_valid_rejects_pointer_left_behind_by_in_place_trim),
#if TU_READS_FREED
        cmocka_unit_test(test_chunk_valid_rejects_freed_chunk),
#endif
        cmocka_unit_test(test_chunk_addref_keeps_chunk_alive_until_last_free),
        cmocka_unit_test(test_chunk_realloc_exclusive_shrink_keeps_pointer_and_content),
        cmocka_unit_test(test_chunk_realloc_grow_keeps_content),
        cmocka_unit_test(test_chunk_realloc_of_shared_chunk_copies_and_drops_one_reference),
        cmocka_unit_test(test_chunk_realloc_of_impossible_size_fails_and_leaves_chunk_intact),
        cmocka_unit_test(test_chunk_trim_by_multiple_of_8_on_exclusive_chunk_is_in_place),
        cmocka_unit_test(test_chunk_trim_by_unaligned_count_copies_with_right_content),
        cmocka_unit_test(test_chunk_trim_of_shared_chunk_copies_and_leaves_other_holder_intact),
        cmocka_unit_test(test_chunk_trim_of_zero_returns_same_chunk),
        cmocka_unit_test(test_chunk_trim_beyond_size_leaves_empty_chunk),
        cmocka_unit_test(test_chunk_realloc_after_in_place_trim_keeps_content),
        cmocka_unit_test(test_chunk_shrink_only_reduces_visible_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
