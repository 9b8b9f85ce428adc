/* The resolver thread and its request queue. */
#include "utils/resolver.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <nanomsg/nn.h>

enum { RS_QUEUED, RS_RUNNING, RS_DONE };

struct sp_resolve {
    char host[NN_SOCKADDR_MAX];
    bool ipv4only;
    int state;                 /* resolver lock */
    bool cancelled;            /* resolver lock */
    int rc;
    struct sockaddr_storage ss;
    socklen_t sl;
    struct sp_resolve *next;   /* queue */
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cv;
    bool running;
    bool stopping;
    pthread_t thread;
    struct sp_resolve *head;
    struct sp_resolve *tail;
} rs = {.lock = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void lookup(struct sp_resolve *r)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = r->ipv4only ? AF_INET : AF_INET6;
    hints.ai_flags = r->ipv4only ? 0 : (AI_V4MAPPED | AI_ALL);
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(r->host, NULL, &hints, &res);
    if (rc != 0 || !res || res->ai_addrlen > sizeof r->ss) {
        r->rc = -EADDRNOTAVAIL;
    } else {
        /* Only the first address is tried, as libnanomsg does. */
        memcpy(&r->ss, res->ai_addr, res->ai_addrlen);
        r->sl = res->ai_addrlen;
        r->rc = 0;
    }
    if (res)
        freeaddrinfo(res);
}

static void *resolver_main(void *arg)
{
    (void) arg;
    pthread_mutex_lock(&rs.lock);
    for (;;) {
        while (!rs.head && !rs.stopping)
            pthread_cond_wait(&rs.cv, &rs.lock);
        if (!rs.head)
            break;
        struct sp_resolve *r = rs.head;
        rs.head = r->next;
        if (!rs.head)
            rs.tail = NULL;
        if (r->cancelled) {
            free(r);
            continue;
        }
        r->state = RS_RUNNING;
        pthread_mutex_unlock(&rs.lock);
        lookup(r);
        pthread_mutex_lock(&rs.lock);
        r->state = RS_DONE;
        if (r->cancelled)
            free(r);
    }
    pthread_mutex_unlock(&rs.lock);
    return NULL;
}

struct sp_resolve *sp_resolve_start(const char *host, bool ipv4only)
{
    struct sp_resolve *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    strncpy(r->host, host, sizeof r->host - 1);
    r->ipv4only = ipv4only;
    pthread_mutex_lock(&rs.lock);
    if (!rs.running) {
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        rs.stopping = false;
        int rc = pthread_create(&rs.thread, NULL, resolver_main, NULL);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (rc != 0) {
            pthread_mutex_unlock(&rs.lock);
            free(r);
            return NULL;
        }
        rs.running = true;
    }
    r->state = RS_QUEUED;
    if (rs.tail)
        rs.tail->next = r;
    else
        rs.head = r;
    rs.tail = r;
    pthread_cond_signal(&rs.cv);
    pthread_mutex_unlock(&rs.lock);
    return r;
}

int sp_resolve_poll(struct sp_resolve *r, struct sockaddr_storage *ss, socklen_t *sl)
{
    pthread_mutex_lock(&rs.lock);
    int state = r->state;
    pthread_mutex_unlock(&rs.lock);
    if (state != RS_DONE)
        return 1;
    int rc = r->rc;
    if (rc == 0) {
        *ss = r->ss;
        *sl = r->sl;
    }
    free(r);
    return rc;
}

void sp_resolve_cancel(struct sp_resolve *r)
{
    pthread_mutex_lock(&rs.lock);
    if (r->state == RS_DONE)
        free(r);
    else
        r->cancelled = true; /* the resolver frees it */
    pthread_mutex_unlock(&rs.lock);
}

void sp_resolver_term(void)
{
    pthread_mutex_lock(&rs.lock);
    if (!rs.running) {
        pthread_mutex_unlock(&rs.lock);
        return;
    }
    rs.stopping = true;
    pthread_cond_signal(&rs.cv);
    pthread_mutex_unlock(&rs.lock);
    pthread_join(rs.thread, NULL);
    pthread_mutex_lock(&rs.lock);
    rs.running = false;
    pthread_mutex_unlock(&rs.lock);
}
