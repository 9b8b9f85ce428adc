/* The client's TLS session cache (see tlssession.h). A handful of entries
   searched linearly under one lock: it is consulted once per connection,
   next to a handshake that costs a thousand times more. */
#include "tls/tlssession.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include <mbedtls/md.h>

struct session_entry {
    bool used;
    uint8_t key[SP_TLS_SESSION_KEY];
    uint64_t last;               /* when last offered or kept (tick) */
    mbedtls_ssl_session session; /* with its ticket and the server's certificate */
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct session_entry cache[SP_TLS_SESSION_CACHE];
static uint64_t tick;

static void md_update_len(mbedtls_md_context_t *md, const void *p, size_t len)
{
    uint64_t n = len; /* length-prefixed: no two inputs join the same way */
    mbedtls_md_update(md, (const unsigned char *) &n, sizeof n);
    if (len)
        mbedtls_md_update(md, p, len);
}

void sp_tls_session_key(uint8_t key[SP_TLS_SESSION_KEY], const char *addr, const char *server_name, int authmode,
                        const mbedtls_x509_crt *ca, const mbedtls_x509_crt *own)
{
    mbedtls_md_context_t md;
    mbedtls_md_init(&md);
    memset(key, 0, SP_TLS_SESSION_KEY);
    if (mbedtls_md_setup(&md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 0) != 0 || mbedtls_md_starts(&md) != 0) {
        mbedtls_md_free(&md);
        return; /* the all-zero key: matched by nothing, kept by nobody */
    }
    md_update_len(&md, addr, strlen(addr));
    md_update_len(&md, server_name ? server_name : "", server_name ? strlen(server_name) + 1 : 0);
    md_update_len(&md, &authmode, sizeof authmode);
    for (const mbedtls_x509_crt *c = ca; c && c->raw.p; c = c->next)
        md_update_len(&md, c->raw.p, c->raw.len);
    md_update_len(&md, "", 0); /* the end of the CA list */
    for (const mbedtls_x509_crt *c = own; c && c->raw.p; c = c->next)
        md_update_len(&md, c->raw.p, c->raw.len);
    mbedtls_md_finish(&md, key);
    mbedtls_md_free(&md);
}

static bool key_valid(const uint8_t key[SP_TLS_SESSION_KEY])
{
    static const uint8_t zero[SP_TLS_SESSION_KEY];
    return memcmp(key, zero, SP_TLS_SESSION_KEY) != 0;
}

static void entry_drop(struct session_entry *e)
{
    mbedtls_ssl_session_free(&e->session);
    e->used = false;
}

/* The entry of key (lock held), or NULL; an expired one is dropped. */
static struct session_entry *entry_find(const uint8_t key[SP_TLS_SESSION_KEY])
{
    for (size_t i = 0; i < SP_TLS_SESSION_CACHE; i++) {
        struct session_entry *e = &cache[i];
        if (!e->used || memcmp(e->key, key, SP_TLS_SESSION_KEY) != 0)
            continue;
        uint32_t life = e->session.ticket_lifetime && e->session.ticket_lifetime < SP_TLS_TICKET_LIFETIME
                            ? e->session.ticket_lifetime
                            : SP_TLS_TICKET_LIFETIME;
        time_t now = time(NULL);
        if (now < e->session.start || now - e->session.start >= (time_t) life) {
            entry_drop(e);
            return NULL;
        }
        return e;
    }
    return NULL;
}

void sp_tls_session_offer(const uint8_t key[SP_TLS_SESSION_KEY], mbedtls_ssl_context *ssl)
{
    if (!key_valid(key))
        return;
    pthread_mutex_lock(&cache_lock);
    struct session_entry *e = entry_find(key);
    if (e) {
        e->last = ++tick;
        /* A copy: it fails only without memory, and then the handshake is
           simply a full one. */
        (void) mbedtls_ssl_set_session(ssl, &e->session);
    }
    pthread_mutex_unlock(&cache_lock);
}

void sp_tls_session_keep(const uint8_t key[SP_TLS_SESSION_KEY], const mbedtls_ssl_context *ssl)
{
    if (!key_valid(key))
        return;
    mbedtls_ssl_session s;
    mbedtls_ssl_session_init(&s);
    if (mbedtls_ssl_get_session(ssl, &s) != 0 || !s.ticket || !s.ticket_len) {
        mbedtls_ssl_session_free(&s); /* no ticket: nothing to resume with */
        return;
    }
    pthread_mutex_lock(&cache_lock);
    struct session_entry *e = entry_find(key);
    for (size_t i = 0; !e && i < SP_TLS_SESSION_CACHE; i++)
        if (!cache[i].used)
            e = &cache[i];
    if (!e) { /* full: the least recently used one goes */
        e = &cache[0];
        for (size_t i = 1; i < SP_TLS_SESSION_CACHE; i++)
            if (cache[i].last < e->last)
                e = &cache[i];
    }
    if (e->used)
        entry_drop(e);
    e->used = true;
    memcpy(e->key, key, SP_TLS_SESSION_KEY);
    e->last = ++tick;
    e->session = s; /* ownership moves: s is not freed here */
    pthread_mutex_unlock(&cache_lock);
}

void sp_tls_session_term(void)
{
    pthread_mutex_lock(&cache_lock);
    for (size_t i = 0; i < SP_TLS_SESSION_CACHE; i++)
        if (cache[i].used)
            entry_drop(&cache[i]);
    tick = 0;
    pthread_mutex_unlock(&cache_lock);
}
