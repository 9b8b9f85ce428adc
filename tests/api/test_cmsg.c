/* Control messages: the NN_CMSG_* macro arithmetic, nn_cmsg_nxthdr_ walking
   rules, and the ancillary data that nn_recvmsg / nn_sendmsg exchange. */
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

static void test_cmsg_macros_pad_to_size_t(void **state)
{
    (void) state;
    assert_int_equal(NN_CMSG_ALIGN_(0), 0);
    assert_int_equal(NN_CMSG_ALIGN_(1), sizeof(size_t));
    assert_int_equal(NN_CMSG_ALIGN_(sizeof(size_t)), sizeof(size_t));
    assert_int_equal(NN_CMSG_ALIGN_(sizeof(size_t) + 1), 2 * sizeof(size_t));
    assert_int_equal(sizeof(struct nn_cmsghdr), 16);
    assert_int_equal(NN_CMSG_SPACE(0), 16);
    assert_int_equal(NN_CMSG_SPACE(1), 24);
    assert_int_equal(NN_CMSG_SPACE(8), 24);
    assert_int_equal(NN_CMSG_SPACE(9), 32);
    assert_int_equal(NN_CMSG_LEN(0), 16);
    assert_int_equal(NN_CMSG_LEN(1), 17);
    assert_int_equal(NN_CMSG_LEN(8), 24);
    unsigned char buf[32];
    assert_ptr_equal(NN_CMSG_DATA(buf), buf + 16);
}

static void test_cmsg_firsthdr_of_null_header_is_null(void **state)
{
    (void) state;
    assert_null(nn_cmsg_nxthdr_(NULL, NULL));
    assert_null(NN_CMSG_FIRSTHDR(NULL));
}

static void test_cmsg_firsthdr_needs_room_for_one_header(void **state)
{
    (void) state;
    size_t ctl[8] = {0};
    struct nn_cmsghdr *c = (struct nn_cmsghdr *) ctl;
    c->cmsg_len = NN_CMSG_LEN(0);
    struct nn_msghdr hdr = {NULL, 0, ctl, 0};
    assert_null(NN_CMSG_FIRSTHDR(&hdr));
    hdr.msg_controllen = NN_CMSG_SPACE(0) - 1;
    assert_null(NN_CMSG_FIRSTHDR(&hdr));
    hdr.msg_controllen = NN_CMSG_SPACE(0);
    assert_ptr_equal(NN_CMSG_FIRSTHDR(&hdr), c);
    hdr.msg_controllen = sizeof ctl;
    assert_ptr_equal(NN_CMSG_FIRSTHDR(&hdr), c);
}

static void test_cmsg_firsthdr_rejects_header_longer_than_buffer(void **state)
{
    (void) state;
    size_t ctl[8] = {0};
    struct nn_cmsghdr *c = (struct nn_cmsghdr *) ctl;
    struct nn_msghdr hdr = {NULL, 0, ctl, 32};
    c->cmsg_len = 33;
    assert_null(NN_CMSG_FIRSTHDR(&hdr));
    c->cmsg_len = 32;
    assert_ptr_equal(NN_CMSG_FIRSTHDR(&hdr), c);
    c->cmsg_len = 25; /* padded to 32: still fits */
    assert_ptr_equal(NN_CMSG_FIRSTHDR(&hdr), c);
}

static void test_cmsg_nxthdr_steps_over_padded_length_and_stops_at_end(void **state)
{
    (void) state;
    size_t ctl[16] = {0};
    unsigned char *base = (unsigned char *) ctl;
    struct nn_cmsghdr *c1 = (struct nn_cmsghdr *) base;
    c1->cmsg_len = NN_CMSG_LEN(3); /* 19, padded to 24 */
    c1->cmsg_level = 7;
    c1->cmsg_type = 1;
    struct nn_cmsghdr *c2 = (struct nn_cmsghdr *) (base + 24);
    c2->cmsg_len = NN_CMSG_LEN(8);
    c2->cmsg_level = 7;
    c2->cmsg_type = 2;
    struct nn_msghdr hdr = {NULL, 0, ctl, 24 + 24};

    struct nn_cmsghdr *it = NN_CMSG_FIRSTHDR(&hdr);
    assert_ptr_equal(it, c1);
    it = NN_CMSG_NXTHDR(&hdr, it);
    assert_ptr_equal(it, c2);
    assert_int_equal(it->cmsg_type, 2);
    /* No room for another header after the second. */
    assert_null(NN_CMSG_NXTHDR(&hdr, it));

    /* With more room, a third header whose length does not fit ends the walk. */
    hdr.msg_controllen = 24 + 24 + 16;
    struct nn_cmsghdr *c3 = (struct nn_cmsghdr *) (base + 48);
    c3->cmsg_len = 100;
    assert_null(NN_CMSG_NXTHDR(&hdr, c2));
    c3->cmsg_len = NN_CMSG_LEN(0);
    assert_ptr_equal(NN_CMSG_NXTHDR(&hdr, c2), c3);
}

