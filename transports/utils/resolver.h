/* Host name resolution off the event loop: one resolver thread, started on
   the first name to resolve and joined at library teardown, runs blocking
   getaddrinfo calls one after another. Requests are polled by their owner;
   an owner that goes away cancels, and the resolver frees the request when
   its lookup returns. */
#ifndef SP_RESOLVER_H
#define SP_RESOLVER_H

#include <stdbool.h>
#include <sys/socket.h>

struct sp_resolve;

/* Starts resolving host (ipv4only: AF_INET, else IPv6 with v4-mapped
   addresses). NULL on ENOMEM or if the thread cannot start. */
struct sp_resolve *sp_resolve_start(const char *host, bool ipv4only);

/* 1: still running; 0: done, *ss is the first address (port 0), and the
   request is freed; -errno: failed, freed. */
int sp_resolve_poll(struct sp_resolve *r, struct sockaddr_storage *ss, socklen_t *sl);

/* The owner gives up on the request (freed now or when its lookup ends). */
void sp_resolve_cancel(struct sp_resolve *r);

/* Library teardown: stops and joins the thread (waits for a lookup in
   progress). */
void sp_resolver_term(void);

#endif
