/* The body of the message a thread is sending, while it is still only in
   the caller's buffer: nn_send on a socket type that hands its messages to
   one pipe unchanged (PUSH, PAIR) gives a large body a chunk but does not
   copy into it yet. A stream connection with nothing queued writes such a
   body to the kernel straight from the caller's buffer and copies only what
   the kernel did not take; anywhere else the body is filled when a pipe
   takes the message (sp_pipe_send), so that nothing past the pipe ever sees
   the empty chunk. One per thread: the send in progress. */
#ifndef SP_SENDSRC_H
#define SP_SENDSRC_H

#include <stddef.h>
#include <string.h>

#include "core/msg.h"
#include "utils/err.h"

/* Bodies from this size on wait for their pipe: below it the copy costs
   less than the bookkeeping, and the stream writes only large messages
   straight from the sending thread anyway (its SP_DIRECT_MIN). */
#define SP_SENDSRC_MIN 8192

struct sp_sendsrc {
    const void *chunk; /* the message's body, not filled yet; NULL: none */
    const void *src;   /* the caller's bytes for it */
};

extern SP_THREAD_LOCAL struct sp_sendsrc sp_tl_sendsrc;

/* chunk (a body of the message about to be sent) is to be filled from src
   when a pipe takes it. */
static inline void sp_sendsrc_set(const void *chunk, const void *src)
{
    sp_tl_sendsrc.chunk = chunk;
    sp_tl_sendsrc.src = src;
}

/* The send is over (taken, or refused and its message freed). */
static inline void sp_sendsrc_clear(void)
{
    sp_tl_sendsrc.chunk = NULL;
}

/* If msg's body is still the caller's, the caller's bytes (the body chunk
   is then the taker's to fill) and the claim ends; else NULL. */
static inline const void *sp_sendsrc_take(const struct sp_msg *msg)
{
    if (SP_LIKELY(!sp_tl_sendsrc.chunk) || sp_tl_sendsrc.chunk != msg->body)
        return NULL;
    sp_tl_sendsrc.chunk = NULL;
    return sp_tl_sendsrc.src;
}

/* Fills msg's body from the caller's buffer if it is still waiting for it. */
static inline void sp_sendsrc_fill(struct sp_msg *msg)
{
    const void *src = sp_sendsrc_take(msg);
    if (src)
        memcpy(msg->body, src, sp_msg_bodylen(msg));
}

#endif
