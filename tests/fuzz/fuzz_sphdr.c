/* Fuzz target for the small parsers at the edge of the library: the 8-byte
   SP protocol header a peer sends (sp_sphdr_parse), and control data an
   application hands to the public API (nn_cmsg_nxthdr_ behind NN_CMSG_*,
   and nn_sendmsg's SP_HDR parsing). The whole input is the control buffer;
   its first 8 bytes are also parsed as an SP header, and its last byte picks
   the variant:
     bit 0  send the control data as an NN_MSG chunk (else a plain buffer)
     bit 1  use raw PAIR sockets (else cooked)
     bit 2  send the body as an NN_MSG chunk (else through an iovec)
     bit 3  receive the control data into a plain buffer of data[0] % 96
            bytes (else as an NN_MSG chunk)
   Messages go over an inproc PAIR pair created once per process. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nanomsg/nn.h>
#include <nanomsg/pair.h>

#include "core/chunk.h"
#include "utils/decoder.h"

#include "fuzz.h"

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "fuzz_sphdr: %s:%d: check failed: %s (errno %d)\n", __FILE__, \
                    __LINE__, #cond, errno);                                          \
            abort();                                                                  \
        }                                                                             \
    } while (0)

/* [0] sends, [1] receives; cooked pair and raw pair. */
static int cooked[2] = {-1, -1};
static int raw[2] = {-1, -1};

static void close_sockets(void)
{
    for (int i = 0; i < 2; i++) {
        if (cooked[i] >= 0)
            nn_close(cooked[i]);
        if (raw[i] >= 0)
            nn_close(raw[i]);
    }
}

static void open_pair(int domain, const char *url, int s[2])
{
    s[0] = nn_socket(domain, NN_PAIR);
    s[1] = nn_socket(domain, NN_PAIR);
    CHECK(s[0] >= 0 && s[1] >= 0);
    /* A receive never waits for long: a message that was sent arrives at once
       on inproc; the timeout only turns a bug into a failed check, not a hang. */
    int tmo = 5000;
    CHECK(nn_setsockopt(s[1], NN_SOL_SOCKET, NN_RCVTIMEO, &tmo, sizeof tmo) == 0);
    CHECK(nn_bind(s[1], url) >= 0);
    CHECK(nn_connect(s[0], url) >= 0);
}

static void setup_once(void)
{
    if (cooked[0] >= 0)
        return;
    open_pair(AF_SP, "inproc://fuzz-sphdr-cooked", cooked);
    open_pair(AF_SP_RAW, "inproc://fuzz-sphdr-raw", raw);
    atexit(close_sockets);
}

/* Walks the control data the way an application does and checks that every
   header the iterator returns lies inside the buffer. Returns the count. */
static size_t walk(struct nn_msghdr *h, const unsigned char *buf, size_t len)
{
    size_t n = 0;
    unsigned sum = 0;
    for (struct nn_cmsghdr *c = NN_CMSG_FIRSTHDR(h); c; c = NN_CMSG_NXTHDR(h, c)) {
        const unsigned char *p = (const unsigned char *) c;
        CHECK(p >= buf && (size_t) (p - buf) % sizeof(size_t) == 0);
        size_t off = (size_t) (p - buf);
        CHECK(off + NN_CMSG_SPACE(0) <= len);
        CHECK(c->cmsg_len <= len && NN_CMSG_ALIGN_(c->cmsg_len) <= len - off);
        /* Touch the data the header claims (ASan checks the bounds). */
        if (c->cmsg_len > NN_CMSG_LEN(0)) {
            const unsigned char *d = NN_CMSG_DATA(c);
            for (size_t i = 0; i < c->cmsg_len - NN_CMSG_LEN(0); i++)
                sum += d[i];
        }
        /* Each step advances by at least one header, so this is bounded. */
        CHECK(++n <= len / NN_CMSG_SPACE(0));
    }
    (void) sum;
    return n;
}

static void check_sphdr(const uint8_t *data, size_t size)
{
    uint8_t h[8] = {0};
    memcpy(h, data, size < 8 ? size : 8);
    int proto = sp_sphdr_parse(h);
    if (h[0] == 0 && h[1] == 'S' && h[2] == 'P' && h[3] == 0)
        CHECK(proto == ((h[4] << 8) | h[5]));
    else
        CHECK(proto == -1);
    /* And what we send parses back to the same protocol. */
    if (proto >= 0) {
        uint8_t mine[8];
        sp_sphdr_make(mine, proto);
        CHECK(sp_sphdr_parse(mine) == proto);
    }
}

/* The SP header nn_sendmsg must take from control data, by libnanomsg's rule
   (SPEC §1.3): the first PROTO_SP/SP_HDR cmsg that NN_CMSG_FIRSTHDR/NXTHDR
   reach, used only if clen = cmsg_len - NN_CMSG_SPACE(0) > sizeof(size_t) and
   its hdrlen <= clen - sizeof(size_t). A cmsg shorter than its own header
   (where libnanomsg loops or over-reads) gives no header. Sets *hdr and *hlen
   (NULL and 0 for none). */
