/* Fair queue: receives from the ready pipes, best priority first, round robin
   within a priority (PULL, PAIR-less receivers, REP, SUB...). */
#ifndef SP_FQ_H
#define SP_FQ_H

#include "core/msg.h"
#include "utils/priolist.h"

struct sp_fq {
    struct sp_priolist pl;
};

void sp_fq_init(struct sp_fq *fq);
/* A new pipe is not readable until it signals (which one that cannot
   receive, SP_PIPE_NORECV, never does). */
void sp_fq_add(struct sp_fq *fq, struct sp_priolist_entry *e);
void sp_fq_rm(struct sp_fq *fq, struct sp_priolist_entry *e);
void sp_fq_in(struct sp_fq *fq, struct sp_priolist_entry *e);
static inline bool sp_fq_can_recv(const struct sp_fq *fq)
{
    return sp_priolist_ready(&fq->pl);
}
/* For protocols whose only per-pipe state is the fair-queue entry (PULL,
   SUB): the entry lives in pipe->proto_data. */
int sp_fq_pipe_add(struct sp_fq *fq, struct sp_pipe *pipe);
void sp_fq_pipe_rm(struct sp_fq *fq, struct sp_pipe *pipe);
void sp_fq_pipe_in(struct sp_fq *fq, struct sp_pipe *pipe);

/* Receives the next message; *from (may be NULL) gets its pipe. -EAGAIN when
   nothing is ready. */
int sp_fq_recv(struct sp_fq *fq, struct sp_msg *msg, struct sp_pipe **from);

#endif
