/* Fuzz target for endpoint addresses: every transport's address parser,
   called directly where it is a pure function (transports/utils/addr.c,
   tcpdial.c: ports, interfaces, hosts, "[iface;]host:port"; transports/pgm/
   pgmurl.c: "iface;group:port"), and every URL form through nn_bind and
   nn_connect (the scheme split in src/core/sock.c, then tcp, tls+tcp, ws,
   wss, ipc and inproc each parse the rest), in a private network namespace
   (fuzznet.h). Checked: no crash, leak or over-read; each parser's result is
   well formed (a port in 1..65535, NUL-terminated host and interface names,
   a multicast group, a pgm address that prints back to itself); and
   nn_bind/nn_connect fail exactly when the parser says so, with its errno,
   and otherwise give an endpoint that nn_shutdown removes.

   Input layout:
     byte 0   bits 0-3: the scheme (see schemes[]; 8 and up: the rest is a
              whole URL, scheme included); bit 4: nn_bind, else nn_connect;
              bit 5: NN_IPV4ONLY 0, else the default 1
     the rest the address after "scheme://", up to the first NUL (the API
              takes C strings). Ipc paths have '/' replaced by '_': they stay
              in the private temporary directory. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include <nanomsg/nn.h>
#include <nanomsg/pair.h>
#include <nanomsg/tls.h>

#include "pgm/pgmurl.h"
#include "sp_config.h"
#include "utils/addr.h"
#include "utils/tcpdial.h"

#include "fuzz.h"
#include "fuzznet.h"

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "fuzz_url: %s:%d: check failed: %s (errno %d)\n", __FILE__, __LINE__, \
                    #cond, errno);                                                           \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

enum { TCP, TLS, WS, WSS, IPC, INPROC, PGM, EPGM, NSCHEMES };
static const char *const schemes[NSCHEMES] = {"tcp", "tls+tcp", "ws", "wss", "ipc", "inproc", "pgm", "epgm"};

/* One socket per NN_IPV4ONLY value, made once. */
static int sock[2] = {-1, -1};

static void close_sockets(void)
{
    for (int i = 0; i < 2; i++)
        if (sock[i] >= 0)
            nn_close(sock[i]);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    fuzz_private_net("fuzz-url");
    for (int i = 0; i < 2; i++) {
        sock[i] = nn_socket(AF_SP, NN_PAIR);
        CHECK(sock[i] >= 0);
        int v = i;
        CHECK(nn_setsockopt(sock[i], NN_SOL_SOCKET, NN_IPV4ONLY, &v, sizeof v) == 0);
#if SP_HAVE_MBEDTLS
        /* A client that verifies nothing loads no CA store for each input. */
        v = NN_TLS_VERIFY_NONE;
        CHECK(nn_setsockopt(sock[i], NN_TLS, NN_TLS_VERIFY, &v, sizeof v) == 0);
#endif
    }
    atexit(close_sockets);
    return 0;
}

/* ---- the pure parsers ---- */

/* libnanomsg's port rule, written out: decimal digits only, 1..65535,
   leading zeros allowed. */
static bool ref_port(const char *s, size_t len, int *port)
{
    size_t i = 0;
    if (len == 0)
        return false;
    for (size_t k = 0; k < len; k++)
        if (s[k] < '0' || s[k] > '9')
            return false;
    while (i < len && s[i] == '0')
        i++;
    if (len - i > 5)
        return false;
    int v = 0;
    for (; i < len; i++)
        v = v * 10 + (s[i] - '0');
    if (v < 1 || v > 65535)
        return false;
    *port = v;
    return true;
}

static void check_port(const char *s, size_t len)
{
    int port = -1, want = -1;
    int rc = sp_addr_port(s, len, &port);
    bool ok = ref_port(s, len, &want);
    CHECK(rc == 0 || rc == -EINVAL);
    CHECK((rc == 0) == ok);
    CHECK(!ok || port == want);
}

