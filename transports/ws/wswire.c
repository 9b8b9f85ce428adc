/* WebSocket framing and handshake for SP. SHA-1 and base64 come from
   mbedTLS. */
#include "ws/wswire.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/base64.h>
#include <mbedtls/sha1.h>

#include <nanomsg/pair.h>
#include <nanomsg/ws.h>

#include "core/chunk.h"
#include "core/ep.h"
#include "core/msgio.h"
#include "core/sock.h"
#include "utils/random.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_RBUF 65536
/* Masking keys a client connection draws from the kernel at a time (see
   next_key). */
#define WS_KEYS 64

enum {
    WS_CONT = 0x0,
    WS_TEXT = 0x1,
    WS_BINARY = 0x2,
    WS_CLOSE = 0x8,
    WS_PING = 0x9,
    WS_PONG = 0xA,
};

/* The subprotocol of socket type name "req": "req.sp.nanomsg.org" (the
   names are the protocol registry's, protocols/registry.c). */
#define WS_SUBPROTOCOL ".sp.nanomsg.org"

/* ---- the NN_WS options ---- */

static const struct sp_intopt ws_opts[] = {
    {NN_WS_MSG_TYPE, NN_WS_MSG_TYPE_BINARY, NN_WS_MSG_TYPE_TEXT, NN_WS_MSG_TYPE_BINARY},
};
_Static_assert(NN_WS_MSG_TYPE_TEXT + 1 == NN_WS_MSG_TYPE_BINARY, "the two types make a range");

const struct sp_optset sp_ws_optset = SP_INTOPTSET(NN_WS, ws_opts);

/* NN_WS_MSG_TYPE when a connection starts, read when libnanomsg reads it: a
   connecting endpoint's copy from nn_connect; for a bound one, the socket's
   value at each accepted connection. Never per message. */
static int ws_msg_type(struct sp_ep *ep)
{
    if (!ep->bound)
        return ((const int *) sp_ep_opts(ep, &sp_ws_optset))[0];
    int o[1];
    sp_ep_opts_now(ep, &sp_ws_optset, o); /* plain data: cannot fail */
    return o[0];
}

/* ---- handshake ---- */

int sp_ws_accept_key(const char *key, char *out, size_t outlen)
{
    char buf[128];
    unsigned char digest[20];
    int n = snprintf(buf, sizeof buf, "%s%s", key, WS_GUID);
    if (n < 0 || (size_t) n >= sizeof buf)
        return -1;
    if (mbedtls_sha1_ret((const unsigned char *) buf, (size_t) n, digest) != 0)
        return -1;
    size_t olen;
    if (mbedtls_base64_encode((unsigned char *) out, outlen, &olen, digest, sizeof digest) != 0)
        return -1;
    return 0;
}

/* The end of the header block ("\r\n\r\n"), or NULL. */
static const char *find_end(const char *buf, size_t len)
{
    for (size_t i = 3; i < len; i++)
        if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' && buf[i - 3] == '\r')
            return buf + i + 1;
    return NULL;
}

static bool name_is(const char *p, size_t n, const char *name)
{
    return strlen(name) == n && strncasecmp(p, name, n) == 0;
}

/* Iterates "Name: value" lines between p and end. Returns false at the end;
   malformed lines are reported with *bad. */
static bool next_header(const char **pp, const char *end, const char **name, size_t *nlen, const char **val,
                        size_t *vlen, bool *bad)
{
    const char *p = *pp;
    const char *eol = p;
    while (eol + 1 < end && !(eol[0] == '\r' && eol[1] == '\n'))
        eol++;
    if (eol + 1 >= end || eol == p)
        return false; /* the blank line */
    *pp = eol + 2;
    const char *colon = memchr(p, ':', (size_t) (eol - p));
    if (!colon || colon == p) {
        *bad = true;
        return true;
    }
    *name = p;
    *nlen = (size_t) (colon - p);
    const char *v = colon + 1, *ve = eol;
    while (v < ve && (*v == ' ' || *v == '\t'))
        v++;
    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
        ve--;
    *val = v;
    *vlen = (size_t) (ve - v);
    return true;
}

