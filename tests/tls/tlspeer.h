/* A TLS peer written with mbedTLS directly, for tests that need to choose how
   the plaintext is cut into TLS records (what a peer's writes look like on
   the wire: Python's ssl module puts sendall(header + frame) into one
   record). Client or server, with the certificates of mkcerts.sh, over a
   non-blocking fd; every wait has a deadline. Records can be corked: built
   in memory and written to the kernel with one send, so that they arrive
   together. Also: a byte buffer to assemble SP and WebSocket wire bytes. */
#ifndef TLSPEER_H
#define TLSPEER_H

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_ticket.h>
#include <mbedtls/x509_crt.h>

#include "testutil.h"
#include "certs.h"

/* The largest plaintext of one TLS record. */
#define TP_RECORD_MAX 16384

/* ---- bytes ---- */

struct bytes {
    uint8_t *p;
    size_t len;
    size_t cap;
};

static inline void b_put(struct bytes *b, const void *data, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        assert_non_null(b->p);
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, data, n);
    b->len += n;
}

static inline void b_put_str(struct bytes *b, const char *s)
{
    b_put(b, s, strlen(s));
}

static inline void b_put_be(struct bytes *b, uint64_t v, int nbytes)
{
    uint8_t x[8];
    for (int i = 0; i < nbytes; i++)
        x[i] = (uint8_t) (v >> (8 * (nbytes - 1 - i)));
    b_put(b, x, (size_t) nbytes);
}

