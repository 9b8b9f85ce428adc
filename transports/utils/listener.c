/* Accept loop for stream transports. Accept errors such as EMFILE pause
   accepting for a while instead of spinning (libnanomsg #152). */
#include "utils/listener.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/ep.h"
#include "core/sock.h"

#define SP_ACCEPT_PAUSE_MS 100
#define SP_ACCEPT_BATCH 1024

static void stream_done(struct sp_stream *s, void *owner)
{
    (void) owner;
    sp_list_remove(&s->item);
    sp_stream_free(s);
}

static void resume_accept(struct sp_timer *t)
{
    struct sp_listener *l = sp_cont(t, struct sp_listener, pause_timer);
    if (!l->stopping)
        sp_io_set(&l->io, EPOLLIN);
}

/* Accepts until the queue is empty, at most SP_ACCEPT_BATCH at a time so
   that the connections already in can be served between batches (the fd is
   level-triggered: what is left comes back at the next round). Each
   accepted connection starts its handshake at once (sp_stream_begin): the
   client's SP header is usually there already, and both headers are
   exchanged within the accept. (10,000 connects at once: 156 of 164
   wake-ups took a full batch of 64; with 1024, 12 wake-ups. A full
   queue drops connects, the client's SYN or the ACK ending its
   handshake, which then wait for TCP's retransmission, 1 s and more.) */
static void listener_io(struct sp_io *io, uint32_t ev)
{
    struct sp_listener *l = sp_cont(io, struct sp_listener, io);
    (void) ev;
    for (int i = 0; i < SP_ACCEPT_BATCH; i++) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED)
                return;
            sp_ep_stat(l->ep, SP_STAT_ACCEPT_ERRORS, 1);
            sp_ep_set_error(l->ep, errno);
            sp_io_set(&l->io, 0);
            sp_timer_start(&l->pause_timer, SP_ACCEPT_PAUSE_MS);
            return;
        }
        sp_ep_stat(l->ep, SP_STAT_ACCEPTED, 1);
        struct sp_connopts o;
        sp_ep_connopts(l->ep, &o);
        sp_stream_tune(fd, l->ep, &o, l->cfg);
        struct sp_stream *s;
        if (sp_stream_start(&s, fd, l->ep, l->cfg, &o, l->hs_timeout, stream_done, l) != 0) {
            close(fd);
            continue;
        }
        sp_list_push_back(&l->streams, &s->item);
        sp_stream_begin(s); /* (may close and free it) */
    }
}

static void stop_task(struct sp_task *t)
{
    struct sp_listener *l = sp_cont(t, struct sp_listener, stop_task);
    struct sp_ep *ep = l->ep;
    l->stopping = true;
    sp_timer_stop(&l->pause_timer);
    sp_io_del(&l->io);
    close(l->fd);
    while (!sp_list_empty(&l->streams)) {
        struct sp_stream *s = sp_cont(sp_list_first(&l->streams), struct sp_stream, item);
        sp_stream_close(s, SP_STAT_DROPPED);
    }
    if (l->cleanup)
        l->cleanup(l);
    free(l);
    sp_ep_stopped(ep);
}

static void listener_stop(struct sp_ep *ep)
{
    struct sp_listener *l = ep->tpdata;
    sp_loop_post(&l->stop_task);
}

static const struct sp_ep_ops listener_ops = {.stop = listener_stop};

int sp_listener_start(struct sp_ep *ep, int fd, const struct sp_stream_cfg *cfg, uint64_t hs_timeout,
                      void (*cleanup)(struct sp_listener *), void *tpdata)
{
    int rc = sp_loop_start();
    if (rc != 0)
        return rc;
    struct sp_listener *l = calloc(1, sizeof *l);
    if (!l)
        return -ENOMEM;
    l->ep = ep;
    l->fd = fd;
    l->cfg = cfg;
    l->hs_timeout = hs_timeout;
    l->cleanup = cleanup;
    l->tpdata = tpdata;
    sp_list_init(&l->streams);
    sp_task_init(&l->stop_task, stop_task);
    sp_timer_init(&l->pause_timer, resume_accept);
    ep->tpdata = l;
    ep->ops = &listener_ops;
    rc = sp_io_add(&l->io, fd, EPOLLIN, listener_io);
    if (rc != 0) {
        free(l);
        ep->tpdata = NULL;
        return rc;
    }
    return 0;
}
