/* nn_allocmsg / nn_reallocmsg / nn_freemsg: library-owned message chunks. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include <nanomsg/pair.h>
#include <nanomsg/reqrep.h>

#include "testutil.h"

/* Sizes around every allocation class of both libraries: inline bodies
   (< 32 bytes in libnanomsg), our pool classes (128 B .. 4 KiB), the
   block cache (>= 32 KiB) and plain malloc. */
static const size_t size_classes[] = {0,    1,    7,    8,     31,    32,    33,    100,   127,     128,
                                      129,  1000, 2000, 4000,  4096,  5000,  32768, 40000, 1 << 20};

static void fill(char *p, size_t n, char seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (char) (seed + i % 61);
}

static void check(const char *p, size_t n, char seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (char) (seed + i % 61))
            fail_msg("byte %zu of %zu differs", i, n);
}

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
    tu_inproc_pair(NN_PAIR, NN_PAIR, &a, &b);
    tu_setint(a, NN_SOL_SOCKET, NN_RCVTIMEO, TU_DEADLINE_MS);
    tu_setint(b, NN_SOL_SOCKET, NN_SNDTIMEO, TU_DEADLINE_MS);
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
    tu_inproc_pair(NN_PAIR, NN_PAIR, &a, &b);
    tu_setint(a, NN_SOL_SOCKET, NN_RCVTIMEO, TU_DEADLINE_MS);
    tu_setint(b, NN_SOL_SOCKET, NN_SNDTIMEO, TU_DEADLINE_MS);
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

/* libnanomsg: a message keeps its pointer while it shrinks or keeps its
   size, and gets a new one (allocate, copy, free) whenever it grows past
   its current size, whatever room its buffer had. Programs compare the two
   pointers to know whether the old one is still theirs. */
static void test_reallocmsg_keeps_pointer_unless_growing_past_current_size_in_every_size_class(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof size_classes / sizeof size_classes[0]; i++) {
        size_t n = size_classes[i];
        char *p = nn_allocmsg(n, 0);
        assert_non_null(p);
        fill(p, n, 'a');
        char *same = nn_reallocmsg(p, n);
        assert_ptr_equal(same, p);
        char *half = nn_reallocmsg(same, n / 2);
        assert_ptr_equal(half, p);
        check(half, n / 2, 'a');
        /* One byte more than now, though the buffer still holds n. */
        char *regrown = nn_reallocmsg(half, n / 2 + 1);
        assert_non_null(regrown);
        assert_ptr_not_equal(regrown, half);
#ifndef AGAINST_LIBNANOMSG
        /* The old pointer is no longer a message (libnanomsg aborts). Checked
           at once: a later allocation may be given the same address. */
        assert_nn_fail(nn_freemsg(half), EFAULT);
#endif
        check(regrown, n / 2, 'a');
        fill(regrown, n / 2 + 1, 'b');
        char *big = nn_reallocmsg(regrown, 2 * n + 100);
        assert_non_null(big);
        assert_ptr_not_equal(big, regrown);
#ifndef AGAINST_LIBNANOMSG
        errno = 0;
        assert_null(nn_reallocmsg(regrown, 1));
        assert_int_equal(nn_errno(), EFAULT);
#endif
        check(big, n / 2 + 1, 'b');
        memset(big + n / 2 + 1, 'z', 2 * n + 100 - (n / 2 + 1)); /* all of it is writable */
        assert_int_equal(nn_freemsg(big), 0);
    }
}

/* Received messages follow the same rule. */
static void expect_received_message_moves_on_growth(int rcv, size_t n)
{
    char *m = NULL;
    assert_int_equal(nn_recv(rcv, &m, NN_MSG, 0), (int) n);
    check(m, n, 'r');
    char *same = nn_reallocmsg(m, n);
    assert_ptr_equal(same, m);
    char *grown = nn_reallocmsg(m, n + 1);
    assert_non_null(grown);
    assert_ptr_not_equal(grown, m);
    check(grown, n, 'r');
    char *shrunk = nn_reallocmsg(grown, n / 2);
    assert_ptr_equal(shrunk, grown);
    check(shrunk, n / 2, 'r');
    assert_int_equal(nn_freemsg(shrunk), 0);
}

