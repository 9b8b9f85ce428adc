/* The contract between the core and a transport. A transport binds or
   connects endpoints and turns what it carries into pipes (core/pipe.h); it
   moves opaque messages and never knows which protocol runs on it. The core
   knows a transport only through this table:

   - Options. Its own options are at level id, described by an option set
     (core/optset.h): defaults, validation and errno, readback. The core
     stores them per socket and copies, at nn_bind/nn_connect, every set in
     optsets into the endpoint (sp_ep_opts). Where libnanomsg reads an option
     again for each connection, the transport reads the socket's current
     value instead (sp_ep_opts_now); ep.h lists when each option is read.
     Options that are valid one by one but not together (a rate too low for
     the packet size) make bind/connect fail with -EINVAL.
   - Socket types. protocols lists those it can carry (raw and cooked); the
     core refuses the others at nn_bind/nn_connect with EPROTONOSUPPORT, the
     errno of a transport that does not exist.
   - Life cycle. init runs when the library starts (the first socket), term
     at teardown after the last socket closed: threads or global state the
     transport keeps between sockets (a DNS resolver) live between the two.
   - Pipes. A connection becomes a pipe once the transport knows the peer's
     protocol (pipe->peer_protocol; the core checks that the socket talks to
     it when the pipe attaches). A pipe may be made without any handshake,
     and may say that it only sends or only receives (SP_PIPE_NOSEND,
     SP_PIPE_NORECV): a multicast transport gives each remote sender a
     receive-only pipe at its first datagram, and each endpoint one
     send-only pipe to the group.
   - Statistics: sp_ep_stat counts connections, errors and drops in the
     socket's NN_STAT_* counters. A count of its own (messages a multicast
     receiver lost whole) is one more slot of enum sp_stat (core/sock.h)
     with its public id in sp_sock_stat_get (core/stat.c), for every
     transport to use.

   Adding a transport is a folder under transports/, its declaration and its
   line in the list of transports/registry.c, and its sources in
   transports/meson.build (README.md, "Adding a transport"). */
#ifndef SP_TRANSPORT_H
#define SP_TRANSPORT_H

#include <stdbool.h>

#include "core/ep.h"
#include "core/optset.h"

struct sp_socktype;

struct sp_transport {
    const char *scheme; /* "tcp", matched exactly (case-sensitive) */
    int id;             /* NN_TCP, ...: the level of its own options */
    /* The option sets its endpoints read, NULL-terminated: its own (level
       id) first if it has options, then those it shares with other
       transports (wss: NN_WS, then NN_TLS). NULL: none (inproc). */
    const struct sp_optset *const *optsets;
    /* The protocol numbers (NN_PUB...) of the socket types it carries,
       0-terminated; NULL: every type. */
    const int *protocols;
    /* Library start and teardown; either may be NULL. init: 0 or -errno
       (nn_socket then fails with it). */
    int (*init)(void);
    void (*term)(void);
    /* Synchronous part of nn_bind: validate ep->addr, bind or join, set
       ep->ops and ep->tpdata. 0, or -errno with nothing left running (any
       pipe it attached detached again); the core then frees the endpoint.
       Besides address errors, any errno the system gives (EADDRINUSE,
       ENODEV, EACCES...). */
    int (*bind)(struct sp_ep *ep);
    /* Synchronous part of nn_connect: validate ep->addr, then connect in the
       background, or at once when there is nothing to wait for. The same
       rules and errno values as bind: an address that cannot work on this
       host (ENODEV) or a privilege it lacks (EACCES) may fail here too. */
    int (*connect)(struct sp_ep *ep);
};

/* The transport for scheme (len bytes, not NUL-terminated), or NULL. */
const struct sp_transport *sp_transport_find(const char *scheme, size_t len);

/* Whether tp carries sockets of type. */
bool sp_transport_carries(const struct sp_transport *tp, const struct sp_socktype *type);

/* The option set of level (a transport's id), or NULL when no transport
   has options there. */
const struct sp_optset *sp_optset_find(int level);

/* Every transport's init, at library start: 0 or the first failure's
   -errno (the transports started before it are stopped again). */
int sp_transports_init(void);

/* Every transport's term, at library teardown after the last socket closed. */
void sp_transports_term(void);

#endif
