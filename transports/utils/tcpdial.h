/* TCP plumbing shared by the tcp, tls+tcp, ws and wss transports: listening
   on "iface:port" and dialling "[iface;]host:port" with libnanomsg's address
   rules, host names resolved off the loop on every attempt, the connector
   hooks that go with it, and the NN_TCP options. */
#ifndef SP_TCPDIAL_H
#define SP_TCPDIAL_H

#include <stdbool.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <nanomsg/nn.h>

#include "core/optset.h"
#include "utils/connector.h"

struct sp_ep;
struct sp_resolve;

/* Binds and listens on "iface:port" (addr, len bytes): the listening fd or
   -errno (EINVAL, ENODEV, EADDRINUSE, ...). */
int sp_tcp_listen(struct sp_ep *ep, const char *addr, size_t len);

/* An IPv4 or IPv6 address: what a sockaddr_storage would hold, in the room
   those two need (a dialling target is kept for every connecting endpoint,
   and there may be thousands). */
union sp_tcpdial_addr {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
};

/* A dialling target; transports that need more put it first in their own
   connector data (the connector frees that data with free()). */
struct sp_tcpdial {
    const char *spec;             /* "[iface;]host[:port]" as given, not
                                     copied: it lies in the endpoint's
                                     address, which outlives the connector */
    size_t speclen;
    int default_port;
    int portnum;
    size_t hostoff;               /* the host: spec[hostoff..+hostlen] */
    size_t hostlen;
    bool literal;
    bool have_local;
    bool ipv4only;                /* what host and local were parsed with */
    socklen_t remote_len;
    socklen_t local_len;
    union sp_tcpdial_addr remote;
    union sp_tcpdial_addr local;
    struct sp_resolve *req;       /* pending resolution */
    /* Called before the connector frees the data (NULL: nothing to do). */
    void (*cleanup)(struct sp_tcpdial *d);
};

/* Parses "[iface;]host:port" (len bytes) into d: 0, -EINVAL or -ENODEV.
   A missing ":port" gives default_port when it is > 0, else -EINVAL. Each
   connection attempt parses it again when NN_IPV4ONLY has changed since:
   addr must stay valid as long as d (d->spec points into it). */
int sp_tcpdial_parse(struct sp_tcpdial *d, const char *addr, size_t len, bool ipv4only, int default_port);

/* The host part of d's address, NUL-terminated, into host (which the parse
   made sure it fits). */
void sp_tcpdial_host(const struct sp_tcpdial *d, char host[NN_SOCKADDR_MAX]);

/* Connector hooks for tpdata starting with a struct sp_tcpdial. */
extern const struct sp_connector_ops sp_tcpdial_ops;

/* Library teardown: reaps abandoned DNS requests (the term hook of every
   transport that dials with sp_tcpdial_ops). */
void sp_tcpdial_term(void);

/* The options at level NN_TCP: NN_TCP_NODELAY, the tcp transport's, also
   read by tls+tcp (never by ws, as in libnanomsg), and nanosp's
   NN_TCP_KEEPALIVE, read by every transport over TCP (tcp, tls+tcp, ws,
   wss: a WebSocket peer vanishes as silently as any). libnanomsg reads its
   options at each new connection, a connection attempt or an accepted one,
   and so is NN_TCP_KEEPALIVE: see sp_tcp_tune. */
extern const struct sp_optset sp_tcp_optset;

/* The sp_stream_cfg.tune of tcp and tls+tcp: TCP_NODELAY on fd when the
   socket's NN_TCP_NODELAY is 1 now, keepalive when its NN_TCP_KEEPALIVE is
   positive now. */
void sp_tcp_tune(int fd, struct sp_ep *ep);

/* The tune of ws and wss: NN_TCP_KEEPALIVE only. */
void sp_tcp_tune_keepalive(int fd, struct sp_ep *ep);

#endif
