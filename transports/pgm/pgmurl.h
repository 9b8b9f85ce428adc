/* The address of a pgm or epgm endpoint: "INTERFACE;GROUP:PORT" (the part
   of the URL after "pgm://" or "epgm://"), checked completely before
   OpenPGM sees anything (OpenPGM asserts on some malformed addresses, and
   would resolve names through DNS). IPv4 only.

     INTERFACE  a numeric address of a local interface ("10.0.0.1"), a
                network one of them is in ("10.0.0.0/24"), or an interface
                name ("eth0"); never a host name, never DNS
     GROUP      a numeric IPv4 multicast address (224.0.0.0/4)
     PORT       decimal 1..65535 (the PGM data-destination port, and the
                UDP port for epgm) */
#ifndef SP_PGMURL_H
#define SP_PGMURL_H

#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

enum sp_pgmurl_iface_kind {
    SP_PGMURL_IF_ADDR, /* a numeric address */
    SP_PGMURL_IF_NET,  /* a network: address and prefix length */
    SP_PGMURL_IF_NAME, /* an interface name */
};

struct sp_pgmurl {
    bool udp;                         /* epgm (PGM over UDP), else raw PGM */
    enum sp_pgmurl_iface_kind kind;   /* how INTERFACE was written */
    struct in_addr net;               /* ADDR, NET: the address written */
    int prefix;                       /* NET: prefix length 0..32 */
    char name[IF_NAMESIZE];           /* NAME: the interface name */
    struct in_addr group;             /* the multicast group */
    uint16_t port;                    /* 1..65535 */
    /* Set by sp_pgmurl_resolve: */
    unsigned ifindex;                 /* the local interface */
    struct in_addr ifaddr;            /* its address to send from */
};

/* Parses addr (NUL-terminated, the URL without "pgm://"). udp: the scheme
   was epgm. 0, or -EINVAL: no ';' or an empty interface (OpenPGM would
   assert), an interface that is neither a dotted-quad address, a network
   with a prefix length 0..32, nor a plausible interface name (1 to 15 bytes,
   no '/', no white space, not an IPv6 literal), a group that is not a
   dotted-quad multicast address (names are not resolved), a missing or bad
   port, anything after the port. */
int sp_pgmurl_parse(struct sp_pgmurl *u, bool udp, const char *addr);

/* Finds the local interface INTERFACE names among ifs (from getifaddrs; NULL:
   the host's, fetched here) and sets ifindex and ifaddr. An address must be
   assigned to an interface; a network must contain an address of one (the
   first listed wins); a name must be an interface with an IPv4 address (the
   first listed). 0, -ENODEV when nothing on this host matches, or -errno
   from getifaddrs. */
int sp_pgmurl_resolve(struct sp_pgmurl *u, const struct ifaddrs *ifs);

#endif
