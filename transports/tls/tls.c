/* The tls+tcp transport: SP over TLS over TCP, framed exactly as NNG frames
   it (the TCP mapping inside the TLS stream), with the addresses of the tcp
   transport. Certificates and verification come from the NN_TLS options. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nanomsg/tls.h>

#include "core/ep.h"
#include "tls/tlsctx.h"
#include "tls/tlsopts.h"
#include "transport.h"
#include "utils/connector.h"
#include "utils/listener.h"
#include "utils/spwire.h"
#include "utils/tcpdial.h"

/* What a bound endpoint's streams need; freed by the listener's clean-up. */
struct tls_bound {
    struct sp_stream_cfg cfg;
    struct sp_tlsctx *ctx;
};

struct tls_dial {
    struct sp_tcpdial tcp; /* first: sp_tcpdial_ops works on it */
    struct sp_stream_cfg cfg;
    struct sp_tlsctx *ctx;
};

static void bound_cleanup(struct sp_listener *l)
{
    struct tls_bound *b = l->tpdata;
    sp_tlsctx_rele(b->ctx);
    free(b);
}

static void dial_cleanup(struct sp_tcpdial *t)
{
    sp_tlsctx_rele(((struct tls_dial *) t)->ctx);
}

static int tls_bind(struct sp_ep *ep)
{
    struct tls_bound *b = calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    int rc;
    b->ctx = sp_tlsctx_new(ep, true, NULL, &rc);
    if (!b->ctx) {
        free(b);
        return rc;
    }
    b->cfg = (struct sp_stream_cfg){&sp_spwire_ops, &sp_spwire_tcp, sp_tcp_tune, &sp_tls_bio_ops, b->ctx};
    int fd = sp_tcp_listen(ep, ep->addr, strlen(ep->addr));
    if (fd < 0) {
        rc = fd;
        goto fail;
    }
    rc = sp_listener_start(ep, fd, &b->cfg, SP_TLS_HS_TIMEOUT_MS, bound_cleanup, b);
    if (rc == 0)
        return 0;
    close(fd);
fail:
    sp_tlsctx_rele(b->ctx);
    free(b);
    return rc;
}

static int tls_connect(struct sp_ep *ep)
{
    struct tls_dial *d = calloc(1, sizeof *d);
    if (!d)
        return -ENOMEM;
    int rc = sp_tcpdial_parse(&d->tcp, ep->addr, strlen(ep->addr), ep->ipv4only, 0);
    if (rc == 0 && !(d->ctx = sp_tlsctx_new(ep, false, d->tcp.host, &rc)))
        goto fail;
    if (rc != 0)
        goto fail;
    d->tcp.cleanup = dial_cleanup;
    d->cfg = (struct sp_stream_cfg){&sp_spwire_ops, &sp_spwire_tcp, sp_tcp_tune, &sp_tls_bio_ops, d->ctx};
    rc = sp_connector_start(ep, &d->cfg, SP_TLS_HS_TIMEOUT_MS, &sp_tcpdial_ops, d);
    if (rc == 0)
        return 0;
    sp_tlsctx_rele(d->ctx);
fail:
    free(d);
    return rc;
}

/* The NN_TLS options, and NN_TCP_NODELAY as on tcp. */
static const struct sp_optset *const tls_optsets[] = {&sp_tls_optset, &sp_tcp_optset, NULL};

const struct sp_transport sp_tls_transport = {
    .scheme = "tls+tcp",
    .id = NN_TLS,
    .optsets = tls_optsets,
    .term = sp_tcpdial_term,
    .bind = tls_bind,
    .connect = tls_connect,
};
