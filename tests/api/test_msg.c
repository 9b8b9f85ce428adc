/* nn_allocmsg / nn_reallocmsg / nn_freemsg: library-owned message chunks. */
#include "apitest.h"

#include <nanomsg/pair.h>

static void test_allocmsg_returns_writable_chunk_of_requested_size(void **state)
{
    (void) state;
    size_t sizes[] = {1, 10, 31, 32, 33, 4096, 1 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *p = nn_allocmsg(sizes[i], 0);
        assert_non_null(p);
        memset(p, 0xab, sizes[i]);
        assert_int_equal(p[sizes[i] - 1], 0xab);
        assert_int_equal(nn_freemsg(p), 0);
    }
}

static void test_allocmsg_of_zero_bytes_returns_a_chunk(void **state)
{
    (void) state;
    void *p = nn_allocmsg(0, 0);
    assert_non_null(p);
    assert_int_equal(nn_freemsg(p), 0);
}

static void test_allocmsg_with_nonzero_type_fails_with_einval(void **state)
{
    (void) state;
    errno = 0;
    assert_null(nn_allocmsg(10, 1));
    assert_int_equal(nn_errno(), EINVAL);
    errno = 0;
    assert_null(nn_allocmsg(10, -1));
    assert_int_equal(nn_errno(), EINVAL);
    errno = 0;
    assert_null(nn_allocmsg(0, 12345));
    assert_int_equal(nn_errno(), EINVAL);
}

static void test_allocmsg_of_impossible_size_fails_with_enomem(void **state)
{
    (void) state;
    errno = 0;
    assert_null(nn_allocmsg(SIZE_MAX, 0));
    assert_int_equal(nn_errno(), ENOMEM);
    errno = 0;
    assert_null(nn_allocmsg(SIZE_MAX - 8, 0));
    assert_int_equal(nn_errno(), ENOMEM);
}

static void test_reallocmsg_shrink_keeps_pointer_and_content(void **state)
{
    (void) state;
    char *p = nn_allocmsg(100, 0);
    assert_non_null(p);
    for (int i = 0; i < 100; i++)
        p[i] = (char) i;
    char *q = nn_reallocmsg(p, 10);
    assert_ptr_equal(q, p);
    for (int i = 0; i < 10; i++)
        assert_int_equal(q[i], i);
    assert_int_equal(nn_freemsg(q), 0);
}

static void test_reallocmsg_grow_keeps_content(void **state)
{
    (void) state;
    char *p = nn_allocmsg(10, 0);
    assert_non_null(p);
    memcpy(p, "0123456789", 10);
    char *q = nn_reallocmsg(p, 100000);
    assert_non_null(q);
    assert_memory_equal(q, "0123456789", 10);
    memset(q + 10, 'x', 100000 - 10); /* the whole new size is writable */
    char *r = nn_reallocmsg(q, 200000);
    assert_non_null(r);
    assert_memory_equal(r, "0123456789", 10);
    assert_int_equal(r[99999], 'x');
    assert_int_equal(nn_freemsg(r), 0);
}

static void test_reallocmsg_of_impossible_size_fails_with_enomem_and_keeps_chunk(void **state)
{
    (void) state;
    char *p = nn_allocmsg(16, 0);
    assert_non_null(p);
    memcpy(p, "keep me", 8);
    errno = 0;
    assert_null(nn_reallocmsg(p, SIZE_MAX));
    assert_int_equal(nn_errno(), ENOMEM);
    assert_string_equal(p, "keep me");
    assert_int_equal(nn_freemsg(p), 0);
}

static void test_received_chunk_can_be_reallocated_and_freed(void **state)
{
    (void) state;
    int a, b;
    api_inproc_pair(NN_PAIR, NN_PAIR, &a, &b);
    api_set_int(a, NN_SOL_SOCKET, NN_RCVTIMEO, API_DEADLINE_MS);
    api_set_int(b, NN_SOL_SOCKET, NN_SNDTIMEO, API_DEADLINE_MS);
    char big[1000];
    memset(big, 'q', sizeof big);
    assert_int_equal(nn_send(b, big, sizeof big, 0), (int) sizeof big);
    char *m = NULL;
    assert_int_equal(nn_recv(a, &m, NN_MSG, 0), (int) sizeof big);
    assert_non_null(m);
    char *g = nn_reallocmsg(m, 5000);
    assert_non_null(g);
    assert_memory_equal(g, big, sizeof big);
    memset(g + 1000, 'r', 4000);
    char *s = nn_reallocmsg(g, 3);
    assert_ptr_equal(s, g);
    assert_memory_equal(s, "qqq", 3);
    assert_int_equal(nn_freemsg(s), 0);
}

static void test_reallocated_chunk_can_be_sent_zero_copy(void **state)
{
    (void) state;
    int a, b;
    api_inproc_pair(NN_PAIR, NN_PAIR, &a, &b);
    api_set_int(a, NN_SOL_SOCKET, NN_RCVTIMEO, API_DEADLINE_MS);
    api_set_int(b, NN_SOL_SOCKET, NN_SNDTIMEO, API_DEADLINE_MS);
    char *p = nn_allocmsg(3, 0);
    memcpy(p, "abc", 3);
    p = nn_reallocmsg(p, 6);
    assert_non_null(p);
    memcpy(p + 3, "def", 3);
    /* The message size follows the chunk size, i.e. the last realloc. */
    assert_int_equal(nn_send(b, &p, NN_MSG, 0), 6);
    char buf[16];
    assert_int_equal(nn_recv(a, buf, sizeof buf, 0), 6);
    assert_memory_equal(buf, "abcdef", 6);
}

#ifndef AGAINST_LIBNANOMSG
/* libnanomsg 1.1.5 aborts on a pointer it did not allocate (tag assertion);
   we return -1 / EFAULT as nn_freemsg(3) documents. */
static unsigned char foreign_area[512];

static void test_freemsg_of_foreign_pointer_fails_with_efault(void **state)
{
    (void) state;
    assert_nn_fail(nn_freemsg(foreign_area + 256), EFAULT);
    unsigned char *heap = calloc(1, 512);
    assert_non_null(heap);
    assert_nn_fail(nn_freemsg(heap + 256), EFAULT);
    free(heap);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        api_test(test_allocmsg_returns_writable_chunk_of_requested_size),
        api_test(test_allocmsg_of_zero_bytes_returns_a_chunk),
        api_test(test_allocmsg_with_nonzero_type_fails_with_einval),
        api_test(test_allocmsg_of_impossible_size_fails_with_enomem),
        api_test(test_reallocmsg_shrink_keeps_pointer_and_content),
        api_test(test_reallocmsg_grow_keeps_content),
        api_test(test_reallocmsg_of_impossible_size_fails_with_enomem_and_keeps_chunk),
        api_test(test_received_chunk_can_be_reallocated_and_freed),
        api_test(test_reallocated_chunk_can_be_sent_zero_copy),
#ifndef AGAINST_LIBNANOMSG
        api_test(test_freemsg_of_foreign_pointer_fails_with_efault),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
