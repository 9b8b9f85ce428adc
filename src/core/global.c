/* The socket table and the public socket API. Ids are handed out LIFO from
   0..NN_MAX_SOCKETS-1; the table (and the I/O thread) exist while at least
   one socket is open. nn_term closes everything and makes nn_socket fail with
   ETERM for the rest of the process, as libnanomsg does. */
#include <errno.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <nanomsg/nn.h>

#include "utils/err.h"
#include "aio/loop.h"
#include "core/appmsg.h"
#include "core/chunk.h"
#include "core/global.h"
#include "core/msgio.h"
#include "core/pipe.h"
#include "core/sendsrc.h"
#include "core/sock.h"
#include "transport.h"

#ifndef NN_MAX_SOCKETS
#define NN_MAX_SOCKETS 512
#endif

bool sp_print_errors;

/* Lookups are lock-free: the hot path (every nn_send/nn_recv) must not
   bounce a shared lock's cache line between the threads of a process. Each
   id has a slot of its own cache line in static memory (never freed, so a
   lookup racing nn_term or nn_close only ever touches valid memory) with the
   socket pointer and a count of the API calls inside it. */
struct slot {
    _Alignas(64) _Atomic(struct sp_sock *) sock;
    atomic_uint holds;
};
static struct slot slots[NN_MAX_SOCKETS];

static struct {
    pthread_mutex_t oclock;  /* serialises socket creation and teardown */
    int *unused;             /* LIFO stack of free ids; NULL when no socket exists */
    int nunused;
    int nsocks;
    bool ever;          /* a socket was created once */
    bool terminating;
    bool terminated;
} g = {
    .oclock = PTHREAD_MUTEX_INITIALIZER,
};

/* nn_close waits for the calls inside the socket on a library-wide
   condition: a call leaving must not touch anything the closer may free. */
static pthread_mutex_t holds_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t holds_cv = PTHREAD_COND_INITIALIZER;

/* A call's hold costs two locked instructions on the slot's count, four per
   message sent and received, about as much as the rest of an inproc
   message's bookkeeping. So a thread announces the socket it is inside in a
   record of its own instead (a hazard: plain stores, and a compiler barrier
   where the count had its locked add), and nn_close, which is rare, pays
   for the ordering with membarrier(): after it, every thread has either
   published its record or will see the slot cleared. One record per
   thread, for its outermost call (a nested call, e.g. from a signal
   handler, counts in the slot as before); unused where the kernel has no
   private expedited membarrier. The records stay listed (holds_lock) until
   their thread exits. */
struct hazard {
    atomic_int sock;             /* id of the socket the thread is in, or -1 */
    struct hazard *next;
};
static struct hazard *hazards;   /* holds_lock */
static atomic_bool hazards_on;   /* membarrier registered */
static atomic_int closers;       /* close_begin waiting for holds to end */
static SP_THREAD_LOCAL struct hazard *tl_hazard;
static pthread_key_t hazard_key;

static void hazard_free(void *p)
{
    struct hazard *hz = p;
    pthread_mutex_lock(&holds_lock);
    for (struct hazard **pp = &hazards; *pp; pp = &(*pp)->next) {
        if (*pp == hz) {
            *pp = hz->next;
            break;
        }
    }
    pthread_mutex_unlock(&holds_lock);
    free(hz);
    tl_hazard = NULL;
}

/* Once per process, at the first socket (oclock held). */
static void hazards_init(void)
{
    if (atomic_load(&hazards_on))
        return;
    long q = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    if (q < 0 || !(q & MEMBARRIER_CMD_PRIVATE_EXPEDITED) ||
        syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) != 0 ||
        pthread_key_create(&hazard_key, hazard_free) != 0)
        return; /* counts only */
    atomic_store(&hazards_on, true);
}

/* Makes the calling thread's record at its first call; NULL when records
   are not in use or out of memory (the count serves). */
static __attribute__((noinline)) struct hazard *hazard_make(void)
{
    if (!atomic_load_explicit(&hazards_on, memory_order_relaxed))
        return NULL;
    struct hazard *hz = malloc(sizeof *hz);
    if (!hz)
        return NULL;
    atomic_init(&hz->sock, -1);
    if (pthread_setspecific(hazard_key, hz) != 0) {
        free(hz);
        return NULL;
    }
    pthread_mutex_lock(&holds_lock);
    hz->next = hazards;
    hazards = hz;
    pthread_mutex_unlock(&holds_lock);
    tl_hazard = hz;
    return hz;
}

/* Leaves the socket: release, so that everything the call did to it comes
   before the closer's free; then wakes a closer that may wait for it. */
