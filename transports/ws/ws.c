/* The ws and wss transports: SP over WebSocket, in clear or over TLS. Bind
   "ws://iface:port" (the port is mandatory and nothing may follow it, as in
   libnanomsg); connect "ws://[iface;]host[:port][/resource]" (port 80, or
   443 for wss, by default; the resource is sent verbatim in the request
   line). wss takes its certificates from the NN_TLS options. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nanomsg/ws.h>

#include "core/ep.h"
#include "transport.h"
#include "utils/connector.h"
#include "utils/listener.h"
#include "tls/tlsctx.h"
#include "tls/tlsopts.h"
#include "utils/tcpdial.h"
#include "ws/wswire.h"

static const struct sp_wswire_arg ws_server_arg = {.client = false};
static const struct sp_stream_cfg ws_server_cfg = {&sp_wswire_ops, &ws_server_arg, sp_tcp_tune_keepalive};

/* A connecting endpoint's data: the TCP target and, for wss, the TLS
   configuration first (sp_tcpdial_ops uses them), then what the WebSocket
   client needs. One allocation. */
struct ws_dial {
    struct sp_tlsdial tls;
    struct sp_wswire_arg arg;
    struct sp_stream_cfg cfg;
};

static int ws_bind(struct sp_ep *ep)
{
    int fd = sp_tcp_listen(ep, ep->addr, strlen(ep->addr));
    if (fd < 0)
        return fd;
    int rc = sp_listener_start(ep, fd, &ws_server_cfg, SP_WS_HS_TIMEOUT_MS, NULL, NULL);
    if (rc != 0)
        close(fd);
    return rc;
}

static int wss_bind(struct sp_ep *ep)
{
    return sp_tls_listen(ep, &ws_server_cfg);
}

static int ws_connect_common(struct sp_ep *ep, bool secure)
{
    struct ws_dial *d = calloc(1, sizeof *d);
    if (!d)
        return -ENOMEM;
    const char *addr = ep->addr;
    const char *semi = strchr(addr, ';');
    const char *hostp = semi ? semi + 1 : addr;
    const char *slash = strchr(hostp, '/');
    size_t len = slash ? (size_t) (slash - addr) : strlen(addr);
    int rc = sp_tcpdial_parse(&d->tls.tcp, addr, len, ep->ipv4only, secure ? 443 : 80);
    d->cfg.wire = &sp_wswire_ops;
    d->cfg.wire_arg = &d->arg;
    d->cfg.tune = sp_tcp_tune_keepalive;
    if (rc == 0 && secure)
        rc = sp_tlsdial_init(&d->tls, ep, &d->cfg);
    if (rc == 0) {
        d->arg.client = true;
        size_t hl = (size_t) (addr + len - hostp);
        memcpy(d->arg.host, hostp, hl);
        d->arg.host[hl] = 0;
        strcpy(d->arg.resource, slash ? slash : "/");
        rc = sp_connector_start(ep, &d->cfg, secure ? SP_TLS_HS_TIMEOUT_MS : SP_WS_HS_TIMEOUT_MS,
                                &sp_tcpdial_ops, d);
    }
    if (rc != 0) {
        sp_tlsctx_rele(d->tls.ctx);
        free(d);
    }
    return rc;
}

static int ws_connect(struct sp_ep *ep)
{
    return ws_connect_common(ep, false);
}

static int wss_connect(struct sp_ep *ep)
{
    return ws_connect_common(ep, true);
}

/* Of the NN_TCP options, ws reads NN_TCP_KEEPALIVE, never NN_TCP_NODELAY (as
   libnanomsg). */
static const struct sp_optset *const ws_optsets[] = {&sp_ws_optset, &sp_tcp_optset, NULL};
static const struct sp_optset *const wss_optsets[] = {&sp_ws_optset, &sp_tls_optset, &sp_tcp_optset, NULL};

const struct sp_transport sp_ws_transport = {
    .scheme = "ws",
    .id = NN_WS,
    .optsets = ws_optsets,
    .term = sp_tcpdial_term,
    .bind = ws_bind,
    .connect = ws_connect,
};

/* wss shares the NN_WS options (message type) and adds the NN_TLS ones. */
const struct sp_transport sp_wss_transport = {
    .scheme = "wss",
    .id = NN_WS,
    .optsets = wss_optsets,
    .term = sp_tls_term,
    .bind = wss_bind,
    .connect = wss_connect,
};