static void test_cmsg_walk_over_nn_msg_chunk_uses_chunk_size(void **state)
{
    (void) state;
    void *chunk = nn_allocmsg(NN_CMSG_SPACE(1) + NN_CMSG_SPACE(2), 0);
    assert_non_null(chunk);
    memset(chunk, 0, NN_CMSG_SPACE(1) + NN_CMSG_SPACE(2));
    struct nn_cmsghdr *c1 = chunk;
    c1->cmsg_len = NN_CMSG_LEN(1);
    struct nn_cmsghdr *c2 = (struct nn_cmsghdr *) ((char *) chunk + NN_CMSG_SPACE(1));
    c2->cmsg_len = NN_CMSG_LEN(2);
    struct nn_msghdr hdr = {NULL, 0, &chunk, NN_MSG};
    assert_ptr_equal(NN_CMSG_FIRSTHDR(&hdr), c1);
    assert_ptr_equal(NN_CMSG_NXTHDR(&hdr, c1), c2);
    assert_null(NN_CMSG_NXTHDR(&hdr, c2));
    assert_int_equal(nn_freemsg(chunk), 0);
}

/* The SP_HDR cmsg a cooked PAIR hands out: empty header, padded length. */
static void check_empty_sp_hdr(const struct nn_cmsghdr *c)
{
    assert_non_null(c);
    assert_int_equal(c->cmsg_level, PROTO_SP);
    assert_int_equal(c->cmsg_type, SP_HDR);
    assert_int_equal(c->cmsg_len, NN_CMSG_SPACE(sizeof(size_t)));
    size_t hdrlen;
    memcpy(&hdrlen, NN_CMSG_DATA(c), sizeof hdrlen);
    assert_int_equal(hdrlen, 0);
}

static void test_recvmsg_on_cooked_pair_reports_empty_sp_hdr(void **state)
{
    (void) state;
    int a, b;
    tu_inproc_pair_bounded(NN_PAIR, NN_PAIR, &a, &b);
    tu_send(a, "body");
    char body[16];
    size_t ctl[32];
    memset(ctl, 0xaa, sizeof ctl);
    struct nn_iovec iov = {body, sizeof body};
    struct nn_msghdr hdr = {&iov, 1, ctl, sizeof ctl};
    assert_int_equal(nn_recvmsg(b, &hdr, 0), 4);
    assert_memory_equal(body, "body", 4);
    struct nn_cmsghdr *c = NN_CMSG_FIRSTHDR(&hdr);
    assert_ptr_equal(c, ctl);
    check_empty_sp_hdr(c);
    /* Nothing written past the SP_HDR cmsg. */
    unsigned char *rest = (unsigned char *) ctl + NN_CMSG_SPACE(sizeof(size_t));
    for (size_t i = 0; i < sizeof ctl - NN_CMSG_SPACE(sizeof(size_t)); i++)
        assert_int_equal(rest[i], 0xaa);
}

static void test_recvmsg_sp_hdr_fits_exactly_in_cmsg_space(void **state)
{
    (void) state;
    int a, b;
    tu_inproc_pair_bounded(NN_PAIR, NN_PAIR, &a, &b);
    tu_send(a, "x");
    size_t ctl[3];
    assert_int_equal(sizeof ctl, NN_CMSG_SPACE(sizeof(size_t)));
    char body[4];
    struct nn_iovec iov = {body, sizeof body};
    struct nn_msghdr hdr = {&iov, 1, ctl, sizeof ctl};
    assert_int_equal(nn_recvmsg(b, &hdr, 0), 1);
    struct nn_cmsghdr *c = NN_CMSG_FIRSTHDR(&hdr);
    check_empty_sp_hdr(c);
    assert_null(NN_CMSG_NXTHDR(&hdr, c));
}

