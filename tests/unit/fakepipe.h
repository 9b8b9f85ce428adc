/* Fake pipes for the load balancer and fair queue tests: a struct sp_pipe
   with our own ops that records every call in one global log, takes or gives
   messages as the test scripts it, and needs no socket (lb and fq only call
   pipe->ops). */
#ifndef FAKEPIPE_H
#define FAKEPIPE_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "core/msg.h"
#include "core/pipe.h"
#include "utils/priolist.h"

struct fake_pipe {
    struct sp_pipe pipe;
    struct sp_priolist_entry entry;
    int id;
    /* send: returned after taking the message (0 or SP_PIPE_RELEASE) */
    int send_rc;
    /* recv: messages it can still give; the last one is given with
       SP_PIPE_RELEASE, none with -EAGAIN */
    int avail;
    int sends;
    int recvs;
    uint32_t last_body; /* body of the last message sent to it */
};

#define FAKE_LOG_MAX 1024

struct fake_log {
    char op[FAKE_LOG_MAX]; /* 's' send, 'r' recv */
    int id[FAKE_LOG_MAX];
    int n;
};

static struct fake_log fake_log;

static inline void fake_log_reset(void)
{
    fake_log.n = 0;
}

static inline void fake_log_add(char op, int id)
{
    assert_true(fake_log.n < FAKE_LOG_MAX);
    fake_log.op[fake_log.n] = op;
    fake_log.id[fake_log.n] = id;
    fake_log.n++;
}

static inline int fake_send(struct sp_pipe *pipe, struct sp_msg *msg)
{
    struct fake_pipe *fp = sp_cont(pipe, struct fake_pipe, pipe);
    fake_log_add('s', fp->id);
    fp->sends++;
    fp->last_body = 0;
    if (sp_msg_bodylen(msg) >= 4)
        memcpy(&fp->last_body, sp_msg_bodyp(msg), 4);
    sp_msg_term(msg);
    return fp->send_rc;
}

static inline int fake_recv(struct sp_pipe *pipe, struct sp_msg *msg)
{
    struct fake_pipe *fp = sp_cont(pipe, struct fake_pipe, pipe);
    fake_log_add('r', fp->id);
    if (fp->avail == 0)
        return -EAGAIN;
    assert_int_equal(sp_msg_init_size(msg, sizeof(int)), 0);
    memcpy(sp_msg_bodyp(msg), &fp->id, sizeof(int));
    fp->recvs++;
    fp->avail--;
    return fp->avail == 0 ? SP_PIPE_RELEASE : 0;
}

static inline void fake_destroy(struct sp_pipe *pipe)
{
    (void) pipe;
    fail_msg("lb/fq must not destroy pipes");
}

static const struct sp_pipe_ops fake_ops = {
    .send = fake_send,
    .recv = fake_recv,
    .destroy = fake_destroy,
};

static inline void fake_init(struct fake_pipe *fp, int id, int priority)
{
    memset(fp, 0, sizeof *fp);
    fp->pipe.ops = &fake_ops;
    fp->pipe.sndprio = priority;
    fp->pipe.rcvprio = priority;
    fp->pipe.attach_stat = -1;
    atomic_init(&fp->pipe.refs, 1);
    fp->id = id;
    sp_priolist_entry_init(&fp->entry, &fp->pipe, priority);
}

static inline struct fake_pipe *fake_of(struct sp_pipe *pipe)
{
    return pipe ? sp_cont(pipe, struct fake_pipe, pipe) : NULL;
}

/* A message whose body is the 4-byte number n. */
static inline void fake_msg(struct sp_msg *m, uint32_t n)
{
    assert_int_equal(sp_msg_init_size(m, 4), 0);
    memcpy(sp_msg_bodyp(m), &n, 4);
}

#endif
