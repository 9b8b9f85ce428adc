/* Helpers for the tls suite (ws://, wss://, tls+tcp://): sockets with bounded
   timeouts, string exchanges with assertions, throw-away certificates made by
   mkcerts.sh, and plain POSIX TCP peers that speak WebSocket bytes themselves
   (a client doing the upgrade, a server answering it, frames both ways), with
   an independent SHA-1 and base64 for Sec-WebSocket-Accept. Public nanomsg
   API only. Every wait has a deadline; nothing sleeps to synchronise. */
#ifndef TLSTEST_H
#define TLSTEST_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <nanomsg/nn.h>
#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/reqrep.h>

#include "testutil.h"

/* Upper bound for anything that should happen "soon". Only a failing test
   waits this long. */
#define TT_DEADLINE_MS 5000

/* ---- nanomsg sockets ---- */

static inline int tt_socket(int protocol)
{
    int s = nn_socket(AF_SP, protocol);
    int tmo = TT_DEADLINE_MS;
    assert_true(s >= 0);
    assert_int_equal(nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDTIMEO, &tmo, sizeof tmo), 0);
    assert_int_equal(nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &tmo, sizeof tmo), 0);
    return s;
}

static inline void tt_setint(int s, int level, int option, int value)
{
    assert_int_equal(nn_setsockopt(s, level, option, &value, sizeof value), 0);
}

static inline void tt_setstr(int s, int level, int option, const char *value)
{
    int rc = nn_setsockopt(s, level, option, value, strlen(value));
    if (rc != 0)
        fprintf(stderr, "nn_setsockopt(%d, %d): %s\n", level, option, nn_strerror(nn_errno()));
    assert_int_equal(rc, 0);
}

static inline int tt_bind(int s, const char *url)
{
    int eid = nn_bind(s, url);
    if (eid < 0)
        fprintf(stderr, "nn_bind(%s): %s\n", url, nn_strerror(nn_errno()));
    assert_true(eid >= 0);
    return eid;
}

static inline int tt_connect(int s, const char *url)
{
    int eid = nn_connect(s, url);
    if (eid < 0)
        fprintf(stderr, "nn_connect(%s): %s\n", url, nn_strerror(nn_errno()));
    assert_true(eid >= 0);
    return eid;
}

/* Sends str (without NUL), blocking up to NN_SNDTIMEO. */
static inline void tt_send(int s, const char *str)
{
    int rc = nn_send(s, str, strlen(str), 0);
    if (rc < 0)
        fprintf(stderr, "nn_send(\"%s\"): %s\n", str, nn_strerror(nn_errno()));
    assert_int_equal(rc, (int) strlen(str));
}

/* Receives one message and checks that it equals str. */
static inline void tt_recv(int s, const char *str)
{
    char buf[512];
    int rc = nn_recv(s, buf, sizeof buf - 1, 0);
    if (rc < 0)
        fprintf(stderr, "nn_recv expecting \"%s\": %s\n", str, nn_strerror(nn_errno()));
    assert_int_equal(rc, (int) strlen(str));
    buf[rc] = 0;
    assert_string_equal(buf, str);
}

struct tt_stat_arg {
    int s;
    int stat;
    uint64_t min;
};

static inline bool tt_stat_reached(void *p)
{
    struct tt_stat_arg *a = p;
    uint64_t v = nn_get_statistic(a->s, a->stat);
    return v != (uint64_t) -1 && v >= a->min;
}

/* Waits until nn_get_statistic(s, stat) >= min; false after timeout_ms. */
static inline bool tt_wait_stat(int s, int stat, uint64_t min, int timeout_ms)
{
    struct tt_stat_arg a = {s, stat, min};
    return tu_wait_until(tt_stat_reached, &a, timeout_ms);
}

/* A fresh peer of the right type connects to url and exchanges a message with
   srv, a bound PAIR, REP or PULL socket: srv still serves proper peers. */
static inline void tt_assert_serves(int srv, int srv_protocol, const char *url)
{
    int peer_protocol = srv_protocol == NN_PAIR ? NN_PAIR : srv_protocol == NN_REP ? NN_REQ : NN_PUSH;
    int c = tt_socket(peer_protocol);
    tt_connect(c, url);
    tt_send(c, "are you still there?");
    tt_recv(srv, "are you still there?");
    if (srv_protocol != NN_PULL) {
        tt_send(srv, "yes");
        tt_recv(c, "yes");
    }
    assert_int_equal(nn_close(c), 0);
}

