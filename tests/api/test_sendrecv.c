/* nn_send / nn_recv / nn_sendmsg / nn_recvmsg: argument checks, zero-copy
   NN_MSG chunks, scatter/gather, truncation, empty messages, non-blocking
   and timed-out calls, and who owns a chunk after a failed send. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>

#include "testutil.h"

static void test_send_and_recv_copy_message_between_pair_sockets(void **state)
{
    (void) state;
    int a, b;
    tu_inproc_pair_bounded(NN_PAIR, NN_PAIR, &a, &b);
    assert_int_equal(nn_send(a, "hello", 5, 0), 5);
    char buf[16];
    assert_int_equal(nn_recv(b, buf, sizeof buf, 0), 5);
    assert_memory_equal(buf, "hello", 5);
    assert_int_equal(nn_send(b, "world!", 6, 0), 6);
    assert_int_equal(nn_recv(a, buf, sizeof buf, 0), 6);
    assert_memory_equal(buf, "world!", 6);
}

static void test_send_and_recv_on_bad_socket_fail_with_ebadf(void **state)
{
    (void) state;
    char buf[4];
    struct nn_iovec iov = {buf, sizeof buf};
    struct nn_msghdr hdr = {&iov, 1, NULL, 0};
    assert_nn_fail(nn_send(-1, "a", 1, 0), EBADF);
    assert_nn_fail(nn_recv(-1, buf, sizeof buf, 0), EBADF);
    assert_nn_fail(nn_sendmsg(NN_MAX_SOCKETS, &hdr, 0), EBADF);
    assert_nn_fail(nn_recvmsg(0, &hdr, 0), EBADF);
    /* The socket is looked up before the arguments are checked. */
    assert_nn_fail(nn_sendmsg(0, NULL, 0), EBADF);
    assert_nn_fail(nn_recvmsg(0, NULL, 0), EBADF);
}

static void test_sendmsg_and_recvmsg_with_null_header_fail_with_einval(void **state)
{
    (void) state;
    int a, b;
    tu_inproc_pair_bounded(NN_PAIR, NN_PAIR, &a, &b);
    assert_nn_fail(nn_sendmsg(a, NULL, 0), EINVAL);
    assert_nn_fail(nn_recvmsg(a, NULL, 0), EINVAL);
    assert_nn_fail(nn_sendmsg(a, NULL, NN_DONTWAIT), EINVAL);
}

static void test_negative_iovlen_fails_with_emsgsize(void **state)
{
    (void) state;
    int a, b;
    tu_inproc_pair_bounded(NN_PAIR, NN_PAIR, &a, &b);
    char buf[4];
    struct nn_iovec iov = {buf, sizeof buf};
    struct nn_msghdr hdr = {&iov, -1, NULL, 0};
    assert_nn_fail(nn_sendmsg(a, &hdr, 0), EMSGSIZE);
    assert_nn_fail(nn_recvmsg(a, &hdr, 0), EMSGSIZE);
}

static void test_send_of_null_buffer_with_length_fails_with_efault(void **state)
{
    (void) state;
    int a, b;
    tu_inproc_pair_bounded(NN_PAIR, NN_PAIR, &a, &b);
    assert_nn_fail(nn_send(a, NULL, 5, 0), EFAULT);
    struct nn_iovec iov[2] = {{"ab", 2}, {NULL, 1}};
    struct nn_msghdr hdr = {iov, 2, NULL, 0};
    assert_nn_fail(nn_sendmsg(a, &hdr, 0), EFAULT);
    /* Nothing was sent. */
    char buf[8];
    assert_nn_fail(nn_recv(b, buf, sizeof buf, NN_DONTWAIT), EAGAIN);
}

static void test_send_of_null_zero_copy_chunk_fails_with_efault(void **state)
{
    (void) state;
    int a, b;
    tu_inproc_pair_bounded(NN_PAIR, NN_PAIR, &a, &b);
    void *chunk = NULL;
    assert_nn_fail(nn_send(a, &chunk, NN_MSG, 0), EFAULT);
    struct nn_iovec iov = {&chunk, NN_MSG};
    struct nn_msghdr hdr = {&iov, 1, NULL, 0};
    assert_nn_fail(nn_sendmsg(a, &hdr, 0), EFAULT);
}

