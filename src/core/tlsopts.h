/* The NN_TLS socket options as stored on a socket and copied into each
   endpoint at nn_bind/nn_connect time. Plain data; the TLS transports turn
   it into an mbedTLS configuration. */
#ifndef SP_TLSOPTS_H
#define SP_TLSOPTS_H

#include <stddef.h>

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

void sp_tlsopts_init(struct sp_tlsopts *o);
void sp_tlsopts_term(struct sp_tlsopts *o);
/* Deep copy: 0 or -ENOMEM. */
int sp_tlsopts_copy(struct sp_tlsopts *dst, const struct sp_tlsopts *src);
/* nn_setsockopt/nn_getsockopt at level NN_TLS: 0 or -errno. */
int sp_tlsopts_set(struct sp_tlsopts *o, int option, const void *val, size_t len);
int sp_tlsopts_get(const struct sp_tlsopts *o, int option, void *val, size_t *len);

#endif
