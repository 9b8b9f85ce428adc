/* Load balancing over the priority list. */
#include "utils/lb.h"

#include <errno.h>

#include "core/pipe.h"

void sp_lb_init(struct sp_lb *lb)
{
    sp_priolist_init(&lb->pl);
    lb->ever = false;
}

void sp_lb_add(struct sp_lb *lb, struct sp_priolist_entry *e)
{
    if (e->pipe->flags & SP_PIPE_NOSEND)
        return;
    lb->ever = true;
    sp_priolist_activate(&lb->pl, e);
}

void sp_lb_rm(struct sp_lb *lb, struct sp_priolist_entry *e)
{
    sp_priolist_rm(&lb->pl, e);
}

void sp_lb_out(struct sp_lb *lb, struct sp_priolist_entry *e)
{
    sp_priolist_activate(&lb->pl, e);
}

int sp_lb_send(struct sp_lb *lb, struct sp_msg *msg, struct sp_pipe **to)
{
    struct sp_pipe *pipe = sp_priolist_pipe(&lb->pl);
    if (!pipe)
        return -EAGAIN;
    int rc = sp_pipe_send(pipe, msg);
    sp_priolist_advance(&lb->pl, rc == SP_PIPE_RELEASE);
    if (to)
        *to = pipe;
    return 0;
}