static void test_nn_msg_among_several_send_iovecs_fails_with_einval(void **state)
{
    (void) state;
    int a, b;
    tu_inproc_pair_bounded(NN_PAIR, NN_PAIR, &a, &b);
    void *chunk = nn_allocmsg(4, 0);
    assert_non_null(chunk);
    struct nn_iovec iov[2] = {{"ab", 2}, {&chunk, NN_MSG}};
    struct nn_msghdr hdr = {iov, 2, NULL, 0};
    assert_nn_fail(nn_sendmsg(a, &hdr, 0), EINVAL);
    /* The caller still owns the chunk. */
    assert_int_equal(nn_freemsg(chunk), 0);
}

static void test_send_iovecs_whose_lengths_overflow_fail_with_einval(void **state)
{
    (void) state;
    int a, b;
    tu_inproc_pair_bounded(NN_PAIR, NN_PAIR, &a, &b);
    char buf[4] = "abc";
    struct nn_iovec iov[2] = {{buf, SIZE_MAX - 2}, {buf, 4}};
    struct nn_msghdr hdr = {iov, 2, NULL, 0};
    assert_nn_fail(nn_sendmsg(a, &hdr, 0), EINVAL);
}

static void test_zero_copy_send_and_recv_transfer_chunks(void **state)
{
    (void) state;
    int a, b;
    tu_inproc_pair_bounded(NN_PAIR, NN_PAIR, &a, &b);
    size_t sizes[] = {1, 31, 32, 33, 100, 70000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t sz = sizes[i];
        unsigned char *out = nn_allocmsg(sz, 0);
        assert_non_null(out);
        for (size_t j = 0; j < sz; j++)
            out[j] = (unsigned char) (j * 7 + i);
        void *sent = out;
        assert_int_equal(nn_send(a, &out, NN_MSG, 0), (int) sz);
        /* The caller's pointer variable is left as it was. */
        assert_ptr_equal(out, sent);

        unsigned char *in = NULL;
        assert_int_equal(nn_recv(b, &in, NN_MSG, 0), (int) sz);
        assert_non_null(in);
        for (size_t j = 0; j < sz; j++)
            assert_int_equal(in[j], (unsigned char) (j * 7 + i));
        assert_int_equal(nn_freemsg(in), 0);
    }
}

static void test_copied_message_can_be_received_as_chunk_and_vice_versa(void **state)
{
    (void) state;
    int a, b;
    tu_inproc_pair_bounded(NN_PAIR, NN_PAIR, &a, &b);
    assert_int_equal(nn_send(a, "copy in", 7, 0), 7);
    char *in = NULL;
    assert_int_equal(nn_recv(b, &in, NN_MSG, 0), 7);
    assert_memory_equal(in, "copy in", 7);
    /* A received chunk can be sent on as it is. */
    assert_int_equal(nn_send(b, &in, NN_MSG, 0), 7);
    char buf[16];
    assert_int_equal(nn_recv(a, buf, sizeof buf, 0), 7);
    assert_memory_equal(buf, "copy in", 7);
}

static void test_recvmsg_with_single_nn_msg_iovec_returns_chunk(void **state)
{
    (void) state;
    int a, b;
    tu_inproc_pair_bounded(NN_PAIR, NN_PAIR, &a, &b);
    tu_send(a, "via recvmsg");
    void *chunk = NULL;
    struct nn_iovec iov = {&chunk, NN_MSG};
    struct nn_msghdr hdr = {&iov, 1, NULL, 0};
    assert_int_equal(nn_recvmsg(b, &hdr, 0), 11);
    assert_memory_equal(chunk, "via recvmsg", 11);
    assert_int_equal(nn_freemsg(chunk), 0);
}

static void test_sendmsg_gathers_iovecs_into_one_message(void **state)
{
    (void) state;
    int a, b;
    tu_inproc_pair_bounded(NN_PAIR, NN_PAIR, &a, &b);
    struct nn_iovec iov[4] = {{"AB", 2}, {"", 0}, {"CDE", 3}, {NULL, 0}};
    struct nn_msghdr hdr = {iov, 4, NULL, 0};
    assert_int_equal(nn_sendmsg(a, &hdr, 0), 5);
    char buf[16];
    assert_int_equal(nn_recv(b, buf, sizeof buf, 0), 5);
    assert_memory_equal(buf, "ABCDE", 5);
}

static void test_recvmsg_scatters_message_over_iovecs(void **state)
{
    (void) state;
    int a, b;
    tu_inproc_pair_bounded(NN_PAIR, NN_PAIR, &a, &b);
    tu_send(a, "0123456789");
    char x[3], y[1], z[10];
    memset(z, '.', sizeof z);
    struct nn_iovec iov[3] = {{x, 3}, {y, 0}, {z, sizeof z}};
    struct nn_msghdr hdr = {iov, 3, NULL, 0};
    assert_int_equal(nn_recvmsg(b, &hdr, 0), 10);
    assert_memory_equal(x, "012", 3);
    assert_memory_equal(z, "3456789...", 10);
}