static void check_sockaddr(const struct sockaddr_storage *ss, socklen_t sl, bool ipv4only, int port)
{
    if (ss->ss_family == AF_INET) {
        CHECK(sl == sizeof(struct sockaddr_in));
        CHECK(ntohs(((const struct sockaddr_in *) ss)->sin_port) == port);
    } else {
        CHECK(!ipv4only && ss->ss_family == AF_INET6 && sl == sizeof(struct sockaddr_in6));
        CHECK(ntohs(((const struct sockaddr_in6 *) ss)->sin6_port) == port);
    }
}

/* What a bind of "iface:port" must give before it touches a socket (the
   parse in sp_tcp_listen): 0, -EINVAL or -ENODEV. */
static int listen_parse(const char *addr, size_t len, bool ipv4only)
{
    const char *colon = memrchr(addr, ':', len);
    if (!colon)
        return -EINVAL;
    check_port(colon + 1, (size_t) (addr + len - colon - 1));
    int port;
    int rc = sp_addr_port(colon + 1, (size_t) (addr + len - colon - 1), &port);
    if (rc)
        return rc;
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    rc = sp_addr_iface(addr, (size_t) (colon - addr), ipv4only, &ss, &sl);
    CHECK(rc == 0 || rc == -ENODEV);
    if (rc == 0) {
        sp_addr_set_port(&ss, port);
        check_sockaddr(&ss, sl, ipv4only, port);
    }
    return rc;
}

/* sp_tcpdial_parse, with its result checked: 0, -EINVAL or -ENODEV. */
static int dial_parse(const char *addr, size_t len, bool ipv4only, int default_port)
{
    struct sp_tcpdial d;
    int rc = sp_tcpdial_parse(&d, addr, len, ipv4only, default_port);
    CHECK(rc == 0 || rc == -EINVAL || rc == -ENODEV);
    if (rc != 0)
        return rc;
    CHECK(d.speclen == len && d.spec == addr);
    CHECK(d.portnum >= 1 && d.portnum <= 65535);
    char host[NN_SOCKADDR_MAX];
    sp_tcpdial_host(&d, host);
    size_t hl = strlen(host);
    CHECK(hl == d.hostlen && hl > 0);
    /* The host is written in the address, before the port. */
    CHECK(d.hostoff + hl <= len && memmem(addr, len, host, hl) != NULL);
    struct sockaddr_storage ss;
    if (d.literal) {
        CHECK(d.remote_len <= sizeof d.remote);
        memset(&ss, 0, sizeof ss);
        memcpy(&ss, &d.remote, d.remote_len);
        check_sockaddr(&ss, d.remote_len, ipv4only, d.portnum);
    }
    if (d.have_local) {
        CHECK(memchr(addr, ';', len) != NULL);
        CHECK(d.local_len <= sizeof d.local);
        memset(&ss, 0, sizeof ss);
        memcpy(&ss, &d.local, d.local_len);
        check_sockaddr(&ss, d.local_len, ipv4only, 0);
    }
    return 0;
}

/* Prints a parsed pgm address back in its canonical form. */
static void pgm_print(const struct sp_pgmurl *u, char *buf, size_t cap)
{
    char a[INET_ADDRSTRLEN], g[INET_ADDRSTRLEN];
    CHECK(inet_ntop(AF_INET, &u->group, g, sizeof g) != NULL);
    switch (u->kind) {
    case SP_PGMURL_IF_ADDR:
        CHECK(inet_ntop(AF_INET, &u->net, a, sizeof a) != NULL);
        snprintf(buf, cap, "%s;%s:%u", a, g, u->port);
        break;
    case SP_PGMURL_IF_NET:
        CHECK(inet_ntop(AF_INET, &u->net, a, sizeof a) != NULL);
        snprintf(buf, cap, "%s/%d;%s:%u", a, u->prefix, g, u->port);
        break;
    default:
        snprintf(buf, cap, "%s;%s:%u", u->name, g, u->port);
        break;
    }
}

