/* Endpoints (ep.h): nn_bind, nn_connect and nn_shutdown on the socket's
   side, and what a transport asks of the core about its endpoints. */
#include "core/ep.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/global.h"
#include "core/sock.h"
#include "transport.h"

static void ep_free(struct sp_ep *ep)
{
    for (size_t i = 0; ep->tp->optsets && ep->tp->optsets[i]; i++)
        sp_optset_free(ep->tp->optsets[i], ep->opts[i]);
    free(ep);
}

int sp_sock_add_ep(struct sp_sock *s, const char *addr, bool bind)
{
    if (!addr)
        return -EINVAL;
    size_t len = strlen(addr);
    if (len >= NN_SOCKADDR_MAX)
        return -ENAMETOOLONG;
    const char *colon = strchr(addr, ':');
    if (!colon || colon[1] != '/' || colon[2] != '/')
        return -EINVAL;
    const struct sp_transport *tp = sp_transport_find(addr, (size_t) (colon - addr));
    if (!tp)
        return -EPROTONOSUPPORT;
    /* A type the transport cannot carry: as if the transport did not
       exist for it. */
    if (!sp_transport_carries(tp, s->type))
        return -EPROTONOSUPPORT;

    size_t nopts = 0;
    while (tp->optsets && tp->optsets[nopts])
        nopts++;
    size_t alen = len - (size_t) (colon + 3 - addr) + 1;
    struct sp_ep *ep = calloc(1, sizeof *ep + nopts * sizeof ep->opts[0] + alen);
    if (!ep)
        return -ENOMEM;
    ep->sock = s;
    ep->bound = bind;
    ep->tp = tp;
    ep->addr = (char *) &ep->opts[nopts];
    memcpy(ep->addr, colon + 3, alen);
    sp_sock_lock(s);
    ep->sndprio = s->opt.sndprio;
    ep->rcvprio = s->opt.rcvprio;
    ep->ipv4only = s->opt.ipv4only;
    ep->reconnect_ivl = s->opt.reconnect_ivl;
    ep->reconnect_ivl_max = s->opt.reconnect_ivl_max;
    for (size_t i = 0; i < nopts; i++) {
        if (!(ep->opts[i] = sp_optset_dup(&s->tpopts, tp->optsets[i]))) {
            sp_sock_unlock(s);
            ep_free(ep);
            return -ENOMEM;
        }
    }
    /* On the list before the transport starts, so that nn_close finds it. */
    sp_list_push_back(&s->eps, &ep->item);
    ep->eid = ++s->next_eid;
    sp_sock_unlock(s);

    int rc = bind ? tp->bind(ep) : tp->connect(ep);

    sp_sock_lock(s);
    if (rc != 0) {
        sp_list_remove(&ep->item);
        /* A failed nn_bind/nn_connect takes no id, as in libnanomsg (unless
           another endpoint took the next one meanwhile). */
        if (s->next_eid == ep->eid)
            s->next_eid--;
        sp_sock_unlock(s);
        ep_free(ep);
        return rc;
    }
    ep->started = true;
    if (s->type->ops->ep_add) {
        s->in_proto++;
        s->type->ops->ep_add(s, ep);
        s->in_proto--;
    }
    rc = ep->eid;
    sp_sock_unlock(s);
    return rc;
}

int sp_sock_rm_ep(struct sp_sock *s, int eid)
{
    struct sp_ep *victim = NULL;
    bool dropped = false;
    sp_sock_lock(s);
    sp_list_foreach(&s->eps, it) {
        struct sp_ep *ep = sp_cont(it, struct sp_ep, item);
        if (ep->eid == eid && eid > 0 && ep->started && !ep->stopping) {
            ep->stopping = true;
            victim = ep;
            break;
        }
    }
    /* Protocols that name connections (PEER) drop what they keep for the
       id: an endpoint's queued messages, or an accepted connection. */
    if (s->type->ops->shutdown) {
        s->in_proto++;
        dropped = s->type->ops->shutdown(s, eid, victim != NULL);
        s->in_proto--;
    }
    sp_sock_unlock(s);
    if (!victim)
        return dropped ? 0 : -EINVAL;
    victim->ops->stop(victim);
    return 0;
}