static void test_truncating_recv_returns_full_message_length(void **state)
{
    (void) state;
    int a, b;
    tu_inproc_pair_bounded(NN_PAIR, NN_PAIR, &a, &b);
    tu_send(a, "0123456789");
    char buf[8];
    memset(buf, '.', sizeof buf);
    assert_int_equal(nn_recv(b, buf, 4, 0), 10);
    assert_memory_equal(buf, "0123....", 8);
    /* The rest of the message is gone, not delivered later. */
    assert_nn_fail(nn_recv(b, buf, sizeof buf, NN_DONTWAIT), EAGAIN);

    tu_send(a, "abcdef");
    char p[2], q[2];
    struct nn_iovec iov[2] = {{p, 2}, {q, 2}};
    struct nn_msghdr hdr = {iov, 2, NULL, 0};
    assert_int_equal(nn_recvmsg(b, &hdr, 0), 6);
    assert_memory_equal(p, "ab", 2);
    assert_memory_equal(q, "cd", 2);
}

static void test_recv_into_zero_length_buffer_consumes_message(void **state)
{
    (void) state;
    int a, b;
    tu_inproc_pair_bounded(NN_PAIR, NN_PAIR, &a, &b);
    tu_send(a, "abc");
    assert_int_equal(nn_recv(b, NULL, 0, 0), 3);
    struct nn_msghdr hdr = {NULL, 0, NULL, 0};
    tu_send(a, "defg");
    assert_int_equal(nn_recvmsg(b, &hdr, 0), 4);
    char buf[4];
    assert_nn_fail(nn_recv(b, buf, sizeof buf, NN_DONTWAIT), EAGAIN);
}

static void test_empty_message_is_delivered(void **state)
{
    (void) state;
    int a, b;
    tu_inproc_pair_bounded(NN_PAIR, NN_PAIR, &a, &b);
    assert_int_equal(nn_send(a, "", 0, 0), 0);
    assert_int_equal(nn_send(a, NULL, 0, 0), 0);
    struct nn_msghdr hdr = {NULL, 0, NULL, 0};
    assert_int_equal(nn_sendmsg(a, &hdr, 0), 0);
    void *chunk = nn_allocmsg(0, 0);
    assert_int_equal(nn_send(a, &chunk, NN_MSG, 0), 0);
    char buf[4];
    for (int i = 0; i < 3; i++)
        assert_int_equal(nn_recv(b, buf, sizeof buf, 0), 0);
    void *in = NULL;
    assert_int_equal(nn_recv(b, &in, NN_MSG, 0), 0);
    assert_non_null(in);
    assert_int_equal(nn_freemsg(in), 0);
    assert_nn_fail(nn_recv(b, buf, sizeof buf, NN_DONTWAIT), EAGAIN);
}

static void test_messages_arrive_in_order(void **state)
{
    (void) state;
    int a, b;
    tu_inproc_pair_bounded(NN_PAIR, NN_PAIR, &a, &b);
    for (int i = 0; i < 50; i++)
        assert_int_equal(nn_send(a, &i, sizeof i, 0), (int) sizeof i);
    for (int i = 0; i < 50; i++) {
        int v = -1;
        assert_int_equal(nn_recv(b, &v, sizeof v, 0), (int) sizeof v);
        assert_int_equal(v, i);
    }
}

static void test_recv_with_dontwait_and_nothing_queued_fails_with_eagain(void **state)
{
    (void) state;
    int a, b;
    tu_inproc_pair_bounded(NN_PAIR, NN_PAIR, &a, &b);
    char buf[4];
    assert_nn_fail(nn_recv(b, buf, sizeof buf, NN_DONTWAIT), EAGAIN);
    int lone = tu_socket_default(AF_SP, NN_PULL);
    assert_nn_fail(nn_recv(lone, buf, sizeof buf, NN_DONTWAIT), EAGAIN);
}

static void test_send_with_dontwait_and_no_peer_fails_with_eagain(void **state)
{
    (void) state;
    int pair = tu_socket_default(AF_SP, NN_PAIR);
    int push = tu_socket_default(AF_SP, NN_PUSH);
    assert_nn_fail(nn_send(pair, "x", 1, NN_DONTWAIT), EAGAIN);
    assert_nn_fail(nn_send(push, "x", 1, NN_DONTWAIT), EAGAIN);
    /* Bits other than NN_DONTWAIT do not change that. */
    assert_nn_fail(nn_send(push, "x", 1, NN_DONTWAIT | 0x100), EAGAIN);
}