static void copy_val(char *dst, size_t cap, const char *v, size_t n)
{
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, v, n);
    dst[n] = 0;
}

static bool contains_token_ci(const char *v, size_t n, const char *tok)
{
    size_t t = strlen(tok);
    for (size_t i = 0; i + t <= n; i++)
        if (strncasecmp(v + i, tok, t) == 0)
            return true;
    return false;
}

int sp_ws_parse_request(const char *buf, size_t len, int our_protocol, struct sp_ws_request *req)
{
    memset(req, 0, sizeof *req);
    const char *end = find_end(buf, len);
    if (!end)
        return -1;
    req->used = (size_t) (end - buf);
    req->status = 400;
    /* "GET <uri> HTTP/1.1", case-sensitive, single spaces. The URI is
       ignored; NNG 1.5 sends an empty one when its URL has no path. */
    const char *eol = memchr(buf, '\r', (size_t) (end - buf));
    size_t rl = (size_t) (eol - buf);
    if (rl < 13 || memcmp(buf, "GET ", 4) != 0 || memcmp(eol - 9, " HTTP/1.1", 9) != 0 ||
        memchr(buf + 4, ' ', rl - 13) != NULL) {
        req->reason = "Cannot Have Body";
        return 0;
    }
    bool host = false, upgrade = false, connection = false, bad = false, have_proto = false;
    const char *p = eol + 2, *name, *val;
    size_t nl, vl;
    while (next_header(&p, end, &name, &nl, &val, &vl, &bad)) {
        if (bad)
            break;
        if (name_is(name, nl, "Host"))
            host = true;
        else if (name_is(name, nl, "Upgrade"))
            upgrade = vl == 9 && strncasecmp(val, "websocket", 9) == 0;
        else if (name_is(name, nl, "Connection"))
            connection = contains_token_ci(val, vl, "upgrade");
        else if (name_is(name, nl, "Sec-WebSocket-Key"))
            copy_val(req->key, sizeof req->key, val, vl);
        else if (name_is(name, nl, "Sec-WebSocket-Version"))
            copy_val(req->version, sizeof req->version, val, vl);
        else if (name_is(name, nl, "Sec-WebSocket-Protocol")) {
            copy_val(req->protocol, sizeof req->protocol, val, vl);
            have_proto = true;
        }
    }
    if (bad) {
        req->reason = "Cannot Have Body";
        return 0;
    }
    if (!host || !upgrade || !connection || !req->key[0] || !req->version[0]) {
        req->reason = "Missing nanomsg Required Headers";
        return 0;
    }
    if (strcmp(req->version, "13") != 0) {
        req->reason = "Unsupported WebSocket Version";
        return 0;
    }
    if (!have_proto) {
        /* Plain WebSocket clients: only a PAIR server takes them. */
        if (our_protocol != NN_PAIR) {
            req->reason = "Incompatible Socket Type";
            return 0;
        }
        req->peer = NN_PAIR;
        req->status = 101;
        return 0;
    }
    /* The type the client wants the server to be. */
    size_t plen = strlen(req->protocol), slen = strlen(WS_SUBPROTOCOL);
    const struct sp_socktype *t = NULL;
    if (plen > slen && strcasecmp(req->protocol + plen - slen, WS_SUBPROTOCOL) == 0)
        t = sp_socktype_named(req->protocol, plen - slen);
    if (!t) {
        req->reason = "Unrecognized Socket Type";
        return 0;
    }
    if (t->protocol != our_protocol) {
        req->reason = "Incompatible Socket Type";
        return 0;
    }
    req->peer = t->peer;
    req->status = 101;
    return 0;
}

