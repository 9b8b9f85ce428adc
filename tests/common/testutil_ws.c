/* The WebSocket half of the test helpers (see testutil.h): a plain POSIX
   peer that speaks RFC 6455 bytes itself, client or server, with its own
   SHA-1 and base64 so that Sec-WebSocket-Accept is computed independently of
   the library's mbedTLS. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* ---- SHA-1 and base64 (independent of the library's mbedTLS) ---- */

static uint32_t rol(uint32_t v, int n)
{
    return (v << n) | (v >> (32 - n));
}

static void sha1(const void *data, size_t len, uint8_t out[20])
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
            w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
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
            uint32_t t = rol(a, 5) + f + e + k + w[i];
            e = d;
            d = c;
            c = rol(b, 30);
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

static void base64(const uint8_t *in, size_t len, char *out)
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
void tu_ws_accept(const char *key, char *out)
{
    char buf[256];
    uint8_t digest[20];
    snprintf(buf, sizeof buf, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
    sha1(buf, strlen(buf), digest);
    base64(digest, sizeof digest, out);
}

/* ---- WebSocket frames over a raw fd ---- */

/* Writes one frame: first byte b0 (FIN, RSV and opcode as given), masked
   with a fixed key when mask is true. */
void tu_ws_write_frame(int fd, uint8_t b0, bool mask, const void *payload, size_t len)
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
    tu_raw_write(fd, f, hl + len);
    free(f);
}

/* Reads one frame (payload up to sizeof data - 1); false on EOF or timeout. */
bool tu_ws_read_frame(int fd, struct tu_ws_frame *fr, int timeout_ms)
{
    uint8_t h[8];
    if (!tu_read_exact(fd, h, 2, timeout_ms))
        return false;
    fr->b0 = h[0];
    fr->masked = h[1] & 0x80;
    uint64_t len = h[1] & 0x7f;
    if (len == 126) {
        if (!tu_read_exact(fd, h, 2, timeout_ms))
            return false;
        len = (uint64_t) h[0] << 8 | h[1];
    } else if (len == 127) {
        if (!tu_read_exact(fd, h, 8, timeout_ms))
            return false;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | h[i];
    }
    uint8_t key[4] = {0, 0, 0, 0};
    if (fr->masked && !tu_read_exact(fd, key, 4, timeout_ms))
        return false;
    assert_true(len < sizeof fr->data);
    if (len && !tu_read_exact(fd, fr->data, (size_t) len, timeout_ms))
        return false;
    for (size_t i = 0; i < len; i++)
        fr->data[i] ^= key[i & 3];
    fr->data[len] = 0;
    fr->len = (size_t) len;
    return true;
}

/* The next frame must be a close frame with this status code, then the peer
   closes the connection. */
void tu_ws_expect_close(int fd, int code)
{
    struct tu_ws_frame *fr = malloc(sizeof *fr);
    assert_non_null(fr);
    assert_true(tu_ws_read_frame(fd, fr, TU_DEADLINE_MS));
    assert_int_equal(fr->b0, 0x88);
    assert_true(fr->len >= 2);
    assert_int_equal((fr->data[0] << 8) | fr->data[1], code);
    free(fr);
    assert_true(tu_wait_closed(fd, TU_DEADLINE_MS));
}

/* An upgrade request for the sample key; protocol NULL omits the
   Sec-WebSocket-Protocol header. */
void tu_ws_request(char *buf, size_t cap, const char *protocol)
{
    snprintf(buf, cap,
             "GET /some/path?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\nSec-WebSocket-Key: " TU_WS_SAMPLE_KEY "\r\n"
             "Sec-WebSocket-Version: 13\r\n%s%s%s\r\n",
             protocol ? "Sec-WebSocket-Protocol: " : "", protocol ? protocol : "", protocol ? "\r\n" : "");
}

/* A raw WebSocket client that completed the upgrade with the given
   subprotocol on 127.0.0.1:port. */
int tu_ws_raw_client(int port, const char *protocol)
{
    char req[512], resp[2048];
    int fd = tu_raw_connect(port);
    tu_ws_request(req, sizeof req, protocol);
    tu_raw_write_str(fd, req);
    tu_read_http(fd, resp, sizeof resp, TU_DEADLINE_MS);
    if (strncmp(resp, "HTTP/1.1 101 ", 13) != 0)
        fprintf(stderr, "upgrade refused:\n%s\n", resp);
    assert_true(strncmp(resp, "HTTP/1.1 101 ", 13) == 0);
    return fd;
}

/* Server side of the upgrade on an accepted raw fd: reads the request,
   checks it names want_protocol, answers 101 with the right accept key.
   The request head is left in req. */
void tu_ws_raw_server_upgrade(int fd, const char *want_protocol, char *req, size_t cap)
{
    char key[128], proto[128], accept[64], resp[512];
    assert_true(tu_read_http(fd, req, cap, TU_DEADLINE_MS) > 0);
    assert_true(tu_http_header(req, "Sec-WebSocket-Key", key, sizeof key));
    assert_true(tu_http_header(req, "Sec-WebSocket-Protocol", proto, sizeof proto));
    assert_string_equal(proto, want_protocol);
    tu_ws_accept(key, accept);
    snprintf(resp, sizeof resp,
             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: %s\r\n\r\n",
             accept, proto);
    tu_raw_write_str(fd, resp);
}
