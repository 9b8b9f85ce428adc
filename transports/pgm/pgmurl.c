/* pgm:// and epgm:// addresses. */
#include "pgm/pgmurl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "utils/addr.h"

/* Copies len bytes of s into buf (size cap) with a NUL: false if too long. */
static bool copy_part(char *buf, size_t cap, const char *s, size_t len)
{
    if (len >= cap)
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return true;
}

/* A dotted quad, strictly (inet_pton: four decimal parts, no shorthand). */
static bool parse_ipv4(const char *s, struct in_addr *a)
{
    return inet_pton(AF_INET, s, a) == 1;
}

static bool only_digits_and_dots(const char *s)
{
    for (; *s; s++)
        if (!(*s >= '0' && *s <= '9') && *s != '.')
            return false;
    return true;
}

static int parse_iface(struct sp_pgmurl *u, const char *s, size_t len)
{
    char buf[64];
    if (len == 0 || !copy_part(buf, sizeof buf, s, len))
        return -EINVAL;
    char *slash = strchr(buf, '/');
    if (slash) {
        *slash = '\0';
        const char *p = slash + 1;
        size_t n = strlen(p);
        if (n == 0 || n > 2 || !only_digits_and_dots(p) || strchr(p, '.'))
            return -EINVAL;
        int prefix = 0;
        for (; *p; p++)
            prefix = prefix * 10 + (*p - '0');
        if (prefix > 32 || !parse_ipv4(buf, &u->net))
            return -EINVAL;
        u->kind = SP_PGMURL_IF_NET;
        u->prefix = prefix;
        return 0;
    }
    if (parse_ipv4(buf, &u->net)) {
        u->kind = SP_PGMURL_IF_ADDR;
        return 0;
    }
    /* Not an address. Something that looks like a broken one, or an IPv6
       literal (not supported), is a syntax error, not a name. */
    struct in6_addr a6;
    if (only_digits_and_dots(buf) || inet_pton(AF_INET6, buf, &a6) == 1)
        return -EINVAL;
    if (len >= IF_NAMESIZE)
        return -EINVAL;
    for (size_t i = 0; i < len; i++)
        if (buf[i] == '/' || buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\n' ||
            buf[i] == '\r' || buf[i] == '\v' || buf[i] == '\f')
            return -EINVAL;
    u->kind = SP_PGMURL_IF_NAME;
    memcpy(u->name, buf, len + 1);
    return 0;
}

int sp_pgmurl_parse(struct sp_pgmurl *u, bool udp, const char *addr)
{
    memset(u, 0, sizeof *u);
    u->udp = udp;
    const char *semi = strchr(addr, ';');
    if (!semi)
        return -EINVAL; /* no interface: OpenPGM's pgm_connect would assert */
    int rc = parse_iface(u, addr, (size_t) (semi - addr));
    if (rc != 0)
        return rc;
    const char *rest = semi + 1;
    const char *colon = strrchr(rest, ':');
    if (!colon)
        return -EINVAL;
    char gbuf[INET_ADDRSTRLEN];
    if (!copy_part(gbuf, sizeof gbuf, rest, (size_t) (colon - rest)) || !parse_ipv4(gbuf, &u->group) ||
        !IN_MULTICAST(ntohl(u->group.s_addr)))
        return -EINVAL;
    int port;
    if (sp_addr_port(colon + 1, strlen(colon + 1), &port) != 0)
        return -EINVAL;
    u->port = (uint16_t) port;
    return 0;
}

static bool same_net(struct in_addr a, struct in_addr b, int prefix)
{
    if (prefix == 0)
        return true;
    uint32_t mask = prefix == 32 ? 0xffffffffu : ~(0xffffffffu >> prefix);
    return (ntohl(a.s_addr) & mask) == (ntohl(b.s_addr) & mask);
}

/* The interface index of an ifaddrs name; IPv4 address labels ("eth0:1")
   belong to the device before the colon. */
static unsigned index_of(const char *ifname)
{
    char dev[IF_NAMESIZE];
    size_t n = strcspn(ifname, ":");
    if (n >= sizeof dev)
        return 0;
    memcpy(dev, ifname, n);
    dev[n] = '\0';
    return if_nametoindex(dev);
}

int sp_pgmurl_resolve(struct sp_pgmurl *u, const struct ifaddrs *ifs)
{
    struct ifaddrs *own = NULL;
    if (!ifs) {
        if (getifaddrs(&own) != 0)
            return -errno;
        ifs = own;
    }
    int rc = -ENODEV;
    for (const struct ifaddrs *i = ifs; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !i->ifa_name)
            continue;
        struct in_addr a = ((const struct sockaddr_in *) i->ifa_addr)->sin_addr;
        bool match;
        switch (u->kind) {
        case SP_PGMURL_IF_ADDR:
            match = a.s_addr == u->net.s_addr;
            break;
        case SP_PGMURL_IF_NET:
            match = same_net(a, u->net, u->prefix);
            break;
        default:
            match = strcmp(i->ifa_name, u->name) == 0;
            break;
        }
        if (!match)
            continue;
        unsigned idx = index_of(i->ifa_name);
        if (idx == 0)
            continue; /* vanished since the list was made */
        u->ifindex = idx;
        u->ifaddr = a;
        rc = 0;
        break;
    }
    if (own)
        freeifaddrs(own);
    return rc;
}