static void test_received_message_moves_when_it_grows_and_stays_when_it_shrinks(void **state)
{
    (void) state;
    const size_t sizes[] = {10, 100, 10000, 100000};
    int a, b;
    tu_inproc_pair(NN_PAIR, NN_PAIR, &a, &b);
    tu_setint(a, NN_SOL_SOCKET, NN_RCVTIMEO, TU_DEADLINE_MS);
    tu_setint(b, NN_SOL_SOCKET, NN_SNDTIMEO, TU_DEADLINE_MS);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *body = malloc(sizes[i]);
        assert_non_null(body);
        fill(body, sizes[i], 'r');
        assert_int_equal(nn_send(b, body, sizes[i], 0), (int) sizes[i]);
        expect_received_message_moves_on_growth(a, sizes[i]);
        free(body);
    }
}

#ifndef AGAINST_LIBNANOMSG
/* Also when the protocol's header left room in front of the body (a request
   received by REP): libnanomsg grows such a message into that room when the
   growth fits (4 bytes here), returns the same pointer and breaks the
   chunk, so that nn_freemsg aborts later; we move it like any other. */
static void test_request_received_by_rep_moves_when_it_grows(void **state)
{
    (void) state;
    const size_t sizes[] = {10, 100, 10000, 100000};
    char url[64];
    tu_tcp_url(url, sizeof url, tu_free_port());
    int rep = tu_socket_default(AF_SP, NN_REP), req = tu_socket_default(AF_SP, NN_REQ);
    tu_setint(rep, NN_SOL_SOCKET, NN_RCVTIMEO, TU_DEADLINE_MS);
    tu_setint(req, NN_SOL_SOCKET, NN_SNDTIMEO, TU_DEADLINE_MS);
    assert_nn_ok(nn_bind(rep, url));
    assert_nn_ok(nn_connect(req, url));
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *body = malloc(sizes[i]);
        assert_non_null(body);
        fill(body, sizes[i], 'r');
        assert_int_equal(nn_send(req, body, sizes[i], 0), (int) sizes[i]);
        expect_received_message_moves_on_growth(rep, sizes[i]);
        free(body);
        /* REQ waits for a reply before its next request. */
        assert_int_equal(nn_send(rep, "ok", 2, 0), 2);
        char ok[4];
        tu_setint(req, NN_SOL_SOCKET, NN_RCVTIMEO, TU_DEADLINE_MS);
        assert_int_equal(nn_recv(req, ok, sizeof ok, 0), 2);
    }
}
#endif

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

/* Every way the application hands a pointer back, on p: all must give
   EFAULT, and none may read a byte at or before p. */
static void expect_all_refuse(void *p)
{
    assert_nn_fail(nn_freemsg(p), EFAULT);
    errno = 0;
    assert_null(nn_reallocmsg(p, 10));
    assert_int_equal(nn_errno(), EFAULT);
    int a, b;
    tu_inproc_pair(NN_PAIR, NN_PAIR, &a, &b);
    void *body = p;
    assert_nn_fail(nn_send(a, &body, NN_MSG, NN_DONTWAIT), EFAULT);
    /* An NN_MSG control chunk that is not a message is not read either. */
    void *control = p;
    struct nn_iovec iov = {"x", 1};
    struct nn_msghdr hdr = {&iov, 1, &control, NN_MSG};
    assert_null(NN_CMSG_FIRSTHDR(&hdr));
    assert_int_equal(nn_sendmsg(a, &hdr, NN_DONTWAIT), 1);
    char got[4];
    assert_int_equal(nn_recv(b, got, sizeof got, NN_DONTWAIT), 1);
    assert_int_equal(nn_close(a), 0);
    assert_int_equal(nn_close(b), 0);
}

