/*
    Helpers of nng_lat, nng_thr and nng_many: the perf programs written
    against NNG's own API (libnng-dev), for what its nanomsg compat layer
    cannot do: configure TLS. They stand in the tls+tcp:// and wss:// rows
    (and the TLS handshake row); ws:// and the plain transports use the nn_*
    programs built against the compat layer, like the rest of the NNG column.

    The sockets are NNG's version-0 protocols (pair0, push0, pull0), the ones
    its compat layer opens for NN_PAIR, NN_PUSH and NN_PULL. With
    PERF_TLS_DIR set, the listener presents server.crt/server.key and the
    dialer checks it against ca.crt under the name "localhost", exactly as
    the nn programs built with PERF_TLS do (see nn_perf.h).
*/

#ifndef NNG_PERF_H
#define NNG_PERF_H

#include <nng/nng.h>
#include <nng/protocol/pair0/pair.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>
#include <nng/supplemental/tls/tls.h>

#include "perf_util.h"

#define NNG_CHECK(rv, what)                                                        \
    do {                                                                           \
        int rv_ = (rv);                                                            \
        if (rv_ != 0) {                                                            \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, (what),  \
                nng_strerror(rv_));                                                \
            exit(2);                                                               \
        }                                                                          \
    } while (0)

/*  The whole of a small file, NUL-terminated (PEM text for NNG). */
static inline char *nng_perf_slurp(const char *dir, const char *name)
{
    char path[4096];
    FILE *f;
    char *buf;
    long len;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "rb");
    PERF_CHECK(f != NULL, path);
    PERF_CHECK(fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0, path);
    rewind(f);
    buf = malloc((size_t) len + 1);
    PERF_CHECK(buf != NULL, "malloc");
    PERF_CHECK(fread(buf, 1, (size_t) len, f) == (size_t) len, path);
    buf[len] = '\0';
    fclose(f);
    return buf;
}

/*  One TLS configuration per process and role: NULL without PERF_TLS_DIR. */
static inline nng_tls_config *nng_perf_tls(int dialing)
{
    static nng_tls_config *cfg[2];
    const char *dir = getenv("PERF_TLS_DIR");

    if (dir == NULL || *dir == '\0')
        return NULL;
    if (cfg[dialing] != NULL)
        return cfg[dialing];
    if (dialing) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/ca.crt", dir);
        NNG_CHECK(nng_tls_config_alloc(&cfg[1], NNG_TLS_MODE_CLIENT), "nng_tls_config_alloc");
        NNG_CHECK(nng_tls_config_ca_file(cfg[1], path), "nng_tls_config_ca_file");
        NNG_CHECK(nng_tls_config_server_name(cfg[1], "localhost"),
            "nng_tls_config_server_name");
        NNG_CHECK(nng_tls_config_auth_mode(cfg[1], NNG_TLS_AUTH_MODE_REQUIRED),
            "nng_tls_config_auth_mode");
    } else {
        char *cert = nng_perf_slurp(dir, "server.crt");
        char *key = nng_perf_slurp(dir, "server.key");
        NNG_CHECK(nng_tls_config_alloc(&cfg[0], NNG_TLS_MODE_SERVER), "nng_tls_config_alloc");
        NNG_CHECK(nng_tls_config_own_cert(cfg[0], cert, key, NULL), "nng_tls_config_own_cert");
        NNG_CHECK(nng_tls_config_auth_mode(cfg[0], NNG_TLS_AUTH_MODE_NONE),
            "nng_tls_config_auth_mode");
        free(cert);
        free(key);
    }
    return cfg[dialing];
}

static inline int nng_perf_is_tls(const char *url)
{
    return strncmp(url, "tls+", 4) == 0 || strncmp(url, "wss", 3) == 0;
}

/*  A socket's options as the nn programs set them (nn_perf_tune): messages
    of any size the test asks for, and the timeouts. */
static inline void nng_perf_tune(nng_socket s, size_t msg_size, int snd_ms, int rcv_ms)
{
    if (msg_size >= 512 * 1024)
        NNG_CHECK(nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, msg_size + 4096),
            "NNG_OPT_RECVMAXSZ");
    if (snd_ms != 0)
        NNG_CHECK(nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, snd_ms), "NNG_OPT_SENDTIMEO");
    if (rcv_ms != 0)
        NNG_CHECK(nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, rcv_ms), "NNG_OPT_RECVTIMEO");
}

/*  Listens on url: TLS material, TCP_NODELAY (NNG's default, set anyway:
    every library runs with it) and the message size limit on the endpoint
    too, since a transport may keep its own copy. */
static inline void nng_perf_listen(nng_socket s, const char *url, size_t msg_size)
{
    nng_listener l;
    NNG_CHECK(nng_listener_create(&l, s, url), "nng_listener_create");
    if (nng_perf_is_tls(url))
        NNG_CHECK(nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, nng_perf_tls(0)),
            "NNG_OPT_TLS_CONFIG");
    nng_listener_set_bool(l, NNG_OPT_TCP_NODELAY, true);
    if (msg_size >= 512 * 1024)
        nng_listener_set_size(l, NNG_OPT_RECVMAXSZ, msg_size + 4096);
    NNG_CHECK(nng_listener_start(l, 0), "nng_listener_start");
}

/*  Dials url in the background, retrying every 10 ms while the peer does
    not listen yet (as the nn programs' NN_RECONNECT_IVL). */
static inline void nng_perf_dial(nng_socket s, const char *url, size_t msg_size)
{
    nng_dialer d;
    NNG_CHECK(nng_dialer_create(&d, s, url), "nng_dialer_create");
    if (nng_perf_is_tls(url))
        NNG_CHECK(nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, nng_perf_tls(1)),
            "NNG_OPT_TLS_CONFIG");
    nng_dialer_set_bool(d, NNG_OPT_TCP_NODELAY, true);
    if (msg_size >= 512 * 1024)
        nng_dialer_set_size(d, NNG_OPT_RECVMAXSZ, msg_size + 4096);
    NNG_CHECK(nng_dialer_set_ms(d, NNG_OPT_RECONNMINT, 10), "NNG_OPT_RECONNMINT");
    NNG_CHECK(nng_dialer_set_ms(d, NNG_OPT_RECONNMAXT, 10), "NNG_OPT_RECONNMAXT");
    NNG_CHECK(nng_dialer_start(d, NNG_FLAG_NONBLOCK), "nng_dialer_start");
}

/*  A whole message into buf (capacity cap); its length. A longer message is a
    test failure, as for the nn programs. */
static inline size_t nng_perf_recv(nng_socket s, void *buf, size_t cap, const char *what)
{
    size_t len = cap;
    NNG_CHECK(nng_recv(s, buf, &len, 0), what);
    return len;
}

static inline void nng_perf_send(nng_socket s, const void *buf, size_t len, const char *what)
{
    NNG_CHECK(nng_send(s, (void *) buf, len, 0), what);
}

#endif