static void check_pgm(const char *addr, bool udp)
{
    struct sp_pgmurl u, again;
    int rc = sp_pgmurl_parse(&u, udp, addr);
    CHECK(rc == 0 || rc == -EINVAL);
    if (rc != 0)
        return;
    CHECK(u.udp == udp && u.port >= 1);
    CHECK(IN_MULTICAST(ntohl(u.group.s_addr)));
    if (u.kind == SP_PGMURL_IF_NET)
        CHECK(u.prefix >= 0 && u.prefix <= 32);
    if (u.kind == SP_PGMURL_IF_NAME) {
        size_t n = strnlen(u.name, sizeof u.name);
        CHECK(n > 0 && n < sizeof u.name && !strchr(u.name, '/') && !strchr(u.name, ';'));
    }
    /* What was understood reads back the same. */
    char canon[128];
    pgm_print(&u, canon, sizeof canon);
    CHECK(sp_pgmurl_parse(&again, udp, canon) == 0);
    CHECK(again.kind == u.kind && again.net.s_addr == u.net.s_addr && again.prefix == u.prefix &&
          strcmp(again.name, u.name) == 0 && again.group.s_addr == u.group.s_addr && again.port == u.port);

    /* Resolved against a made-up interface list: the namespace's loopback
       (a real index), names the namespace does not have (skipped), and
       entries without an IPv4 address. */
    struct sockaddr_in a[4];
    struct sockaddr_in6 six;
    const char *addrs[4] = {"127.0.0.1", "10.1.2.3", "10.9.9.9", "192.168.0.1"};
    const char *names[4] = {"lo", "eth0", "eth0:1", "lo"};
    struct ifaddrs ifs[6];
    memset(ifs, 0, sizeof ifs);
    memset(&six, 0, sizeof six);
    six.sin6_family = AF_INET6;
    for (int i = 0; i < 4; i++) {
        memset(&a[i], 0, sizeof a[i]);
        a[i].sin_family = AF_INET;
        inet_pton(AF_INET, addrs[i], &a[i].sin_addr);
        ifs[i].ifa_name = (char *) names[i];
        ifs[i].ifa_addr = (struct sockaddr *) &a[i];
    }
    ifs[4].ifa_name = (char *) "lo";
    ifs[4].ifa_addr = (struct sockaddr *) &six;
    ifs[5].ifa_name = (char *) "eth1"; /* no address at all */
    for (int i = 0; i < 5; i++)
        ifs[i].ifa_next = &ifs[i + 1];
    rc = sp_pgmurl_resolve(&u, ifs);
    CHECK(rc == 0 || rc == -ENODEV);
    if (rc == 0) {
        CHECK(u.ifindex == if_nametoindex("lo"));
        CHECK(u.ifaddr.s_addr == a[0].sin_addr.s_addr || u.ifaddr.s_addr == a[3].sin_addr.s_addr);
    }
}

/* ---- through the API ---- */

/* The errno nn_bind/nn_connect must give for scheme and addr (0 for an
   endpoint, -1 when more than one outcome is right: see allowed()). */
static int expected(int scheme, const char *addr, bool bind, bool ipv4only)
{
    size_t len = strlen(addr);
    switch (scheme) {
    case TCP:
        return bind ? listen_parse(addr, len, ipv4only) : dial_parse(addr, len, ipv4only, 0);
    case TLS:
        /* Without a certificate a TLS listener fails before the address is
           read; a client parses it first. */
        return bind ? -EINVAL : dial_parse(addr, len, ipv4only, 0);
    case WS:
    case WSS: {
        if (bind)
            return scheme == WSS ? -EINVAL : listen_parse(addr, len, ipv4only);
        /* "[iface;]host[:port][/resource]" */
        const char *semi = strchr(addr, ';');
        const char *hostp = semi ? semi + 1 : addr;
        const char *slash = strchr(hostp, '/');
        size_t hlen = slash ? (size_t) (slash - addr) : len;
        return dial_parse(addr, hlen, ipv4only, scheme == WSS ? 443 : 80);
    }
    case IPC:
        return len >= sizeof(((struct sockaddr_un *) 0)->sun_path) ? -ENAMETOOLONG : -1;
    case INPROC:
        return bind ? -1 : 0;
    default:
        return -EPROTONOSUPPORT; /* pgm: not a registered transport yet */
    }
}

/* Errors that depend on the moment, not on the address: a port or an ipc
   path still held by an endpoint being shut down, an address no interface
   of the namespace has, a path that is a directory. */
