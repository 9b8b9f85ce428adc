/* Fair queueing over the priority list. */
#include "utils/fq.h"

#include <errno.h>
#include <stdlib.h>

#include "core/pipe.h"

void sp_fq_init(struct sp_fq *fq)
{
    sp_priolist_init(&fq->pl);
}

void sp_fq_add(struct sp_fq *fq, struct sp_priolist_entry *e)
{
    (void) fq;
    (void) e;
}

void sp_fq_rm(struct sp_fq *fq, struct sp_priolist_entry *e)
{
    sp_priolist_rm(&fq->pl, e);
}

void sp_fq_in(struct sp_fq *fq, struct sp_priolist_entry *e)
{
    sp_priolist_activate(&fq->pl, e);
}

int sp_fq_recv(struct sp_fq *fq, struct sp_msg *msg, struct sp_pipe **from)
{
    for (;;) {
        struct sp_pipe *pipe = sp_priolist_pipe(&fq->pl);
        if (!pipe)
            return -EAGAIN;
        int rc = sp_pipe_recv(pipe, msg);
        if (rc < 0) {
            /* Signalled but drained meanwhile: it will signal again. */
            sp_priolist_advance(&fq->pl, true);
            continue;
        }
        sp_priolist_advance(&fq->pl, rc == SP_PIPE_RELEASE);
        if (from)
            *from = pipe;
        return 0;
    }
}

int sp_fq_pipe_add(struct sp_fq *fq, struct sp_pipe *pipe)
{
    struct sp_priolist_entry *e = malloc(sizeof *e);
    if (!e)
        return -ENOMEM;
    sp_priolist_entry_init(e, pipe, pipe->rcvprio);
    pipe->proto_data = e;
    sp_fq_add(fq, e);
    return 0;
}

void sp_fq_pipe_rm(struct sp_fq *fq, struct sp_pipe *pipe)
{
    sp_fq_rm(fq, pipe->proto_data);
    free(pipe->proto_data);
    pipe->proto_data = NULL;
}

void sp_fq_pipe_in(struct sp_fq *fq, struct sp_pipe *pipe)
{
    sp_fq_in(fq, pipe->proto_data);
}
