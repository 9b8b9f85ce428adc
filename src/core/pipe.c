/* Pipes: attaching them to the protocol and routing readiness signals. A
   signal raised while the thread holds a socket lock is queued per thread and
   delivered when that lock is released, which keeps socket locks from ever
   nesting (inproc pipes connect two sockets) and protocols from being
   re-entered in the middle of a send or recv. */
#include "core/pipe.h"

#include <errno.h>

#include "core/ep.h"
#include "core/sock.h"
#include "utils/err.h"

/* The signals this thread deferred: a FIFO threaded through the pipes
   themselves (defer_next), so deferring never allocates and cannot fail. A
   pipe is in at most one thread's list at a time: its defer_ev holds
   SP_DEFER_QUEUED while listed, and a signal that finds it listed (by this
   thread or another) only ORs its bits in; the listing thread delivers them
   with its own. */
#define SP_DEFER_QUEUED 0x100

static SP_THREAD_LOCAL struct sp_pipe *tl_defer_head;
static SP_THREAD_LOCAL struct sp_pipe *tl_defer_tail;
static SP_THREAD_LOCAL bool tl_flushing;

void sp_pipe_init(struct sp_pipe *pipe, const struct sp_pipe_ops *ops, struct sp_ep *ep)
{
    pipe->sock = ep->sock;
    pipe->ops = ops;
    atomic_init(&pipe->refs, 1);
    pipe->attached = false;
    pipe->pending = 0;
    pipe->attach_stat = ep->bound ? SP_STAT_ACCEPTED : SP_STAT_ESTABLISHED;
    pipe->flags = 0;
    pipe->sndprio = ep->sndprio;
    pipe->rcvprio = ep->rcvprio;
    pipe->peer_protocol = -1;
    pipe->proto_data = NULL;
    pipe->ep = ep;
    pipe->defer_next = NULL;
    atomic_init(&pipe->defer_ev, 0);
}

SP_HOT bool sp_pipe_wake_reader(struct sp_pipe *pipe)
{
    SP_DEBUG_ASSERT(!pipe || sp_sock_held() == pipe->sock);
    return pipe && pipe->ops->wake_reader && pipe->ops->wake_reader(pipe);
}

SP_HOT void sp_pipe_hold(struct sp_pipe *pipe)
{
    atomic_fetch_add_explicit(&pipe->refs, 1, memory_order_relaxed);
}

SP_HOT void sp_pipe_rele(struct sp_pipe *pipe)
{
    if (atomic_fetch_sub_explicit(&pipe->refs, 1, memory_order_acq_rel) == 1)
        pipe->ops->destroy(pipe);
}

/* Lock held; delivers to the protocol if the pipe is still attached. */
SP_HOT static void deliver(struct sp_pipe *pipe, int ev)
{
    struct sp_sock *s = pipe->sock;
    SP_ASSERT_LOCKED(s);
    /* Never a signal the pipe cannot mean (protocol.h promises it). */
    SP_DEBUG_ASSERT(!((ev & SP_EV_OUT) && (pipe->flags & SP_PIPE_NOSEND)) &&
                    !((ev & SP_EV_IN) && (pipe->flags & SP_PIPE_NORECV)));
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
    } else if (!sp_socktype_ispeer(s->type, pipe->peer_protocol)) {
        rc = -EPROTO; /* the one place peers are checked, for every transport */
    } else {
        s->in_proto++;
        rc = s->type->ops->pipe_add(s, pipe);
        s->in_proto--;
    }
    if (rc == 0) {
        pipe->attached = true;
        s->npipes++;
        if (!pipe->ops->send_from_caller)
            atomic_fetch_add_explicit(&s->copy_pipes, 1, memory_order_relaxed);
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
    SP_ASSERT_LOCKED(s);
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
    if (!pipe->ops->send_from_caller)
        atomic_fetch_sub_explicit(&s->copy_pipes, 1, memory_order_relaxed);
    s->lone_pipe = s->npipes == 1 ? sp_cont(sp_list_first(&s->pipes), struct sp_pipe, sock_item) : NULL;
    if (atomic_load(&s->closing))
        sp_sock_notify(s); /* nn_close waits for pipes (linger, teardown) */
}

void sp_pipe_detach(struct sp_pipe *pipe, int stat)
{
    struct sp_sock *s = pipe->sock;
    sp_sock_lock(s);
    sp_pipe_detach_locked(pipe, stat);
    sp_sock_unlock(s);
}

SP_HOT void sp_pipe_signal(struct sp_pipe *pipe, int ev)
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
    /* Release: whoever delivers these bits sees what the caller changed
       before signalling. */
    int old = atomic_fetch_or_explicit(&pipe->defer_ev, ev | SP_DEFER_QUEUED, memory_order_acq_rel);
    if (old & SP_DEFER_QUEUED)
        return; /* listed already: delivered with the bits it has */
    /* The socket must outlive the delivery: nn_close waits for sigrefs. The
       caller guarantees it is alive now (see sp_pipe_signal in pipe.h). */
    sp_pipe_hold(pipe);
    atomic_fetch_add(&pipe->sock->sigrefs, 1);
    pipe->defer_next = NULL;
    if (tl_defer_tail)
        tl_defer_tail->defer_next = pipe;
    else
        tl_defer_head = pipe;
    tl_defer_tail = pipe;
}

bool sp_pipe_has_deferred(void)
{
    return tl_defer_head != NULL;
}

SP_HOT void sp_pipe_flush_deferred(void)
{
    if (tl_flushing || tl_defer_head == NULL)
        return;
    tl_flushing = true;
    /* Deliveries may defer more signals (the same pipe again, too): they join
       the tail and are taken in order until none are left. */
    struct sp_pipe *pipe;
    while ((pipe = tl_defer_head) != NULL) {
        tl_defer_head = pipe->defer_next;
        if (tl_defer_head == NULL)
            tl_defer_tail = NULL;
        /* Unlisted from here on: a signal from now on lists the pipe anew
           (defer_next is no longer read here). */
        int ev = atomic_exchange_explicit(&pipe->defer_ev, 0, memory_order_acq_rel) & ~SP_DEFER_QUEUED;
        struct sp_sock *s = pipe->sock;
        sp_sock_lock(s);
        deliver(pipe, ev);
        sp_sock_unlock_signalled(s);
        sp_pipe_rele(pipe);
    }
    tl_flushing = false;
}