static bool allowed(int scheme, bool bind, int err)
{
    if (!bind)
        return false;
    switch (scheme) {
    case TCP:
    case WS:
        return err == EADDRINUSE || err == EADDRNOTAVAIL;
    case IPC:
        return err == EADDRINUSE || err == ENOENT || err == EACCES || err == EISDIR;
    case INPROC:
        return err == EADDRINUSE;
    default:
        return false;
    }
}

static void check_api(int scheme, const char *url, const char *addr, bool bind, bool ipv4only)
{
    int s = sock[ipv4only ? 1 : 0];
    int want = expected(scheme, addr, bind, ipv4only);
    errno = 0;
    int eid = bind ? nn_bind(s, url) : nn_connect(s, url);
    int err = errno;
    if (eid >= 0) {
        CHECK(want == 0 || want == -1);
        CHECK(nn_shutdown(s, eid) == 0);
        return;
    }
    if (want != -err && !(want <= 0 && allowed(scheme, bind, err))) {
        fprintf(stderr, "fuzz_url: %s of \"%s\" failed with errno %d (%s), the parser says %d\n",
                bind ? "nn_bind" : "nn_connect", url, err, nn_strerror(err), want);
        CHECK(0);
    }
}

/* A whole URL: the scheme split, then the transport (ipc paths made
   harmless first). */
static void check_whole_url(char *url, bool bind, bool ipv4only)
{
    size_t len = strlen(url);
    const char *sep = strstr(url, "://");
    const char *colon = strchr(url, ':');
    int s = sock[ipv4only ? 1 : 0];
    int scheme = -1;
    if (len < NN_SOCKADDR_MAX && colon && colon == sep) {
        for (int i = 0; i < NSCHEMES; i++)
            if (strlen(schemes[i]) == (size_t) (colon - url) && memcmp(url, schemes[i], (size_t) (colon - url)) == 0)
                scheme = i;
        if (scheme == IPC)
            for (char *p = url + 6; *p; p++)
                if (*p == '/')
                    *p = '_';
        if (scheme >= 0) {
            check_api(scheme, url, url + (colon - url) + 3, bind, ipv4only);
            return;
        }
    }
    int want = len >= NN_SOCKADDR_MAX ? ENAMETOOLONG : (!colon || colon != sep) ? EINVAL : EPROTONOSUPPORT;
    errno = 0;
    int eid = bind ? nn_bind(s, url) : nn_connect(s, url);
    CHECK(eid < 0 && errno == want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (sock[0] < 0)
        LLVMFuzzerInitialize(NULL, NULL);
    int scheme = data[0] & 15;
    bool bind = data[0] & 16;
    bool ipv4only = !(data[0] & 32);
    size_t n = strnlen((const char *) data + 1, size - 1);
    /* Exactly n bytes and a NUL, so that ASan sees any read past them. */
    char *addr = malloc(n + 1);
    CHECK(addr != NULL);
    memcpy(addr, data + 1, n);
    addr[n] = 0;

    /* The parsers on their own, whatever the scheme. */
    check_port(addr, n);
    listen_parse(addr, n, ipv4only);
    dial_parse(addr, n, ipv4only, 0);
    dial_parse(addr, n, ipv4only, 80);
    check_pgm(addr, false);
    check_pgm(addr, true);

    if (scheme >= NSCHEMES) {
        check_whole_url(addr, bind, ipv4only);
    } else {
        if (scheme == IPC)
            for (size_t i = 0; i < n; i++)
                if (addr[i] == '/')
                    addr[i] = '_';
        size_t ul = strlen(schemes[scheme]) + 3 + n + 1;
        char *url = malloc(ul);
        CHECK(url != NULL);
        snprintf(url, ul, "%s://%s", schemes[scheme], addr);
        if (ul - 1 >= NN_SOCKADDR_MAX) {
            int s = sock[ipv4only ? 1 : 0];
            errno = 0;
            CHECK((bind ? nn_bind(s, url) : nn_connect(s, url)) < 0 && errno == ENAMETOOLONG);
        } else {
            check_api(scheme, url, addr, bind, ipv4only);
        }
        free(url);
    }
    free(addr);
    return 0;
}
