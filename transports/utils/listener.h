/* A bound stream endpoint: a listening fd whose accepted connections become
   streams. Shared by the stream transports (ipc, tcp, tls+tcp, ws, wss);
   the transport opens the fd. */
#ifndef SP_LISTENER_H
#define SP_LISTENER_H

#include "aio/loop.h"
#include "utils/list.h"
#include "utils/stream.h"

/* The listen backlog the stream transports ask for. Linux caps it at
   net.core.somaxconn (4096 by default since 5.4, 128 before): asking for
   more than the cap lets a host configured for many simultaneous clients
   use its whole queue, which SOMAXCONN (glibc's 4096) would not. A full
   queue drops a connecting client's SYN (or the ACK that ends its
   handshake), and the client waits for its retransmit: 1 s, then 3 s, 7 s...
   65535 and not more: kernels before 4.1 kept the backlog in 16 bits.
   (libnanomsg: 100 for tcp, 10 for ipc.) */
#define SP_LISTEN_BACKLOG 65535

struct sp_listener {
    struct sp_ep *ep;
    struct sp_io io;
    int fd;
    const struct sp_stream_cfg *cfg;
    uint64_t hs_timeout;
    struct sp_list streams;       /* sp_stream items */
    struct sp_task stop_task;
    struct sp_timer pause_timer;  /* accept paused after EMFILE/ENFILE */
    bool stopping;
    /* Transport clean-up after the fd is closed (ipc unlinks its file). */
    void (*cleanup)(struct sp_listener *l);
    void *tpdata;
};

/* Starts accepting on a listening fd (taken over on success) for ep: sets
   ep->ops/ep->tpdata. Accepted connections speak cfg (which must outlive the
   listener) and must finish their handshake within hs_timeout ms. Caller's
   thread. 0 or -errno. */
int sp_listener_start(struct sp_ep *ep, int fd, const struct sp_stream_cfg *cfg, uint64_t hs_timeout,
                      void (*cleanup)(struct sp_listener *), void *tpdata);

#endif
