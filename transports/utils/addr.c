/* Parsing of "iface:port", "host:port" with libnanomsg's errno choices. */
#include "utils/addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>

int sp_addr_port(const char *s, size_t len, int *port)
{
    if (len == 0)
        return -EINVAL;
    int v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        v = v * 10 + (s[i] - '0');
        if (v > 65535)
            return -EINVAL; /* leading zeros are fine, as in libnanomsg */
    }
    if (v < 1 || v > 65535)
        return -EINVAL;
    *port = v;
    return 0;
}

static int literal(const char *s, size_t len, bool ipv4only, struct sockaddr_storage *ss, socklen_t *sslen)
{
    char buf[64];
    if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
        s++;
        len -= 2;
    }
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, s, len);
    buf[len] = 0;
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in4 = (struct sockaddr_in *) ss;
    if (inet_pton(AF_INET, buf, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        *sslen = sizeof *in4;
        return 0;
    }
    if (ipv4only)
        return -1;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) ss;
    char *pct = strchr(buf, '%');
    if (pct) {
        *pct = 0;
        in6->sin6_scope_id = if_nametoindex(pct + 1);
        if (!in6->sin6_scope_id)
            return -1;
    }
    if (inet_pton(AF_INET6, buf, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        *sslen = sizeof *in6;
        return 0;
    }
    return -1;
}

int sp_addr_iface(const char *s, size_t len, bool ipv4only, struct sockaddr_storage *ss, socklen_t *sslen)
{
    memset(ss, 0, sizeof *ss);
    if (len == 1 && s[0] == '*') {
        if (ipv4only) {
            struct sockaddr_in *in4 = (struct sockaddr_in *) ss;
            in4->sin_family = AF_INET;
            in4->sin_addr.s_addr = htonl(INADDR_ANY);
            *sslen = sizeof *in4;
        } else {
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) ss;
            in6->sin6_family = AF_INET6;
            in6->sin6_addr = in6addr_any;
            *sslen = sizeof *in6;
        }
        return 0;
    }
    if (literal(s, len, ipv4only, ss, sslen) == 0)
        return 0;
    return -ENODEV;
}

static bool dns_name(const char *s, size_t len)
{
    if (len == 0 || len > 255 || s[0] == '-')
        return false;
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '.') {
            if (label == 0)
                return false;
            /* A fully qualified name may end with the root's dot. */
            if (i == len - 1)
                return true;
            label = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
        if (++label > 63)
            return false;
    }
    return label > 0;
}

int sp_addr_host(const char *s, size_t len, bool ipv4only, bool *lit, struct sockaddr_storage *ss,
                 socklen_t *sslen)
{
    if (literal(s, len, ipv4only, ss, sslen) == 0) {
        *lit = true;
        return 0;
    }
    *lit = false;
    return dns_name(s, len) ? 0 : -EINVAL;
}

void sp_addr_set_port(struct sockaddr_storage *ss, int port)
{
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *) ss)->sin_port = htons((uint16_t) port);
    else if (ss->ss_family == AF_INET6)
        ((struct sockaddr_in6 *) ss)->sin6_port = htons((uint16_t) port);
}
