/* Fuzz target for the WebSocket wire (transports/ws/wswire.c): the opening
   handshake parsers sp_ws_parse_request (server) and sp_ws_parse_response
   (client), and the frame decoder, driven through sp_wswire_ops exactly as a
   connection drives it (space, then commit of at most that many bytes) and
   compared with an independent decoder written here from RFC 6455: the same
   messages (bytes and opcode) must come out, and the connection must end
   exactly when the reference says, with the same close code.

   The library has no pure entry point for the frame decoder: its ops take an
   sp_stream. Here the stream is a zeroed struct with just what the wire
   uses: the endpoint's NN_RCVMAXSIZE and NN_WS_MSG_TYPE, a socket (for the
   lock sp_stream_send_raw takes; the stream is never active and marked
   broken, so pongs are not queued), and one end of a socketpair as its fd,
   where the close frames written by sp_stream_write_now are read back and
   checked. Pongs themselves are not seen here (tests/tls/test_ws.c checks
   them on a real connection).

   Input layout:
     byte 0   bits 0-1: target: 0 request, 1 response, 2 frames as the
              server (client frames are masked), 3 frames as the client
     request  bits 2-5 of byte 0: the server's socket type (index into
              types[], modulo 10); the rest is the request
     response the rest is the response; the accept key expected is the one of
              the RFC 6455 sample nonce
     frames   bits 2-4: maxsize (see maxsizes[]); bits 5-7: K, the number of
              read-size bytes that follow (cut the stream into reads as in
              fuzz_decoder.c: 0 = all the space offered, 1..239 bytes,
              240..255 = (v - 239) * 4 KiB); then the byte stream */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nanomsg/bus.h>
#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>
#include <nanomsg/survey.h>
#include <nanomsg/ws.h>

#include "core/chunk.h"
#include "core/ep.h"
#include "core/msg.h"
#include "core/sock.h"
#include "protocol.h"
#include "utils/stream.h"
#include "ws/wswire.h"

#include "fuzz.h"

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "fuzz_ws: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                \
        }                                                                           \
    } while (0)

/* With unlimited maxsize the decoder reserves what a frame header announces;
   an input announcing more than this runs with this as maxsize instead. */
#define FUZZ_ALLOC_LIMIT (4u << 20)

static const int64_t maxsizes[8] = {-1, 0, 1, 10, 125, 126, 65536, 1024 * 1024};

static const int types[10] = {NN_PAIR, NN_REQ, NN_REP, NN_PUB, NN_SUB,
                              NN_SURVEYOR, NN_RESPONDENT, NN_PUSH, NN_PULL, NN_BUS};

#define SAMPLE_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

static bool has_end(const uint8_t *p, size_t n)
{
    for (size_t i = 3; i < n; i++)
        if (memcmp(p + i - 3, "\r\n\r\n", 4) == 0)
            return true;
    return false;
}

/* ---- handshake parsers ---- */

static void fuzz_request(const uint8_t *data, size_t size, int our_protocol)
{
    static const char *const reasons[] = {
        "Opening Handshake Too Long", "Cannot Have Body", "Unsupported WebSocket Version",
        "Missing nanomsg Required Headers", "Incompatible Socket Type", "Unrecognized Socket Type",
    };
    struct sp_ws_request req;
    int rc = sp_ws_parse_request((const char *) data, size, our_protocol, &req);
    CHECK(rc == 0 || rc == -1);
    CHECK((rc == -1) == !has_end(data, size));
    if (rc < 0)
        return;
    CHECK(req.used >= 4 && req.used <= size);
    CHECK(memcmp(data + req.used - 4, "\r\n\r\n", 4) == 0);
    CHECK(!has_end(data, req.used - 1)); /* the first end */
    CHECK(strnlen(req.key, sizeof req.key) < sizeof req.key);
    CHECK(strnlen(req.protocol, sizeof req.protocol) < sizeof req.protocol);
    CHECK(strnlen(req.version, sizeof req.version) < sizeof req.version);
    if (req.status == 400) {
        bool known = false;
        CHECK(req.reason != NULL);
        for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
            known |= strcmp(req.reason, reasons[i]) == 0;
        CHECK(known);
        return;
    }
    CHECK(req.status == 101);
    CHECK(strcmp(req.version, "13") == 0);
    CHECK(req.key[0] != 0);
    /* The peer must be one our socket type talks to. */
    const struct sp_socktype *t = sp_socktype_find(AF_SP, our_protocol);
    CHECK(t != NULL && sp_socktype_ispeer(t, req.peer));
    char accept[32];
    CHECK(sp_ws_accept_key(req.key, accept, sizeof accept) == 0);
    CHECK(strlen(accept) == 28);
}

