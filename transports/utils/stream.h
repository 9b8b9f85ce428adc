/* A stream connection (TCP, IPC): the SP header exchange, then framed messages
   in both directions, exposed to the protocol as a pipe. Sends to an idle
   connection are written straight from the caller's thread; what the kernel
   does not take is queued and written in batches (one writev for many
   messages) by the loop thread. Reads pull large buffers and split many
   messages out of each. Everything but the pipe calls runs on the loop thread. */
#ifndef SP_STREAM_H
#define SP_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aio/loop.h"
#include "core/msg.h"
#include "core/pipe.h"
#include "utils/decoder.h"
#include "utils/list.h"

struct sp_ep;
struct sp_stream;

/* The stream ended (it is detached and its fd closed); the owner must call
   sp_stream_free(s) (now or later, on the loop thread). */
typedef void (*sp_stream_done_fn)(struct sp_stream *s, void *owner);

struct sp_stream {
    struct sp_pipe pipe;
    struct sp_io io;
    struct sp_timer hs_timer;     /* handshake deadline */
    struct sp_task close_task;    /* close requested from a caller's thread */
    struct sp_ep *ep;
    int fd;
    enum sp_framing framing;
    int state;
    sp_stream_done_fn done;
    void *owner;
    struct sp_list_item item;     /* in the owner's list */
    /* handshake (loop thread) */
    uint8_t hs_out[8];
    size_t hs_out_done;
    uint8_t hs_in[8];
    size_t hs_in_done;
    /* reading (loop thread) */
    struct sp_decoder dec;
    /* under the socket lock */
    struct sp_msgq inq;
    size_t in_limit;
    bool in_told;
    bool rd_paused;
    struct sp_msgq outq;
    size_t out_off;               /* bytes of outq's head frame already written */
    size_t out_limit;
    bool out_released;
    bool broken;                  /* no more sends; a close is requested */
    bool draining;                /* the peer is gone: close once inq is empty */
};

/* Starts a connection on a connected, non-blocking fd. Loop thread. On
   failure (-errno) nothing was started and the fd is left to the caller. */
int sp_stream_start(struct sp_stream **out, int fd, struct sp_ep *ep, enum sp_framing framing,
                    sp_stream_done_fn done, void *owner);

/* Closes it now (loop thread): the pipe leaves the protocol (counted as
   stat, an enum sp_stat or -1), then done() runs. No-op if already closed. */
void sp_stream_close(struct sp_stream *s, int stat);

/* Releases the stream after done(). */
void sp_stream_free(struct sp_stream *s);

#endif
