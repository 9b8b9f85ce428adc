/*
    nanosp extension to the nanomsg API: SP over TLS ("tls+tcp://") and
    WebSocket over TLS ("wss://"), wire-compatible with NNG. Not part of
    libnanomsg 1.1.5; programs that include only the 11 libnanomsg headers
    are unaffected.

    Copyright 2026 The nanosp developers. MIT licence, as nanomsg.
*/

#ifndef NN_TLS_H_INCLUDED
#define NN_TLS_H_INCLUDED

#include "nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/*  The option level of the TLS options (a transport level, like NN_TCP). */
#define NN_TLS -5

/*  Options, set with nn_setsockopt (level NN_TLS) before nn_bind or
    nn_connect; each endpoint takes the values in force when it is created.
    String options take the bytes of the value (no terminating NUL needed);
    an empty value clears the option. */

/*  Trusted CA certificates, PEM file (or directory of PEM files). Default:
    SSL_CERT_FILE/SSL_CERT_DIR from the environment, else the system bundle
    (/etc/ssl/certs/ca-certificates.crt). Options left unset may come from the
    environment (NN_TLS_CERT_FILE, NN_TLS_KEY_FILE, NN_TLS_VERIFY,
    NN_TLS_SERVER_NAME): see nn_env(7). */
#define NN_TLS_CA_FILE 1
/*  Trusted CA certificates, PEM text in memory. */
#define NN_TLS_CA_PEM 2
/*  Own certificate chain, PEM file / PEM text (required to bind). */
#define NN_TLS_CERT_FILE 3
#define NN_TLS_CERT_PEM 4
/*  Own private key, PEM file / PEM text. */
#define NN_TLS_KEY_FILE 5
#define NN_TLS_KEY_PEM 6
/*  Password of an encrypted private key. */
#define NN_TLS_KEY_PASSWORD 7
/*  Peer verification, int: NN_TLS_VERIFY_NONE, _OPTIONAL or _REQUIRED.
    Default: REQUIRED for connecting endpoints, NONE for bound ones (set it
    to OPTIONAL or REQUIRED on a server to ask clients for certificates). */
#define NN_TLS_VERIFY 8
/*  Name the server certificate must carry (and SNI). Default: the host of
    the nn_connect URL. */
#define NN_TLS_SERVER_NAME 9

#define NN_TLS_VERIFY_NONE 0
#define NN_TLS_VERIFY_OPTIONAL 1
#define NN_TLS_VERIFY_REQUIRED 2

#ifdef __cplusplus
}
#endif

#endif
