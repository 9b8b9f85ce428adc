/* The ws transport: SP over WebSocket. Bind "ws://iface:port" (the port is
   mandatory and nothing may follow it, as in libnanomsg); connect
   "ws://[iface;]host[:port][/resource]" (port 80 by default, the resource is
   sent verbatim in the request line). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nanomsg/ws.h>

#include "core/ep.h"
#include "transport.h"
#include "utils/connector.h"
#include "utils/listener.h"
#include "utils/tcpdial.h"
#include "ws/wswire.h"

static const struct sp_wswire_arg ws_server_arg = {.client = false};
static const struct sp_stream_cfg ws_server_cfg = {&sp_wswire_ops, &ws_server_arg, false};

/* A connecting endpoint's data: the TCP target first (sp_tcpdial_ops uses
   it), then what the WebSocket client needs. One allocation. */
struct ws_dial {
    struct sp_tcpdial tcp;
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

static int ws_connect(struct sp_ep *ep)
{
    struct ws_dial *d = calloc(1, sizeof *d);
    if (!d)
        return -ENOMEM;
    const char *addr = ep->addr;
    const char *semi = strchr(addr, ';');
    const char *hostp = semi ? semi + 1 : addr;
    const char *slash = strchr(hostp, '/');
    size_t len = slash ? (size_t) (slash - addr) : strlen(addr);
    int rc = sp_tcpdial_parse(&d->tcp, addr, len, ep->ipv4only, 80);
    if (rc == 0) {
        d->arg.client = true;
        size_t hl = (size_t) (addr + len - hostp);
        memcpy(d->arg.host, hostp, hl);
        d->arg.host[hl] = 0;
        strcpy(d->arg.resource, slash ? slash : "/");
        d->cfg.wire = &sp_wswire_ops;
        d->cfg.wire_arg = &d->arg;
        d->cfg.tcp = false;
        rc = sp_connector_start(ep, &d->cfg, SP_WS_HS_TIMEOUT_MS, &sp_tcpdial_ops, d);
    }
    if (rc != 0)
        free(d);
    return rc;
}

const struct sp_transport sp_ws_transport = {
    .scheme = "ws",
    .id = NN_WS,
    .bind = ws_bind,
    .connect = ws_connect,
};
