/*
    raw_tls: the limit of the tls+tcp rows. mbedTLS (the library ours and
    NNG use) over one plain blocking TCP socket with TCP_NODELAY, carrying
    what raw_lat/raw_thr carry: the SP stream framing (an 8-byte big-endian
    length, then the body), after the 8-byte SP header exchange of a PAIR
    (so the stream is exactly SP over TLS: raw_tls also talks to local_thr,
    remote_thr, local_lat and remote_lat, which is how tools/bench asks a
    library which cipher suite its server picks). One mbedTLS write per
    message (full records for big ones: the length goes into the first
    record with the start of the body), reads through a 64 KiB buffer.

    The same certificates as the other TLS programs (PERF_TLS_DIR: ca.crt,
    server.crt, server.key; the client checks the name "localhost"), TLS 1.2
    at least (as ours), mbedTLS's default cipher suites unless PERF_TLS_SUITE
    names the only one to offer / accept (e.g.
    TLS-ECDHE-ECDSA-WITH-CHACHA20-POLY1305-SHA256). Each side prints the
    negotiated suite once: "tls: <suite> <version>" (with a library's program
    on the other side, what that library offers or picks).

    thr: an empty start marker, <count> messages, an empty acknowledgement
    back (as local_thr/remote_thr). lat: one untimed warm-up round trip,
    <count> timed ones, then an empty "done" (as local_lat/remote_lat).

    usage: raw_tls thr|lat local <bind-to> <msg-size> <count>
           raw_tls thr|lat remote <connect-to> <msg-size> <count>
    with tls+tcp://host:port URLs.
*/

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "raw_util.h"

static size_t sz;
static long count;

static mbedtls_ssl_context ssl;
static unsigned char *wbuf;   /* one record: the length and the body's start */
static size_t wcap;

static void tls_fail(int rc, const char *what)
{
    char msg[200];
    mbedtls_strerror(rc, msg, sizeof(msg));
    fprintf(stderr, "raw_tls: %s: %s (-0x%04x)\n", what, msg, (unsigned) -rc);
    exit(2);
}

static void write_all(const unsigned char *p, size_t n)
{
    while (n > 0) {
        int w = mbedtls_ssl_write(&ssl, p, n);
        if (w == MBEDTLS_ERR_SSL_WANT_READ || w == MBEDTLS_ERR_SSL_WANT_WRITE)
            continue;
        if (w < 0)
            tls_fail(w, "mbedtls_ssl_write");
        p += w;
        n -= (size_t) w;
    }
}

static void tls_send(const void *body, size_t len)
{
    size_t first = len < wcap - 8 ? len : wcap - 8;
    int i;
    for (i = 0; i < 8; i++)
        wbuf[i] = (unsigned char) ((uint64_t) len >> (56 - 8 * i));
    memcpy(wbuf + 8, body, first);
    write_all(wbuf, 8 + first);
    write_all((const unsigned char *) body + first, len - first);
}

/*  The raw_reader of raw_util.h, over mbedTLS (one record at most per call). */
static struct {
    size_t pos, end;
    unsigned char buf[65536];
} rd;

static int read_some(unsigned char *dst, size_t cap)
{
    for (;;) {
        int n = mbedtls_ssl_read(&ssl, dst, cap);
        if (n == MBEDTLS_ERR_SSL_WANT_READ || n == MBEDTLS_ERR_SSL_WANT_WRITE)
            continue;
        if (n == 0 || n == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
            fprintf(stderr, "raw_tls: the peer closed the connection\n");
            exit(2);
        }
        if (n < 0)
            tls_fail(n, "mbedtls_ssl_read");
        return n;
    }
}

static void read_exact(void *dst, size_t len)
{
    unsigned char *d = dst;
    while (len > 0) {
        if (rd.pos < rd.end) {
            size_t k = rd.end - rd.pos;
            if (k > len)
                k = len;
            memcpy(d, rd.buf + rd.pos, k);
            rd.pos += k;
            d += k;
            len -= k;
        } else if (len >= sizeof(rd.buf)) {
            int n = read_some(d, len);
            d += n;
            len -= (size_t) n;
        } else {
            rd.pos = 0;
            rd.end = (size_t) read_some(rd.buf, sizeof(rd.buf));
        }
    }
}

static size_t tls_recv(void *dst, size_t cap)
{
    unsigned char hdr[8];
    uint64_t len = 0;
    int i;
    read_exact(hdr, 8);
    for (i = 0; i < 8; i++)
        len = (len << 8) | hdr[i];
    if (len > cap) {
        fprintf(stderr, "raw_tls: message of %llu bytes, expected at most %zu\n",
            (unsigned long long) len, cap);
        exit(2);
    }
    read_exact(dst, (size_t) len);
    return (size_t) len;
}