static void expected_sphdr(struct nn_msghdr *h, const unsigned char **hdr, size_t *hlen)
{
    *hdr = NULL;
    *hlen = 0;
    for (struct nn_cmsghdr *c = NN_CMSG_FIRSTHDR(h); c; c = NN_CMSG_NXTHDR(h, c)) {
        if (c->cmsg_level != PROTO_SP || c->cmsg_type != SP_HDR)
            continue;
        if (c->cmsg_len >= NN_CMSG_SPACE(0)) {
            size_t clen = c->cmsg_len - NN_CMSG_SPACE(0);
            size_t n;
            if (clen > sizeof(size_t)) {
                memcpy(&n, NN_CMSG_DATA(c), sizeof n);
                if (n <= clen - sizeof(size_t)) {
                    *hdr = NN_CMSG_DATA(c) + sizeof(size_t);
                    *hlen = n;
                }
            }
        }
        return;
    }
}

/* Checks a received control buffer: when it had room for one, the first cmsg
   is the SP header in libnanomsg's format (cmsg_len = the padded size). */
static void check_received_control(struct nn_msghdr *h, const unsigned char *buf, size_t len)
{
    size_t n = walk(h, buf, len);
    if (len < NN_CMSG_SPACE(sizeof(size_t))) {
        for (size_t i = 0; i < len; i++)
            CHECK(buf[i] == 0); /* too small: left alone */
        return;
    }
    CHECK(n > 0);
    struct nn_cmsghdr *c = NN_CMSG_FIRSTHDR(h);
    CHECK(c->cmsg_level == PROTO_SP && c->cmsg_type == SP_HDR);
    size_t hlen;
    memcpy(&hlen, NN_CMSG_DATA(c), sizeof hlen);
    CHECK(c->cmsg_len == NN_CMSG_SPACE(sizeof(size_t) + hlen));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup_once();
    check_sphdr(data, size);
    unsigned flags = size ? data[size - 1] : 0;

    /* The control buffer, aligned as nn_cmsghdr requires. */
    unsigned char *plain = malloc(size ? size : 1);
    CHECK(plain != NULL);
    if (size)
        memcpy(plain, data, size);
    struct nn_msghdr h;
    memset(&h, 0, sizeof h);
    h.msg_control = plain;
    h.msg_controllen = size;
    walk(&h, plain, size);

    void *chunk = nn_allocmsg(size, 0);
    CHECK(chunk != NULL);
    if (size)
        memcpy(chunk, data, size);
    h.msg_control = &chunk;
    h.msg_controllen = NN_MSG;
    walk(&h, chunk, size);

    /* What the peer must receive: PAIR has no header of its own, so an SP
       header given as control data travels in front of the body (inproc
       keeps the wire shape, as libnanomsg does). */
    h.msg_control = plain;
    h.msg_controllen = size;
    const unsigned char *want_hdr;
    size_t want_hlen;
    expected_sphdr(&h, &want_hdr, &want_hlen);

    /* Send it. With valid iovecs (always, here) an NN_MSG control chunk
       belongs to the library afterwards, whether the send worked or not. */
    int *s = (flags & 2) ? raw : cooked;
    char body[32];
    size_t blen = size < sizeof body ? size : sizeof body;
    if (blen)
        memcpy(body, data, blen);
    struct nn_iovec iov;
    void *bchunk = NULL;
    if (flags & 4) {
        bchunk = nn_allocmsg(blen, 0);
        CHECK(bchunk != NULL);
        if (blen)
            memcpy(bchunk, body, blen);
        iov.iov_base = &bchunk;
        iov.iov_len = NN_MSG;
    } else {
        iov.iov_base = body;
        iov.iov_len = blen;
    }
    h.msg_iov = &iov;
    h.msg_iovlen = 1;
    if (flags & 1) {
        h.msg_control = &chunk;
        h.msg_controllen = NN_MSG;
    } else {
        nn_freemsg(chunk);
        h.msg_control = plain;
        h.msg_controllen = size;
    }
    int rc = nn_sendmsg(s[0], &h, NN_DONTWAIT);
    if (rc < 0) {
        CHECK(errno == EAGAIN);
        if (bchunk)
            nn_freemsg(bchunk); /* a failed send leaves the body with us */
        free(plain);
        return 0;
    }
    CHECK((size_t) rc == blen);

    /* Receive it back with its control data. */
    void *rbody = NULL;
    struct nn_iovec riov = {&rbody, NN_MSG};
    struct nn_msghdr r;
    memset(&r, 0, sizeof r);
    r.msg_iov = &riov;
    r.msg_iovlen = 1;
    void *rctrl = NULL;
    unsigned char fixed[96];
    size_t fixed_len = size ? data[0] % sizeof fixed : 0;
    if (flags & 8) {
        memset(fixed, 0, sizeof fixed);
        r.msg_control = fixed;
        r.msg_controllen = fixed_len;
    } else {
        r.msg_control = &rctrl;
        r.msg_controllen = NN_MSG;
    }
    rc = nn_recvmsg(s[1], &r, 0);
    CHECK(rc >= 0);
    CHECK(rbody != NULL);
    const unsigned char *got = rbody;
    size_t glen = (size_t) rc;
    CHECK(glen == want_hlen + blen);
    CHECK(want_hlen == 0 || memcmp(got, want_hdr, want_hlen) == 0);
    CHECK(blen == 0 || memcmp(got + want_hlen, body, blen) == 0);
    free(plain);
    if (flags & 8) {
        check_received_control(&r, fixed, fixed_len);
    } else {
        CHECK(rctrl != NULL && sp_chunk_valid(rctrl));
        check_received_control(&r, rctrl, sp_chunk_size(rctrl));
        CHECK(nn_freemsg(rctrl) == 0);
    }
    CHECK(nn_freemsg(rbody) == 0);
    return 0;
}