static void hazard_clear(struct hazard *hz)
{
    atomic_store_explicit(&hz->sock, -1, memory_order_release);
    atomic_signal_fence(memory_order_seq_cst); /* see close_begin */
    if (atomic_load_explicit(&closers, memory_order_relaxed) > 0) {
        pthread_mutex_lock(&holds_lock);
        pthread_cond_broadcast(&holds_cv);
        pthread_mutex_unlock(&holds_lock);
    }
}

/* Whether a thread other than the caller has a record. Without one, no
   other thread can be between publishing its record and reading the slot
   (close_begin): a thread that makes its record later does so under
   holds_lock, after the slot was cleared, and then sees it cleared.
   holds_lock held. */
static bool hazards_of_others(void)
{
    for (struct hazard *hz = hazards; hz; hz = hz->next)
        if (hz != tl_hazard)
            return true;
    return false;
}

/* Whether a thread's record names socket s. holds_lock held. */
static bool hazard_names(int s)
{
    for (struct hazard *hz = hazards; hz; hz = hz->next)
        if (atomic_load_explicit(&hz->sock, memory_order_acquire) == s)
            return true;
    return false;
}

/* The public calls' failure: errno set from a -errno, and -1. */
static int set_errno(int rc)
{
    errno = -rc;
    return -1;
}

/* Drops a hold; the last one out wakes a closer waiting for it. */
static void rele(int s)
{
    struct slot *sl = &slots[s];
    if (atomic_fetch_sub(&sl->holds, 1) == 1 && atomic_load(&sl->sock) == NULL) {
        pthread_mutex_lock(&holds_lock);
        pthread_cond_broadcast(&holds_cv);
        pthread_mutex_unlock(&holds_lock);
    }
}

/* Takes a hold on socket s: NULL (EBADF) if it does not exist or is closing.
   The hold (the thread's record, else the count) is announced before the
   pointer is read; nn_close clears the pointer before it looks for holds,
   so one of the two sees the other. */
SP_HOT static struct sp_sock *hold(int s)
{
    if (s < 0 || s >= NN_MAX_SOCKETS)
        return NULL;
    struct slot *sl = &slots[s];
    struct hazard *hz = tl_hazard;
    if (!hz)
        hz = hazard_make();
    if (hz && atomic_load_explicit(&hz->sock, memory_order_relaxed) == -1) {
        atomic_store_explicit(&hz->sock, s, memory_order_relaxed);
        /* Only the compiler may not reorder these: close_begin's
           membarrier orders them for the CPU. */
        atomic_signal_fence(memory_order_seq_cst);
        struct sp_sock *sock = atomic_load_explicit(&sl->sock, memory_order_acquire);
        if (sock && !atomic_load_explicit(&sock->closing, memory_order_relaxed))
            return sock;
        hazard_clear(hz);
        return NULL;
    }
    atomic_fetch_add(&sl->holds, 1);
    struct sp_sock *sock = atomic_load(&sl->sock);
    if (sock && !atomic_load_explicit(&sock->closing, memory_order_relaxed))
        return sock;
    rele(s);
    return NULL;
}

/* Ends a hold taken by hold(): a nested hold of the same socket counted in
   the slot may drop the record first, which is as good (both hold it). */
SP_HOT static void rele_sock(struct sp_sock *sock)
{
    struct hazard *hz = tl_hazard;
    int s = sock->id;
    if (hz && atomic_load_explicit(&hz->sock, memory_order_relaxed) == s)
        hazard_clear(hz);
    else
        rele(s);
}

static int table_init(void)
{
    hazards_init();
    int rc = sp_transports_init();
    if (rc != 0)
        return rc;
    g.unused = malloc(NN_MAX_SOCKETS * sizeof *g.unused);
    if (!g.unused) {
        sp_transports_term();
        return -ENOMEM;
    }
    for (int i = 0; i < NN_MAX_SOCKETS; i++)
        g.unused[i] = NN_MAX_SOCKETS - 1 - i;
    g.nunused = NN_MAX_SOCKETS;
    const char *pe = getenv("NN_PRINT_ERRORS");
    sp_print_errors = pe && *pe;
    return 0;
}

/* The last socket is gone: stop the transports' threads and the I/O
   thread, and free the table. oclock held. */
static void table_term(void)
{
    sp_transports_term();
    sp_loop_stop();
    sp_chunk_cache_drain();
    sp_appmsg_trim();
    free(g.unused);
    g.unused = NULL;
    g.nunused = 0;
}