/* ---- certificates ---- */

static char tt_certdir[512];

/* Makes the test certificates (see mkcerts.sh) once; returns their folder. */
static inline const char *tt_certs(void)
{
    if (!tt_certdir[0]) {
        const char *src = getenv("NANOSP_SOURCE_DIR");
        char cmd[2048];
        snprintf(tt_certdir, sizeof tt_certdir, "%s/certs", tu_tmpdir());
        snprintf(cmd, sizeof cmd, "mkdir -p '%s' && '%s/tests/tls/mkcerts.sh' '%s'", tt_certdir,
                 src ? src : ".", tt_certdir);
        if (system(cmd) != 0) {
            fprintf(stderr, "could not make the test certificates: %s\n", cmd);
            exit(1);
        }
    }
    return tt_certdir;
}

/* The path of a certificate file (name as in mkcerts.sh), in a static buffer
   of four that rotate, so that a few can be used in one call. */
static inline const char *tt_cert(const char *name)
{
    static char bufs[4][600];
    static int next;
    char *b = bufs[next++ & 3];
    snprintf(b, sizeof bufs[0], "%s/%s", tt_certs(), name);
    return b;
}

/* The whole file, NUL-terminated (caller frees). */
static inline char *tt_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = malloc(65536);
    assert_non_null(buf);
    size_t n = fread(buf, 1, 65535, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

/* Is openssl there to make certificates? */
static inline bool tt_have_openssl(void)
{
    return system("command -v openssl >/dev/null 2>&1") == 0;
}

/* ---- raw TCP peers ---- */

/* A plain TCP connection to 127.0.0.1:port. */
static inline int raw_connect(int port)
{
    struct sockaddr_in sa;
    int one = 1;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t) port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *) &sa, sizeof sa), 0);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* A plain listening socket on a kernel-chosen port of 127.0.0.1. */
static inline int raw_listen(int *port)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 8), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *) &sa, &sl), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

/* Accepts one connection within timeout_ms, or -1. */
static inline int raw_accept(int lfd, int timeout_ms)
{
    struct pollfd pfd = {lfd, POLLIN, 0};
    if (poll(&pfd, 1, timeout_ms) != 1)
        return -1;
    return accept(lfd, NULL, NULL);
}

static inline void raw_write(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        assert_true(n > 0);
        p += n;
        len -= (size_t) n;
    }
}

static inline void raw_write_str(int fd, const char *s)
{
    raw_write(fd, s, strlen(s));
}

/* Reads exactly len bytes; false on EOF, error or timeout. */
static inline bool raw_read(int fd, void *buf, size_t len, int timeout_ms)
{
    uint64_t end = tu_now_ms() + (uint64_t) timeout_ms;
    char *p = buf;
    while (len > 0) {
        struct pollfd pfd = {fd, POLLIN, 0};
        uint64_t now = tu_now_ms();
        if (now >= end || poll(&pfd, 1, (int) (end - now)) != 1)
            return false;
        ssize_t n = recv(fd, p, len, 0);
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t) n;
    }
    return true;
}

/* Discards input until the peer closes: true on EOF (or reset), false if the
   connection is still open after timeout_ms. */
static inline bool raw_wait_eof(int fd, int timeout_ms)
{
    uint64_t end = tu_now_ms() + (uint64_t) timeout_ms;
    for (;;) {
        struct pollfd pfd = {fd, POLLIN, 0};
        uint64_t now = tu_now_ms();
        if (now >= end || poll(&pfd, 1, (int) (end - now)) != 1)
            return false;
        char buf[4096];
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0)
            return true;
    }
}

/* Reads an HTTP head byte by byte (so nothing after it is consumed) until
   the blank line or EOF; NUL-terminated in buf. Its length. */