int sp_ws_parse_response(const char *buf, size_t len, const char *accept, size_t *used)
{
    const char *end = find_end(buf, len);
    if (!end)
        return -1;
    *used = (size_t) (end - buf);
    if (len < 12 || memcmp(buf, "HTTP/1.1 101", 12) != 0)
        return 1;
    const char *eol = memchr(buf, '\r', (size_t) (end - buf));
    bool upgrade = false, connection = false, key = false, bad = false;
    const char *p = eol + 2, *name, *val;
    size_t nl, vl;
    while (next_header(&p, end, &name, &nl, &val, &vl, &bad)) {
        if (bad)
            return 1;
        if (name_is(name, nl, "Upgrade"))
            upgrade = vl == 9 && strncasecmp(val, "websocket", 9) == 0;
        else if (name_is(name, nl, "Connection"))
            connection = contains_token_ci(val, vl, "upgrade");
        else if (name_is(name, nl, "Sec-WebSocket-Accept"))
            key = vl == strlen(accept) && memcmp(val, accept, vl) == 0;
    }
    return upgrade && connection && key ? 0 : 1;
}

/* ---- frames ---- */

struct ws_wire {
    const struct sp_wswire_arg *arg;
    bool client;
    int msg_type;            /* NN_WS_MSG_TYPE default for sends */
    const atomic_int *maxsize; /* NN_RCVMAXSIZE, read at each frame header */
    char accept[32];         /* client: the Sec-WebSocket-Accept we expect */
    uint8_t *rbuf;
    size_t rlen;
    /* the frame being read */
    bool in_frame;
    int opcode;
    bool fin;
    bool masked;
    uint8_t mask[4];
    uint64_t flen;
    uint64_t fdone;
    uint8_t ctl[125];
    /* the message being assembled */
    bool in_msg;
    int msg_opcode;
    uint8_t *msg;            /* chunk */
    size_t msglen;
    /* client: masking keys for data frames, fetched WS_KEYS at a time
       (socket lock: only ws_prepare draws them) */
    uint32_t keys[WS_KEYS];
    unsigned nkeys;
    /* The NN_WS_MSG_TYPE cmsg of received text and binary messages, made
       once and shared by reference: nothing changes a received message's
       control chunk in place (the reader's) */
    void *ctrl_text;
    void *ctrl_binary;
};

/* XORs n bytes at p with the 4-byte key, p[0] taking key[phase & 3]. A word
   at a time: byte by byte, masking was nearly all the CPU a large message
   cost on either side (callgrind: 90 % of the receiver's instructions at
   1 MiB). */
static void ws_mask(uint8_t *p, size_t n, const uint8_t key[4], size_t phase)
{
    size_t i = 0;
    while (i < n && ((uintptr_t) (p + i) & 7) != 0) {
        p[i] ^= key[(phase + i) & 3];
        i++;
    }
    if (n - i >= 8) {
        uint8_t k8[8];
        for (size_t j = 0; j < 8; j++)
            k8[j] = key[(phase + i + j) & 3];
        uint64_t m;
        memcpy(&m, k8, 8);
        for (; n - i >= 8; i += 8) {
            uint64_t v;
            memcpy(&v, p + i, 8);
            v ^= m;
            memcpy(p + i, &v, 8);
        }
    }
    for (; i < n; i++)
        p[i] ^= key[(phase + i) & 3];
}

/* A data frame's masking key. RFC 6455 wants each one unpredictable, from a
   strong source; one getrandom per frame was a system call per message
   (glibc 2.36 has no vDSO getrandom), so the kernel's output is fetched
   WS_KEYS keys at a time. Socket lock held. */
static uint32_t next_key(struct ws_wire *w)
{
    if (w->nkeys == 0) {
        if (getrandom(w->keys, sizeof w->keys, GRND_NONBLOCK) != (ssize_t) sizeof w->keys)
            return sp_random_u32();
        w->nkeys = WS_KEYS;
    }
    return w->keys[--w->nkeys];
}

/* The header of a final frame of plen payload bytes, with the masking key
   when we are the client: its length (at most 14). */
static size_t frame_head(struct ws_wire *w, uint8_t h[14], int opcode, size_t plen, uint32_t rkey)
{
    size_t hl = 2;
    h[0] = (uint8_t) (0x80 | opcode);
    if (plen <= 125) {
        h[1] = (uint8_t) plen;
    } else if (plen <= 0xffff) {
        h[1] = 126;
        h[2] = (uint8_t) (plen >> 8);
        h[3] = (uint8_t) plen;
        hl = 4;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (uint8_t) ((uint64_t) plen >> (56 - 8 * i));
        hl = 10;
    }
    if (w->client) {
        h[1] |= 0x80;
        memcpy(h + hl, &rkey, 4);
        hl += 4;
    }
    return hl;
}

