/* The NN_TLS options (<nanomsg/tls.h>) of the tls+tcp and wss transports:
   the option set the core stores per socket and copies into each endpoint
   at nn_bind/nn_connect, which is when the transports read all of them (no
   libnanomsg counterpart; a copy lets an endpoint load its certificates and
   keys once, tests/tls/test_tls.c). What they leave unset comes from the
   environment when the endpoint's mbedTLS configuration is built
   (tlsctx.c, nn_env(7)). */
#ifndef SP_TLSOPTS_H
#define SP_TLSOPTS_H

#include <stddef.h>

#include "core/optset.h"

enum sp_tls_str {
    SP_TLS_CA_FILE,
    SP_TLS_CA_PEM,
    SP_TLS_CERT_FILE,
    SP_TLS_CERT_PEM,
    SP_TLS_KEY_FILE,
    SP_TLS_KEY_PEM,
    SP_TLS_KEY_PASSWORD,
    SP_TLS_SERVER_NAME,
    SP_TLS_NSTR
};

struct sp_tlsopts {
    char *str[SP_TLS_NSTR]; /* NUL-terminated copies, or NULL */
    int verify;             /* NN_TLS_VERIFY_*, or -1 for the default */
};

/* Level NN_TLS, blocks of struct sp_tlsopts. The key and its password are
   write-only (ENOPROTOOPT on nn_getsockopt). */
extern const struct sp_optset sp_tls_optset;

#endif