static void test_recvmsg_with_too_small_control_buffer_writes_nothing(void **state)
{
    (void) state;
    int a, b;
    tu_inproc_pair_bounded(NN_PAIR, NN_PAIR, &a, &b);
    size_t sizes[] = {1, NN_CMSG_SPACE(0), NN_CMSG_SPACE(sizeof(size_t)) - 1};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        tu_send(a, "still delivered");
        unsigned char ctl[64];
        memset(ctl, 0xaa, sizeof ctl);
        char body[32];
        struct nn_iovec iov = {body, sizeof body};
        struct nn_msghdr hdr = {&iov, 1, ctl, sizes[i]};
        assert_int_equal(nn_recvmsg(b, &hdr, 0), 15);
        assert_memory_equal(body, "still delivered", 15);
        for (size_t j = 0; j < sizeof ctl; j++)
            assert_int_equal(ctl[j], 0xaa);
    }
}

static void test_recvmsg_with_nn_msg_control_allocates_exact_chunk(void **state)
{
    (void) state;
    int a, b;
    tu_inproc_pair_bounded(NN_PAIR, NN_PAIR, &a, &b);
    tu_send(a, "ctl");
    void *body = NULL;
    void *ctl = NULL;
    struct nn_iovec iov = {&body, NN_MSG};
    struct nn_msghdr hdr = {&iov, 1, &ctl, NN_MSG};
    assert_int_equal(nn_recvmsg(b, &hdr, 0), 3);
    assert_memory_equal(body, "ctl", 3);
    assert_non_null(ctl);
    struct nn_cmsghdr *c = NN_CMSG_FIRSTHDR(&hdr);
    assert_ptr_equal(c, ctl);
    check_empty_sp_hdr(c);
    /* The chunk holds exactly the SP_HDR cmsg, nothing more. */
    assert_null(NN_CMSG_NXTHDR(&hdr, c));
    /* The control chunk is a regular message chunk. */
    void *grown = nn_reallocmsg(ctl, 1000);
    assert_non_null(grown);
    assert_int_equal(nn_freemsg(grown), 0);
    assert_int_equal(nn_freemsg(body), 0);
}

static void test_recvmsg_without_control_buffer_leaves_control_fields(void **state)
{
    (void) state;
    int a, b;
    tu_inproc_pair_bounded(NN_PAIR, NN_PAIR, &a, &b);
    tu_send(a, "plain");
    char body[8];
    struct nn_iovec iov = {body, sizeof body};
    struct nn_msghdr hdr = {&iov, 1, NULL, 12345};
    assert_int_equal(nn_recvmsg(b, &hdr, 0), 5);
    assert_null(hdr.msg_control);
    assert_int_equal(hdr.msg_controllen, 12345);
}

/* Builds an SP_HDR cmsg carrying hdr[0..len) into ctl; returns its space. */
static size_t put_sp_hdr(void *ctl, const void *data, size_t len)
{
    struct nn_cmsghdr *c = ctl;
    memset(ctl, 0, NN_CMSG_SPACE(sizeof(size_t) + len));
    c->cmsg_len = NN_CMSG_LEN(sizeof(size_t) + len);
    c->cmsg_level = PROTO_SP;
    c->cmsg_type = SP_HDR;
    memcpy(NN_CMSG_DATA(c), &len, sizeof len);
    memcpy(NN_CMSG_DATA(c) + sizeof len, data, len);
    return NN_CMSG_SPACE(sizeof(size_t) + len);
}

static void test_sp_hdr_sent_on_cooked_pair_travels_in_front_of_body(void **state)
{
    (void) state;
    int a, b;
    tu_inproc_pair_bounded(NN_PAIR, NN_PAIR, &a, &b);
    size_t ctl[8];
    struct nn_iovec iov = {"xyz", 3};
    struct nn_msghdr hdr = {&iov, 1, ctl, put_sp_hdr(ctl, "ABCD", 4)};
    /* The return value counts the body only. */
    assert_int_equal(nn_sendmsg(a, &hdr, 0), 3);
    char body[16];
    size_t rctl[8];
    struct nn_iovec riov = {body, sizeof body};
    struct nn_msghdr rhdr = {&riov, 1, rctl, sizeof rctl};
    assert_int_equal(nn_recvmsg(b, &rhdr, 0), 7);
    assert_memory_equal(body, "ABCDxyz", 7);
    check_empty_sp_hdr(NN_CMSG_FIRSTHDR(&rhdr));
}