/* A whole frame (header + payload, masked with key when we are the client)
   as a new chunk in *out. 0 or -ENOMEM. */
static int encode_with(struct ws_wire *w, int opcode, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                       uint32_t rkey, void **out)
{
    size_t plen = alen + blen;
    uint8_t h[14], key[4];
    size_t hl = frame_head(w, h, opcode, plen, rkey);
    memcpy(key, &rkey, 4);
    uint8_t *f = sp_chunk_alloc(hl + plen);
    if (!f)
        return -ENOMEM;
    memcpy(f, h, hl);
    if (alen)
        memcpy(f + hl, a, alen);
    if (blen)
        memcpy(f + hl + alen, b, blen);
    if (w->client)
        ws_mask(f + hl, plen, key, 0);
    *out = f;
    return 0;
}

/* A control frame (the reader's thread: its own key). */
static int encode(struct ws_wire *w, int opcode, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                  void **out)
{
    return encode_with(w, opcode, a, alen, b, blen, w->client ? sp_random_u32() : 0, out);
}

/* Closes with a status code: the close frame goes out if the kernel takes it. */
static int close_with(struct sp_stream *s, int code, const char *reason)
{
    struct ws_wire *w = s->wire;
    uint8_t payload[2 + 64];
    size_t rl = strlen(reason);
    if (rl > 64)
        rl = 64;
    payload[0] = (uint8_t) (code >> 8);
    payload[1] = (uint8_t) code;
    memcpy(payload + 2, reason, rl);
    void *f;
    if (encode(w, WS_CLOSE, payload, 2 + rl, NULL, 0, &f) == 0) {
        sp_stream_write_now(s, f, sp_chunk_size(f));
        sp_chunk_free(f);
    }
    return -1;
}

/* Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
static bool utf8_valid(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k;
        uint32_t cp;
        if ((c & 0xe0) == 0xc0) {
            k = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            k = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            k = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + k >= n)
            return false; /* truncated sequence */
        for (size_t j = 1; j <= k; j++) {
            if ((p[i + j] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i + j] & 0x3f);
        }
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += k + 1;
    }
    return true;
}

static bool close_code_ok(int code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) || (code >= 3000 && code <= 4999);
}

/* A complete frame is in: act on it. 0, or -1 to drop the connection. */
static int frame_done(struct sp_stream *s, struct sp_msgq *out)
{
    struct ws_wire *w = s->wire;
    switch (w->opcode) {
    case WS_PING: {
        /* Answered at once (libnanomsg delivered pings as messages). */
        void *f;
        if (encode(w, WS_PONG, w->ctl, (size_t) w->flen, NULL, 0, &f) == 0) {
            sp_stream_send_raw(s, f, sp_chunk_size(f));
            sp_chunk_free(f);
        }
        return 0;
    }
    case WS_PONG:
        return 0;
    case WS_CLOSE: {
        int code = 1000;
        if (w->flen == 1)
            return close_with(s, 1002, "Invalid close frame");
        if (w->flen >= 2) {
            code = (w->ctl[0] << 8) | w->ctl[1];
            if (!close_code_ok(code))
                return close_with(s, 1002, "Invalid close code");
        }
        uint8_t p[2] = {(uint8_t) (code >> 8), (uint8_t) code};
        void *f;
        if (encode(w, WS_CLOSE, p, 2, NULL, 0, &f) == 0) {
            sp_stream_write_now(s, f, sp_chunk_size(f));
            sp_chunk_free(f);
        }
        return -1;
    }
    default:
        break;
    }
    w->msglen += (size_t) w->flen;
    if (!w->fin)
        return 0;
    w->in_msg = false;
    if (w->msg_opcode == WS_TEXT && !utf8_valid(w->msg, w->msglen))
        return close_with(s, 1007, "Invalid UTF-8 code point in payload.");
    struct sp_msg m;
    sp_msg_init(&m);
    m.body = w->msg;
    sp_chunk_shrink(m.body, w->msglen);
    w->msg = NULL;
    /* The opcode travels with the message as an NN_WS cmsg. */
    void **ctrl = w->msg_opcode == WS_TEXT ? &w->ctrl_text : &w->ctrl_binary;
    if (!*ctrl && (*ctrl = sp_chunk_alloc(NN_CMSG_SPACE(1))) != NULL) {
        struct nn_cmsghdr ch;
        memset(*ctrl, 0, NN_CMSG_SPACE(1));
        ch.cmsg_len = NN_CMSG_LEN(1);
        ch.cmsg_level = NN_WS;
        ch.cmsg_type = NN_WS_MSG_TYPE;
        memcpy(*ctrl, &ch, sizeof ch);
        ((uint8_t *) *ctrl)[NN_CMSG_SPACE(0)] = (uint8_t) w->msg_opcode;
    }
    if (*ctrl) {
        sp_chunk_addref(*ctrl, 1);
        m.ctrl = *ctrl;
    }
    if (sp_msgq_push(out, &m) != 0) {
        sp_msg_term(&m);
        return -1;
    }
    return 0;
}

