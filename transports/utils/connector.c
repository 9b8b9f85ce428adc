/* The reconnect loop: IDLE -> RESOLVING -> CONNECTING -> ACTIVE -> WAITING ->
   RESOLVING ... Every transition runs on the loop thread. */
#include "utils/connector.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/ep.h"
#include "core/sock.h"

enum { CN_IDLE, CN_RESOLVING, CN_CONNECTING, CN_ACTIVE, CN_WAITING, CN_STOPPED };

static void attempt(struct sp_connector *c);

static void wait_retry(struct sp_connector *c)
{
    c->state = CN_WAITING;
    sp_timer_start(&c->timer, (uint64_t) sp_backoff_next(&c->backoff));
}

static void attempt_failed(struct sp_connector *c, int err)
{
    sp_ep_stat(c->ep, SP_STAT_CONNECT_ERRORS, 1);
    sp_ep_set_error(c->ep, err);
    wait_retry(c);
}

static void stream_done(struct sp_stream *s, void *owner)
{
    struct sp_connector *c = owner;
    /* A handshake that timed out gets twice as long next time, up to
       SP_HS_TIMEOUT_MAX_MS; any other end restores the transport's
       deadline. The deadline's clock starts when our connect completes,
       which may be long before the listener accepts: a listener flooded
       with more connections than it gets CPU for (10,000 clients at once
       on a starved machine) leaves them in its accept queue, and in
       limbo when the queue overflows (Linux drops the ACK that ends the
       client's handshake, and the data behind it, until a retransmission
       finds room). A client that gives up there only goes to the back of
       the same queue, and the listener spends its time on connections
       their clients left, for ever if every queued connection waits
       longer than the deadline: 10,000 clients of one PULL on a starved
       2-CPU machine (tests/faults/scale.c, long mode, at 1.5 % of a CPU)
       made 25,646 connections in 5 minutes for 1,608 messages. Doubling
       the deadline, as TCP backs off its retransmissions, lets every
       client outlast the queue, while a peer that never answers is still
       retried. */
    if (s->hs_timed_out)
        c->hs_cur = c->hs_cur * 2 < SP_HS_TIMEOUT_MAX_MS ? c->hs_cur * 2 : SP_HS_TIMEOUT_MAX_MS;
    else
        c->hs_cur = c->hs_timeout;
    sp_stream_free(s);
    c->stream = NULL;
    if (c->state == CN_ACTIVE)
        wait_retry(c);
}

static void connected(struct sp_connector *c)
{
    int fd = c->fd;
    sp_io_del(&c->io);
    c->fd = -1;
    sp_ep_stat(c->ep, SP_STAT_INPROGRESS, -1);
    sp_ep_stat(c->ep, SP_STAT_ESTABLISHED, 1);
    int rc = sp_stream_start(&c->stream, fd, c->ep, c->cfg, &c->opts, c->hs_cur, stream_done, c);
    if (rc != 0) {
        close(fd);
        attempt_failed(c, -rc);
        return;
    }
    c->state = CN_ACTIVE;
    c->stream->dialed = true;
    sp_stream_begin(c->stream); /* (may close it: then we wait to retry) */
}

static void connect_io(struct sp_io *io, uint32_t ev)
{
    struct sp_connector *c = sp_cont(io, struct sp_connector, io);
    (void) ev;
    if (c->state != CN_CONNECTING)
        return;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err == 0) {
        connected(c);
        return;
    }
    sp_io_del(&c->io);
    close(c->fd);
    c->fd = -1;
    sp_ep_stat(c->ep, SP_STAT_INPROGRESS, -1);
    attempt_failed(c, err);
}