static void test_malformed_sp_hdr_is_ignored_on_send(void **state)
{
    (void) state;
    int a, b;
    tu_inproc_pair_bounded(NN_PAIR, NN_PAIR, &a, &b);
    size_t ctl[8] = {0};
    struct nn_cmsghdr *c = (struct nn_cmsghdr *) ctl;
    struct nn_iovec iov = {"xyz", 3};
    struct nn_msghdr hdr = {&iov, 1, ctl, 0};

    /* Claimed header length larger than the cmsg. */
    put_sp_hdr(ctl, "AB", 2);
    size_t big = 100;
    memcpy(NN_CMSG_DATA(c), &big, sizeof big);
    hdr.msg_controllen = NN_CMSG_SPACE(sizeof(size_t) + 2);
    assert_int_equal(nn_sendmsg(a, &hdr, 0), 3);
    tu_recv(b, "xyz");

    /* A cmsg too short to even hold the length prefix. */
    put_sp_hdr(ctl, "", 0);
    c->cmsg_len = NN_CMSG_LEN(4);
    hdr.msg_controllen = NN_CMSG_SPACE(sizeof(size_t));
    assert_int_equal(nn_sendmsg(a, &hdr, 0), 3);
    tu_recv(b, "xyz");

    /* Other cmsgs do not become the SP header. */
    put_sp_hdr(ctl, "ZZ", 2);
    c->cmsg_type = SP_HDR + 1;
    hdr.msg_controllen = NN_CMSG_SPACE(sizeof(size_t) + 2);
    assert_int_equal(nn_sendmsg(a, &hdr, 0), 3);
    tu_recv(b, "xyz");
}

static void test_non_sp_cmsgs_are_not_delivered_over_inproc(void **state)
{
    (void) state;
    int a, b;
    tu_inproc_pair_bounded(NN_PAIR, NN_PAIR, &a, &b);
    size_t ctl[8] = {0};
    struct nn_cmsghdr *c = (struct nn_cmsghdr *) ctl;
    c->cmsg_len = NN_CMSG_LEN(2);
    c->cmsg_level = 5;
    c->cmsg_type = 7;
    memcpy(NN_CMSG_DATA(c), "hi", 2);
    struct nn_iovec iov = {"xyz", 3};
    struct nn_msghdr hdr = {&iov, 1, ctl, NN_CMSG_SPACE(2)};
    assert_int_equal(nn_sendmsg(a, &hdr, 0), 3);
    void *rctl = NULL;
    char body[8];
    struct nn_iovec riov = {body, sizeof body};
    struct nn_msghdr rhdr = {&riov, 1, &rctl, NN_MSG};
    assert_int_equal(nn_recvmsg(b, &rhdr, 0), 3);
    struct nn_cmsghdr *r = NN_CMSG_FIRSTHDR(&rhdr);
    check_empty_sp_hdr(r);
    assert_null(NN_CMSG_NXTHDR(&rhdr, r));
    assert_int_equal(nn_freemsg(rctl), 0);
}

static void test_sendmsg_adopts_nn_msg_control_chunk(void **state)
{
    (void) state;
    int a, b;
    tu_inproc_pair_bounded(NN_PAIR, NN_PAIR, &a, &b);
    void *ctl = nn_allocmsg(NN_CMSG_SPACE(sizeof(size_t) + 1), 0);
    assert_non_null(ctl);
    put_sp_hdr(ctl, "Q", 1);
    void *body = nn_allocmsg(3, 0);
    memcpy(body, "xyz", 3);
    struct nn_iovec iov = {&body, NN_MSG};
    struct nn_msghdr hdr = {&iov, 1, &ctl, NN_MSG};
    assert_int_equal(nn_sendmsg(a, &hdr, 0), 3);
    /* Both chunks now belong to the library: nothing to free here. */
    tu_recv(b, "Qxyz");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        tu_test(test_cmsg_macros_pad_to_size_t),
        tu_test(test_cmsg_firsthdr_of_null_header_is_null),
        tu_test(test_cmsg_firsthdr_needs_room_for_one_header),
        tu_test(test_cmsg_firsthdr_rejects_header_longer_than_buffer),
        tu_test(test_cmsg_nxthdr_steps_over_padded_length_and_stops_at_end),
        tu_test(test_cmsg_walk_over_nn_msg_chunk_uses_chunk_size),
        tu_test(test_recvmsg_on_cooked_pair_reports_empty_sp_hdr),
        tu_test(test_recvmsg_sp_hdr_fits_exactly_in_cmsg_space),
        tu_test(test_recvmsg_with_too_small_control_buffer_writes_nothing),
        tu_test(test_recvmsg_with_nn_msg_control_allocates_exact_chunk),
        tu_test(test_recvmsg_without_control_buffer_leaves_control_fields),
        tu_test(test_sp_hdr_sent_on_cooked_pair_travels_in_front_of_body),
        tu_test(test_malformed_sp_hdr_is_ignored_on_send),
        tu_test(test_non_sp_cmsgs_are_not_delivered_over_inproc),
        tu_test(test_sendmsg_adopts_nn_msg_control_chunk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
