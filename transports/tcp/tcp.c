/* The tcp transport: "tcp://iface:port" to bind, "tcp://[iface;]host:port" to
   connect, with libnanomsg's address rules and errno values; SP framing. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nanomsg/tcp.h>

#include "core/ep.h"
#include "transport.h"
#include "utils/connector.h"
#include "utils/listener.h"
#include "utils/spwire.h"
#include "utils/tcpdial.h"

static const struct sp_stream_cfg tcp_cfg = {
    .wire = &sp_spwire_ops,
    .wire_arg = &sp_spwire_tcp,
    .tune = sp_tcp_tune,
    .blocking_reads = true,
    .rcv_lowat = true,
};

static int tcp_bind(struct sp_ep *ep)
{
    int fd = sp_tcp_listen(ep, ep->addr, strlen(ep->addr));
    if (fd < 0)
        return fd;
    int rc = sp_listener_start(ep, fd, &tcp_cfg, SP_SPWIRE_HS_TIMEOUT_MS, NULL, NULL);
    if (rc != 0)
        close(fd);
    return rc;
}

static int tcp_connect(struct sp_ep *ep)
{
    struct sp_tcpdial *d = malloc(sizeof *d);
    if (!d)
        return -ENOMEM;
    int rc = sp_tcpdial_parse(d, ep->addr, strlen(ep->addr), ep->ipv4only, 0);
    if (rc == 0)
        rc = sp_connector_start(ep, &tcp_cfg, SP_SPWIRE_HS_TIMEOUT_MS, &sp_tcpdial_ops, d);
    if (rc != 0)
        free(d);
    return rc;
}

static const struct sp_optset *const tcp_optsets[] = {&sp_tcp_optset, NULL};

const struct sp_transport sp_tcp_transport = {
    .scheme = "tcp",
    .id = NN_TCP,
    .optsets = tcp_optsets,
    .term = sp_tcpdial_term,
    .bind = tcp_bind,
    .connect = tcp_connect,
};
