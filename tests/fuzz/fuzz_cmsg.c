/* Fuzz target for messages with control data through the public API:
   nn_sendmsg and nn_recvmsg with any shape of nn_msghdr (gather and scatter
   iovecs of any sizes, NULL and NN_MSG bodies, control data as a buffer of
   any size or an NN_MSG chunk; src/core/msgio.c), SP headers taken from
   control data by raw sockets of every protocol and parsed by their peers
   (the REQ/REP and SURVEYOR/RESPONDENT backtraces, BUS's pipe header,
   protocols/), over inproc. fuzz_sphdr.c covers the NN_CMSG_* iterator and
   PAIR; here every protocol sees the headers.

   Checked, besides no crash, leak or over-read: each call fails only with an
   errno SPEC.md allows, and with the one it names for a bad iovec; an NN_MSG
   body stays the caller's exactly when the send failed, an NN_MSG control
   chunk exactly when an iovec error came first (nn_freemsg says which:
   0 for a chunk the caller holds, EFAULT otherwise); a received message is
   the tail of what was sent (header included: cooked receivers strip what
   their protocol reads), copied into the caller's iovecs up to their size,
   with the full size returned; the control data received is one SP_HDR
   cmsg, empty for a cooked socket and a backtrace of 4-byte words for a raw
   REP or RESPONDENT, then the transport's; a reply from a cooked REP or
   RESPONDENT reaches the raw requester with the backtrace's first word as
   header and the rest of it in front of the reply; a reply from a raw REP
   or RESPONDENT with the header it received reaches the cooked requester.

   Input: records until the input ends.
     byte 0   bits 0-3: the flow (flows[], modulo 10); bit 4: send the body
              as an NN_MSG chunk; bit 5: the control data as an NN_MSG chunk;
              bit 6: no control data; bit 7: reply (REP and RESPONDENT
              receivers, cooked or raw)
     byte 1   bits 0-1: send iovecs (0-3); bits 2-3: receive iovecs (0-3);
              bit 4: receive the body as an NN_MSG chunk; bits 5-6: receive
              control data: 0 none, 1 an NN_MSG chunk, 2-3 a buffer of the
              size in byte 2; bit 7: msg_iovlen -1 on the send
     byte 2   that size
     per send iovec: [L] and L bytes; L = 255: a NULL iov_base (length 1)
     control: [C] then, for C < 128, C bytes of control data as they are;
              for C >= 128, an SP_HDR cmsg carrying the next C - 128 bytes as
              the header, then [T] and T bytes of control data after it
     per receive iovec: [L], its length
     byte     the reply's length */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nanomsg/bus.h>
#include <nanomsg/nn.h>
#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>
#include <nanomsg/survey.h>

#include "core/chunk.h"

#include "fuzz.h"

#define CHECK(cond)                                                                           \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            fprintf(stderr, "fuzz_cmsg: %s:%d: check failed: %s (errno %d)\n", __FILE__, __LINE__, \
                    #cond, errno);                                                            \
            abort();                                                                          \
        }                                                                                     \
    } while (0)

/* A sender and a receiver over inproc; raw sockets pass headers through. */
static const struct flow {
    int sdomain, sproto, rdomain, rproto;
} flows[10] = {
    {AF_SP_RAW, NN_REQ, AF_SP, NN_REP},
    {AF_SP, NN_REQ, AF_SP_RAW, NN_REP},
    {AF_SP_RAW, NN_SURVEYOR, AF_SP, NN_RESPONDENT},
    {AF_SP, NN_SURVEYOR, AF_SP_RAW, NN_RESPONDENT},
    {AF_SP_RAW, NN_BUS, AF_SP, NN_BUS},
    {AF_SP_RAW, NN_PAIR, AF_SP, NN_PAIR},
    {AF_SP_RAW, NN_PUSH, AF_SP, NN_PULL},
    {AF_SP_RAW, NN_PUB, AF_SP, NN_SUB},
    {AF_SP, NN_PAIR, AF_SP_RAW, NN_PAIR},
    {AF_SP, NN_BUS, AF_SP_RAW, NN_BUS},
};
#define NFLOWS 10