static void test_pointer_just_past_an_unmapped_page_gives_efault_not_a_crash(void **state)
{
    (void) state;
    long page = sysconf(_SC_PAGESIZE);
    char *two = mmap(NULL, (size_t) page * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(two != MAP_FAILED);
    assert_int_equal(munmap(two, (size_t) page), 0);
    char *p = two + page;
    for (size_t off = 0; off <= 64; off += 8)
        expect_all_refuse(p + off);
    /* A pointer into memory that cannot be read at all. */
    assert_int_equal(mprotect(p, (size_t) page, PROT_NONE), 0);
    expect_all_refuse(p + 256);
    assert_int_equal(munmap(p, (size_t) page), 0);
    /* And one into nothing. */
    expect_all_refuse(p + 128);
}

static void test_stack_pointer_gives_efault(void **state)
{
    (void) state;
    char local[256];
    memset(local, 0x6e, sizeof local);
    expect_all_refuse(local + 64);
}

static void test_pointer_into_a_message_gives_efault_and_the_message_lives_on(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof size_classes / sizeof size_classes[0]; i++) {
        size_t n = size_classes[i];
        if (n < 128)
            continue;
        char *p = nn_allocmsg(n, 0);
        assert_non_null(p);
        fill(p, n, 'm');
        const size_t offs[] = {1, 8, 16, 64, n / 2, n - 8};
        for (size_t k = 0; k < sizeof offs / sizeof offs[0]; k++)
            expect_all_refuse(p + offs[k]);
        check(p, n, 'm');
        assert_int_equal(nn_freemsg(p), 0);
    }
}

static void test_double_free_and_use_after_send_give_efault(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof size_classes / sizeof size_classes[0]; i++) {
        void *p = nn_allocmsg(size_classes[i], 0);
        assert_non_null(p);
        assert_int_equal(nn_freemsg(p), 0);
        assert_nn_fail(nn_freemsg(p), EFAULT);
        errno = 0;
        assert_null(nn_reallocmsg(p, 1));
        assert_int_equal(nn_errno(), EFAULT);
    }
    /* After a successful send the message is the library's. */
    int a, b;
    tu_inproc_pair(NN_PAIR, NN_PAIR, &a, &b);
    void *m = nn_allocmsg(5, 0);
    assert_non_null(m);
    memcpy(m, "hello", 5);
    void *sent = m;
    assert_int_equal(nn_send(a, &m, NN_MSG, 0), 5);
    assert_nn_fail(nn_freemsg(sent), EFAULT);
    /* A send that fails leaves it with the caller. */
    void *keep = nn_allocmsg(3, 0);
    assert_non_null(keep);
    void *k = keep;
    assert_int_equal(nn_close(b), 0);
    assert_nn_fail(nn_send(a, &k, NN_MSG, NN_DONTWAIT), EAGAIN);
    assert_int_equal(nn_freemsg(keep), 0);
    assert_int_equal(nn_close(a), 0);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        tu_test(test_allocmsg_returns_writable_chunk_of_requested_size),
        tu_test(test_allocmsg_of_zero_bytes_returns_a_chunk),
        tu_test(test_allocmsg_with_nonzero_type_fails_with_einval),
        tu_test(test_allocmsg_of_impossible_size_fails_with_enomem),
        tu_test(test_reallocmsg_shrink_keeps_pointer_and_content),
        tu_test(test_reallocmsg_grow_keeps_content),
        tu_test(test_reallocmsg_of_impossible_size_fails_with_enomem_and_keeps_chunk),
        tu_test(test_received_chunk_can_be_reallocated_and_freed),
        tu_test(test_reallocated_chunk_can_be_sent_zero_copy),
        tu_test(test_reallocmsg_keeps_pointer_unless_growing_past_current_size_in_every_size_class),
        tu_test(test_received_message_moves_when_it_grows_and_stays_when_it_shrinks),
#ifndef AGAINST_LIBNANOMSG
        tu_test(test_request_received_by_rep_moves_when_it_grows),
        tu_test(test_freemsg_of_foreign_pointer_fails_with_efault),
        tu_test(test_pointer_just_past_an_unmapped_page_gives_efault_not_a_crash),
        tu_test(test_stack_pointer_gives_efault),
        tu_test(test_pointer_into_a_message_gives_efault_and_the_message_lives_on),
        tu_test(test_double_free_and_use_after_send_give_efault),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
