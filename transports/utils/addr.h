/* Address parsing shared by the tcp and ws transports, with libnanomsg's
   rules and errno values (SPEC §4.15). */
#ifndef SP_ADDR_H
#define SP_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* Decimal port 1..65535 and nothing else: 0 or -EINVAL. */
int sp_addr_port(const char *s, size_t len, int *port);

/* A local interface: "*" or a numeric IPv4 literal (IPv6, optionally in [],
   when ipv4only is 0). Names give -ENODEV. Fills ss/sslen with port 0. */
int sp_addr_iface(const char *s, size_t len, bool ipv4only, struct sockaddr_storage *ss, socklen_t *sslen);

/* A remote host: a numeric literal (as above) or a DNS name. 0 with
   *literal set and ss filled for literals, 0 with *literal false for names,
   -EINVAL otherwise. */
int sp_addr_host(const char *s, size_t len, bool ipv4only, bool *literal, struct sockaddr_storage *ss,
                 socklen_t *sslen);

/* Sets the port of an AF_INET/AF_INET6 address. */
void sp_addr_set_port(struct sockaddr_storage *ss, int port);

#endif
