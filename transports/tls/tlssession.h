/* TLS session resumption, the client's half: a process-wide cache of the
   sessions servers gave tickets for (RFC 5077), so that the next connection
   to the same server, from any endpoint configured to check it the same
   way, skips the key exchange and the certificate check (the server's half
   is its ticket key, in tlsctx.c). */
#ifndef SP_TLSSESSION_H
#define SP_TLSSESSION_H

#include <stdint.h>

#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

/* A server's ticket keys rotate, and a client's cached session expires
   (sooner if the server says so), after this many seconds. */
#define SP_TLS_TICKET_LIFETIME 3600

/* Sessions kept at most; the least recently used one makes room. */
#define SP_TLS_SESSION_CACHE 64

#define SP_TLS_SESSION_KEY 32

/* The key of the sessions an endpoint may resume: what it connects to (its
   address and the name it checks) and everything that decided whether the
   server was trusted (verification mode, CA certificates) or how we were
   known to it (our certificate). Endpoints that would have checked the
   server differently never share a session. */
void sp_tls_session_key(uint8_t key[SP_TLS_SESSION_KEY], const char *addr, const char *server_name, int authmode,
                        const mbedtls_x509_crt *ca, const mbedtls_x509_crt *own);

/* Offers the cached session of key, if any, to a client ssl about to
   handshake (a server that no longer takes its ticket does a full
   handshake, certificate check included). */
void sp_tls_session_offer(const uint8_t key[SP_TLS_SESSION_KEY], mbedtls_ssl_context *ssl);

/* After a client's successful handshake: keeps its session under key if the
   server gave a ticket for it. */
void sp_tls_session_keep(const uint8_t key[SP_TLS_SESSION_KEY], const mbedtls_ssl_context *ssl);

/* Frees every cached session (library teardown). */
void sp_tls_session_term(void);

#endif