/* Parses a frame header at p (avail bytes): its length, or 0 if incomplete,
   or -1 after failing the connection. */
static long frame_header(struct sp_stream *s, const uint8_t *p, size_t avail)
{
    struct ws_wire *w = s->wire;
    if (avail < 2)
        return 0;
    bool fin = p[0] & 0x80;
    int opcode = p[0] & 0x0f;
    bool masked = p[1] & 0x80;
    uint64_t len = p[1] & 0x7f;
    size_t hl = 2 + (len == 126 ? 2 : len == 127 ? 8 : 0) + (masked ? 4 : 0);
    if (avail < hl)
        return 0;
    if (p[0] & 0x70)
        return close_with(s, 1002, "RSV bits set");
    if (masked == w->client)
        return close_with(s, 1002, w->client ? "Server frames must not be masked" : "Client frames must be masked");
    size_t o = 2;
    if (len == 126) {
        len = ((uint64_t) p[2] << 8) | p[3];
        o = 4;
    } else if (len == 127) {
        len = 0;
        for (int i = 0; i < 8; i++)
            len = (len << 8) | p[2 + i];
        o = 10;
    }
    if (masked)
        memcpy(w->mask, p + o, 4);
    if (opcode >= 0x8) {
        if (opcode != WS_CLOSE && opcode != WS_PING && opcode != WS_PONG)
            return close_with(s, 1002, "Unknown opcode");
        if (!fin || len > 125)
            return close_with(s, 1002, "Invalid control frame");
    } else {
        if (opcode != WS_CONT && opcode != WS_TEXT && opcode != WS_BINARY)
            return close_with(s, 1002, "Unknown opcode");
        if ((opcode == WS_CONT) != w->in_msg)
            return close_with(s, 1002, "Unexpected frame in message sequence");
        uint64_t have = w->in_msg ? w->msglen : 0; /* of this message so far */
        int max = atomic_load_explicit(w->maxsize, memory_order_relaxed);
        if (len > (uint64_t) INT64_MAX - have || (max >= 0 && have + len > (uint64_t) max))
            return close_with(s, 1009, "Message too big");
        if (len > SIZE_MAX / 2)
            return close_with(s, 1009, "Message too big");
        if (!w->in_msg) {
            w->in_msg = true;
            w->msg_opcode = opcode;
            w->msglen = 0;
            w->msg = sp_chunk_alloc((size_t) len);
            if (!w->msg)
                return -1;
        } else {
            void *n = sp_chunk_realloc(w->msg, w->msglen + (size_t) len);
            if (!n)
                return -1;
            w->msg = n;
        }
    }
    w->in_frame = true;
    w->fin = fin;
    w->opcode = opcode;
    w->masked = masked;
    w->flen = len;
    w->fdone = 0;
    return (long) hl;
}