int nn_socket(int domain, int protocol)
{
    int rc;
    pthread_mutex_lock(&g.oclock);
    if (g.terminated || g.terminating) {
        rc = -ETERM;
        goto out;
    }
    if (domain != AF_SP && domain != AF_SP_RAW) {
        rc = -EAFNOSUPPORT;
        goto out;
    }
    if (!g.unused && (rc = table_init()) != 0)
        goto out;
    if (g.nunused == 0) {
        rc = -EMFILE;
        goto out;
    }
    const struct sp_socktype *type = sp_socktype_find(domain, protocol);
    if (!type) {
        rc = -EINVAL;
        goto maybe_term;
    }
    int id = g.unused[g.nunused - 1];
    struct sp_sock *sock;
    rc = sp_sock_create(&sock, type, id);
    if (rc != 0)
        goto maybe_term;
    g.nunused--;
    g.nsocks++;
    g.ever = true;
    atomic_store(&slots[id].sock, sock);
    pthread_mutex_unlock(&g.oclock);
    return id;
maybe_term:
    if (g.nsocks == 0 && g.unused)
        table_term();
out:
    pthread_mutex_unlock(&g.oclock);
    return set_errno(rc);
}

/* The first step of closing socket s: claims it, marks it closing (blocked
   callers wake up with EBADF) and waits for the callers inside it to leave.
   NULL (EBADF) when s is not an open socket. */
static struct sp_sock *close_begin(int s)
{
    if (s < 0 || s >= NN_MAX_SOCKETS)
        return NULL;
    /* Exactly one closer claims the slot. The id leaves the table now (later
       lookups get EBADF without touching the socket) but goes back to the
       free list only once the socket is gone. */
    struct sp_sock *sock = atomic_load(&slots[s].sock);
    if (!sock || !atomic_compare_exchange_strong(&slots[s].sock, &sock, NULL))
        return NULL;
    atomic_store(&sock->closing, true);

    sp_sock_mark_closing(sock);
    /* closers first: a hold ending after the membarrier sees it and wakes
       us; one that ended before it is seen ended (hazard_clear). Likewise a
       hold beginning after it sees the slot cleared, and one that began
       before it is seen in its record. */
    atomic_fetch_add(&closers, 1);
    pthread_mutex_lock(&holds_lock);
    /* Only other threads' records need the barrier: in a program that
       makes and closes sockets from one thread (the I/O thread keeps no
       record) a close costs no interrupt of every CPU it ran on. */
    if (atomic_load(&hazards_on) && hazards_of_others()) {
        pthread_mutex_unlock(&holds_lock);
        syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
        pthread_mutex_lock(&holds_lock);
    }
    while (atomic_load(&slots[s].holds) > 0 || hazard_names(s))
        pthread_cond_wait(&holds_cv, &holds_lock);
    pthread_mutex_unlock(&holds_lock);
    atomic_fetch_sub(&closers, 1);
    return sock;
}

/* The last step: stops its endpoints, frees it and its id. */
static void close_end(int s, struct sp_sock *sock)
{
    sp_sock_destroy(sock);
    pthread_mutex_lock(&g.oclock);
    g.unused[g.nunused++] = s;
    g.nsocks--;
    bool last = g.nsocks == 0;
    if (last)
        table_term();
    pthread_mutex_unlock(&g.oclock);
}

int nn_close(int s)
{
    struct sp_sock *sock = close_begin(s);
    if (!sock)
        return set_errno(-EBADF);
    sp_sock_linger(sock);
    close_end(s, sock);
    return 0;
}

void nn_term(void)
{
    pthread_mutex_lock(&g.oclock);
    if (!g.unused) {
        /* Before the first socket nn_term does nothing (libnanomsg 1.1.5 is
           not initialised yet); after sockets existed it is permanent even if
           they are all closed. */
        if (g.ever)
            g.terminated = true;
        pthread_mutex_unlock(&g.oclock);
        return;
    }
    g.terminating = true;
    pthread_mutex_unlock(&g.oclock);
    /* Every socket is marked closing (its blocked callers woken) before any
       lingers, and they linger side by side: NN_LINGER counts from the start
       of nn_term for each of them. */
    struct sp_sock *closing[NN_MAX_SOCKETS];
    for (int i = 0; i < NN_MAX_SOCKETS; i++)
        closing[i] = close_begin(i);
    for (int i = 0; i < NN_MAX_SOCKETS; i++)
        if (closing[i])
            sp_sock_linger(closing[i]);
    for (int i = 0; i < NN_MAX_SOCKETS; i++)
        if (closing[i])
            close_end(i, closing[i]);
    pthread_mutex_lock(&g.oclock);
    g.terminated = true;
    g.terminating = false;
    pthread_mutex_unlock(&g.oclock);
}

NN_EXPORT void nn_init(void);

void nn_init(void)
{
    /* Exported by libnanomsg but never declared nor called: kept as a no-op so
       that binaries resolving it still load. */
}

int nn_setsockopt(int s, int level, int option, const void *optval, size_t optvallen)
{
    struct sp_sock *sock = hold(s);
    if (!sock)
        return set_errno(-EBADF);
    int rc = (!optval && optvallen) ? -EFAULT : sp_sock_setopt(sock, level, option, optval, optvallen);
    rele_sock(sock);
    return rc ? set_errno(rc) : 0;
}

