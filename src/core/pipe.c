/* Pipes: attaching them to the protocol and routing readiness signals. A
   signal raised while the thread holds a socket lock is queued per thread and
   delivered when that lock is released, which keeps socket locks from ever
   nesting (inproc pipes connect two sockets) and protocols from being
   re-entered in the middle of a send or recv. */
#include "core/pipe.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "core/ep.h"
#include "core/sock.h"
#include "utils/err.h"

struct deferred {
    struct sp_pipe *pipe;
    int ev;
};

static SP_THREAD_LOCAL struct deferred *tl_defer;
static SP_THREAD_LOCAL size_t tl_ndefer;
static SP_THREAD_LOCAL size_t tl_capdefer;
static SP_THREAD_LOCAL bool tl_flushing;
static pthread_key_t defer_key;
static pthread_once_t defer_once = PTHREAD_ONCE_INIT;

static void defer_free(void *p)
{
    free(p);
}

static void defer_key_init(void)
{
    pthread_key_create(&defer_key, defer_free);
}

void sp_pipe_init(struct sp_pipe *pipe, const struct sp_pipe_ops *ops, struct sp_ep *ep)
{
    pipe->sock = ep->sock;
    pipe->ops = ops;
    atomic_init(&pipe->refs, 1);
    pipe->attached = false;
    pipe->pending = 0;
    pipe->attach_stat = ep->bound ? SP_STAT_ACCEPTED : SP_STAT_ESTABLISHED;
    pipe->sndprio = ep->sndprio;
    pipe->rcvprio = ep->rcvprio;
    pipe->peer_protocol = 0;
    pipe->proto_data = NULL;
}

bool sp_pipe_wake_reader(struct sp_pipe *pipe)
{
    return pipe && pipe->ops->wake_reader && pipe->ops->wake_reader(pipe);
}

void sp_pipe_hold(struct sp_pipe *pipe)
{
    atomic_fetch_add_explicit(&pipe->refs, 1, memory_order_relaxed);
}

void sp_pipe_rele(struct sp_pipe *pipe)
{
    if (atomic_fetch_sub_explicit(&pipe->refs, 1, memory_order_acq_rel) == 1)
        pipe->ops->destroy(pipe);
}

/* Lock held; delivers to the protocol if the pipe is still attached. */
static void deliver(struct sp_pipe *pipe, int ev)
{
    struct sp_sock *s = pipe->sock;
    if (!pipe->attached) {
        pipe->pending |= ev; /* handed over by sp_pipe_attach */
        return;
    }
    s->in_proto++;
    if (ev & SP_EV_IN)
        s->type->ops->pipe_in(s, pipe);
    if ((ev & SP_EV_OUT) && pipe->attached)
        s->type->ops->pipe_out(s, pipe);
    s->in_proto--;
}

int sp_pipe_attach(struct sp_pipe *pipe)
{
    struct sp_sock *s = pipe->sock;
    int rc;
    sp_sock_lock(s);
    if (atomic_load(&s->closing)) {
        rc = -EBADF;
    } else {
        s->in_proto++;
        rc = s->type->ops->pipe_add(s, pipe);
        s->in_proto--;
    }
    if (rc == 0) {
        pipe->attached = true;
        s->npipes++;
        sp_list_push_back(&s->pipes, &pipe->sock_item);
        if (s->lone_pipe)
            sp_pipe_wake_reader(s->lone_pipe); /* no longer alone */
        s->lone_pipe = s->npipes == 1 ? pipe : NULL;
        sp_sock_stat_add(s, SP_STAT_CURRENT_CONNECTIONS, 1);
        if (pipe->attach_stat >= 0)
            sp_sock_stat_add(s, (enum sp_stat) pipe->attach_stat, 1);
        int ev = pipe->pending;
        pipe->pending = 0;
        if (ev)
            deliver(pipe, ev);
    }
    sp_sock_unlock(s);
    return rc;
}

void sp_pipe_detach_locked(struct sp_pipe *pipe, int stat)
{
    struct sp_sock *s = pipe->sock;
    pipe->pending = 0;
    if (!pipe->attached)
        return;
    pipe->attached = false;
    s->in_proto++;
    s->type->ops->pipe_rm(s, pipe);
    s->in_proto--;
    sp_sock_stat_add(s, SP_STAT_CURRENT_CONNECTIONS, -1);
    if (stat >= 0)
        sp_sock_stat_add(s, (enum sp_stat) stat, 1);
    sp_list_remove(&pipe->sock_item);
    s->npipes--;
    s->lone_pipe = s->npipes == 1 ? sp_cont(sp_list_first(&s->pipes), struct sp_pipe, sock_item) : NULL;
    if (atomic_load(&s->closing))
        pthread_cond_broadcast(&s->cv); /* nn_close waits for pipes (linger) */
}

void sp_pipe_detach(struct sp_pipe *pipe, int stat)
{
    struct sp_sock *s = pipe->sock;
    sp_sock_lock(s);
    sp_pipe_detach_locked(pipe, stat);
    sp_sock_unlock(s);
}

void sp_pipe_signal(struct sp_pipe *pipe, int ev)
{
    struct sp_sock *held = sp_sock_held();
    if (held == NULL) {
        sp_sock_lock(pipe->sock);
        deliver(pipe, ev);
        sp_sock_unlock(pipe->sock);
        return;
    }
    if (held == pipe->sock && held->in_proto == 0) {
        deliver(pipe, ev);
        return;
    }
    if (tl_ndefer == tl_capdefer) {
        size_t cap = tl_capdefer ? tl_capdefer * 2 : 16;
        struct deferred *d = realloc(tl_defer, cap * sizeof *d);
        SP_ASSERT(d != NULL); /* a few bytes per pending signal */
        pthread_once(&defer_once, defer_key_init);
        pthread_setspecific(defer_key, d);
        tl_defer = d;
        tl_capdefer = cap;
    }
    /* The socket must outlive the delivery: nn_close waits for sigrefs. The
       caller guarantees it is alive now (see sp_pipe_signal in pipe.h). */
    sp_pipe_hold(pipe);
    atomic_fetch_add(&pipe->sock->sigrefs, 1);
    tl_defer[tl_ndefer].pipe = pipe;
    tl_defer[tl_ndefer].ev = ev;
    tl_ndefer++;
}

bool sp_pipe_has_deferred(void)
{
    return tl_ndefer != 0;
}

void sp_pipe_flush_deferred(void)
{
    if (tl_flushing || tl_ndefer == 0)
        return;
    tl_flushing = true;
    /* Deliveries may defer more signals; take them in order until none left. */
    for (size_t i = 0; i < tl_ndefer; i++) {
        struct deferred d = tl_defer[i];
        struct sp_sock *s = d.pipe->sock;
        sp_sock_lock(s);
        deliver(d.pipe, d.ev);
        sp_sock_unlock_signalled(s);
        sp_pipe_rele(d.pipe);
    }
    tl_ndefer = 0;
    tl_flushing = false;
}
