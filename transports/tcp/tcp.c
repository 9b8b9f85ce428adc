/* The tcp transport: "tcp://iface:port" to bind, "tcp://[iface;]host:port" to
   connect, with libnanomsg's address rules and errno values. Host names are
   resolved asynchronously (getaddrinfo_a) on every connection attempt. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <nanomsg/tcp.h>

#include "core/ep.h"
#include "transport.h"
#include "utils/addr.h"
#include "utils/connector.h"
#include "utils/list.h"
#include "utils/listener.h"
#include "utils/spwire.h"

#define SP_TCP_BACKLOG 100

static const struct sp_stream_cfg tcp_cfg = {&sp_spwire_ops, &sp_spwire_tcp, true};

/* ---- bind ---- */

static int tcp_bind(struct sp_ep *ep)
{
    const char *addr = ep->addr;
    const char *colon = strrchr(addr, ':');
    if (!colon)
        return -EINVAL;
    int port;
    int rc = sp_addr_port(colon + 1, strlen(colon + 1), &port);
    if (rc)
        return rc;
    struct sockaddr_storage ss;
    socklen_t sl;
    rc = sp_addr_iface(addr, (size_t) (colon - addr), ep->ipv4only, &ss, &sl);
    if (rc)
        return rc;
    sp_addr_set_port(&ss, port);
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    if (bind(fd, (struct sockaddr *) &ss, sl) != 0 || listen(fd, SP_TCP_BACKLOG) != 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    rc = sp_listener_start(ep, fd, &tcp_cfg, SP_SPWIRE_HS_TIMEOUT_MS, NULL, NULL);
    if (rc != 0)
        close(fd);
    return rc;
}

/* ---- connect ---- */

/* getaddrinfo_a requests that were still running when their endpoint went
   away: kept until they finish, reaped at teardown. */
struct orphan {
    struct gaicb *req;
    struct orphan *next;
};
static pthread_mutex_t orphan_lock = PTHREAD_MUTEX_INITIALIZER;
static struct orphan *orphans;

struct tcp_dial {
    char host[NN_SOCKADDR_MAX];
    char port[8];
    int portnum;
    bool literal;
    struct sockaddr_storage remote;
    socklen_t remote_len;
    bool have_local;
    struct sockaddr_storage local;
    socklen_t local_len;
    bool ipv4only;
    struct gaicb *req;            /* pending resolution */
    struct addrinfo hints;
};

static void free_req(struct gaicb *req)
{
    if (req->ar_result)
        freeaddrinfo(req->ar_result);
    free((void *) req->ar_name);
    free(req);
}

/* Frees the finished orphans. With wait, gives running ones up to about two
   seconds first: glibc still writes into a request it could not cancel, so
   one that is still running is left alone (a small leak, never a crash). */
static void reap_orphans(bool wait)
{
    pthread_mutex_lock(&orphan_lock);
    for (int round = 0; round < (wait ? 2000 : 1); round++) {
        struct orphan **pp = &orphans;
        while (*pp) {
            struct orphan *o = *pp;
            if (gai_error(o->req) != EAI_INPROGRESS) {
                *pp = o->next;
                free_req(o->req);
                free(o);
            } else {
                pp = &o->next;
            }
        }
        if (!orphans || !wait)
            break;
        /* gai_suspend does not wait for cancelled requests: poll. */
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    pthread_mutex_unlock(&orphan_lock);
}

static int take_result(struct tcp_dial *d, struct sockaddr_storage *ss, socklen_t *sl)
{
    struct gaicb *req = d->req;
    int rc = gai_error(req);
    if (rc == EAI_INPROGRESS)
        return 1;
    d->req = NULL;
    if (rc != 0 || !req->ar_result || req->ar_result->ai_addrlen > sizeof *ss) {
        free_req(req);
        return -EADDRNOTAVAIL;
    }
    /* Only the first address is tried, as libnanomsg does. */
    memcpy(ss, req->ar_result->ai_addr, req->ar_result->ai_addrlen);
    *sl = req->ar_result->ai_addrlen;
    sp_addr_set_port(ss, d->portnum);
    free_req(req);
    return 0;
}

static int tcp_resolve(struct sp_connector *c, struct sockaddr_storage *ss, socklen_t *sl)
{
    struct tcp_dial *d = c->tpdata;
    if (d->literal) {
        *ss = d->remote;
        *sl = d->remote_len;
        return 0;
    }
    reap_orphans(false);
    struct gaicb *req = calloc(1, sizeof *req);
    char *name = strdup(d->host);
    if (!req || !name) {
        free(req);
        free(name);
        return -ENOMEM;
    }
    memset(&d->hints, 0, sizeof d->hints);
    d->hints.ai_family = d->ipv4only ? AF_INET : AF_INET6;
    d->hints.ai_flags = d->ipv4only ? 0 : (AI_V4MAPPED | AI_ALL);
    d->hints.ai_socktype = SOCK_STREAM;
    req->ar_name = name;
    req->ar_request = &d->hints;
    struct gaicb *list[1] = {req};
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_NONE;
    if (getaddrinfo_a(GAI_NOWAIT, list, 1, &sev) != 0) {
        free(name);
        free(req);
        return -EADDRNOTAVAIL;
    }
    d->req = req;
    return take_result(d, ss, sl);
}

static int tcp_resolve_poll(struct sp_connector *c, struct sockaddr_storage *ss, socklen_t *sl)
{
    return take_result(c->tpdata, ss, sl);
}

static void tcp_resolve_cancel(struct sp_connector *c)
{
    struct tcp_dial *d = c->tpdata;
    if (!d->req)
        return;
    gai_cancel(d->req);
    if (gai_error(d->req) == EAI_INPROGRESS) {
        struct orphan *o = malloc(sizeof *o);
        if (o) {
            o->req = d->req;
            pthread_mutex_lock(&orphan_lock);
            o->next = orphans;
            orphans = o;
            pthread_mutex_unlock(&orphan_lock);
        }
        /* (without memory for the record the request leaks, safely) */
    } else {
        free_req(d->req);
    }
    d->req = NULL;
}

static int tcp_local(struct sp_connector *c, struct sockaddr_storage *ss, socklen_t *sl)
{
    struct tcp_dial *d = c->tpdata;
    if (!d->have_local)
        return 0;
    *ss = d->local;
    *sl = d->local_len;
    return 1;
}

static void tcp_destroy(struct sp_connector *c)
{
    struct tcp_dial *d = c->tpdata;
    if (d->req)
        tcp_resolve_cancel(c);
    free(d);
}

static const struct sp_connector_ops tcp_connector_ops = {
    .resolve = tcp_resolve,
    .resolve_poll = tcp_resolve_poll,
    .resolve_cancel = tcp_resolve_cancel,
    .local = tcp_local,
    .destroy = tcp_destroy,
};

static int tcp_connect(struct sp_ep *ep)
{
    struct tcp_dial *d = calloc(1, sizeof *d);
    if (!d)
        return -ENOMEM;
    const char *addr = ep->addr;
    const char *semi = strchr(addr, ';');
    const char *hostp = addr;
    int rc;
    d->ipv4only = ep->ipv4only;
    if (semi) {
        rc = sp_addr_iface(addr, (size_t) (semi - addr), ep->ipv4only, &d->local, &d->local_len);
        if (rc)
            goto fail;
        d->have_local = !(semi - addr == 1 && addr[0] == '*');
        hostp = semi + 1;
    }
    const char *colon = strrchr(hostp, ':');
    if (!colon) {
        rc = -EINVAL;
        goto fail;
    }
    rc = sp_addr_port(colon + 1, strlen(colon + 1), &d->portnum);
    if (rc)
        goto fail;
    size_t hlen = (size_t) (colon - hostp);
    rc = sp_addr_host(hostp, hlen, ep->ipv4only, &d->literal, &d->remote, &d->remote_len);
    if (rc)
        goto fail;
    memcpy(d->host, hostp, hlen);
    d->host[hlen] = 0;
    if (d->literal)
        sp_addr_set_port(&d->remote, d->portnum);
    rc = sp_connector_start(ep, &tcp_cfg, SP_SPWIRE_HS_TIMEOUT_MS, &tcp_connector_ops, d);
    if (rc)
        goto fail;
    return 0;
fail:
    free(d);
    return rc;
}

void sp_tcp_term(void)
{
    reap_orphans(true);
}

const struct sp_transport sp_tcp_transport = {
    .scheme = "tcp",
    .id = NN_TCP,
    .bind = tcp_bind,
    .connect = tcp_connect,
};