int nn_getsockopt(int s, int level, int option, void *optval, size_t *optvallen)
{
    struct sp_sock *sock = hold(s);
    if (!sock)
        return set_errno(-EBADF);
    int rc;
    if (!optvallen || (!optval && *optvallen))
        rc = -EFAULT;
    else
        rc = sp_sock_getopt(sock, level, option, optval, optvallen);
    rele_sock(sock);
    return rc ? set_errno(rc) : 0;
}

static int add_ep(int s, const char *addr, bool bind)
{
    struct sp_sock *sock = hold(s);
    if (!sock)
        return set_errno(-EBADF);
    int rc = sp_sock_add_ep(sock, addr, bind);
    rele_sock(sock);
    return rc < 0 ? set_errno(rc) : rc;
}

int nn_bind(int s, const char *addr)
{
    return add_ep(s, addr, true);
}

int nn_connect(int s, const char *addr)
{
    return add_ep(s, addr, false);
}

int nn_shutdown(int s, int how)
{
    struct sp_sock *sock = hold(s);
    if (!sock)
        return set_errno(-EBADF);
    int rc = sp_sock_rm_ep(sock, how);
    rele_sock(sock);
    return rc ? set_errno(rc) : 0;
}

SP_HOT int nn_sendmsg(int s, const struct nn_msghdr *msghdr, int flags)
{
    struct sp_sock *sock = hold(s);
    if (!sock)
        return set_errno(-EBADF);
    struct sp_msg msg;
    size_t len = 0;
    bool defer = (sock->type->flags & SP_SOCKTYPE_PLAIN_SEND) &&
                 atomic_load_explicit(&sock->copy_pipes, memory_order_relaxed) == 0;
    int rc = defer ? sp_msgio_build_deferred(msghdr, &msg, &len) : sp_msgio_build(msghdr, &msg, &len);
    if (rc == 0) {
        rc = sp_sock_send(sock, &msg, flags);
        sp_sendsrc_clear(); /* taken, or refused: the body is not needed */
        if (rc != 0)
            sp_msgio_unbuild(msghdr, &msg);
    }
    rele_sock(sock);
    return rc ? set_errno(rc) : (int) len;
}

SP_HOT int nn_recvmsg(int s, struct nn_msghdr *msghdr, int flags)
{
    struct sp_sock *sock = hold(s);
    if (!sock)
        return set_errno(-EBADF);
    int rc;
    size_t len = 0;
    if (!msghdr)
        rc = -EINVAL;
    else if (msghdr->msg_iovlen < 0)
        rc = -EMSGSIZE;
    else {
        struct sp_msg msg;
        sp_msg_init(&msg);
        /* One plain buffer and no control data: a large message may be
           read straight into it (sp_sock_recv_into), which then is all
           there is to deliver. */
        const struct nn_iovec *v = msghdr->msg_iov;
        struct sp_land land = {NULL, 0, 0};
        bool landed = false;
        if (msghdr->msg_iovlen == 1 && v && v->iov_len != NN_MSG && v->iov_base && !msghdr->msg_control) {
            land.buf = v->iov_base;
            land.cap = v->iov_len;
            rc = sp_sock_recv_into(sock, &msg, flags, &land, &landed);
        } else {
            rc = sp_sock_recv(sock, &msg, flags);
        }
        if (rc == 0 && landed) {
            len = land.len;
        } else if (rc == 0) {
            rc = sp_msgio_deliver(msghdr, &msg, &len);
            if (rc == -ENOMEM)
                sp_sock_unrecv(sock, &msg); /* the next recv gets it */
        }
    }
    rele_sock(sock);
    return rc ? set_errno(rc) : (int) len;
}

SP_HOT int nn_send(int s, const void *buf, size_t len, int flags)
{
    struct nn_iovec iov = {(void *) buf, len};
    struct nn_msghdr hdr = {&iov, 1, NULL, 0};
    return nn_sendmsg(s, &hdr, flags);
}

SP_HOT int nn_recv(int s, void *buf, size_t len, int flags)
{
    struct nn_iovec iov = {buf, len};
    struct nn_msghdr hdr = {&iov, 1, NULL, 0};
    return nn_recvmsg(s, &hdr, flags);
}

uint64_t nn_get_statistic(int s, int stat)
{
    struct sp_sock *sock = hold(s);
    if (!sock) {
        errno = EBADF;
        return (uint64_t) -1;
    }
    uint64_t v = 0;
    int rc = sp_sock_stat_get(sock, stat, &v);
    rele_sock(sock);
    if (rc) {
        errno = -rc;
        return (uint64_t) -1;
    }
    return v;
}

int sp_global_socktype(int s, const struct sp_socktype **type)
{
    struct sp_sock *sock = hold(s);
    if (!sock)
        return -EBADF;
    *type = sock->type;
    rele_sock(sock);
    return 0;
}