static void test_rcvtimeo_zero_fails_with_etimedout_not_eagain(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_PULL);
    tu_setint(s, NN_SOL_SOCKET, NN_RCVTIMEO, 0);
    char buf[4];
    assert_nn_fail(nn_recv(s, buf, sizeof buf, 0), ETIMEDOUT);
    /* NN_DONTWAIT still wins with EAGAIN. */
    assert_nn_fail(nn_recv(s, buf, sizeof buf, NN_DONTWAIT), EAGAIN);
}

static void test_sndtimeo_zero_fails_with_etimedout_not_eagain(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_PAIR);
    tu_setint(s, NN_SOL_SOCKET, NN_SNDTIMEO, 0);
    assert_nn_fail(nn_send(s, "x", 1, 0), ETIMEDOUT);
    assert_nn_fail(nn_send(s, "x", 1, NN_DONTWAIT), EAGAIN);
}

static void test_rcvtimeo_expires_after_the_timeout(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_PULL);
    tu_setint(s, NN_SOL_SOCKET, NN_RCVTIMEO, 200);
    char buf[4];
    uint64_t t0 = tu_now_ms();
    assert_nn_fail(nn_recv(s, buf, sizeof buf, 0), ETIMEDOUT);
    uint64_t dt = tu_now_ms() - t0;
    assert_in_range(dt, 199, 200 + 2000);
}

static void test_sndtimeo_expires_after_the_timeout(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_PUSH);
    tu_setint(s, NN_SOL_SOCKET, NN_SNDTIMEO, 200);
    uint64_t t0 = tu_now_ms();
    assert_nn_fail(nn_send(s, "x", 1, 0), ETIMEDOUT);
    uint64_t dt = tu_now_ms() - t0;
    assert_in_range(dt, 199, 200 + 2000);
}

static void test_blocked_recv_returns_when_message_arrives(void **state)
{
    (void) state;
    int a, b;
    tu_inproc_pair_bounded(NN_PAIR, NN_PAIR, &a, &b);
    tu_setint(b, NN_SOL_SOCKET, NN_RCVTIMEO, 30000);
    tu_thread t;
    struct tu_blocked blk;
    assert_true(tu_blocked_start(&t, &blk, b, -1, TU_OP_RECV));
    tu_send(a, "late");
    assert_true(tu_wait_until(tu_blocked_is_done, &blk, TU_DEADLINE_MS));
    tu_thread_join(&t);
    assert_int_equal(blk.rc, 4);
    assert_memory_equal(blk.buf, "late", 4);
}

static void test_blocked_send_returns_when_peer_connects(void **state)
{
    (void) state;
    char addr[64];
    tu_inproc_url(addr, sizeof addr, "apitest");
    int a = tu_socket_default(AF_SP, NN_PAIR);
    int b = tu_socket_default(AF_SP, NN_PAIR);
    tu_setint(a, NN_SOL_SOCKET, NN_SNDTIMEO, 30000);
    tu_setint(b, NN_SOL_SOCKET, NN_RCVTIMEO, TU_DEADLINE_MS);
    assert_nn_ok(nn_bind(a, addr));
    tu_thread t;
    struct tu_blocked blk;
    assert_true(tu_blocked_start(&t, &blk, a, -1, TU_OP_SEND));
    assert_nn_ok(nn_connect(b, addr));
    assert_true(tu_wait_until(tu_blocked_is_done, &blk, TU_DEADLINE_MS));
    tu_thread_join(&t);
    assert_int_equal(blk.rc, 1);
    tu_recv(b, "x");
}

static void test_recv_on_push_and_send_on_pull_fail_with_enotsup(void **state)
{
    (void) state;
    int push = tu_socket_default(AF_SP, NN_PUSH);
    int pull = tu_socket_default(AF_SP, NN_PULL);
    char buf[4];
    assert_nn_fail(nn_recv(push, buf, sizeof buf, 0), ENOTSUP);
    assert_nn_fail(nn_recv(push, buf, sizeof buf, NN_DONTWAIT), ENOTSUP);
    assert_nn_fail(nn_send(pull, "x", 1, 0), ENOTSUP);
    assert_nn_fail(nn_send(pull, "x", 1, NN_DONTWAIT), ENOTSUP);
}