static void fuzz_response(const uint8_t *data, size_t size)
{
    size_t used = 0;
    int rc = sp_ws_parse_response((const char *) data, size, SAMPLE_ACCEPT, &used);
    CHECK(rc == -1 || rc == 0 || rc == 1);
    CHECK((rc == -1) == !has_end(data, size));
    if (rc < 0)
        return;
    CHECK(used >= 4 && used <= size && memcmp(data + used - 4, "\r\n\r\n", 4) == 0);
    if (rc == 0) {
        CHECK(used >= 12 && memcmp(data, "HTTP/1.1 101", 12) == 0);
        CHECK(memmem(data, used, SAMPLE_ACCEPT, strlen(SAMPLE_ACCEPT)) != NULL);
    }
}

/* ---- the reference frame decoder ---- */

struct ref_msg {
    size_t off;  /* into ref.buf */
    size_t len;
    int opcode;
};

struct ref {
    uint8_t *buf;          /* unmasked payloads of delivered messages */
    size_t buflen;
    struct ref_msg *msgs;
    size_t nmsgs;
    int end_code;          /* 0: the stream is still open at its end; else the
                              close code we send (failure, or close reply) */
    uint64_t max_alloc;    /* largest message size the decoder would reserve */
};

static bool ref_utf8(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        size_t k;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            k = 1, cp = c & 0x1f, min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            k = 2, cp = c & 0x0f, min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            k = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i <= k)
            return false;
        for (size_t j = 1; j <= k; j++) {
            if ((p[i + j] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (p[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += k + 1;
    }
    return true;
}

static bool ref_close_code_ok(int c)
{
    /* RFC 6455 §7.4: the defined codes that may be sent, and 3000-4999. */
    return c == 1000 || c == 1001 || c == 1002 || c == 1003 || (c >= 1007 && c <= 1011) ||
           (c >= 3000 && c <= 4999);
}

static void ref_parse(struct ref *r, bool client, int64_t maxsize, const uint8_t *s, size_t n)
{
    memset(r, 0, sizeof *r);
    r->buf = malloc(n + 1);
    r->msgs = malloc((n / 2 + 1) * sizeof *r->msgs);
    CHECK(r->buf && r->msgs);
    size_t pos = 0;
    bool in_msg = false;
    int msg_op = 0;
    size_t msg_start = 0; /* in r->buf */
    uint64_t msglen = 0;
    for (;;) {
        if (n - pos < 2)
            return;
        const uint8_t *p = s + pos;
        bool fin = p[0] & 0x80, masked = p[1] & 0x80;
        int op = p[0] & 0x0f;
        uint64_t len = p[1] & 0x7f;
        size_t hl = 2 + (len == 126 ? 2 : len == 127 ? 8 : 0) + (masked ? 4 : 0);
        if (n - pos < hl)
            return;
        if (p[0] & 0x70 || masked == client) {
            r->end_code = 1002;
            return;
        }
        if (len == 126)
            len = (uint64_t) p[2] << 8 | p[3];
        else if (len == 127) {
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | p[2 + i];
        }
        const uint8_t *key = masked ? p + hl - 4 : NULL;
        bool control = op >= 8;
        if (control) {
            if ((op != 8 && op != 9 && op != 10) || !fin || len > 125) {
                r->end_code = 1002;
                return;
            }
        } else {
            if (op > 2 || (op == 0) != in_msg) {
                r->end_code = 1002;
                return;
            }
            if (len > (uint64_t) INT64_MAX - msglen || (maxsize >= 0 && msglen + len > (uint64_t) maxsize) ||
                len > SIZE_MAX / 2) {
                r->end_code = 1009;
                return;
            }
            if (msglen + len > r->max_alloc)
                r->max_alloc = msglen + len;
        }
        if (n - pos - hl < len) {
            /* Incomplete payload: the reservation still counted. */
            return;
        }
        uint8_t ctl[125];
        uint8_t *dst = control ? ctl : r->buf + msg_start + msglen;
        for (size_t i = 0; i < len; i++)
            dst[i] = p[hl + i] ^ (key ? key[i & 3] : 0);
        pos += hl + (size_t) len;
        if (control) {
            if (op == 8) {
                if (len == 1) {
                    r->end_code = 1002;
                } else if (len >= 2) {
                    int code = ctl[0] << 8 | ctl[1];
                    r->end_code = ref_close_code_ok(code) ? code : 1002;
                } else {
                    r->end_code = 1000;
                }
                return;
            }
            continue; /* ping (answered), pong (ignored) */
        }
        if (!in_msg) {
            in_msg = true;
            msg_op = op;
            msglen = 0;
        }
        msglen += len;
        if (!fin)
            continue;
        in_msg = false;
        if (msg_op == 1 && !ref_utf8(r->buf + msg_start, (size_t) msglen)) {
            r->end_code = 1007;
            return;
        }
        r->msgs[r->nmsgs++] = (struct ref_msg){msg_start, (size_t) msglen, msg_op};
        msg_start += (size_t) msglen;
        msglen = 0;
    }
}

static void ref_free(struct ref *r)
{
    free(r->buf);
    free(r->msgs);
}

/* ---- the library's decoder on a stand-in stream ---- */

static struct sp_sock *the_sock;

static struct sp_sock *sock_once(void)
{
    if (!the_sock) {
        const struct sp_socktype *t = sp_socktype_find(AF_SP, NN_PAIR);
        CHECK(t != NULL);
        CHECK(sp_sock_create(&the_sock, t, 0) == 0);
    }
    return the_sock;
}

static size_t read_size(const uint8_t *sizes, size_t k, size_t step, size_t room, size_t left)
{
    size_t n = room;
    if (k) {
        uint8_t v = sizes[step % k];
        if (v >= 240)
            n = (size_t) (v - 239) * 4096;
        else if (v > 0)
            n = v;
    }
    if (n > room)
        n = room;
    if (n > left)
        n = left;
    return n;
}

/* The opcode in a received message's NN_WS cmsg, or -1. */
static int msg_opcode(const struct sp_msg *m)
{
    if (!m->ctrl)
        return -1;
    CHECK(sp_chunk_valid(m->ctrl));
    CHECK(sp_chunk_size(m->ctrl) >= NN_CMSG_SPACE(1));
    struct nn_cmsghdr h;
    memcpy(&h, m->ctrl, sizeof h);
    CHECK(h.cmsg_level == NN_WS && h.cmsg_type == NN_WS_MSG_TYPE && h.cmsg_len == NN_CMSG_LEN(1));
    return ((const uint8_t *) m->ctrl)[NN_CMSG_SPACE(0)];
}

/* The close frame written to the socketpair: its code, 0 if none. */
static int written_close_code(int fd, bool client)
{
    uint8_t f[256];
    ssize_t n = recv(fd, f, sizeof f, MSG_DONTWAIT);
    if (n <= 0)
        return 0;
    CHECK(n >= 4);
    CHECK(f[0] == 0x88);
    CHECK(((f[1] & 0x80) != 0) == client);
    size_t len = f[1] & 0x7f, hl = client ? 6 : 2;
    CHECK(len >= 2 && len <= 125 && (size_t) n == hl + len);
    uint8_t c0 = f[hl], c1 = f[hl + 1];
    if (client) {
        c0 ^= f[2];
        c1 ^= f[3];
    }
    return c0 << 8 | c1;
}

static void fuzz_frames(const uint8_t *stream, size_t slen, const uint8_t *sizes, size_t k, bool client,
                        int64_t maxsize)
{
    struct ref ref;
    ref_parse(&ref, client, maxsize, stream, slen);
    if (maxsize < 0 && ref.max_alloc > FUZZ_ALLOC_LIMIT) {
        maxsize = FUZZ_ALLOC_LIMIT;
        ref_free(&ref);
        ref_parse(&ref, client, maxsize, stream, slen);
    }

    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    static struct sp_wswire_arg arg;
    arg.client = client;
    strcpy(arg.host, "localhost:80");
    strcpy(arg.resource, "/");
    struct sp_stream_cfg cfg = {&sp_wswire_ops, &arg, false, NULL, NULL};
    static char url[] = "localhost:80";
    struct sp_ep ep;
    memset(&ep, 0, sizeof ep);
    ep.addr = url;
    ep.sock = sock_once();
    atomic_store(&ep.sock->opt.rcvmaxsize, (int) maxsize);
    struct sp_stream *s = calloc(1, sizeof *s);
    CHECK(s != NULL);
    s->ep = &ep;
    s->cfg = &cfg;
    ep.bound = true; /* NN_WS_MSG_TYPE from the socket: the default */
    s->fd = sv[0];
    s->pipe.sock = ep.sock;
    /* Never active, and "broken": sp_stream_send_raw queues nothing (the
       pongs), whatever the numbering of the states. */
    s->broken = true;
    CHECK(sp_wswire_ops.init(s) == 0);
    CHECK(!client || s->hs_outlen > 0); /* a client queued its request */

    struct sp_msgq q;
    sp_msgq_init(&q);
    size_t got = 0, off = 0;
    int failed = 0;
    for (size_t step = 0; off < slen; step++) {
        void *buf;
        size_t room;
        sp_wswire_ops.space(s, &buf, &room);
        CHECK(buf != NULL && room > 0);
        size_t n = read_size(sizes, k, step, room, slen - off);
        memcpy(buf, stream + off, n);
        off += n;
        int rc = sp_wswire_ops.commit(s, n, &q);
        CHECK(rc == 0 || rc == -1);
        struct sp_msg m;
        while (sp_msgq_pop(&q, &m) == 0) {
            size_t blen = sp_msg_bodylen(&m);
            CHECK(m.hdrlen == 0);
            CHECK(got < ref.nmsgs);
            CHECK(blen == ref.msgs[got].len);
            CHECK(maxsize < 0 || blen <= (uint64_t) maxsize);
            CHECK(blen == 0 || memcmp(m.body, ref.buf + ref.msgs[got].off, blen) == 0);
            CHECK(msg_opcode(&m) == ref.msgs[got].opcode);
            got++;
            sp_msg_term(&m);
        }
        if (rc == -1) {
            failed = 1;
            break;
        }
    }
    if (got != ref.nmsgs || failed != (ref.end_code != 0))
        fprintf(stderr, "fuzz_ws: the decoder gave %zu messages and %s after %zu of %zu bytes; "
                        "the reference %zu messages and %s (close code %d)\n",
                got, failed ? "failed" : "went on", off, slen, ref.nmsgs, ref.end_code ? "failed" : "went on",
                ref.end_code);
    CHECK(got == ref.nmsgs);
    /* The connection ends exactly when the reference says, with its code. */
    CHECK(failed == (ref.end_code != 0));
    CHECK(written_close_code(sv[1], client) == ref.end_code);
    sp_msgq_term(&q);
    sp_wswire_ops.term(s);
    free(s->hs_out);
    free(s);
    close(sv[0]);
    close(sv[1]);
    ref_free(&ref);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int target = data[0] & 3;
    if (target == 0) {
        fuzz_request(data + 1, size - 1, types[((data[0] >> 2) & 15) % 10]);
        return 0;
    }
    if (target == 1) {
        fuzz_response(data + 1, size - 1);
        return 0;
    }
    int64_t maxsize = maxsizes[(data[0] >> 2) & 7];
    size_t k = data[0] >> 5;
    if (size < 1 + k)
        return 0;
    fuzz_frames(data + 1 + k, size - 1 - k, data + 1, k, target == 3, maxsize);
    return 0;
}

/* ---- well-formed inputs for the standalone runner ---- */

static size_t put(uint8_t *buf, size_t len, size_t cap, const void *p, size_t n)
{
    if (len + n > cap)
        n = cap - len;
    memcpy(buf + len, p, n);
    return len + n;
}

static size_t put_str(uint8_t *buf, size_t len, size_t cap, const char *s)
{
    return put(buf, len, cap, s, strlen(s));
}

static size_t gen_request(uint8_t *buf, size_t cap, uint64_t (*rnd)(void))
{
    static const char *const names[] = {"pair", "req", "rep", "pub", "sub", "surveyor",
                                        "respondent", "push", "pull", "bus"};
    static const char *const hosts[] = {"Host", "host", "HOST"};
    static const char *const versions[] = {"13", "13", "13", "12", "", "013"};
    size_t len = 0;
    buf[len++] = (uint8_t) (0 | (rnd() % 10) << 2);
    len = put_str(buf, len, cap, rnd() % 8 ? "GET /path HTTP/1.1\r\n" : "GET  HTTP/1.1\r\n");
    const char *lines[8];
    char proto[64], ver[64];
    size_t nl = 0;
    if (rnd() % 8)
        lines[nl++] = hosts[rnd() % 3][0] == 'H' ? "Host: localhost:80\r\n" : "host: x\r\n";
    if (rnd() % 8)
        lines[nl++] = rnd() % 2 ? "Upgrade: websocket\r\n" : "upgrade: WebSocket\r\n";
    if (rnd() % 8)
        lines[nl++] = rnd() % 2 ? "Connection: Upgrade\r\n" : "Connection: keep-alive, upgrade\r\n";
    if (rnd() % 8)
        lines[nl++] = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    snprintf(ver, sizeof ver, "Sec-WebSocket-Version: %s\r\n", versions[rnd() % 6]);
    if (rnd() % 8)
        lines[nl++] = ver;
    snprintf(proto, sizeof proto, "Sec-WebSocket-Protocol: %s.sp.nanomsg.org\r\n", names[rnd() % 10]);
    if (rnd() % 4)
        lines[nl++] = proto;
    if (rnd() % 4 == 0)
        lines[nl++] = "Origin: http://example.org\r\n";
    /* Any order. */
    for (size_t i = nl; i > 1; i--) {
        size_t j = rnd() % i;
        const char *t = lines[i - 1];
        lines[i - 1] = lines[j];
        lines[j] = t;
    }
    for (size_t i = 0; i < nl; i++)
        len = put_str(buf, len, cap, lines[i]);
    return put_str(buf, len, cap, "\r\n");
}

static size_t gen_frame(uint8_t *buf, size_t len, size_t cap, uint8_t b0, bool mask, const uint8_t *p,
                        size_t n, uint64_t (*rnd)(void))
{
    uint8_t h[14];
    size_t hl = 2;
    h[0] = b0;
    if (n <= 125 && rnd() % 8) {
        h[1] = (uint8_t) n;
    } else if (n <= 0xffff && rnd() % 4) {
        h[1] = 126, h[2] = (uint8_t) (n >> 8), h[3] = (uint8_t) n;
        hl = 4;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (uint8_t) ((uint64_t) n >> (56 - 8 * i));
        hl = 10;
    }
    uint8_t key[4] = {(uint8_t) rnd(), (uint8_t) rnd(), (uint8_t) rnd(), (uint8_t) rnd()};
    if (mask) {
        h[1] |= 0x80;
        memcpy(h + hl, key, 4);
        hl += 4;
    }
    if (len + hl + n > cap)
        return len;
    len = put(buf, len, cap, h, hl);
    for (size_t i = 0; i < n; i++)
        buf[len + i] = p[i] ^ (mask ? key[i & 3] : 0);
    return len + n;
}

size_t fuzz_generate(uint8_t *buf, size_t cap, uint64_t (*rnd)(void))
{
    switch (rnd() % 5) {
    case 0:
        return gen_request(buf, cap, rnd);
    case 1: {
        size_t len = 0;
        buf[len++] = 1;
        len = put_str(buf, len, cap,
                      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n");
        if (rnd() % 4)
            len = put_str(buf, len, cap, "Sec-WebSocket-Accept: " SAMPLE_ACCEPT "\r\n");
        if (rnd() % 2)
            len = put_str(buf, len, cap, "Sec-WebSocket-Protocol: pair.sp.nanomsg.org\r\n");
        return put_str(buf, len, cap, "\r\n");
    }
    default:
        break;
    }
    static const char *const texts[] = {
        "hello", "", "gr\xc3\xbc\xc3\x9f", "\xe2\x82\xac 1", "\xf0\x9f\x98\x80", "bad \xc3\x28", "\xed\xa0\x80",
    };
    static const int good_max[] = {0, 0, 6, 7, 4, 5};
    bool client = rnd() % 2;
    size_t k = rnd() % 8;
    size_t len = 0;
    buf[len++] = (uint8_t) ((client ? 3 : 2) | good_max[rnd() % 6] << 2 | k << 5);
    for (size_t i = 0; i < k; i++)
        buf[len++] = (uint8_t) (rnd() % 4 ? rnd() % 32 : rnd());
    bool mask = !client;
    size_t nframes = rnd() % 10;
    uint8_t payload[70000];
    for (size_t f = 0; f < nframes; f++) {
        switch (rnd() % 8) {
        case 0: { /* a ping, or a pong */
            size_t n = rnd() % 126;
            memset(payload, 'p', n);
            len = gen_frame(buf, len, cap, rnd() % 2 ? 0x89 : 0x8A, mask, payload, n, rnd);
            break;
        }
        case 1: { /* a text message */
            const char *t = texts[rnd() % 7];
            len = gen_frame(buf, len, cap, 0x81, mask, (const uint8_t *) t, strlen(t), rnd);
            break;
        }
        case 2: { /* a fragmented message, maybe with a ping inside */
            size_t parts = 2 + rnd() % 3;
            uint8_t op = rnd() % 2 ? 0x01 : 0x02;
            for (size_t i = 0; i < parts; i++) {
                size_t n = rnd() % 40;
                memset(payload, 'a' + (int) i, n);
                uint8_t b0 = (i == 0 ? op : 0x00) | (i + 1 == parts ? 0x80 : 0);
                len = gen_frame(buf, len, cap, b0, mask, payload, n, rnd);
                if (rnd() % 4 == 0)
                    len = gen_frame(buf, len, cap, 0x89, mask, payload, 3, rnd);
            }
            break;
        }
        case 3: { /* a big message */
            size_t n = rnd() % 2 ? 65536 + rnd() % 1000 : 126 + rnd() % 65000;
            memset(payload, (int) rnd(), n);
            len = gen_frame(buf, len, cap, 0x82, mask, payload, n, rnd);
            break;
        }
        case 4: { /* a close, with or without a code */
            uint8_t c[2] = {0x03, (uint8_t) (0xe8 + rnd() % 4)};
            len = gen_frame(buf, len, cap, 0x88, mask, c, rnd() % 3 ? 2 : 0, rnd);
            break;
        }
        default: { /* a binary message with an SP header */
            size_t n = 4 + rnd() % 100;
            memset(payload, 'b', n);
            payload[0] = 0x80;
            len = gen_frame(buf, len, cap, 0x82, mask, payload, n, rnd);
            break;
        }
        }
    }
    if (rnd() % 4 == 0 && len > 1 + k)
        len -= rnd() % ((len - 1 - k) / 2 + 1); /* cut short, mid-frame */
    return len;
}