static int ws_commit(struct sp_stream *s, size_t n, struct sp_msgq *out)
{
    struct ws_wire *w = s->wire;
    w->rlen += n;
    size_t off = 0;
    int rc = 0;
    for (;;) {
        if (!w->in_frame) {
            long hl = frame_header(s, w->rbuf + off, w->rlen - off);
            if (hl < 0) {
                rc = -1;
                break;
            }
            if (hl == 0)
                break;
            off += (size_t) hl;
        }
        uint64_t want = w->flen - w->fdone;
        size_t k = w->rlen - off < want ? w->rlen - off : (size_t) want;
        uint8_t *dst = w->opcode >= 0x8 ? w->ctl + w->fdone : w->msg + w->msglen + w->fdone;
        const uint8_t *src = w->rbuf + off;
        if (k)
            memcpy(dst, src, k);
        if (w->masked)
            ws_mask(dst, k, w->mask, (size_t) w->fdone);
        w->fdone += k;
        off += k;
        if (w->fdone < w->flen)
            break;
        w->in_frame = false;
        if (frame_done(s, out) != 0) {
            rc = -1;
            break;
        }
    }
    if (off) {
        memmove(w->rbuf, w->rbuf + off, w->rlen - off);
        w->rlen -= off;
    }
    return rc;
}

static int read_buffer(struct ws_wire *w);

static void ws_space(struct sp_stream *s, void **buf, size_t *len)
{
    struct ws_wire *w = s->wire;
    /* The end of the handshake made it; a reader of frames that skipped the
       handshake (the decoder's fuzz target) has it made here. */
    if (read_buffer(w) != 0) {
        *buf = NULL;
        *len = 0;
        return;
    }
    *buf = w->rbuf + w->rlen;
    *len = WS_RBUF - w->rlen;
}

/* The message's NN_WS_MSG_TYPE cmsg (nn_sendmsg control data), or -1. */
static int msg_opcode(struct sp_msg *m)
{
    long off = sp_msgio_find_cmsg(m, NN_WS, NN_WS_MSG_TYPE, 1);
    return off < 0 ? -1 : ((const uint8_t *) m->ctrl)[off + NN_CMSG_SPACE(0)];
}

/* The frame goes out as the message's SP header part (the frame header, then
   the SP header) and its body, masked where it lies: no copy of the body. A
   body shared with other pipes (fan-out) that a client must mask is copied
   instead, so that what they send stays as it was. */
static int ws_prepare(struct sp_stream *s, struct sp_msg *msg)
{
    struct ws_wire *w = s->wire;
    int op = msg_opcode(msg);
    if (op != WS_TEXT && op != WS_BINARY)
        op = w->msg_type;
    uint32_t rkey = w->client ? next_key(w) : 0;
    size_t blen = sp_msg_bodylen(msg);
    if (w->client && msg->body && !sp_chunk_exclusive(msg->body)) {
        void *f;
        int rc = encode_with(w, op, sp_msg_hdr(msg), msg->hdrlen, msg->body, blen, rkey, &f);
        if (rc != 0)
            return rc;
        sp_msg_term(msg);
        msg->body = f;
        return 0;
    }
    uint8_t h[14];
    size_t spl = msg->hdrlen;
    size_t hl = frame_head(w, h, op, spl + blen, rkey);
    int rc = sp_msg_push_hdr(msg, h, hl);
    if (rc != 0)
        return rc;
    if (w->client) {
        uint8_t key[4];
        memcpy(key, &rkey, 4);
        ws_mask(sp_msg_hdr(msg) + hl, spl, key, 0);
        if (blen)
            ws_mask(msg->body, blen, key, spl);
    }
    /* The message type cmsg is not sent; it was dropped with the copy before. */
    if (msg->ctrl) {
        sp_chunk_free(msg->ctrl);
        msg->ctrl = NULL;
    }
    return 0;
}

static size_t ws_frame(struct sp_stream *s, struct sp_msg *msg, uint8_t hdr[16])
{
    (void) s;
    (void) msg;
    (void) hdr;
    return 0; /* encoded by ws_prepare */
}

/* The read buffer, made once the handshake succeeds: a connection that
   never finishes its handshake (a crowd of them, each a page fault and a
   piece of heap growth) costs none. 0 or -1 (ENOMEM). */
static int read_buffer(struct ws_wire *w)
{
    if (!w->rbuf)
        w->rbuf = malloc(WS_RBUF);
    return w->rbuf ? 0 : -1;
}