/*  PERF_TLS_DIR/name */
static const char *tls_path(const char *name)
{
    static char path[4096];
    const char *dir = getenv("PERF_TLS_DIR");
    if (dir == NULL || *dir == '\0') {
        fprintf(stderr, "raw_tls: PERF_TLS_DIR must name the certificates' directory\n");
        exit(1);
    }
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return path;
}

/*  A TLS session over fd, handshake done, SP header exchanged. */
static void tls_open(int fd, int server)
{
    static mbedtls_entropy_context entropy;
    static mbedtls_ctr_drbg_context drbg;
    static mbedtls_ssl_config conf;
    static mbedtls_x509_crt crt;
    static mbedtls_pk_context key;
    static mbedtls_net_context net;
    static int suites[2];
    static const unsigned char sp_pair[8] = {0, 'S', 'P', 0, 0, 16, 0, 0};
    unsigned char peer[8];
    const char *suite = getenv("PERF_TLS_SUITE");
    int rc;

    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    mbedtls_ssl_config_init(&conf);
    mbedtls_x509_crt_init(&crt);
    mbedtls_pk_init(&key);
    mbedtls_ssl_init(&ssl);
    rc = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy,
        (const unsigned char *) "raw_tls", 7);
    if (rc != 0)
        tls_fail(rc, "mbedtls_ctr_drbg_seed");
    rc = mbedtls_ssl_config_defaults(&conf, server ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT,
        MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
    if (rc != 0)
        tls_fail(rc, "mbedtls_ssl_config_defaults");
    mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &drbg);
    mbedtls_ssl_conf_min_version(&conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
    if (suite != NULL && *suite != '\0') {
        suites[0] = mbedtls_ssl_get_ciphersuite_id(suite);
        if (suites[0] == 0) {
            fprintf(stderr, "raw_tls: mbedTLS knows no cipher suite %s\n", suite);
            exit(1);
        }
        mbedtls_ssl_conf_ciphersuites(&conf, suites);
    }
    if (server) {
        rc = mbedtls_x509_crt_parse_file(&crt, tls_path("server.crt"));
        if (rc != 0)
            tls_fail(rc, "server.crt");
        rc = mbedtls_pk_parse_keyfile(&key, tls_path("server.key"), NULL);
        if (rc != 0)
            tls_fail(rc, "server.key");
        rc = mbedtls_ssl_conf_own_cert(&conf, &crt, &key);
        if (rc != 0)
            tls_fail(rc, "mbedtls_ssl_conf_own_cert");
        mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_NONE);
    } else {
        rc = mbedtls_x509_crt_parse_file(&crt, tls_path("ca.crt"));
        if (rc != 0)
            tls_fail(rc, "ca.crt");
        mbedtls_ssl_conf_ca_chain(&conf, &crt, NULL);
        mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    }
    rc = mbedtls_ssl_setup(&ssl, &conf);
    if (rc != 0)
        tls_fail(rc, "mbedtls_ssl_setup");
    if (!server && (rc = mbedtls_ssl_set_hostname(&ssl, "localhost")) != 0)
        tls_fail(rc, "mbedtls_ssl_set_hostname");
    net.fd = fd;
    mbedtls_ssl_set_bio(&ssl, &net, mbedtls_net_send, mbedtls_net_recv, NULL);
    while ((rc = mbedtls_ssl_handshake(&ssl)) != 0)
        if (rc != MBEDTLS_ERR_SSL_WANT_READ && rc != MBEDTLS_ERR_SSL_WANT_WRITE)
            tls_fail(rc, "mbedtls_ssl_handshake");
    printf("tls: %s %s\n", mbedtls_ssl_get_ciphersuite(&ssl), mbedtls_ssl_get_version(&ssl));

    rc = mbedtls_ssl_get_max_out_record_payload(&ssl);
    if (rc < 0)
        tls_fail(rc, "mbedtls_ssl_get_max_out_record_payload");
    wcap = (size_t) rc;
    wbuf = malloc(wcap);
    PERF_CHECK(wbuf != NULL && wcap > 8, "malloc");

    write_all(sp_pair, sizeof(sp_pair));
    read_exact(peer, sizeof(peer));
    if (memcmp(peer, sp_pair, 4) != 0 || peer[4] != 0 || peer[5] != 16) {
        fprintf(stderr, "raw_tls: the peer is not an SP PAIR (v0)\n");
        exit(2);
    }
}