static int snd[NFLOWS], rcv[NFLOWS];
static bool ready;

static void close_all(void)
{
    for (int f = 0; f < NFLOWS; f++) {
        nn_close(snd[f]);
        nn_close(rcv[f]);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    for (int f = 0; f < NFLOWS; f++) {
        char url[64];
        snprintf(url, sizeof url, "inproc://fuzz-cmsg-%d", f);
        snd[f] = nn_socket(flows[f].sdomain, flows[f].sproto);
        rcv[f] = nn_socket(flows[f].rdomain, flows[f].rproto);
        CHECK(snd[f] >= 0 && rcv[f] >= 0);
        CHECK(nn_bind(rcv[f], url) >= 0 && nn_connect(snd[f], url) >= 0);
        if (flows[f].rproto == NN_SUB)
            CHECK(nn_setsockopt(rcv[f], NN_SUB, NN_SUB_SUBSCRIBE, "", 0) == 0);
        if (flows[f].sproto == NN_SURVEYOR && flows[f].sdomain == AF_SP) {
            /* A survey outlives any input, however slow the machine. */
            int deadline = 3600 * 1000;
            CHECK(nn_setsockopt(snd[f], NN_SURVEYOR, NN_SURVEYOR_DEADLINE, &deadline, sizeof deadline) == 0);
        }
    }
    ready = true;
    atexit(close_all);
    return 0;
}

/* ---- reading the input ---- */

struct in {
    const uint8_t *p;
    size_t n;
};

static uint8_t take(struct in *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

static size_t take_bytes(struct in *in, uint8_t *out, size_t want)
{
    size_t k = want < in->n ? want : in->n;
    memcpy(out, in->p, k);
    in->p += k;
    in->n -= k;
    return k;
}

/* ---- checks ---- */

/* The SP header in received control data (buf, len bytes, as the library
   wrote it); NULL when the buffer was too small for it (nothing written). */
static const uint8_t *received_sphdr(const uint8_t *buf, size_t len, size_t *hlen)
{
    struct nn_cmsghdr h;
    if (len < NN_CMSG_SPACE(sizeof(size_t)))
        return NULL;
    memcpy(&h, buf, sizeof h);
    CHECK(h.cmsg_level == PROTO_SP && h.cmsg_type == SP_HDR);
    memcpy(hlen, buf + NN_CMSG_SPACE(0), sizeof *hlen);
    CHECK(h.cmsg_len == NN_CMSG_SPACE(sizeof(size_t) + *hlen));
    CHECK(h.cmsg_len <= len);
    /* Whatever follows is a walkable list inside the buffer. */
    struct nn_msghdr mh;
    memset(&mh, 0, sizeof mh);
    uint8_t *copy = malloc(len); /* aligned for nn_cmsghdr */
    CHECK(copy != NULL);
    memcpy(copy, buf, len);
    mh.msg_control = copy;
    mh.msg_controllen = len;
    size_t steps = 0;
    for (struct nn_cmsghdr *c = NN_CMSG_FIRSTHDR(&mh); c; c = NN_CMSG_NXTHDR(&mh, c)) {
        size_t off = (size_t) ((uint8_t *) c - copy);
        CHECK(off + c->cmsg_len <= len);
        CHECK(++steps <= len / NN_CMSG_SPACE(0));
    }
    free(copy);
    return buf + NN_CMSG_SPACE(sizeof(size_t));
}

/* A backtrace as a raw REP/RESPONDENT shows it: 4-byte words, the last one
   (the request id) with the top bit set, every other one without. */
static void check_backtrace(const uint8_t *h, size_t hl)
{
    CHECK(hl >= 8 && hl % 4 == 0);
    for (size_t i = 0; i < hl; i += 4)
        CHECK(((h[i] & 0x80) != 0) == (i + 4 == hl));
}

/* The length of the backtrace at the front of msg (4-byte words up to the
   first with the top bit set), 0 if there is none. */
static size_t backtrace_len(const uint8_t *m, size_t len)
{
    for (size_t i = 0; i + 4 <= len; i += 4)
        if (m[i] & 0x80)
            return i + 4;
    return 0;
}

/* The SP header nn_sendmsg takes from control data (SPEC.md §1.3, as
   fuzz_sphdr.c checks it): the first PROTO_SP/SP_HDR cmsg the NN_CMSG_*
   iteration reaches, used if its data is longer than a size_t and holds a
   hdrlen that fits after it. Sets *hdr and *hlen (NULL, 0 for none). */
static void control_sphdr(const uint8_t *buf, size_t len, const uint8_t **hdr, size_t *hlen)
{
    *hdr = NULL;
    *hlen = 0;
    struct nn_msghdr mh;
    memset(&mh, 0, sizeof mh);
    mh.msg_control = (void *) buf;
    mh.msg_controllen = len;
    for (struct nn_cmsghdr *c = NN_CMSG_FIRSTHDR(&mh); c; c = NN_CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != PROTO_SP || c->cmsg_type != SP_HDR)
            continue;
        size_t clen = c->cmsg_len - NN_CMSG_SPACE(0);
        if (c->cmsg_len < NN_CMSG_SPACE(0) || clen <= sizeof(size_t))
            return;
        size_t hl;
        memcpy(&hl, NN_CMSG_DATA(c), sizeof hl);
        if (hl <= clen - sizeof(size_t)) {
            *hdr = NN_CMSG_DATA(c) + sizeof(size_t);
            *hlen = hl;
        }
        return;
    }
}

/* ---- one record ---- */

struct sent {
    uint8_t wire[2048]; /* SP header given in the control data, then the body */
    size_t wlen;        /* (size_t) -1: a header too long to keep */
};

/* Builds and sends one message; true if the send succeeded. */
static bool do_send(int s, uint8_t b0, uint8_t b1, struct in *in, struct sent *sent)
{
    struct nn_iovec iov[3];
    uint8_t bufs[3][256];
    int niov = b1 & 3;
    bool body_chunk = b0 & 16;
    bool ctrl_chunk = b0 & 32;
    bool no_ctrl = b0 & 64;
    int want_err = 0; /* an iovec error the library must report */
    uint8_t body[3 * 256];
    size_t blen = 0;
    void *bchunk = NULL;
    for (int i = 0; i < niov; i++) {
        uint8_t l = take(in);
        if (l == 255) {
            iov[i].iov_base = NULL;
            iov[i].iov_len = 1;
            if (!want_err)
                want_err = EFAULT;
            continue;
        }
        size_t got = take_bytes(in, bufs[i], l);
        iov[i].iov_base = bufs[i];
        iov[i].iov_len = got;
        memcpy(body + blen, bufs[i], got);
        blen += got;
    }
    if (body_chunk) {
        /* One NN_MSG iovec with the bytes of the first, else an NN_MSG among
           plain ones (EINVAL). */
        size_t l = niov ? iov[0].iov_len : 0;
        bchunk = nn_allocmsg(l, 0);
        CHECK(bchunk != NULL);
        if (l)
            memcpy(bchunk, niov && iov[0].iov_base ? iov[0].iov_base : body, l);
        if (niov <= 1) {
            iov[0].iov_base = &bchunk;
            iov[0].iov_len = NN_MSG;
            niov = 1;
            want_err = 0;
            blen = l;
            memcpy(body, bchunk, l);
        } else {
            iov[1].iov_base = &bchunk;
            iov[1].iov_len = NN_MSG;
            want_err = want_err == EFAULT && iov[0].iov_base == NULL ? EFAULT : EINVAL;
        }
    }

    /* The control data. */
    uint8_t craw[128 + 256 + 64];
    size_t clen = 0;
    uint8_t c = take(in);
    uint8_t hdr[128];
    size_t hlen = 0;
    if (c < 128) {
        clen = take_bytes(in, craw, c);
    } else {
        hlen = take_bytes(in, hdr, c - 128u);
        struct nn_cmsghdr ch = {NN_CMSG_SPACE(sizeof(size_t) + hlen), PROTO_SP, SP_HDR};
        memset(craw, 0, sizeof craw);
        memcpy(craw, &ch, sizeof ch);
        memcpy(craw + NN_CMSG_SPACE(0), &hlen, sizeof hlen);
        memcpy(craw + NN_CMSG_SPACE(sizeof(size_t)), hdr, hlen);
        clen = NN_CMSG_SPACE(sizeof(size_t) + hlen);
        clen += take_bytes(in, craw + clen, take(in) % 64);
    }
    void *cchunk = NULL;
    uint8_t *cplain = malloc(clen ? clen : 1); /* exactly clen: ASan sees over-reads */
    CHECK(cplain != NULL);
    memcpy(cplain, craw, clen);
    struct nn_msghdr h;
    memset(&h, 0, sizeof h);
    h.msg_iov = iov;
    h.msg_iovlen = (b1 & 128) ? -1 : niov;
    if (b1 & 128)
        want_err = EMSGSIZE;
    if (!no_ctrl) {
        if (ctrl_chunk) {
            cchunk = nn_allocmsg(clen, 0);
            CHECK(cchunk != NULL);
            memcpy(cchunk, craw, clen);
            h.msg_control = &cchunk;
            h.msg_controllen = NN_MSG;
        } else {
            h.msg_control = cplain;
            h.msg_controllen = clen;
        }
    }

    errno = 0;
    int rc = nn_sendmsg(s, &h, NN_DONTWAIT);
    int err = errno;
    if (want_err) {
        CHECK(rc == -1 && err == want_err);
    } else if (rc < 0) {
        CHECK(err == EAGAIN || err == EFSM || err == EINVAL);
    } else {
        CHECK((size_t) rc == blen);
    }
    /* Who holds the chunks now. */
    if (bchunk && rc < 0)
        CHECK(nn_freemsg(bchunk) == 0);
    if (cchunk) {
        bool ours = want_err != 0; /* an iovec error leaves it alone */
        errno = 0;
        CHECK(nn_freemsg(cchunk) == (ours ? 0 : -1));
        CHECK(ours || errno == EFAULT);
    }
    /* What a peer may receive: the header the control data gave, then the
       body. */
    sent->wlen = 0;
    if (!no_ctrl) {
        const uint8_t *hp;
        size_t hl;
        control_sphdr(cplain, clen, &hp, &hl);
        if (hl <= 1024) {
            if (hl) /* hp is NULL when there is no header */
                memcpy(sent->wire, hp, hl);
            sent->wlen = hl;
        } else {
            sent->wlen = (size_t) -1; /* not kept: no content check */
        }
    }
    if (sent->wlen != (size_t) -1) {
        memcpy(sent->wire + sent->wlen, body, blen);
        sent->wlen += blen;
    }
    free(cplain);
    return rc >= 0;
}

/* Receives one message (NN_DONTWAIT) into the shape b1 and in describe;
   returns its length or -1, with the bytes the caller's buffers got (a
   copy in *body, caller frees; *known of them) and the SP header (in hdr,
   up to 128 bytes; *hlen -1 when the control buffer had no room for it). */
static int do_recv(int s, bool raw, uint8_t b1, uint8_t csize, struct in *in, uint8_t **body, size_t *known,
                   uint8_t *hdr, size_t *hlen)
{
    struct nn_iovec iov[3];
    uint8_t *bufs[3] = {NULL, NULL, NULL};
    int niov = (b1 >> 2) & 3;
    void *bchunk = NULL;
    for (int i = 0; i < niov; i++) {
        size_t l = take(in);
        bufs[i] = malloc(l ? l : 1);
        CHECK(bufs[i] != NULL);
        iov[i].iov_base = bufs[i];
        iov[i].iov_len = l;
    }
    bool body_chunk = b1 & 16;
    if (body_chunk) {
        iov[0].iov_base = &bchunk;
        iov[0].iov_len = NN_MSG;
        if (!niov)
            niov = 1;
    }
    int cmode = (b1 >> 5) & 3;
    void *cchunk = NULL;
    uint8_t *cbuf = NULL;
    struct nn_msghdr h;
    memset(&h, 0, sizeof h);
    h.msg_iov = iov;
    h.msg_iovlen = body_chunk ? 1 : niov;
    if (cmode == 1) {
        h.msg_control = &cchunk;
        h.msg_controllen = NN_MSG;
    } else if (cmode >= 2) {
        cbuf = malloc(csize ? csize : 1);
        CHECK(cbuf != NULL);
        memset(cbuf, 0xa5, csize);
        h.msg_control = cbuf;
        h.msg_controllen = csize;
    }
    errno = 0;
    int rc = nn_recvmsg(s, &h, NN_DONTWAIT);
    if (rc < 0) {
        CHECK(errno == EAGAIN || errno == EFSM);
    } else {
        size_t len = (size_t) rc;
        *body = malloc(len ? len : 1);
        CHECK(*body != NULL);
        if (body_chunk) {
            CHECK(bchunk != NULL && sp_chunk_valid(bchunk) && sp_chunk_size(bchunk) == len);
            memcpy(*body, bchunk, len);
            CHECK(nn_freemsg(bchunk) == 0);
            *known = len;
        } else {
            /* Scattered up to the iovecs' room; the rest is cut off. */
            size_t off = 0;
            for (int i = 0; i < niov && off < len; i++) {
                size_t k = iov[i].iov_len < len - off ? iov[i].iov_len : len - off;
                memcpy(*body + off, bufs[i], k);
                off += k;
            }
            *known = off;
        }
        const uint8_t *ctl = cmode == 1 ? cchunk : cbuf;
        size_t clen = cmode == 1 ? (cchunk ? sp_chunk_size(cchunk) : 0) : cmode >= 2 ? csize : 0;
        if (cmode == 1)
            CHECK(cchunk != NULL);
        bool untouched = cmode >= 2;
        for (size_t i = 0; i < clen && untouched; i++)
            untouched = ctl[i] == 0xa5;
        if (cmode && !untouched) {
            size_t hl = 0;
            const uint8_t *p = received_sphdr(ctl, clen, &hl);
            CHECK(p != NULL);
            {
                CHECK(raw || hl == 0);
                if (hl <= 128) {
                    memcpy(hdr, p, hl);
                    *hlen = hl;
                }
            }
        }
        /* A buffer too small for the SP header is left as it was; a
           buffer that has room gets it. */
        if (untouched)
            CHECK(clen < NN_CMSG_SPACE(sizeof(size_t)) || raw);
        if (cchunk)
            CHECK(nn_freemsg(cchunk) == 0);
    }
    for (int i = 0; i < 3; i++)
        free(bufs[i]);
    free(cbuf);
    return rc;
}

/* The request/reply round trip back to the sender of flow f. */
static void reply(int f, const struct sent *req, const uint8_t *rhdr, size_t rhl, struct in *in)
{
    const struct flow *fl = &flows[f];
    uint8_t body[64];
    size_t bl = take(in) % sizeof body;
    for (size_t i = 0; i < bl; i++)
        body[i] = (uint8_t) ('a' + i % 26);
    bool raw = fl->rdomain == AF_SP_RAW;
    struct nn_msghdr h;
    struct nn_iovec iov = {body, bl};
    memset(&h, 0, sizeof h);
    h.msg_iov = &iov;
    h.msg_iovlen = 1;
    uint8_t ctl[NN_CMSG_SPACE(sizeof(size_t) + 128)];
    if (raw) {
        /* Back with the header it came with. */
        struct nn_cmsghdr ch = {NN_CMSG_SPACE(sizeof(size_t) + rhl), PROTO_SP, SP_HDR};
        memset(ctl, 0, sizeof ctl);
        memcpy(ctl, &ch, sizeof ch);
        memcpy(ctl + NN_CMSG_SPACE(0), &rhl, sizeof rhl);
        memcpy(ctl + NN_CMSG_SPACE(sizeof(size_t)), rhdr, rhl);
        h.msg_control = ctl;
        h.msg_controllen = NN_CMSG_SPACE(sizeof(size_t) + rhl);
    }
    int rc = nn_sendmsg(rcv[f], &h, NN_DONTWAIT);
    CHECK(rc == (int) bl);

    void *got = NULL, *gctl = NULL;
    struct nn_iovec riov = {&got, NN_MSG};
    struct nn_msghdr r;
    memset(&r, 0, sizeof r);
    r.msg_iov = &riov;
    r.msg_iovlen = 1;
    r.msg_control = &gctl;
    r.msg_controllen = NN_MSG;
    rc = nn_recvmsg(snd[f], &r, NN_DONTWAIT);
    CHECK(rc >= 0); /* inproc delivers at once */
    size_t hl = 0;
    const uint8_t *hp = received_sphdr(gctl, sp_chunk_size(gctl), &hl);
    CHECK(hp != NULL);
    if (raw) {
        /* The cooked requester: its own request id, stripped. */
        CHECK(hl == 0 && (size_t) rc == bl && memcmp(got, body, bl) == 0);
    } else {
        /* The raw requester: the backtrace's first word as the header, the
           rest of it in front of the reply. */
        size_t bt = backtrace_len(req->wire, req->wlen);
        CHECK(bt >= 4);
        CHECK(hl == 4 && memcmp(hp, req->wire, 4) == 0);
        CHECK((size_t) rc == bt - 4 + bl);
        CHECK(memcmp(got, req->wire + 4, bt - 4) == 0 && memcmp((uint8_t *) got + bt - 4, body, bl) == 0);
    }
    nn_freemsg(got);
    nn_freemsg(gctl);
}

static void drain(int s)
{
    void *m;
    while (nn_recv(s, &m, NN_MSG, NN_DONTWAIT) >= 0)
        nn_freemsg(m);
}

static void record(struct in *in)
{
    uint8_t b0 = take(in), b1 = take(in), csize = take(in);
    int f = (b0 & 15) % NFLOWS;
    const struct flow *fl = &flows[f];
    struct sent sent;
    bool ok = do_send(snd[f], b0, b1, in, &sent);
    uint8_t *body = NULL;
    size_t known = 0;
    uint8_t hdr[128];
    size_t hlen = (size_t) -1;
    bool raw = fl->rdomain == AF_SP_RAW;
    int rc = do_recv(rcv[f], raw, b1, csize, in, &body, &known, hdr, &hlen);
    if (rc >= 0) {
        /* Each record's message is received in the same record: nothing
           else can be there. */
        CHECK(ok);
        /* The tail of what was sent (a header from the control data
           included), as far as the caller's buffers held it. */
        size_t len = (size_t) rc;
        if (sent.wlen != (size_t) -1) {
            CHECK(len <= sent.wlen);
            CHECK(known <= len && (known == 0 || memcmp(body, sent.wire + sent.wlen - len, known) == 0));
        }
        bool rep = fl->rproto == NN_REP || fl->rproto == NN_RESPONDENT;
        if (raw && rep && hlen != (size_t) -1)
            check_backtrace(hdr, hlen);
        if ((b0 & 128) && rep && sent.wlen != (size_t) -1 && (!raw || hlen != (size_t) -1))
            reply(f, &sent, hdr, hlen, in);
    }
    free(body);
    drain(rcv[f]);
    drain(snd[f]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready)
        LLVMFuzzerInitialize(NULL, NULL);
    struct in in = {data, size};
    while (in.n)
        record(&in);
    return 0;
}
