/* TCP listening and dialling shared by the TCP-based transports, and their
   NN_TCP options. */
#include "utils/tcpdial.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nanomsg/keepalive.h>
#include <nanomsg/tcp.h>

#include "core/ep.h"
#include "utils/addr.h"
#include "utils/listener.h"
#include "utils/resolver.h"

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
    if (bind(fd, (struct sockaddr *) &ss, sl) != 0 || listen(fd, SP_LISTEN_BACKLOG) != 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}

/* Copies an address sp_addr_* made (AF_INET or AF_INET6) into the room of
   a dialling target. */
static int keep_addr(union sp_tcpdial_addr *dst, socklen_t *dlen, const struct sockaddr_storage *ss,
                     socklen_t sl)
{
    if (sl > sizeof *dst)
        return -EINVAL;
    memset(dst, 0, sizeof *dst);
    memcpy(dst, ss, sl);
    *dlen = sl;
    return 0;
}

/* The parse proper: fills the address fields of d (not spec, req, cleanup). */
static int parse(struct sp_tcpdial *d, const char *addr, size_t len, bool ipv4only, int default_port)
{
    const char *end = addr + len;
    const char *semi = memchr(addr, ';', len);
    const char *hostp = addr;
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    int rc;
    d->ipv4only = ipv4only;
    d->have_local = false;
    if (semi) {
        rc = sp_addr_iface(addr, (size_t) (semi - addr), ipv4only, &ss, &sl);
        if (rc == 0)
            rc = keep_addr(&d->local, &d->local_len, &ss, sl);
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
    if (hlen >= NN_SOCKADDR_MAX)
        return -EINVAL;
    rc = sp_addr_host(hostp, hlen, ipv4only, &d->literal, &ss, &sl);
    if (rc)
        return rc;
    d->hostoff = (size_t) (hostp - addr);
    d->hostlen = hlen;
    if (d->literal) {
        sp_addr_set_port(&ss, d->portnum);
        rc = keep_addr(&d->remote, &d->remote_len, &ss, sl);
    }
    return rc;
}

int sp_tcpdial_parse(struct sp_tcpdial *d, const char *addr, size_t len, bool ipv4only, int default_port)
{
    memset(d, 0, sizeof *d);
    if (len >= NN_SOCKADDR_MAX)
        return -EINVAL;
    d->spec = addr;
    d->speclen = len;
    d->default_port = default_port;
    return parse(d, addr, len, ipv4only, default_port);
}

void sp_tcpdial_host(const struct sp_tcpdial *d, char host[NN_SOCKADDR_MAX])
{
    memcpy(host, d->spec + d->hostoff, d->hostlen);
    host[d->hostlen] = 0;
}

/* An address kept by the target, as the connector takes it. */
static void give_addr(const union sp_tcpdial_addr *a, socklen_t len, struct sockaddr_storage *ss,
                      socklen_t *sl)
{
    memset(ss, 0, sizeof *ss);
    memcpy(ss, a, len);
    *sl = len;
}

static int tcp_resolve(struct sp_connector *c, struct sockaddr_storage *ss, socklen_t *sl)
{
    struct sp_tcpdial *d = c->tpdata;
    /* libnanomsg parses and resolves with the NN_IPV4ONLY of the moment at
       every attempt: an IPv6 literal then fails until it is 0 again. */
    bool v4 = c->opts.ipv4only != 0;
    if (v4 != d->ipv4only) {
        struct sp_tcpdial t;
        memset(&t, 0, sizeof t);
        int rc = parse(&t, d->spec, d->speclen, v4, d->default_port);
        if (rc)
            return rc;
        d->hostoff = t.hostoff;
        d->hostlen = t.hostlen;
        d->portnum = t.portnum;
        d->literal = t.literal;
        d->remote = t.remote;
        d->remote_len = t.remote_len;
        d->have_local = t.have_local;
        d->local = t.local;
        d->local_len = t.local_len;
        d->ipv4only = v4;
    }
    if (d->literal) {
        give_addr(&d->remote, d->remote_len, ss, sl);
        return 0;
    }
    char host[NN_SOCKADDR_MAX];
    sp_tcpdial_host(d, host);
    d->req = sp_resolve_start(host, d->ipv4only);
    return d->req ? 1 : -ENOMEM;
}

static int tcp_resolve_poll(struct sp_connector *c, struct sockaddr_storage *ss, socklen_t *sl)
{
    struct sp_tcpdial *d = c->tpdata;
    int rc = sp_resolve_poll(d->req, ss, sl);
    if (rc != 1)
        d->req = NULL;
    if (rc == 0)
        sp_addr_set_port(ss, d->portnum);
    return rc;
}

static void tcp_resolve_cancel(struct sp_connector *c)
{
    struct sp_tcpdial *d = c->tpdata;
    if (d->req)
        sp_resolve_cancel(d->req);
    d->req = NULL;
}

static int tcp_local(struct sp_connector *c, struct sockaddr_storage *ss, socklen_t *sl)
{
    struct sp_tcpdial *d = c->tpdata;
    if (!d->have_local)
        return 0;
    give_addr(&d->local, d->local_len, ss, sl);
    return 1;
}

static void tcp_destroy(struct sp_connector *c)
{
    struct sp_tcpdial *d = c->tpdata;
    if (d->req)
        tcp_resolve_cancel(c);
    if (d->cleanup)
        d->cleanup(d);
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
    sp_resolver_term();
}

/* ---- the NN_TCP options ---- */

static const struct sp_intopt tcp_opts[] = {
    {NN_TCP_NODELAY, 0, 0, 1},
    {NN_TCP_KEEPALIVE, 0, 0, INT_MAX},
};

enum { OPT_NODELAY, OPT_KEEPALIVE, NOPTS };

const struct sp_optset sp_tcp_optset = SP_INTOPTSET(NN_TCP, tcp_opts);

/* The kernel's limit on TCP_KEEPIDLE and TCP_KEEPINTVL, in seconds. */
#define KEEPALIVE_MAX_S 32767

/* NN_TCP_KEEPALIVE on fd: probes every third of ms (whole seconds, at least
   one) once the connection is idle, and a connection whose peer has
   acknowledged nothing for ms is dropped, whether it was idle (no probe
   answered) or sending (TCP_USER_TIMEOUT). With TCP_USER_TIMEOUT set the
   kernel ignores the probe count for keepalive; the count of 2 says the
   same thing to a kernel that lacks it. */
static void keepalive(int fd, int ms)
{
    if (ms <= 0)
        return;
    int one = 1, cnt = 2, s = ms / 3000;
    s = s < 1 ? 1 : s > KEEPALIVE_MAX_S ? KEEPALIVE_MAX_S : s;
    unsigned int user_timeout = (unsigned int) ms;
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &s, sizeof s);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &s, sizeof s);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof user_timeout);
}

void sp_tcp_tune(int fd, struct sp_ep *ep)
{
    int o[NOPTS];
    if (sp_ep_opts_now(ep, &sp_tcp_optset, o) != 0)
        return;
    if (o[OPT_NODELAY]) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    keepalive(fd, o[OPT_KEEPALIVE]);
}

void sp_tcp_tune_keepalive(int fd, struct sp_ep *ep)
{
    int o[NOPTS];
    if (sp_ep_opts_now(ep, &sp_tcp_optset, o) == 0)
        keepalive(fd, o[OPT_KEEPALIVE]);
}