static void do_connect(struct sp_connector *c, struct sockaddr_storage *ss, socklen_t sl)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        attempt_failed(c, errno);
        return;
    }
    sp_stream_tune(fd, c->ep, &c->opts, c->cfg);
    struct sockaddr_storage local;
    socklen_t ll;
    if (c->ops->local && c->ops->local(c, &local, &ll) == 1 && local.ss_family == ss->ss_family) {
        if (bind(fd, (struct sockaddr *) &local, ll) != 0) {
            int err = errno;
            close(fd);
            attempt_failed(c, err);
            return;
        }
    }
    int rc = connect(fd, (struct sockaddr *) ss, sl);
    if (rc != 0 && errno != EINPROGRESS) {
        int err = errno;
        close(fd);
        attempt_failed(c, err == EAGAIN ? ECONNREFUSED : err);
        return;
    }
    c->fd = fd;
    sp_ep_stat(c->ep, SP_STAT_INPROGRESS, 1);
    if (sp_io_add(&c->io, fd, EPOLLOUT, connect_io) != 0) {
        int err = errno;
        sp_ep_stat(c->ep, SP_STAT_INPROGRESS, -1);
        close(fd);
        c->fd = -1;
        attempt_failed(c, err);
        return;
    }
    c->state = CN_CONNECTING;
    if (rc == 0)
        connected(c);
}

static void timer_cb(struct sp_timer *t)
{
    struct sp_connector *c = sp_cont(t, struct sp_connector, timer);
    if (c->state == CN_WAITING) {
        attempt(c);
    } else if (c->state == CN_RESOLVING) {
        struct sockaddr_storage ss;
        socklen_t sl = 0;
        int rc = c->ops->resolve_poll(c, &ss, &sl);
        if (rc == 1) {
            if (c->poll_ms < 50)
                c->poll_ms *= 2;
            sp_timer_start(&c->timer, (uint64_t) c->poll_ms);
        } else if (rc < 0) {
            attempt_failed(c, -rc);
        } else {
            do_connect(c, &ss, sl);
        }
    }
}

static void attempt(struct sp_connector *c)
{
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    sp_ep_connopts(c->ep, &c->opts); /* each attempt takes the options anew */
    int rc = c->ops->resolve(c, &ss, &sl);
    if (rc < 0) {
        attempt_failed(c, -rc);
    } else if (rc == 1) {
        c->state = CN_RESOLVING;
        c->poll_ms = 1;
        sp_timer_start(&c->timer, 1);
    } else {
        do_connect(c, &ss, sl);
    }
}

static void start_task(struct sp_task *t)
{
    struct sp_connector *c = sp_cont(t, struct sp_connector, start_task);
    if (c->state == CN_IDLE)
        attempt(c);
}

static void stop_task(struct sp_task *t)
{
    struct sp_connector *c = sp_cont(t, struct sp_connector, stop_task);
    struct sp_ep *ep = c->ep;
    int state = c->state;
    c->state = CN_STOPPED;
    sp_loop_cancel(&c->start_task);
    sp_timer_stop(&c->timer);
    if (state == CN_RESOLVING && c->ops->resolve_cancel)
        c->ops->resolve_cancel(c);
    if (state == CN_CONNECTING) {
        sp_io_del(&c->io);
        close(c->fd);
        sp_ep_stat(ep, SP_STAT_INPROGRESS, -1);
    }
    if (c->stream)
        sp_stream_close(c->stream, SP_STAT_DROPPED);
    if (c->ops->destroy)
        c->ops->destroy(c);
    free(c);
    sp_ep_stopped(ep);
}

static void connector_stop(struct sp_ep *ep)
{
    struct sp_connector *c = ep->tpdata;
    sp_loop_post(&c->stop_task);
}

static const struct sp_ep_ops connector_ops = {.stop = connector_stop};

int sp_connector_start(struct sp_ep *ep, const struct sp_stream_cfg *cfg, uint64_t hs_timeout,
                       const struct sp_connector_ops *ops, void *tpdata)
{
    int rc = sp_loop_start();
    if (rc != 0)
        return rc;
    struct sp_connector *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->ep = ep;
    c->cfg = cfg;
    c->hs_timeout = hs_timeout;
    c->hs_cur = hs_timeout;
    c->ops = ops;
    c->tpdata = tpdata;
    c->state = CN_IDLE;
    c->fd = -1;
    sp_timer_init(&c->timer, timer_cb);
    sp_task_init(&c->start_task, start_task);
    sp_task_init(&c->stop_task, stop_task);
    sp_backoff_init(&c->backoff, ep->reconnect_ivl, ep->reconnect_ivl_max);
    ep->tpdata = c;
    ep->ops = &connector_ops;
    sp_loop_post(&c->start_task);
    return 0;
}