static inline void b_free(struct bytes *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* The 8-byte SP header of a socket of the given protocol (NN_REQ...). */
static inline void b_sp_header(struct bytes *b, int protocol)
{
    unsigned char h[8];
    tu_sp_header(h, protocol);
    b_put(b, h, sizeof h);
}

/* One message in the TCP mapping (tls+tcp): [u64 length][SP header][body].
   id >= 0: a request id (REQ's header, top bit set by the caller). */
static inline void b_sp_msg(struct bytes *b, int64_t id, const void *body, size_t len)
{
    b_put_be(b, (uint64_t) len + (id >= 0 ? 4 : 0), 8);
    if (id >= 0)
        b_put_be(b, (uint64_t) id, 4);
    b_put(b, body, len);
}

/* One WebSocket frame with FIN and the binary opcode; a client masks. The
   payload is the SP header (id >= 0) and body, as over ws://. */
static inline void b_ws_msg(struct bytes *b, bool mask, int64_t id, const void *body, size_t len)
{
    static const uint8_t key[4] = {0x5c, 0x01, 0xe3, 0x9a};
    size_t plen = len + (id >= 0 ? 4 : 0);
    uint8_t m = mask ? 0x80 : 0;
    b_put_be(b, 0x82, 1);
    if (plen <= 125) {
        b_put_be(b, m | plen, 1);
    } else if (plen <= 0xffff) {
        b_put_be(b, m | 126, 1);
        b_put_be(b, plen, 2);
    } else {
        b_put_be(b, m | 127, 1);
        b_put_be(b, plen, 8);
    }
    if (mask)
        b_put(b, key, 4);
    size_t start = b->len;
    if (id >= 0)
        b_put_be(b, (uint64_t) id, 4);
    b_put(b, body, len);
    for (size_t i = 0; mask && i < plen; i++)
        b->p[start + i] ^= key[i & 3];
}

/* ---- the peer ---- */

struct tp {
    int fd;
    bool corked;            /* records go to out instead of the kernel */
    struct bytes out;
    mbedtls_ssl_context ssl;
    mbedtls_ssl_config conf;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_x509_crt ca;
    mbedtls_x509_crt crt;
    mbedtls_pk_context key;
    bool keep_in;           /* received bytes are also kept in in (handshake) */
    struct bytes in;
};

static inline int tp_send_cb(void *arg, const unsigned char *buf, size_t len)
{
    struct tp *p = arg;
    if (p->corked) {
        b_put(&p->out, buf, len);
        return (int) len;
    }
    ssize_t n = send(p->fd, buf, len, MSG_NOSIGNAL);
    if (n >= 0)
        return (int) n;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? MBEDTLS_ERR_SSL_WANT_WRITE
                                                                      : MBEDTLS_ERR_NET_SEND_FAILED;
}

static inline int tp_recv_cb(void *arg, unsigned char *buf, size_t len)
{
    struct tp *p = arg;
    ssize_t n = recv(p->fd, buf, len, 0);
    if (n > 0 && p->keep_in)
        b_put(&p->in, buf, (size_t) n);
    if (n >= 0)
        return (int) n;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? MBEDTLS_ERR_SSL_WANT_READ
                                                                      : MBEDTLS_ERR_NET_RECV_FAILED;
}

/* Waits until the fd is ready for what mbedTLS asked (rc WANT_READ or
   WANT_WRITE) before end; false on timeout. */
static inline bool tp_wait(struct tp *p, int rc, uint64_t end)
{
    /* ACK at once: nanosp's small writes (ws sets no TCP_NODELAY) would
       otherwise wait for the delayed ACK (Nagle), 40 ms a time. */
    int one = 1;
    setsockopt(p->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
    struct pollfd pfd = {p->fd, rc == MBEDTLS_ERR_SSL_WANT_WRITE ? POLLOUT : POLLIN, 0};
    uint64_t now = tu_now_ms();
    return now < end && poll(&pfd, 1, (int) (end - now)) == 1;
}

static inline void tp_fail(const char *what, int rc)
{
    char why[200];
    mbedtls_strerror(rc, why, sizeof why);
    fprintf(stderr, "tls peer: %s: %s (-0x%04x)\n", what, why, (unsigned) -rc);
    fail();
}

/* What tp_start_with may change from mbedTLS's defaults. */
struct tp_opts {
    /* The key-exchange curves to offer or accept, most preferred first
       (MBEDTLS_ECP_DP_NONE-terminated); NULL: mbedTLS's defaults. */
    const mbedtls_ecp_group_id *curves;
    /* Keep the bytes received during the handshake in p->in
       (tp_handshake_msg finds the peer's handshake messages there). */
    bool keep_in;
    /* Server: issue and take session tickets with these keys. */
    mbedtls_ssl_ticket_context *tickets;
    /* Client: offer to resume this session. */
    const mbedtls_ssl_session *resume;
};

/* Sets up the TLS side of p on a connected fd and runs the handshake. */
static inline void tp_start_with(struct tp *p, int fd, bool server, const struct tp_opts *o)
{
    static const struct tp_opts defaults;
    o = o ? o : &defaults;
    const mbedtls_ecp_group_id *curves = o->curves;
    memset(p, 0, sizeof *p);
    p->keep_in = o->keep_in;
    p->fd = fd;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    assert_int_equal(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
    mbedtls_ssl_init(&p->ssl);
    mbedtls_ssl_config_init(&p->conf);
    mbedtls_entropy_init(&p->entropy);
    mbedtls_ctr_drbg_init(&p->drbg);
    mbedtls_x509_crt_init(&p->ca);
    mbedtls_x509_crt_init(&p->crt);
    mbedtls_pk_init(&p->key);
    assert_int_equal(mbedtls_ctr_drbg_seed(&p->drbg, mbedtls_entropy_func, &p->entropy, NULL, 0), 0);
    assert_int_equal(mbedtls_ssl_config_defaults(&p->conf, server ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT,
                                                 MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT),
                     0);
    mbedtls_ssl_conf_rng(&p->conf, mbedtls_ctr_drbg_random, &p->drbg);
    if (curves)
        mbedtls_ssl_conf_curves(&p->conf, curves);
    if (server) {
        assert_int_equal(mbedtls_x509_crt_parse_file(&p->crt, tls_cert("server.crt")), 0);
        assert_int_equal(mbedtls_pk_parse_keyfile(&p->key, tls_cert("server.key"), NULL), 0);
        assert_int_equal(mbedtls_ssl_conf_own_cert(&p->conf, &p->crt, &p->key), 0);
        mbedtls_ssl_conf_authmode(&p->conf, MBEDTLS_SSL_VERIFY_NONE);
    } else {
        assert_int_equal(mbedtls_x509_crt_parse_file(&p->ca, tls_cert("ca.crt")), 0);
        mbedtls_ssl_conf_ca_chain(&p->conf, &p->ca, NULL);
        mbedtls_ssl_conf_authmode(&p->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    }
    if (o->tickets)
        mbedtls_ssl_conf_session_tickets_cb(&p->conf, mbedtls_ssl_ticket_write, mbedtls_ssl_ticket_parse, o->tickets);
    assert_int_equal(mbedtls_ssl_setup(&p->ssl, &p->conf), 0);
    if (!server)
        assert_int_equal(mbedtls_ssl_set_hostname(&p->ssl, "localhost"), 0);
    if (o->resume)
        assert_int_equal(mbedtls_ssl_set_session(&p->ssl, o->resume), 0);
    mbedtls_ssl_set_bio(&p->ssl, p, tp_send_cb, tp_recv_cb, NULL);
    uint64_t end = tu_now_ms() + TU_DEADLINE_MS;
    int rc;
    while ((rc = mbedtls_ssl_handshake(&p->ssl)) != 0) {
        if (rc != MBEDTLS_ERR_SSL_WANT_READ && rc != MBEDTLS_ERR_SSL_WANT_WRITE)
            tp_fail("handshake", rc);
        if (!tp_wait(p, rc, end))
            tp_fail("handshake timed out", rc);
    }
    p->keep_in = false;
}

static inline void tp_start(struct tp *p, int fd, bool server)
{
    tp_start_with(p, fd, server, NULL);
}

/* The body of the first handshake message of the given type (TLS 1.2:
   1 ClientHello, 12 ServerKeyExchange) among the plaintext records the
   peer sent before its ChangeCipherSpec, as kept by keep_in, joined in hs
   (the caller frees it); its length in *len. NULL if there is none. */
static inline const uint8_t *tp_handshake_msg(struct tp *p, int type, struct bytes *hs_out, size_t *len)
{
    struct bytes hs = {0};
    for (size_t off = 0; off + 5 <= p->in.len;) {
        size_t rlen = (size_t) p->in.p[off + 3] << 8 | p->in.p[off + 4];
        if (p->in.p[off] != 22 || off + 5 + rlen > p->in.len)
            break; /* ChangeCipherSpec: what follows is encrypted */
        b_put(&hs, p->in.p + off + 5, rlen);
        off += 5 + rlen;
    }
    for (size_t off = 0; off + 4 <= hs.len;) {
        size_t mlen = (size_t) hs.p[off + 1] << 16 | (size_t) hs.p[off + 2] << 8 | hs.p[off + 3];
        if (off + 4 + mlen > hs.len)
            break;
        if (hs.p[off] == type) {
            *hs_out = hs;
            *len = mlen;
            return hs.p + off + 4;
        }
        off += 4 + mlen;
    }
    *hs_out = hs;
    return NULL;
}

/* A client connected to 127.0.0.1:port that checked the server's
   certificate (the test CA, name "localhost"). */
static inline void tp_connect(struct tp *p, int port)
{
    tp_start(p, tu_raw_connect(port), false);
}

/* A server (server.crt) for the next connection to the listening lfd. */
static inline void tp_accept(struct tp *p, int lfd)
{
    int fd = tu_accept(lfd, TU_DEADLINE_MS);
    assert_true(fd >= 0);
    tp_start(p, fd, true);
}

/* Writes len bytes (at most TP_RECORD_MAX) as exactly one TLS record. */
static inline void tp_write_record(struct tp *p, const void *buf, size_t len)
{
    assert_true(len > 0 && len <= TP_RECORD_MAX);
    uint64_t end = tu_now_ms() + TU_DEADLINE_MS;
    int rc;
    /* After WANT_WRITE the record is built and waits: the same call again. */
    while ((rc = mbedtls_ssl_write(&p->ssl, buf, len)) < 0) {
        if (rc != MBEDTLS_ERR_SSL_WANT_WRITE && rc != MBEDTLS_ERR_SSL_WANT_READ)
            tp_fail("write", rc);
        if (!tp_wait(p, rc, end))
            tp_fail("write timed out", rc);
    }
    assert_int_equal(rc, (int) len);
}

/* Writes buf as records of the given plaintext sizes (they sum to len). */
static inline void tp_write_records(struct tp *p, const void *buf, size_t len, const size_t *sizes, size_t n)
{
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        tp_write_record(p, (const uint8_t *) buf + off, sizes[i]);
        off += sizes[i];
    }
    assert_int_equal(off, len);
}

/* Writes buf as records of rec bytes each (the last one shorter). */
static inline void tp_write_chunked(struct tp *p, const void *buf, size_t len, size_t rec)
{
    for (size_t off = 0; off < len; off += rec)
        tp_write_record(p, (const uint8_t *) buf + off, len - off < rec ? len - off : rec);
}

/* From now on records are kept in memory ... */
static inline void tp_cork(struct tp *p)
{
    p->corked = true;
}

/* ... and here they go to the kernel in one send (as far as it takes it). */
static inline void tp_uncork(struct tp *p)
{
    p->corked = false;
    uint64_t end = tu_now_ms() + TU_DEADLINE_MS;
    size_t off = 0;
    while (off < p->out.len) {
        ssize_t n = send(p->fd, p->out.p + off, p->out.len - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t) n;
            continue;
        }
        assert_true(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR));
        if (!tp_wait(p, MBEDTLS_ERR_SSL_WANT_WRITE, end))
            fail_msg("tls peer: the receiver took nothing for %d ms", TU_DEADLINE_MS);
    }
    p->out.len = 0;
}

/* Reads exactly len plaintext bytes; false on the end of the stream, an
   error or the deadline. */
static inline bool tp_read(struct tp *p, void *buf, size_t len, int timeout_ms)
{
    uint64_t end = tu_now_ms() + (uint64_t) timeout_ms;
    size_t got = 0;
    while (got < len) {
        int rc = mbedtls_ssl_read(&p->ssl, (unsigned char *) buf + got, len - got);
        if (rc > 0) {
            got += (size_t) rc;
            continue;
        }
        if ((rc != MBEDTLS_ERR_SSL_WANT_READ && rc != MBEDTLS_ERR_SSL_WANT_WRITE) || !tp_wait(p, rc, end))
            return false;
    }
    return true;
}

/* Reads an HTTP head (up to the blank line, nothing after it) into buf,
   NUL-terminated; false if it did not come whole. */
static inline bool tp_read_http(struct tp *p, char *buf, size_t cap)
{
    size_t n = 0;
    while (n + 1 < cap) {
        if (!tp_read(p, buf + n, 1, TU_DEADLINE_MS))
            return false;
        n++;
        if (n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0) {
            buf[n] = 0;
            return true;
        }
    }
    return false;
}

/* Sends close_notify (best effort) and closes the connection. */
static inline void tp_close(struct tp *p)
{
    mbedtls_ssl_close_notify(&p->ssl);
    close(p->fd);
    mbedtls_ssl_free(&p->ssl);
    mbedtls_ssl_config_free(&p->conf);
    mbedtls_ctr_drbg_free(&p->drbg);
    mbedtls_entropy_free(&p->entropy);
    mbedtls_x509_crt_free(&p->ca);
    mbedtls_x509_crt_free(&p->crt);
    mbedtls_pk_free(&p->key);
    b_free(&p->out);
    b_free(&p->in);
}

#endif