static inline size_t raw_read_http(int fd, char *buf, size_t cap, int timeout_ms)
{
    size_t n = 0;
    while (n + 1 < cap) {
        if (!raw_read(fd, buf + n, 1, timeout_ms))
            break;
        n++;
        if (n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    buf[n] = 0;
    return n;
}

/* ---- SHA-1 and base64 (independent of the library's mbedTLS) ---- */

static inline uint32_t tt_rol(uint32_t v, int n)
{
    return (v << n) | (v >> (32 - n));
}

static inline void tt_sha1(const void *data, size_t len, uint8_t out[20])
{
    uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    size_t total = ((len + 8) / 64 + 1) * 64;
    uint8_t *m = calloc(1, total);
    assert_non_null(m);
    memcpy(m, data, len);
    m[len] = 0x80;
    uint64_t bits = (uint64_t) len * 8;
    for (int i = 0; i < 8; i++)
        m[total - 1 - i] = (uint8_t) (bits >> (8 * i));
    for (size_t off = 0; off < total; off += 64) {
        uint32_t w[80];
        for (int i = 0; i < 16; i++)
            w[i] = (uint32_t) m[off + 4 * i] << 24 | (uint32_t) m[off + 4 * i + 1] << 16 |
                   (uint32_t) m[off + 4 * i + 2] << 8 | m[off + 4 * i + 3];
        for (int i = 16; i < 80; i++)
            w[i] = tt_rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
        uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
        for (int i = 0; i < 80; i++) {
            uint32_t f, k;
            if (i < 20) {
                f = (b & c) | (~b & d);
                k = 0x5A827999;
            } else if (i < 40) {
                f = b ^ c ^ d;
                k = 0x6ED9EBA1;
            } else if (i < 60) {
                f = (b & c) | (b & d) | (c & d);
                k = 0x8F1BBCDC;
            } else {
                f = b ^ c ^ d;
                k = 0xCA62C1D6;
            }
            uint32_t t = tt_rol(a, 5) + f + e + k + w[i];
            e = d;
            d = c;
            c = tt_rol(b, 30);
            b = a;
            a = t;
        }
        h[0] += a;
        h[1] += b;
        h[2] += c;
        h[3] += d;
        h[4] += e;
    }
    free(m);
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 4; j++)
            out[4 * i + j] = (uint8_t) (h[i] >> (24 - 8 * j));
}

static inline void tt_base64(const uint8_t *in, size_t len, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t) in[i] << 16 | (i + 1 < len ? (uint32_t) in[i + 1] << 8 : 0) |
                     (i + 2 < len ? in[i + 2] : 0);
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? tab[v & 63] : '=';
    }
    out[o] = 0;
}

