/* The tls+tcp transport: SP over TLS over TCP, framed exactly as NNG frames
   it (the TCP mapping inside the TLS stream), with the addresses of the tcp
   transport. Certificates and verification come from the NN_TLS options. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <nanomsg/tls.h>

#include "core/ep.h"
#include "tls/tlsctx.h"
#include "tls/tlsopts.h"
#include "transport.h"
#include "utils/connector.h"
#include "utils/spwire.h"
#include "utils/tcpdial.h"

static const struct sp_stream_cfg tls_cfg = {&sp_spwire_ops, &sp_spwire_tcp, sp_tcp_tune};

static int tls_bind(struct sp_ep *ep)
{
    return sp_tls_listen(ep, &tls_cfg);
}

struct tls_dial {
    struct sp_tlsdial tls; /* first: sp_tcpdial_ops works on it */
    struct sp_stream_cfg cfg;
};

static int tls_connect(struct sp_ep *ep)
{
    struct tls_dial *d = calloc(1, sizeof *d);
    if (!d)
        return -ENOMEM;
    d->cfg = tls_cfg;
    int rc = sp_tcpdial_parse(&d->tls.tcp, ep->addr, strlen(ep->addr), ep->ipv4only, 0);
    if (rc == 0)
        rc = sp_tlsdial_init(&d->tls, ep, &d->cfg);
    if (rc == 0)
        rc = sp_connector_start(ep, &d->cfg, SP_TLS_HS_TIMEOUT_MS, &sp_tcpdial_ops, d);
    if (rc != 0) {
        sp_tlsctx_rele(d->tls.ctx);
        free(d);
    }
    return rc;
}

/* The NN_TLS options, and the NN_TCP ones as on tcp. */
static const struct sp_optset *const tls_optsets[] = {&sp_tls_optset, &sp_tcp_optset, NULL};

const struct sp_transport sp_tls_transport = {
    .scheme = "tls+tcp",
    .id = NN_TLS,
    .optsets = tls_optsets,
    .term = sp_tls_term,
    .bind = tls_bind,
    .connect = tls_connect,
};