static int ws_hs_input(struct sp_stream *s, size_t *used)
{
    struct ws_wire *w = s->wire;
    const struct sp_socktype *type = s->ep->sock->type;
    if (w->client) {
        int rc = sp_ws_parse_response((const char *) s->hs_in, s->hs_inlen, w->accept, used);
        if (rc < 0)
            return s->hs_inlen >= SP_STREAM_HS_MAX ? -1 : 0;
        if (rc > 0 || read_buffer(w) != 0)
            return -1;
        s->pipe.peer_protocol = type->peer; /* the server accepted our request for it */
        return 1;
    }
    struct sp_ws_request req;
    char resp[512];
    int n;
    if (sp_ws_parse_request((const char *) s->hs_in, s->hs_inlen, type->protocol, &req) < 0) {
        if (s->hs_inlen < SP_STREAM_HS_MAX)
            return 0;
        req.status = 400;
        req.reason = "Opening Handshake Too Long";
    }
    if (req.status != 101) {
        n = snprintf(resp, sizeof resp, "HTTP/1.1 400 %s\r\nSec-WebSocket-Version: %s\r\n\r\n", req.reason,
                     req.version[0] ? req.version : "13");
        sp_stream_hs_write(s, resp, (size_t) n);
        return -1;
    }
    char accept[32];
    if (sp_ws_accept_key(req.key, accept, sizeof accept) != 0 || read_buffer(w) != 0)
        return -1;
    n = snprintf(resp, sizeof resp,
                 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Accept: %s\r\n%s%s%s\r\n",
                 accept, req.protocol[0] ? "Sec-WebSocket-Protocol: " : "", req.protocol,
                 req.protocol[0] ? "\r\n" : "");
    if (n < 0 || (size_t) n >= sizeof resp || sp_stream_hs_write(s, resp, (size_t) n) != 0)
        return -1;
    s->pipe.peer_protocol = req.peer;
    *used = req.used;
    return 1;
}

static size_t ws_hs_room(struct sp_stream *s)
{
    return SP_STREAM_HS_MAX - s->hs_inlen;
}

static int ws_init(struct sp_stream *s)
{
    const struct sp_wswire_arg *arg = s->cfg->wire_arg;
    struct ws_wire *w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    w->arg = arg;
    w->client = arg->client;
    w->msg_type = ws_msg_type(s->ep);
    w->maxsize = &s->ep->sock->opt.rcvmaxsize;
    s->wire = w;
    if (!w->client)
        return 0;
    uint8_t nonce[16];
    for (int i = 0; i < 4; i++) {
        uint32_t r = sp_random_u32();
        memcpy(nonce + 4 * i, &r, 4);
    }
    char key[32];
    size_t olen;
    if (mbedtls_base64_encode((unsigned char *) key, sizeof key, &olen, nonce, sizeof nonce) != 0 ||
        sp_ws_accept_key(key, w->accept, sizeof w->accept) != 0)
        return -EINVAL;
    /* The subprotocol names the type the server must have. */
    const struct sp_socktype *peer = sp_socktype_find(AF_SP, s->ep->sock->type->peer);
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                     "Sec-WebSocket-Protocol: %s" WS_SUBPROTOCOL "\r\n\r\n",
                     arg->resource, arg->host, key, peer->name);
    if (n < 0 || (size_t) n >= sizeof req)
        return -EINVAL;
    return sp_stream_hs_write(s, req, (size_t) n);
}

static void ws_term(struct sp_stream *s)
{
    struct ws_wire *w = s->wire;
    if (w->msg)
        sp_chunk_free(w->msg);
    if (w->ctrl_text)
        sp_chunk_free(w->ctrl_text);
    if (w->ctrl_binary)
        sp_chunk_free(w->ctrl_binary);
    free(w->rbuf);
    free(w);
    s->wire = NULL;
}

const struct sp_wire_ops sp_wswire_ops = {
    .init = ws_init,
    .term = ws_term,
    .hs_input = ws_hs_input,
    .hs_room = ws_hs_room,
    .prepare = ws_prepare,
    .frame = ws_frame,
    .space = ws_space,
    .commit = ws_commit,
    .answers = true,
};
