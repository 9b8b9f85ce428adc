/*
    Helpers shared by the nn_* perf programs. Public nn_* API and the option
    macros of the headers only: the same source builds against our library,
    Debian's libnanomsg (its <nanomsg/...> headers) and NNG's compat layer
    (-I/usr/include/nng/compat), whose option numbers differ from ours. So
    never a hard-coded option number, and no nn_symbol.

    Built with -DPERF_TLS (our library only: libnanomsg has no TLS, and NNG's
    compat layer no TLS options), the programs also speak tls+tcp:// and
    wss://, with the throw-away certificates of the directory named by
    PERF_TLS_DIR (ca.crt, server.crt, server.key, as tests/tls/mkcerts.sh
    makes them): see nn_perf_tls.
*/

#ifndef NN_PERF_H
#define NN_PERF_H

#include <nanomsg/nn.h>
#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/tcp.h>
#ifdef PERF_TLS
#include <nanomsg/tls.h>
#endif

#include "perf_util.h"

#define NN_CHECK(cond, what)                                                       \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, (what),  \
                nn_strerror(nn_errno()));                                          \
            exit(2);                                                               \
        }                                                                          \
    } while (0)

#ifdef PERF_TLS
/*  With PERF_TLS_DIR set, the binding side presents server.crt/server.key
    and the connecting side checks it against ca.crt under the name
    "localhost" (the certificate's; URLs name 127.0.0.1), as the NNG and raw
    mbedTLS programs do, so that every library runs the same handshake. The
    options are harmless on sockets that end up on another transport. */
static inline void nn_perf_tls_file(int s, int option, const char *dir, const char *name,
    const char *what)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (nn_setsockopt(s, NN_TLS, option, path, strlen(path)) != 0) {
        fprintf(stderr, "%s (%s): %s\n", what, path, nn_strerror(nn_errno()));
        exit(2);
    }
}

static inline void nn_perf_tls(int s, int connecting)
{
    const char *dir = getenv("PERF_TLS_DIR");
    if (dir == NULL || *dir == '\0')
        return;
    if (connecting) {
        nn_perf_tls_file(s, NN_TLS_CA_FILE, dir, "ca.crt", "NN_TLS_CA_FILE");
        NN_CHECK(nn_setsockopt(s, NN_TLS, NN_TLS_SERVER_NAME, "localhost", 9) == 0,
            "NN_TLS_SERVER_NAME");
    } else {
        nn_perf_tls_file(s, NN_TLS_CERT_FILE, dir, "server.crt", "NN_TLS_CERT_FILE");
        nn_perf_tls_file(s, NN_TLS_KEY_FILE, dir, "server.key", "NN_TLS_KEY_FILE");
    }
}
#endif

/*  Options every perf socket gets. Failures are reported, not fatal: an
    option one library lacks must not stop a comparison. */
static inline void nn_perf_tune(int s, size_t msg_size, int connecting)
{
    int opt;

    /*  nanomsg's own perf tools turn Nagle off on the latency sockets; we do
        it everywhere so that every library and the raw baseline run with
        TCP_NODELAY. Ignored by non-tcp transports. */
    opt = 1;
    if (nn_setsockopt(s, NN_TCP, NN_TCP_NODELAY, &opt, sizeof(opt)) != 0)
        fprintf(stderr, "warning: NN_TCP_NODELAY: %s\n", nn_strerror(nn_errno()));

    /*  1 MiB is exactly the default limit of libnanomsg and NNG; lift it so
        any size the caller asks for goes through. */
    if (msg_size >= 512 * 1024) {
        opt = (int) msg_size + 4096;
        if (nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVMAXSIZE, &opt, sizeof(opt)) != 0)
            fprintf(stderr, "warning: NN_RCVMAXSIZE: %s\n", nn_strerror(nn_errno()));
    }

    /*  The connecting side starts while the binding side may not listen
        yet: retry every 10 ms instead of the default 100 ms, so that the
        runner does not wait on the reconnect timer. */
    if (connecting) {
        opt = 10;
        if (nn_setsockopt(s, NN_SOL_SOCKET, NN_RECONNECT_IVL, &opt, sizeof(opt)) != 0)
            fprintf(stderr, "warning: NN_RECONNECT_IVL: %s\n", nn_strerror(nn_errno()));
    }
#ifdef PERF_TLS
    nn_perf_tls(s, connecting);
#endif
}

static inline void nn_perf_timeouts(int s, int snd_ms, int rcv_ms)
{
    if (snd_ms != 0)
        nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDTIMEO, &snd_ms, sizeof(snd_ms));
    if (rcv_ms != 0)
        nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &rcv_ms, sizeof(rcv_ms));
}

#endif
