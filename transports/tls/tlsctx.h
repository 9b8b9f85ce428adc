/* TLS through mbedTLS for stream transports: a shared configuration per
   endpoint (certificates, keys, verification, random generator) and the
   byte layer that runs TLS on each connection, non-blocking, driven by the
   event loop (no threads of its own). */
#ifndef SP_TLSCTX_H
#define SP_TLSCTX_H

#include <stdbool.h>

#include "core/ep.h"
#include "utils/stream.h"
#include "utils/tcpdial.h"

struct sp_tlsctx;

/* Builds the configuration of an endpoint from its copy of the NN_TLS options
   and, for what they leave unset, from the environment (SSL_CERT_FILE,
   SSL_CERT_DIR, NN_TLS_*: see nn_env(7)); certificate and key files are
   read now. A client checks the server certificate against host (or
   NN_TLS_SERVER_NAME). NULL with *err: -EINVAL (missing or unreadable
   certificate, key or CA, bad NN_TLS_VERIFY; the reason is printed under
   NN_PRINT_ERRORS) or -ENOMEM. */
struct sp_tlsctx *sp_tlsctx_new(struct sp_ep *ep, bool server, const char *host, int *err);
void sp_tlsctx_rele(struct sp_tlsctx *ctx);

/* The byte layer; its bio_arg is a struct sp_tlsctx. */
extern const struct sp_bio_ops sp_tls_bio_ops;

/* libnanomsg has no TLS; NNG's default handshake deadline is 10 s, ours: */
#define SP_TLS_HS_TIMEOUT_MS 10000

/* The term of the transports over TLS (tls+tcp, wss): sp_tcpdial_term's
   work and the client's cached sessions. */
void sp_tls_term(void);

/* TLS over TCP, for tls+tcp and wss. */

/* Binds ep's "iface:port" (ep->addr) and starts a listener whose
   connections run cfg's wire over TLS with the endpoint's server
   configuration, built now. 0, or -errno with nothing left running. */
int sp_tls_listen(struct sp_ep *ep, const struct sp_stream_cfg *cfg);

/* The start of a connecting TLS endpoint's connector data (sp_tcpdial_ops
   works on tcp): the client configuration, released with the data. */
struct sp_tlsdial {
    struct sp_tcpdial tcp;
    struct sp_tlsctx *ctx;
};

/* Once d->tcp is parsed: builds the client configuration for its host and
   makes cfg run over it. 0 or -errno (sp_tlsctx_new's). */
int sp_tlsdial_init(struct sp_tlsdial *d, struct sp_ep *ep, struct sp_stream_cfg *cfg);

#endif
