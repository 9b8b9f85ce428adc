/* TCP listening and dialling shared by the tcp and ws transports. */
#include "utils/tcpdial.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/ep.h"
#include "utils/addr.h"

#define SP_TCP_BACKLOG 100

int sp_tcp_listen(struct sp_ep *ep, const char *addr, size_t len)
{
    const char *colon = memrchr(addr, ':', len);
    if (!colon)
        return -EINVAL;
    int port;
    int rc = sp_addr_port(colon + 1, (size_t) (addr + len - colon - 1), &port);
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
    return fd;
}

int sp_tcpdial_parse(struct sp_tcpdial *d, const char *addr, size_t len, bool ipv4only, int default_port)
{
    const char *end = addr + len;
    const char *semi = memchr(addr, ';', len);
    const char *hostp = addr;
    int rc;
    memset(d, 0, sizeof *d);
    d->ipv4only = ipv4only;
    if (semi) {
        rc = sp_addr_iface(addr, (size_t) (semi - addr), ipv4only, &d->local, &d->local_len);
        if (rc)
            return rc;
        d->have_local = !(semi - addr == 1 && addr[0] == '*');
        hostp = semi + 1;
    }
    /* The port follows the last ':' unless that one is inside [IPv6]. */
    const char *colon = memrchr(hostp, ':', (size_t) (end - hostp));
    const char *rbr = memrchr(hostp, ']', (size_t) (end - hostp));
    if (colon && rbr && colon < rbr)
        colon = NULL;
    size_t hlen;
    if (colon) {
        rc = sp_addr_port(colon + 1, (size_t) (end - colon - 1), &d->portnum);
        if (rc)
            return rc;
        hlen = (size_t) (colon - hostp);
    } else {
        if (default_port <= 0)
            return -EINVAL;
        d->portnum = default_port;
        hlen = (size_t) (end - hostp);
    }
    if (hlen >= sizeof d->host)
        return -EINVAL;
    rc = sp_addr_host(hostp, hlen, ipv4only, &d->literal, &d->remote, &d->remote_len);
    if (rc)
        return rc;
    memcpy(d->host, hostp, hlen);
    d->host[hlen] = 0;
    if (d->literal)
        sp_addr_set_port(&d->remote, d->portnum);
    return 0;
}

/* getaddrinfo_a requests that were still running when their endpoint went
   away: kept until they finish, reaped at teardown. */
struct orphan {
    struct gaicb *req;
    struct orphan *next;
};
static pthread_mutex_t orphan_lock = PTHREAD_MUTEX_INITIALIZER;
static struct orphan *orphans;


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

static int take_result(struct sp_tcpdial *d, struct sockaddr_storage *ss, socklen_t *sl)
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
    struct sp_tcpdial *d = c->tpdata;
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
    struct sp_tcpdial *d = c->tpdata;
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
    struct sp_tcpdial *d = c->tpdata;
    if (!d->have_local)
        return 0;
    *ss = d->local;
    *sl = d->local_len;
    return 1;
}

static void tcp_destroy(struct sp_connector *c)
{
    struct sp_tcpdial *d = c->tpdata;
    if (d->req)
        tcp_resolve_cancel(c);
    free(d);
}

const struct sp_connector_ops sp_tcpdial_ops = {
    .resolve = tcp_resolve,
    .resolve_poll = tcp_resolve_poll,
    .resolve_cancel = tcp_resolve_cancel,
    .local = tcp_local,
    .destroy = tcp_destroy,
};


void sp_tcpdial_term(void)
{
    reap_orphans(true);
}