void sp_ep_connopts(struct sp_ep *ep, struct sp_connopts *o)
{
    SP_ASSERT_UNLOCKED();
    struct sp_sock *s = ep->sock;
    sp_sock_lock(s);
    o->sndbuf = s->opt.sndbuf;
    o->rcvbuf = s->opt.rcvbuf;
    o->bufs_set = s->opt.bufs_set;
    o->ipv4only = s->opt.ipv4only;
    sp_sock_unlock(s);
}

/* The index of set in ep's transport's list. */
static size_t opts_index(const struct sp_ep *ep, const struct sp_optset *set)
{
    size_t i = 0;
    SP_ASSERT(ep->tp->optsets != NULL);
    while (ep->tp->optsets[i] != set) {
        SP_ASSERT(ep->tp->optsets[i + 1] != NULL); /* not one of its sets: a bug */
        i++;
    }
    return i;
}

const void *sp_ep_opts(const struct sp_ep *ep, const struct sp_optset *set)
{
    return ep->opts[opts_index(ep, set)];
}

int sp_ep_opts_now(struct sp_ep *ep, const struct sp_optset *set, void *dst)
{
    struct sp_sock *s = ep->sock;
    sp_sock_lock(s);
    int rc = sp_optstore_copy(&s->tpopts, set, dst);
    sp_sock_unlock(s);
    return rc;
}

void sp_ep_set_error(struct sp_ep *ep, int err)
{
    sp_ep_set_error_detail(ep, err, NULL);
}

void sp_ep_set_error_detail(struct sp_ep *ep, int err, const char *detail)
{
    struct sp_sock *s = ep->sock;
    /* FNV-1a of the detail, to tell a new reason from a repeated one. */
    uint64_t h = 0;
    if (detail) {
        h = 14695981039346656037ull;
        for (const char *p = detail; *p; p++)
            h = (h ^ (uint8_t) *p) * 1099511628211ull;
    }
    sp_sock_lock(s);
    int old = ep->last_error;
    if (old == err && (!err || ep->last_detail == h)) {
        sp_sock_unlock(s);
        return;
    }
    ep->last_error = err;
    ep->last_detail = err ? h : 0;
    if (!old && err)
        sp_sock_stat_add(s, SP_STAT_CURRENT_EP_ERRORS, 1);
    else if (old && !err)
        sp_sock_stat_add(s, SP_STAT_CURRENT_EP_ERRORS, -1);
    if (err && sp_print_errors) {
        if (detail)
            fprintf(stderr, "nanomsg: socket.%s[%s]: Error: %s (%s)\n", s->name, ep->addr, nn_strerror(err),
                    detail);
        else
            fprintf(stderr, "nanomsg: socket.%s[%s]: Error: %s\n", s->name, ep->addr, nn_strerror(err));
    }
    sp_sock_unlock(s);
}

void sp_ep_report(struct sp_ep *ep, int err, const char *detail)
{
    struct sp_sock *s = ep->sock;
    SP_ASSERT_UNLOCKED();
    if (!sp_print_errors)
        return;
    sp_sock_lock(s);
    fprintf(stderr, "nanomsg: socket.%s[%s]: Error: %s (%s)\n", s->name, ep->addr, nn_strerror(err), detail);
    sp_sock_unlock(s);
}

void sp_ep_stopped(struct sp_ep *ep)
{
    struct sp_sock *s = ep->sock;
    sp_sock_lock(s);
    if (ep->last_error)
        sp_sock_stat_add(s, SP_STAT_CURRENT_EP_ERRORS, -1);
    sp_list_remove(&ep->item);
    ep_free(ep);
    sp_sock_notify(s); /* sp_sock_destroy waits for its endpoints */
    sp_sock_unlock(s);
}

void sp_ep_stat(struct sp_ep *ep, int stat, int delta)
{
    sp_sock_stat_add(ep->sock, (enum sp_stat) stat, delta);
}

