/* Control data of nn_sendmsg (SPEC §1.3): the NN_CMSG_* iterator
   (nn_cmsg_nxthdr_) and how an outgoing message takes its SP header from the
   first PROTO_SP/SP_HDR cmsg ([size_t hdrlen][hdrlen bytes]) and keeps the
   other cmsgs as transport control data. Cases marked [libnanomsg] were
   checked against the installed libnanomsg 1.1.5 over an inproc PAIR. */
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
#include "core/appmsg.h"
#include "core/chunk.h"
#include "core/msg.h"
#include "core/msgio.h"

/* A control buffer, aligned like the nn_cmsghdr it holds. */
struct ctl {
    _Alignas(16) unsigned char buf[256];
    size_t len;
};

/* Appends a cmsg with the given cmsg_len (0: the natural NN_CMSG_LEN) and
   data, padded to NN_CMSG_ALIGN_. */
static struct nn_cmsghdr *ctl_add(struct ctl *c, int level, int type, const void *data, size_t dlen,
                                  size_t cmsg_len)
{
    assert_true(c->len + NN_CMSG_SPACE(dlen) <= sizeof c->buf);
    struct nn_cmsghdr *h = (struct nn_cmsghdr *) (void *) (c->buf + c->len);
    memset(h, 0, NN_CMSG_SPACE(dlen));
    h->cmsg_len = cmsg_len ? cmsg_len : NN_CMSG_LEN(dlen);
    h->cmsg_level = level;
    h->cmsg_type = type;
    if (dlen)
        memcpy(NN_CMSG_DATA(h), data, dlen);
    c->len += NN_CMSG_SPACE(dlen);
    return h;
}

/* Appends an SP_HDR cmsg carrying hdr (hdrlen field = hlen_field). */
static struct nn_cmsghdr *ctl_sphdr(struct ctl *c, const void *hdr, size_t hlen, size_t hlen_field)
{
    unsigned char d[128];
    assert_true(sizeof(size_t) + hlen <= sizeof d);
    memcpy(d, &hlen_field, sizeof(size_t));
    memcpy(d + sizeof(size_t), hdr, hlen);
    return ctl_add(c, PROTO_SP, SP_HDR, d, sizeof(size_t) + hlen, 0);
}

/* Builds an outgoing message with body "body" and the given control data. */
static void build(struct sp_msg *m, const void *control, size_t controllen)
{
    struct nn_iovec iov = {(void *) "body", 4};
    struct nn_msghdr h = {&iov, 1, (void *) control, controllen};
    size_t len = 0;
    assert_int_equal(sp_msgio_build(&h, m, &len), 0);
    assert_int_equal(len, 4);
    assert_int_equal(sp_msg_bodylen(m), 4);
    assert_memory_equal(sp_msg_bodyp(m), "body", 4);
}

static void test_cmsg_iterator_walks_every_header_then_stops(void **state)
{
    (void) state;
    struct ctl c = {.len = 0};
    ctl_add(&c, 1, 2, "a", 1, 0);
    ctl_add(&c, 3, 4, "0123456789", 10, 0);
    ctl_add(&c, 5, 6, NULL, 0, 0);
    struct nn_msghdr h = {NULL, 0, c.buf, c.len};
    int levels[8], n = 0;
    for (struct nn_cmsghdr *x = NN_CMSG_FIRSTHDR(&h); x && n < 8; x = NN_CMSG_NXTHDR(&h, x))
        levels[n++] = x->cmsg_level;
    assert_int_equal(n, 3);
    assert_int_equal(levels[0], 1);
    assert_int_equal(levels[1], 3);
    assert_int_equal(levels[2], 5);
}

static void test_cmsg_iterator_returns_null_without_room_for_a_header(void **state)
{
    (void) state;
    assert_null(nn_cmsg_nxthdr_(NULL, NULL));
    struct ctl c = {.len = 0};
    ctl_add(&c, 1, 1, NULL, 0, 0);
    struct nn_msghdr h = {NULL, 0, c.buf, NN_CMSG_SPACE(0) - 1};
    assert_null(NN_CMSG_FIRSTHDR(&h));
    h.msg_controllen = 0;
    assert_null(NN_CMSG_FIRSTHDR(&h));
    h.msg_control = NULL;
    h.msg_controllen = 64;
    assert_null(NN_CMSG_FIRSTHDR(&h));
}

static void test_cmsg_iterator_stops_at_header_whose_padded_length_overruns_buffer(void **state)
{
    (void) state;
    struct ctl c = {.len = 0};
    ctl_add(&c, 1, 1, "abcdefgh", 8, 0);
    struct nn_msghdr h = {NULL, 0, c.buf, c.len};
    assert_non_null(NN_CMSG_FIRSTHDR(&h));
    ((struct nn_cmsghdr *) (void *) c.buf)->cmsg_len = c.len + 1;
    assert_null(NN_CMSG_FIRSTHDR(&h));
    ((struct nn_cmsghdr *) (void *) c.buf)->cmsg_len = SIZE_MAX - 2; /* ALIGN_ would wrap */
    assert_null(NN_CMSG_FIRSTHDR(&h));
}