static void tls_close(int fd)
{
    mbedtls_ssl_close_notify(&ssl);
    close(fd);
    free(wbuf);
}

static void thr_send(void)
{
    char *buf = malloc(sz > 0 ? sz : 1);
    struct perf_cpu c0, c1;
    long i;

    PERF_CHECK(buf != NULL, "malloc");
    memset(buf, 111, sz);
    tls_send(buf, 0);
    c0 = perf_cpu_now();
    for (i = 0; i != count; i++)
        tls_send(buf, sz);
    tls_recv(buf, sz);
    c1 = perf_cpu_now();
    perf_cpu_print(c0, c1, (double) count);
    free(buf);
}

static void thr_recv(void)
{
    char *buf = malloc(sz > 0 ? sz : 1);
    uint64_t t0, t1;
    struct perf_cpu c0, c1;
    long i;

    PERF_CHECK(buf != NULL, "malloc");
    if (tls_recv(buf, sz) != 0) {
        fprintf(stderr, "raw_tls: expected the empty start marker\n");
        exit(2);
    }
    c0 = perf_cpu_now();
    t0 = perf_now_us();
    for (i = 0; i != count; i++) {
        if (tls_recv(buf, sz) != sz) {
            fprintf(stderr, "raw_tls: short message\n");
            exit(2);
        }
    }
    t1 = perf_now_us();
    c1 = perf_cpu_now();
    tls_send(buf, 0);
    perf_thr_print(sz, count, t0, t1, c0, c1);
    free(buf);
}

static void lat_echo(void)
{
    char *buf = malloc(sz > 0 ? sz : 1);
    struct perf_cpu c0 = {0, 0}, c1;
    long i;

    PERF_CHECK(buf != NULL, "malloc");
    for (i = 0; i != count + 1; i++) {
        if (tls_recv(buf, sz) != sz) {
            fprintf(stderr, "raw_tls: short message\n");
            exit(2);
        }
        tls_send(buf, sz);
        if (i == 0)
            c0 = perf_cpu_now();
    }
    c1 = perf_cpu_now();
    tls_recv(buf, sz); /* "done": the pinging side holds the last reply */
    perf_cpu_print(c0, c1, 2.0 * (double) count);
    free(buf);
}

static void lat_ping(void)
{
    char *buf = malloc(sz > 0 ? sz : 1);
    uint64_t t0, t1;
    struct perf_cpu c0, c1;
    long i;

    PERF_CHECK(buf != NULL, "malloc");
    memset(buf, 111, sz);
    tls_send(buf, sz);
    tls_recv(buf, sz);
    c0 = perf_cpu_now();
    t0 = perf_now_us();
    for (i = 0; i != count; i++) {
        tls_send(buf, sz);
        if (tls_recv(buf, sz) != sz) {
            fprintf(stderr, "raw_tls: short message\n");
            exit(2);
        }
    }
    t1 = perf_now_us();
    c1 = perf_cpu_now();
    tls_send(buf, 0);
    printf("message size: %d [B]\n", (int) sz);
    printf("roundtrip count: %ld\n", count);
    printf("average latency: %.3f [us]\n",
        count > 0 ? (double) (t1 - t0) / ((double) count * 2) : 0.0);
    perf_cpu_print(c0, c1, 2.0 * (double) count);
    free(buf);
}

int main(int argc, char *argv[])
{
    char url[512];
    int fd, lat, local;

    if (argc != 6 || (strcmp(argv[1], "thr") != 0 && strcmp(argv[1], "lat") != 0) ||
        (strcmp(argv[2], "local") != 0 && strcmp(argv[2], "remote") != 0) ||
        strncmp(argv[3], "tls+tcp://", 10) != 0 || strlen(argv[3]) > 400) {
        printf("usage: raw_tls thr|lat local <bind-to> <msg-size> <count>\n"
               "       raw_tls thr|lat remote <connect-to> <msg-size> <count>\n"
               "(tls+tcp://host:port URLs)\n");
        return 1;
    }
    lat = argv[1][0] == 'l';
    local = argv[2][0] == 'l';
    snprintf(url, sizeof(url), "tcp://%s", argv[3] + 10);
    sz = (size_t) perf_arg_long(argv[4], "msg-size");
    count = perf_arg_long(argv[5], "count");
    fd = local ? raw_accept_one(url) : raw_connect(url);
    tls_open(fd, local);
    if (lat)
        local ? lat_echo() : lat_ping();
    else
        local ? thr_recv() : thr_send();
    fflush(stdout);
    tls_close(fd);
    return 0;
}
