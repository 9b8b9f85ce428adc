/* Load balancer: sends each message to one ready pipe, best priority first,
   round robin within a priority (PUSH, REQ). */
#ifndef SP_LB_H
#define SP_LB_H

#include "core/msg.h"
#include "utils/priolist.h"

struct sp_lb {
    struct sp_priolist pl;
    bool ever; /* a pipe was added once (NN_STAT_CURRENT_SND_PRIORITY) */
};

void sp_lb_init(struct sp_lb *lb);
/* A new pipe starts writable, unless it cannot send (SP_PIPE_NOSEND): then
   it is never used. */
void sp_lb_add(struct sp_lb *lb, struct sp_priolist_entry *e);
void sp_lb_rm(struct sp_lb *lb, struct sp_priolist_entry *e);
void sp_lb_out(struct sp_lb *lb, struct sp_priolist_entry *e);
static inline bool sp_lb_can_send(const struct sp_lb *lb)
{
    return sp_priolist_ready(&lb->pl);
}
/* Sends msg (taken on 0) through the next pipe; *to (may be NULL) receives
   the pipe used. -EAGAIN when no pipe is ready. */
int sp_lb_send(struct sp_lb *lb, struct sp_msg *msg, struct sp_pipe **to);
/* NN_STAT_CURRENT_SND_PRIORITY as libnanomsg reports it: 0 before any pipe
   came, then the best ready priority, -1 when none is ready. */
static inline int sp_lb_priority(const struct sp_lb *lb)
{
    return lb->ever ? sp_priolist_priority(&lb->pl) : 0;
}

#endif
