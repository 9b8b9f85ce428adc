/* An endpoint: one nn_bind or nn_connect on a socket. The core creates it with
   a copy of the options libnanomsg reads at that time; the transport runs it
   (listening, joining, or connecting with backoff) and produces pipes.
   Stopping is asynchronous: the transport calls sp_ep_stopped when every
   connection of the endpoint is gone. */
#ifndef SP_EP_H
#define SP_EP_H

#include <stdbool.h>
#include <stdint.h>

#include <nanomsg/nn.h>

#include "core/optset.h"
#include "utils/list.h"

struct sp_sock;
struct sp_ep;
struct sp_transport;

struct sp_ep_ops {
    /* Begin stopping; called once, without any socket lock held. The
       transport must call sp_ep_stopped(ep) when done, from any thread. */
    void (*stop)(struct sp_ep *ep);
};

struct sp_ep {
    struct sp_sock *sock;
    struct sp_list_item item;       /* in sock->eps */
    /* Reserved before the transport starts, so that a connection it makes
       at once (inproc) already knows the id nn_connect will return (PEER
       routes by it); nn_shutdown finds the endpoint only once started. */
    int eid;
    bool started;                   /* nn_bind/nn_connect succeeded */
    bool bound;                     /* nn_bind (else nn_connect) */
    bool stopping;
    const struct sp_transport *tp;
    const struct sp_ep_ops *ops;    /* set by the transport */
    void *tpdata;                   /* the transport's endpoint object */
    char *addr;                     /* the URL after "scheme://": kept
                                       behind opts, in the endpoint's own
                                       allocation, at its length (a
                                       connecting socket has an endpoint per
                                       connection) */
    int last_error;                 /* socket lock; 0 = none */
    uint64_t last_detail;           /* socket lock; hash of the detail
                                       printed with last_error (0: none) */
    /* When each socket option takes effect, as measured against libnanomsg
       1.1.5 with probes (tests/transport/optread.c pins each line from
       outside, against both libraries unless said otherwise):
         NN_SNDPRIO, NN_RCVPRIO       nn_bind/nn_connect: copied here, and
                                      every pipe of the endpoint takes them,
                                      reconnections included.
         NN_RECONNECT_IVL, _MAX       nn_connect: copied here (the backoff).
                                      Seen on tcp and ipc; a libnanomsg ws
                                      connector does not reconnect after a
                                      dropped handshake, so ws shows nothing
                                      (ours shares the connector).
         NN_IPV4ONLY                  nn_bind: the listening address.
                                      nn_connect: the address is checked
                                      with the value then (EINVAL), and each
                                      connection attempt parses and resolves
                                      it again with the value in force then.
                                      libnanomsg aborts whenever the value
                                      changed between attempts (#1007), so
                                      this is seen there only as that abort
                                      and tested on ours only.
         NN_SNDBUF, NN_RCVBUF         each new connection: a connection
         (and whether either was      attempt (before connect()), an
         set)                         accepted connection, an inproc
                                      pairing (the receiver's NN_RCVBUF):
                                      sp_ep_connopts.
         NN_RCVMAXSIZE                each message header, from the socket
                                      (sp_sockopts.rcvmaxsize), on every
                                      stream transport.
         transport options            nn_bind/nn_connect: every option set
                                      of the transport is copied here
                                      (sp_ep_opts); the transport reads the
                                      socket's current values instead for
                                      those libnanomsg reads per connection
                                      (sp_ep_opts_now), as the comment on
                                      each transport's option set says. */
    int sndprio;
    int rcvprio;
    int ipv4only;                   /* at nn_bind/nn_connect (parsing) */
    int reconnect_ivl;
    int reconnect_ivl_max;
    void *opts[];                   /* copies of tp->optsets, in order */
};

/* The socket-level options a new connection of the endpoint takes, read
   from the socket when the connection is made (see the table in struct
   sp_ep). */
struct sp_connopts {
    int sndbuf;
    int rcvbuf;
    bool bufs_set;      /* NN_SNDBUF or NN_RCVBUF was set: size the kernel's */
    int ipv4only;
};

/* Fills o from the socket's current options. Takes the socket lock: call
   it with no socket lock held. */
void sp_ep_connopts(struct sp_ep *ep, struct sp_connopts *o);

/* The endpoint's copy of set (one of its transport's optsets), as the
   socket had it at nn_bind/nn_connect. Valid as long as the endpoint. */
const void *sp_ep_opts(const struct sp_ep *ep, const struct sp_optset *set);

/* The socket's set as it stands now, copied into dst (set->size bytes, to
   be freed with set->term where it has one). 0 or -ENOMEM. Takes the socket
   lock: call it with no socket lock held. */
int sp_ep_opts_now(struct sp_ep *ep, const struct sp_optset *set, void *dst);

/* Records the endpoint's current error (0 clears it): updates
   NN_STAT_CURRENT_EP_ERRORS and prints it once per change under
   NN_PRINT_ERRORS. Any thread, no socket lock held. */
void sp_ep_set_error(struct sp_ep *ep, int err);

/* Same, with a human-readable detail printed under NN_PRINT_ERRORS (a TLS
   verification failure, say). A new detail is printed even when the error
   number stays the same: different peers refused for different reasons
   each get their line. */
void sp_ep_set_error_detail(struct sp_ep *ep, int err, const char *detail);

/* Prints err and detail under NN_PRINT_ERRORS, in the format of
   sp_ep_set_error, without recording an error: for an nn_bind/nn_connect
   that is about to fail (a TLS certificate that cannot be read, say). */
void sp_ep_report(struct sp_ep *ep, int err, const char *detail);

/* The transport is done with ep: removes and frees it. No socket lock held. */
void sp_ep_stopped(struct sp_ep *ep);

/* Statistics helper for transports: adds delta to the socket's counter stat
   (an enum sp_stat). Any thread. */
void sp_ep_stat(struct sp_ep *ep, int stat, int delta);

#endif