/* Sec-WebSocket-Accept for a key (RFC 6455 §4.2.2); out has >= 29 bytes. */
static inline void tt_ws_accept(const char *key, char *out)
{
    char buf[256];
    uint8_t digest[20];
    snprintf(buf, sizeof buf, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
    tt_sha1(buf, strlen(buf), digest);
    tt_base64(digest, sizeof digest, out);
}

/* ---- WebSocket frames over a raw fd ---- */

/* Writes one frame: first byte b0 (FIN, RSV and opcode as given), masked
   with a fixed key when mask is true. */
static inline void ws_write_frame(int fd, uint8_t b0, bool mask, const void *payload, size_t len)
{
    uint8_t *f = malloc(14 + len);
    assert_non_null(f);
    size_t hl = 2;
    f[0] = b0;
    if (len <= 125) {
        f[1] = (uint8_t) len;
    } else if (len <= 0xffff) {
        f[1] = 126;
        f[2] = (uint8_t) (len >> 8);
        f[3] = (uint8_t) len;
        hl = 4;
    } else {
        f[1] = 127;
        for (int i = 0; i < 8; i++)
            f[2 + i] = (uint8_t) ((uint64_t) len >> (56 - 8 * i));
        hl = 10;
    }
    static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    if (mask) {
        f[1] |= 0x80;
        memcpy(f + hl, key, 4);
        hl += 4;
    }
    for (size_t i = 0; i < len; i++)
        f[hl + i] = ((const uint8_t *) payload)[i] ^ (mask ? key[i & 3] : 0);
    raw_write(fd, f, hl + len);
    free(f);
}

/* A frame read from a raw fd: payload unmasked, NUL-terminated. */
struct ws_frame {
    uint8_t b0;       /* FIN, RSV, opcode */
    bool masked;
    size_t len;
    uint8_t data[70000];
};

/* Reads one frame (payload up to sizeof data - 1); false on EOF or timeout. */
static inline bool ws_read_frame(int fd, struct ws_frame *fr, int timeout_ms)
{
    uint8_t h[8];
    if (!raw_read(fd, h, 2, timeout_ms))
        return false;
    fr->b0 = h[0];
    fr->masked = h[1] & 0x80;
    uint64_t len = h[1] & 0x7f;
    if (len == 126) {
        if (!raw_read(fd, h, 2, timeout_ms))
            return false;
        len = (uint64_t) h[0] << 8 | h[1];
    } else if (len == 127) {
        if (!raw_read(fd, h, 8, timeout_ms))
            return false;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | h[i];
    }
    uint8_t key[4] = {0, 0, 0, 0};
    if (fr->masked && !raw_read(fd, key, 4, timeout_ms))
        return false;
    assert_true(len < sizeof fr->data);
    if (len && !raw_read(fd, fr->data, (size_t) len, timeout_ms))
        return false;
    for (size_t i = 0; i < len; i++)
        fr->data[i] ^= key[i & 3];
    fr->data[len] = 0;
    fr->len = (size_t) len;
    return true;
}

/* The next frame must be a close frame with this status code, then the peer
   closes the connection. */
static inline void ws_expect_close(int fd, int code)
{
    struct ws_frame *fr = malloc(sizeof *fr);
    assert_non_null(fr);
    assert_true(ws_read_frame(fd, fr, TT_DEADLINE_MS));
    assert_int_equal(fr->b0, 0x88);
    assert_true(fr->len >= 2);
    assert_int_equal((fr->data[0] << 8) | fr->data[1], code);
    free(fr);
    assert_true(raw_wait_eof(fd, TT_DEADLINE_MS));
}

/* The RFC 6455 sample nonce and its Sec-WebSocket-Accept (§1.3). */
#define WS_SAMPLE_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define WS_SAMPLE_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

/* An upgrade request for the sample key; protocol NULL omits the
   Sec-WebSocket-Protocol header. */
static inline void ws_request(char *buf, size_t cap, const char *protocol)
{
    snprintf(buf, cap,
             "GET /some/path?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\nSec-WebSocket-Key: " WS_SAMPLE_KEY "\r\n"
             "Sec-WebSocket-Version: 13\r\n%s%s%s\r\n",
             protocol ? "Sec-WebSocket-Protocol: " : "", protocol ? protocol : "", protocol ? "\r\n" : "");
}

/* A raw WebSocket client that completed the upgrade with the given
   subprotocol on 127.0.0.1:port. */
static inline int ws_raw_client(int port, const char *protocol)
{
    char req[512], resp[2048];
    int fd = raw_connect(port);
    ws_request(req, sizeof req, protocol);
    raw_write_str(fd, req);
    raw_read_http(fd, resp, sizeof resp, TT_DEADLINE_MS);
    if (strncmp(resp, "HTTP/1.1 101 ", 13) != 0)
        fprintf(stderr, "upgrade refused:\n%s\n", resp);
    assert_true(strncmp(resp, "HTTP/1.1 101 ", 13) == 0);
    return fd;
}

/* The value of header name in an HTTP head (case-insensitive name), copied
   into out; false if absent. */
static inline bool http_header(const char *head, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            const char *e = strstr(v, "\r\n");
            size_t n = e ? (size_t) (e - v) : strlen(v);
            if (n >= cap)
                n = cap - 1;
            memcpy(out, v, n);
            out[n] = 0;
            return true;
        }
    }
    return false;
}

/* Server side of the upgrade on an accepted raw fd: reads the request,
   checks it names want_protocol, answers 101 with the right accept key.
   The request head is left in req. */
static inline void ws_raw_server_upgrade(int fd, const char *want_protocol, char *req, size_t cap)
{
    char key[128], proto[128], accept[64], resp[512];
    assert_true(raw_read_http(fd, req, cap, TT_DEADLINE_MS) > 0);
    assert_true(http_header(req, "Sec-WebSocket-Key", key, sizeof key));
    assert_true(http_header(req, "Sec-WebSocket-Protocol", proto, sizeof proto));
    assert_string_equal(proto, want_protocol);
    tt_ws_accept(key, accept);
    snprintf(resp, sizeof resp,
             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: %s\r\n\r\n",
             accept, proto);
    raw_write_str(fd, resp);
}

#endif