static void test_cmsg_iterator_stops_at_header_shorter_than_itself(void **state)
{
    (void) state;
    /* libnanomsg loops forever on cmsg_len 0 (next == current); we end the
       list instead. */
    struct ctl c = {.len = 0};
    ctl_add(&c, 1, 1, NULL, 0, 0);
    ctl_add(&c, 2, 2, NULL, 0, 0);
    ((struct nn_cmsghdr *) (void *) c.buf)->cmsg_len = 0;
    struct nn_msghdr h = {NULL, 0, c.buf, c.len};
    struct nn_cmsghdr *first = NN_CMSG_FIRSTHDR(&h);
    assert_non_null(first);
    assert_null(NN_CMSG_NXTHDR(&h, first));
}

static void test_cmsg_iterator_walks_nn_msg_chunk_by_its_size(void **state)
{
    (void) state;
    struct ctl c = {.len = 0};
    ctl_add(&c, 7, 7, "x", 1, 0);
    ctl_add(&c, 8, 8, "y", 1, 0);
    void *chunk = nn_allocmsg(c.len, 0);
    assert_non_null(chunk);
    memcpy(chunk, c.buf, c.len);
    struct nn_msghdr h = {NULL, 0, &chunk, NN_MSG};
    struct nn_cmsghdr *x = NN_CMSG_FIRSTHDR(&h);
    assert_ptr_equal(x, chunk);
    x = NN_CMSG_NXTHDR(&h, x);
    assert_non_null(x);
    assert_int_equal(x->cmsg_level, 8);
    assert_null(NN_CMSG_NXTHDR(&h, x));
    assert_int_equal(nn_freemsg(chunk), 0);
    /* Freed, it is no longer walked (and nothing behind it is read). */
    assert_null(NN_CMSG_FIRSTHDR(&h));
}

static void test_sendmsg_takes_sp_header_from_sp_hdr_cmsg(void **state)
{
    (void) state;
    struct ctl c = {.len = 0};
    ctl_sphdr(&c, "\x80\x00\x00\x01", 4, 4);
    struct sp_msg m;
    build(&m, c.buf, c.len);
    assert_int_equal(m.hdrlen, 4);
    assert_memory_equal(sp_msg_hdr(&m), "\x80\x00\x00\x01", 4);
    assert_null(m.ctrl);
    sp_msg_term(&m);
}

static void test_sendmsg_ignores_sp_hdr_whose_hdrlen_exceeds_the_cmsg(void **state)
{
    (void) state;
    struct ctl c = {.len = 0};
    ctl_sphdr(&c, "abcd", 4, 5);
    struct sp_msg m;
    build(&m, c.buf, c.len);
    assert_int_equal(m.hdrlen, 0);
    sp_msg_term(&m);
}

static void test_sendmsg_ignores_sp_hdr_without_room_beyond_hdrlen_field(void **state)
{
    (void) state;
    /* clen = cmsg_len - NN_CMSG_SPACE(0) must be > sizeof(size_t). */
    struct ctl c = {.len = 0};
    ctl_sphdr(&c, "", 0, 0);
    struct sp_msg m;
    build(&m, c.buf, c.len);
    assert_int_equal(m.hdrlen, 0);
    sp_msg_term(&m);
}

static void test_sendmsg_uses_only_the_first_sp_hdr_cmsg(void **state)
{
    (void) state;
    /* The first one counts even when it is unusable. */
    struct ctl c = {.len = 0};
    ctl_sphdr(&c, "abcd", 4, 99);
    ctl_sphdr(&c, "wxyz", 4, 4);
    struct sp_msg m;
    build(&m, c.buf, c.len);
    assert_int_equal(m.hdrlen, 0);
    sp_msg_term(&m);

    struct ctl d = {.len = 0};
    ctl_sphdr(&d, "ab", 2, 2);
    ctl_sphdr(&d, "wxyz", 4, 4);
    build(&m, d.buf, d.len);
    assert_int_equal(m.hdrlen, 2);
    assert_memory_equal(sp_msg_hdr(&m), "ab", 2);
    sp_msg_term(&m);
}

static void test_sendmsg_keeps_other_cmsgs_as_control_data(void **state)
{
    (void) state;
    struct ctl c = {.len = 0};
    ctl_add(&c, -4, 1, "\x02", 1, 0); /* NN_WS / NN_WS_MSG_TYPE: binary */
    size_t ws_len = c.len;
    ctl_sphdr(&c, "hdr!", 4, 4);
    struct sp_msg m;
    build(&m, c.buf, c.len);
    assert_int_equal(m.hdrlen, 4);
    assert_non_null(m.ctrl);
    assert_int_equal(sp_chunk_size(m.ctrl), ws_len);
    assert_memory_equal(m.ctrl, c.buf, ws_len);
    sp_msg_term(&m);
}

