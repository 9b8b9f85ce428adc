/* The contract between the core and a transport. A transport binds or connects
   endpoints and turns connections into pipes; it carries opaque messages and
   never knows which protocol runs on it. Adding one is a folder and a line in
   transports/registry.c. */
#ifndef SP_TRANSPORT_H
#define SP_TRANSPORT_H

#include "core/ep.h"

struct sp_transport {
    const char *scheme; /* "tcp", matched exactly (case-sensitive) */
    int id;             /* NN_TCP, ...: the option level */
    /* Synchronous part of nn_bind: validate ep->addr, bind/listen, set
       ep->ops and ep->tpdata. 0 or -errno (nothing left running). */
    int (*bind)(struct sp_ep *ep);
    /* Synchronous part of nn_connect: validate ep->addr (syntax errors are
       -errno here), then connect in the background. */
    int (*connect)(struct sp_ep *ep);
};

/* The transport for scheme (len bytes, not NUL-terminated), or NULL. */
const struct sp_transport *sp_transport_find(const char *scheme, size_t len);

/* Called at library teardown after the last socket closed. */
void sp_transports_term(void);

#endif