static void test_failed_zero_copy_send_leaves_chunk_with_caller(void **state)
{
    (void) state;
    char addr[64];
    tu_inproc_url(addr, sizeof addr, "apitest");
    int a = tu_socket_default(AF_SP, NN_PAIR);
    char *chunk = nn_allocmsg(5, 0);
    memcpy(chunk, "owned", 5);
    char *before = chunk;
    assert_nn_fail(nn_send(a, &chunk, NN_MSG, NN_DONTWAIT), EAGAIN);
    assert_ptr_equal(chunk, before);
    tu_setint(a, NN_SOL_SOCKET, NN_SNDTIMEO, 0);
    assert_nn_fail(nn_send(a, &chunk, NN_MSG, 0), ETIMEDOUT);
    assert_ptr_equal(chunk, before);
    /* Still ours: we can change it and send it once a peer is there. */
    chunk[0] = 'O';
    int b = tu_socket_default(AF_SP, NN_PAIR);
    tu_setint(b, NN_SOL_SOCKET, NN_RCVTIMEO, TU_DEADLINE_MS);
    tu_setint(a, NN_SOL_SOCKET, NN_SNDTIMEO, TU_DEADLINE_MS);
    assert_nn_ok(nn_bind(a, addr));
    assert_nn_ok(nn_connect(b, addr));
    assert_int_equal(nn_send(a, &chunk, NN_MSG, 0), 5);
    tu_recv(b, "Owned");
}

static void test_failed_zero_copy_send_on_pull_leaves_chunk_with_caller(void **state)
{
    (void) state;
    int s = tu_socket_default(AF_SP, NN_PULL);
    void *chunk = nn_allocmsg(8, 0);
    assert_nn_fail(nn_send(s, &chunk, NN_MSG, 0), ENOTSUP);
    assert_int_equal(nn_freemsg(chunk), 0);
}

static void test_scatter_recv_with_nn_msg_among_iovecs_fails_with_einval_and_drops_message(void **state)
{
    (void) state;
    int a, b;
    tu_inproc_pair_bounded(NN_PAIR, NN_PAIR, &a, &b);
    tu_send(a, "lost");
    tu_send(a, "kept");
    char buf[4];
    void *chunk = NULL;
    struct nn_iovec iov[2] = {{buf, sizeof buf}, {&chunk, NN_MSG}};
    struct nn_msghdr hdr = {iov, 2, NULL, 0};
    assert_nn_fail(nn_recvmsg(b, &hdr, 0), EINVAL);
    assert_null(chunk);
    tu_recv(b, "kept");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        tu_test(test_send_and_recv_copy_message_between_pair_sockets),
        tu_test(test_send_and_recv_on_bad_socket_fail_with_ebadf),
        tu_test(test_sendmsg_and_recvmsg_with_null_header_fail_with_einval),
        tu_test(test_negative_iovlen_fails_with_emsgsize),
        tu_test(test_send_of_null_buffer_with_length_fails_with_efault),
        tu_test(test_send_of_null_zero_copy_chunk_fails_with_efault),
        tu_test(test_nn_msg_among_several_send_iovecs_fails_with_einval),
        tu_test(test_send_iovecs_whose_lengths_overflow_fail_with_einval),
        tu_test(test_zero_copy_send_and_recv_transfer_chunks),
        tu_test(test_copied_message_can_be_received_as_chunk_and_vice_versa),
        tu_test(test_recvmsg_with_single_nn_msg_iovec_returns_chunk),
        tu_test(test_sendmsg_gathers_iovecs_into_one_message),
        tu_test(test_recvmsg_scatters_message_over_iovecs),
        tu_test(test_truncating_recv_returns_full_message_length),
        tu_test(test_recv_into_zero_length_buffer_consumes_message),
        tu_test(test_empty_message_is_delivered),
        tu_test(test_messages_arrive_in_order),
        tu_test(test_recv_with_dontwait_and_nothing_queued_fails_with_eagain),
        tu_test(test_send_with_dontwait_and_no_peer_fails_with_eagain),
        tu_test(test_rcvtimeo_zero_fails_with_etimedout_not_eagain),
        tu_test(test_sndtimeo_zero_fails_with_etimedout_not_eagain),
        tu_test(test_rcvtimeo_expires_after_the_timeout),
        tu_test(test_sndtimeo_expires_after_the_timeout),
        tu_test(test_blocked_recv_returns_when_message_arrives),
        tu_test(test_blocked_send_returns_when_peer_connects),
        tu_test(test_recv_on_push_and_send_on_pull_fail_with_enotsup),
        tu_test(test_failed_zero_copy_send_leaves_chunk_with_caller),
        tu_test(test_failed_zero_copy_send_on_pull_leaves_chunk_with_caller),
        tu_test(test_scatter_recv_with_nn_msg_among_iovecs_fails_with_einval_and_drops_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