static void test_sendmsg_adopts_nn_msg_control_chunk(void **state)
{
    (void) state;
    /* The chunk belongs to the library after the call (LSan would see a
       leak, ASan a double free). */
    struct ctl c = {.len = 0};
    ctl_sphdr(&c, "\x00\x00\x00\x07", 4, 4);
    void *chunk = nn_allocmsg(c.len, 0);
    assert_non_null(chunk);
    memcpy(chunk, c.buf, c.len);
    struct sp_msg m;
    build(&m, &chunk, NN_MSG);
    assert_int_equal(m.hdrlen, 4);
    assert_false(sp_appmsg_held(chunk)); /* nn_freemsg would give EFAULT */
    sp_msg_term(&m);
}

static void test_sendmsg_iovec_error_leaves_nn_msg_control_chunk_with_caller_like_libnanomsg(void **state)
{
    (void) state;
    /* [libnanomsg] when nn_sendmsg fails on its iovecs (EINVAL, EFAULT) the
       control data was not looked at yet and an NN_MSG control chunk is still
       the caller's: nn_freemsg on it afterwards succeeds, valgrind-clean. (A
       failure after that, e.g. EAGAIN, frees it, in both libraries.) An extra
       reference shows whether the library dropped one, without touching
       freed memory. */
    void *null_body = NULL;
    struct nn_iovec multi_nn_msg[2] = {{(void *) "x", 1}, {NULL, NN_MSG}};
    struct nn_iovec null_base[1] = {{NULL, 5}};
    struct nn_iovec null_chunk[1] = {{&null_body, NN_MSG}};
    struct {
        struct nn_iovec *iov;
        int iovlen;
        int err;
    } cases[] = {{multi_nn_msg, 2, -EINVAL}, {null_base, 1, -EFAULT}, {null_chunk, 1, -EFAULT}};
    for (size_t i = 0; i < TU_ARRAY_LEN(cases); i++) {
        struct ctl c = {.len = 0};
        ctl_add(&c, 99, 1, "x", 1, 0);
        void *chunk = nn_allocmsg(c.len, 0);
        assert_non_null(chunk);
        memcpy(chunk, c.buf, c.len);
        struct nn_msghdr h = {cases[i].iov, cases[i].iovlen, &chunk, NN_MSG};
        struct sp_msg m;
        size_t len;
        assert_int_equal(sp_msgio_build(&h, &m, &len), cases[i].err);
        if (!sp_appmsg_held(chunk))
            fail_msg("case %zu: the failed send took the caller's control chunk", i);
        assert_int_equal(nn_freemsg(chunk), 0);
    }
}

static void test_sendmsg_ignores_sp_hdr_whose_padding_overruns_controllen_like_libnanomsg(void **state)
{
    (void) state;
    /* [libnanomsg] cmsg_len 29 (hdrlen 5) with msg_controllen 29..31: no SP
       header is taken (the peer receives "hello", not "ABCDEhello"), because
       NN_CMSG_FIRSTHDR itself does not return this cmsg. */
    struct ctl c = {.len = 0};
    struct nn_cmsghdr *x = ctl_sphdr(&c, "ABCDE", 5, 5);
    assert_int_equal(x->cmsg_len, 29);
    for (size_t len = 29; len < 32; len++) {
        struct nn_msghdr h = {NULL, 0, c.buf, len};
        assert_null(NN_CMSG_FIRSTHDR(&h));
        struct sp_msg m;
        build(&m, c.buf, len);
        if (m.hdrlen != 0)
            fail_msg("controllen %zu: took a %zu-byte SP header that NN_CMSG_FIRSTHDR does not see",
                     len, m.hdrlen);
        sp_msg_term(&m);
    }
    struct sp_msg m;
    build(&m, c.buf, 32);
    assert_int_equal(m.hdrlen, 5);
    sp_msg_term(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cmsg_iterator_walks_every_header_then_stops),
        cmocka_unit_test(test_cmsg_iterator_returns_null_without_room_for_a_header),
        cmocka_unit_test(test_cmsg_iterator_stops_at_header_whose_padded_length_overruns_buffer),
        cmocka_unit_test(test_cmsg_iterator_stops_at_header_shorter_than_itself),
        cmocka_unit_test(test_cmsg_iterator_walks_nn_msg_chunk_by_its_size),
        cmocka_unit_test(test_sendmsg_takes_sp_header_from_sp_hdr_cmsg),
        cmocka_unit_test(test_sendmsg_ignores_sp_hdr_whose_hdrlen_exceeds_the_cmsg),
        cmocka_unit_test(test_sendmsg_ignores_sp_hdr_without_room_beyond_hdrlen_field),
        cmocka_unit_test(test_sendmsg_uses_only_the_first_sp_hdr_cmsg),
        cmocka_unit_test(test_sendmsg_keeps_other_cmsgs_as_control_data),
        cmocka_unit_test(test_sendmsg_adopts_nn_msg_control_chunk),
        cmocka_unit_test(test_sendmsg_iovec_error_leaves_nn_msg_control_chunk_with_caller_like_libnanomsg),
        cmocka_unit_test(test_sendmsg_ignores_sp_hdr_whose_padding_overruns_controllen_like_libnanomsg),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
