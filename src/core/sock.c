/* The socket object: options, blocking send/recv over the protocol, readiness
   publication (NN_SNDFD/NN_RCVFD and waiting callers, only on transitions),
   endpoints and statistics. */
#include "core/sock.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <nanomsg/pgm.h> /* NN_STAT_MESSAGES_LOST, _DROPPED */

#include "core/drain.h"
#include "core/ep.h"
#include "core/global.h"
#include "core/pipe.h"
#include "transport.h"
#include "utils/clock.h"
#include "utils/err.h"

/* The socket whose lock this thread holds: sp_pipe_signal decides from it
   whether to deliver at once or defer, and the debug builds' lock asserts
   check it. */
static SP_THREAD_LOCAL struct sp_sock *tl_held;

struct sp_sock *sp_sock_held(void)
{
    return tl_held;
}

/* The only code that takes and releases sock->lock: every entry and exit,
   including the ones around a sleep, keeps tl_held true. */
static inline void mutex_enter(struct sp_sock *s)
{
    SP_ASSERT(tl_held == NULL); /* socket locks never nest */
    pthread_mutex_lock(&s->lock);
    tl_held = s;
}

static inline void mutex_leave(struct sp_sock *s)
{
    SP_ASSERT_LOCKED(s);
    tl_held = NULL;
    pthread_mutex_unlock(&s->lock);
}

static void cond_init_monotonic(pthread_cond_t *cv)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
}

int sp_sock_create(struct sp_sock **out, const struct sp_socktype *type, int id)
{
    struct sp_sock *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    pthread_mutex_init(&s->lock, NULL);
    cond_init_monotonic(&s->cv);
    s->type = type;
    s->id = id;
    s->sndfd = s->rcvfd = s->callerfd = -1;
    s->opt.sndbuf = 128 * 1024;
    s->opt.rcvbuf = 128 * 1024;
    s->opt.sndtimeo = -1;
    s->opt.rcvtimeo = -1;
    s->opt.reconnect_ivl = 100;
    s->opt.reconnect_ivl_max = 0;
    s->opt.sndprio = 8;
    s->opt.rcvprio = 8;
    s->opt.ipv4only = 1;
    atomic_init(&s->opt.rcvmaxsize, 1024 * 1024);
    s->opt.maxttl = 8;
    sp_optstore_init(&s->tpopts);
    snprintf(s->name, sizeof s->name, "%d", id);
    sp_list_init(&s->eps);
    sp_list_init(&s->pipes);
    atomic_init(&s->closing, false);
    atomic_init(&s->sigrefs, 0);
    atomic_init(&s->evseq, 0);
    for (int i = 0; i < SP_STAT_COUNT; i++)
        atomic_init(&s->stats[i], 0);
    /* Under the lock like every protocol callback; unlocking publishes the
       initial readiness. */
    sp_sock_lock(s);
    int rc = type->ops->init(s);
    sp_sock_unlock(s);
    if (rc != 0) {
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->lock);
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

/* ---- readiness ---- */

static void efd_set(int fd, bool on)
{
    if (fd < 0)
        return;
    if (on) {
        uint64_t one = 1;
        ssize_t rc = write(fd, &one, sizeof one);
        (void) rc;
    } else {
        uint64_t v;
        ssize_t rc = read(fd, &v, sizeof v);
        (void) rc;
    }
}

static int sock_events(struct sp_sock *s)
{
    /* Closing: both ways "ready" (the calls fail at once with EBADF), so the
       fds stay readable until they are closed, however long the close
       lingers (see sp_sock_mark_closing). */
    if (atomic_load_explicit(&s->closing, memory_order_relaxed))
        return SP_EV_IN | SP_EV_OUT;
    int ev = s->type->ops->events(s);
    if (s->type->flags & SP_SOCKTYPE_NOSEND)
        ev &= ~SP_EV_OUT;
    if (s->type->flags & SP_SOCKTYPE_NORECV)
        ev &= ~SP_EV_IN;
    return ev;
}

/* Blocked callers sleep on the readiness sequence word itself (a futex),
   woken by publish() when a readiness bit turns on and by nn_close. The wait
   always has a timeout: with one the kernel does not restart it after a
   signal handler, so a blocked nn_send/nn_recv returns EINTR when a signal
   arrives, as libnanomsg's poll()-based wait does (even for SA_RESTART
   handlers). */
static void futex_wake_all(atomic_uint *word)
{
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

void sp_sock_wake_caller(struct sp_sock *sock)
{
    SP_ASSERT_LOCKED(sock);
    if (sock->caller_polling)
        efd_set(sock->callerfd, true);
}

/* Publishes transitions of the readiness state. Lock held. Returns whether
   blocked callers must be woken, which publish() does at once. */
static bool publish_nowake(struct sp_sock *s)
{
    SP_ASSERT_LOCKED(s);
    int ev = sock_events(s);
    int changed = ev ^ s->events;
    if (!changed)
        return false;
    if (changed & SP_EV_IN)
        efd_set(s->rcvfd, ev & SP_EV_IN);
    if (changed & SP_EV_OUT)
        efd_set(s->sndfd, ev & SP_EV_OUT);
    bool wake = false;
    if (ev & ~s->events) {
        atomic_fetch_add_explicit(&s->evseq, 1, memory_order_release);
        wake = s->waiters > 0;
        sp_sock_wake_caller(s);
    }
    s->events = ev;
    return wake;
}

static void publish(struct sp_sock *s)
{
    if (publish_nowake(s))
        futex_wake_all(&s->evseq);
}

void sp_sock_lock(struct sp_sock *sock)
{
    mutex_enter(sock);
}

void sp_sock_unlock(struct sp_sock *sock)
{
    publish(sock);
    mutex_leave(sock);
    sp_pipe_flush_deferred();
}

void sp_sock_unlock_signalled(struct sp_sock *sock)
{
    bool wake = publish_nowake(sock);
    mutex_leave(sock);
    /* Woken only now: a waiter woken under the lock would, on a shared CPU,
       run at once and block on the lock we still hold. */
    if (wake)
        futex_wake_all(&sock->evseq);
    /* The last touch of the socket: nn_close may free it from here on. */
    sp_drain_put(&sock->sigrefs);
}

void sp_sock_wait(struct sp_sock *sock, uint64_t deadline_ms)
{
    SP_ASSERT_LOCKED(sock);
    tl_held = NULL;
    if (deadline_ms == 0) {
        pthread_cond_wait(&sock->cv, &sock->lock);
    } else {
        uint64_t now = sp_clock_ms();
        uint64_t left = deadline_ms > now ? deadline_ms - now : 0;
        uint64_t abs_ns = sp_clock_ns() + left * 1000000u; /* sock->cv's clock */
        struct timespec ts;
        ts.tv_sec = (time_t) (abs_ns / 1000000000u);
        ts.tv_nsec = (long) (abs_ns % 1000000000u);
        pthread_cond_timedwait(&sock->cv, &sock->lock, &ts);
    }
    tl_held = sock;
}

void sp_sock_notify(struct sp_sock *sock)
{
    SP_ASSERT_LOCKED(sock);
    pthread_cond_broadcast(&sock->cv);
}

void sp_sock_mark_closing(struct sp_sock *sock)
{
    sp_sock_lock(sock);
    atomic_store(&sock->closing, true);
    sock->close_ms = sock->progress_ms = sp_clock_ms();
    atomic_fetch_add(&sock->evseq, 1);
    futex_wake_all(&sock->evseq);
    /* Wake pollers: both fds become readable, then stay so until closed. */
    efd_set(sock->sndfd, true);
    efd_set(sock->rcvfd, true);
    sp_sock_wake_caller(sock);
    sock->events = SP_EV_IN | SP_EV_OUT; /* what publish would find */
    sp_sock_unlock(sock);
}

/* A close with the default NN_LINGER (0) gives up once no connection of the
   socket had the kernel take a byte for this long: the peers stopped
   reading, and waiting longer would only hold the application up. */
#define SP_LINGER_STALL_MS 1000

static bool sock_unsent(struct sp_sock *s)
{
    SP_ASSERT_LOCKED(s);
    sp_list_foreach(&s->pipes, it) {
        struct sp_pipe *p = sp_cont(it, struct sp_pipe, sock_item);
        if (p->ops->unsent && p->ops->unsent(p))
            return true;
    }
    return false;
}

void sp_sock_linger(struct sp_sock *sock)
{
    sp_sock_lock(sock);
    sp_list_foreach(&sock->pipes, it) {
        struct sp_pipe *p = sp_cont(it, struct sp_pipe, sock_item);
        if (p->ops->closing)
            p->ops->closing(p);
    }
    int linger = sock->opt.linger;
    while (sock_unsent(sock)) {
        /* Woken by the connections when one is flushed or gone; the
           deadlines are checked on each wake-up. */
        uint64_t now = sp_clock_ms();
        uint64_t until;
        if (linger > 0)
            until = sock->close_ms + (uint64_t) linger;
        else if (linger == 0)
            until = sock->progress_ms + SP_LINGER_STALL_MS;
        else
            until = now + 3600 * 1000;
        if (now >= until)
            break;
        sp_sock_wait(sock, until);
    }
    sp_sock_unlock(sock);
}

void sp_sock_destroy(struct sp_sock *sock)
{
    /* Stop every endpoint; they report back through sp_ep_stopped. */
    for (;;) {
        struct sp_ep *victim = NULL;
        sp_sock_lock(sock);
        sp_list_foreach(&sock->eps, it) {
            struct sp_ep *ep = sp_cont(it, struct sp_ep, item);
            if (!ep->stopping) {
                ep->stopping = true;
                victim = ep;
                break;
            }
        }
        sp_sock_unlock(sock);
        if (!victim)
            break;
        victim->ops->stop(victim);
    }
    /* Inproc pipes of other sockets' endpoints may still be attached here:
       wait until their owners detached them too, and until signals other
       threads deferred for our pipes are delivered. */
    sp_sock_lock(sock);
    while (!sp_list_empty(&sock->eps) || sock->npipes > 0)
        sp_sock_wait(sock, 0);
    sp_sock_unlock(sock);
    /* Deferred signals are delivered as soon as the thread that raised them
       leaves its own socket: microseconds. */
    sp_drain_wait(&sock->sigrefs);

    /* Without the lock (see sp_proto_ops.term): nothing can reach the
       protocol any more, and its timers' callbacks take the lock. */
    sock->type->ops->term(sock);
    sp_optstore_term(&sock->tpopts);
    if (sock->sndfd >= 0)
        close(sock->sndfd);
    if (sock->rcvfd >= 0)
        close(sock->rcvfd);
    if (sock->callerfd >= 0)
        close(sock->callerfd);
    pthread_cond_destroy(&sock->cv);
    pthread_mutex_destroy(&sock->lock);
    free(sock);
}

/* ---- blocking send/recv ---- */

/* Waits while the sequence still reads seq, until the absolute deadline (0 =
   none). Lock held (released while sleeping). -ETIMEDOUT when the deadline
   has passed, -EINTR after a signal, else 0 (something changed, or a
   spurious wake-up: the caller retries). */
static int wait_change(struct sp_sock *s, unsigned seq, uint64_t deadline)
{
    SP_ASSERT_LOCKED(s);
    uint64_t left_ms = 3600 * 1000; /* "forever", in slices */
    if (deadline) {
        uint64_t now = sp_clock_ms();
        if (now >= deadline)
            return -ETIMEDOUT;
        left_ms = deadline - now;
    }
    struct timespec rel = {(time_t) (left_ms / 1000), (long) (left_ms % 1000) * 1000000L};
    s->waiters++;
    mutex_leave(s);
    long rc = syscall(SYS_futex, &s->evseq, FUTEX_WAIT_PRIVATE, seq, &rel, NULL, 0);
    int err = errno;
    mutex_enter(s);
    s->waiters--;
    return rc != 0 && err == EINTR ? -EINTR : 0;
}

/* How long a blocked send/recv spins before it sleeps. A peer thread on
   another core usually makes the socket ready within microseconds; catching
   that without a futex sleep and wake-up (tens of microseconds in a VM) is
   what makes round trips and back-to-back messages cheap. Longer spins won
   lower latency but cost throughput when the two CPUs are SMT siblings;
   30 us measured best for both on the 2-vCPU development machine. */
#define SP_SPIN_NS 30000

/* Spins (lock released) until the readiness sequence moves on from seq or
   the socket closes; false when the spin budget ran out. */
static bool spin_for_change(struct sp_sock *s, unsigned seq)
{
    uint64_t end = 0;
    for (unsigned i = 0;; i++) {
        if (atomic_load_explicit(&s->evseq, memory_order_acquire) != seq ||
            atomic_load_explicit(&s->closing, memory_order_relaxed))
            return true;
        if ((i & 63) == 0) {
            uint64_t t = sp_clock_ns();
            if (!end)
                end = t + SP_SPIN_NS;
            else if (t >= end)
                return false;
        }
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
}

/* CPUs this thread may run on: spinning on a single one only delays the
   thread that would make us ready. Asked of the kernel at most once a second
   per thread (a syscall per wait would cost more than the spin saves). */
static int usable_cpus(void)
{
    static SP_THREAD_LOCAL int cached;
    static SP_THREAD_LOCAL uint64_t asked_ms;
    uint64_t now = sp_clock_ms();
    if (cached == 0 || now - asked_ms >= 1000) {
        cpu_set_t set;
        cached = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
        asked_ms = now;
    }
    return cached;
}

/* Spins that keep timing out (a slow peer, or a loaded machine) are skipped
   for a growing number of waits. */
static void spin_result(struct sp_sock *s, bool caught)
{
    if (caught) {
        s->spin_penalty = 0;
        return;
    }
    s->spin_penalty = s->spin_penalty ? (s->spin_penalty < 64 ? s->spin_penalty * 2 : 64) : 1;
    s->spin_skip = s->spin_penalty;
}

/* A blocked recv on a socket with one pipe that can be read from the
   caller's thread: poll the pipe's fd (and callerfd, for closing and other
   readiness changes) directly. Lock held (released while polling). 0 when
   something may have changed (the caller retries), -ETIMEDOUT, -EINTR, or
   -ENOTSUP when the pipe cannot do it now. */
static int caller_wait(struct sp_sock *s, uint64_t deadline, bool spin, bool *caught)
{
    SP_ASSERT_LOCKED(s);
    struct sp_pipe *pipe = s->lone_pipe;
    if (!pipe || !pipe->ops->wait_begin || s->caller_polling)
        return -ENOTSUP;
    int timeout = -1;
    if (deadline) {
        uint64_t now = sp_clock_ms();
        if (now >= deadline)
            return -ETIMEDOUT;
        timeout = deadline - now > INT_MAX ? INT_MAX : (int) (deadline - now);
    }
    if (s->callerfd < 0) {
        s->callerfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (s->callerfd < 0)
            return -ENOTSUP;
    }
    int fd = pipe->ops->wait_begin(pipe);
    if (fd < 0) {
        /* We will not read it ourselves, so the loop must: the pipe may be
           lazy (left to the caller after our last read), and the loop may
           only be holding the read token for a stale readiness event that
           finds nothing, after which nobody would read the next message. */
        sp_pipe_wake_reader(pipe);
        return -ENOTSUP;
    }
    /* The transport may close the connection meanwhile: the pipe stays
       allocated while held, and the transport keeps the fd open until
       wait_end (it wakes us through callerfd first). */
    sp_pipe_hold(pipe);
    s->caller_polling = true;
    mutex_leave(s);
    struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = s->callerfd, .events = POLLIN}};
    int n = 0;
    if (spin) {
        /* Busy-poll the connection for a moment: a reply due within
           microseconds is then taken without a sleep and a wake-up. */
        uint64_t end = sp_clock_ns() + SP_SPIN_NS;
        while ((n = poll(p, 2, 0)) == 0 && sp_clock_ns() < end)
            ;
        *caught = n > 0;
    }
    if (n == 0)
        n = poll(p, 2, timeout);
    int err = errno;
    mutex_enter(s);
    s->caller_polling = false;
    if (n > 0 && p[1].revents)
        efd_set(s->callerfd, false);
    /* Outside any protocol call: what wait_end delivers reaches the protocol
       at once. */
    pipe->ops->wait_end(pipe, n > 0 ? p[0].revents : 0);
    sp_pipe_rele(pipe);
    if (n < 0 && err == EINTR)
        return -EINTR;
    return 0;
}

/* For the message counters, which only xfer updates and always under the
   socket lock: a plain add (no locked instruction) is enough; readers see
   whole values through the atomic type. */
static inline void stat_bump_locked(struct sp_sock *s, enum sp_stat st, uint64_t delta)
{
    uint64_t v = atomic_load_explicit(&s->stats[st], memory_order_relaxed);
    atomic_store_explicit(&s->stats[st], v + delta, memory_order_relaxed);
}

static int xfer(struct sp_sock *s, struct sp_msg *msg, int flags, bool send)
{
    int timeo = send ? s->opt.sndtimeo : s->opt.rcvtimeo;
    uint64_t deadline = 0;
    int rc;
    /* The protocol takes the message on success: measure it first. */
    size_t len = send ? sp_msg_bodylen(msg) : 0;
    bool woke = false; /* wake_reader was called */
    sp_sock_lock(s);
    for (;;) {
        if (atomic_load_explicit(&s->closing, memory_order_relaxed)) {
            rc = -EBADF;
            break;
        }
        s->in_proto++;
        rc = send ? s->type->ops->send(s, msg) : s->type->ops->recv(s, msg);
        s->in_proto--;
        if (rc != -EAGAIN || (flags & NN_DONTWAIT)) {
            /* Nothing to receive, unless it sits in the kernel of a
               connection left to the next blocking recv: read it now. */
            if (rc == -EAGAIN && !send && !woke) {
                woke = true;
                if (sp_pipe_wake_reader(s->lone_pipe))
                    continue;
            }
            break;
        }
        if (sp_pipe_has_deferred()) {
            /* Signals we caused must reach their sockets before we sleep. */
            sp_sock_unlock(s);
            sp_sock_lock(s);
            continue;
        }
        if (timeo == 0) {
            rc = -ETIMEDOUT;
            break;
        }
        if (timeo > 0 && deadline == 0)
            deadline = sp_clock_ms() + (uint64_t) timeo;
        publish(s);
        int ev = send ? SP_EV_OUT : SP_EV_IN;
        if (s->events & ev)
            continue; /* became ready meanwhile */
        /* One caller spins at a time: with several blocked on one socket
           (or one core) more spinners only steal the producer's CPU. Only
           receivers spin: a send blocks on a full pipe, which drains only
           when the thread that empties it (the loop, the receiver) runs,
           and a spinning sender would compete with it for the CPU. */
        unsigned seq = atomic_load_explicit(&s->evseq, memory_order_acquire);
        bool may_spin = false;
        if (s->spin_skip > 0)
            s->spin_skip--;
        else
            may_spin = !send && s->spinners == 0 && s->waiters == 0 && usable_cpus() > 1;
        if (!send) {
            /* Receiving in this thread, when the socket's only pipe allows
               it; its spin (if any) polls the connection itself. */
            bool caught = false;
            rc = caller_wait(s, deadline, may_spin, &caught);
            if (rc != -ENOTSUP) {
                if (may_spin)
                    spin_result(s, caught);
                if (rc == 0)
                    continue;
                break; /* -ETIMEDOUT or -EINTR */
            }
        }
        if (may_spin) {
            s->spinners++;
            mutex_leave(s);
            bool changed = spin_for_change(s, seq);
            mutex_enter(s);
            s->spinners--;
            spin_result(s, changed);
            if (changed || atomic_load_explicit(&s->evseq, memory_order_acquire) != seq)
                continue;
        }
        rc = wait_change(s, seq, deadline);
        if (rc != 0)
            break; /* -ETIMEDOUT or -EINTR */
    }
    if (rc != 0 && !send && !woke)
        sp_pipe_wake_reader(s->lone_pipe); /* the caller stops reading */
    if (rc == 0) {
        if (send) {
            stat_bump_locked(s, SP_STAT_MESSAGES_SENT, 1);
            stat_bump_locked(s, SP_STAT_BYTES_SENT, len);
        } else {
            stat_bump_locked(s, SP_STAT_MESSAGES_RECEIVED, 1);
            stat_bump_locked(s, SP_STAT_BYTES_RECEIVED, sp_msg_bodylen(msg));
        }
    }
    sp_sock_unlock(s);
    return rc;
}

int sp_sock_send(struct sp_sock *sock, struct sp_msg *msg, int flags)
{
    if (sock->type->flags & SP_SOCKTYPE_NOSEND)
        return -ENOTSUP;
    return xfer(sock, msg, flags, true);
}

int sp_sock_recv(struct sp_sock *sock, struct sp_msg *msg, int flags)
{
    if (sock->type->flags & SP_SOCKTYPE_NORECV)
        return -ENOTSUP;
    return xfer(sock, msg, flags, false);
}

/* ---- options ---- */

static int efd_get(struct sp_sock *s, int *fdp, int ev)
{
    if (*fdp < 0) {
        int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (fd < 0)
            return errno == ENFILE ? -EMFILE : -errno;
        *fdp = fd;
        if (s->events & ev)
            efd_set(fd, true);
    }
    return *fdp;
}

int sp_sock_setopt(struct sp_sock *s, int level, int option, const void *val, size_t len)
{
    int v = 0;
    int rc;
    if (level > NN_SOL_SOCKET) {
        if (level != s->type->protocol || !s->type->ops->setopt)
            return -ENOPROTOOPT;
        sp_sock_lock(s);
        s->in_proto++;
        rc = s->type->ops->setopt(s, option, val, len);
        s->in_proto--;
        sp_sock_unlock(s);
        return rc;
    }
    if (level < NN_SOL_SOCKET) {
        const struct sp_optset *set = sp_optset_find(level);
        if (!set)
            return -ENOPROTOOPT;
        sp_sock_lock(s);
        rc = sp_optstore_set(&s->tpopts, set, option, val, len);
        sp_sock_unlock(s);
        return rc;
    }
    if (option == NN_SOCKET_NAME) {
        if (len > 63)
            return -EINVAL;
        sp_sock_lock(s);
        if (len)
            memcpy(s->name, val, len);
        s->name[len] = 0;
        sp_sock_unlock(s);
        return 0;
    }
    /* libnanomsg checks the size before it looks the option up. */
    if (sp_opt_int(val, len, INT_MIN, INT_MAX, &v) != 0)
        return -EINVAL;
    int *dst = NULL;
    switch (option) {
    case NN_LINGER:
        dst = &s->opt.linger; /* any value: < 0 means no limit */
        break;
    case NN_SNDBUF:
        if (v <= 0)
            return -EINVAL;
        dst = &s->opt.sndbuf;
        break;
    case NN_RCVBUF:
        if (v <= 0)
            return -EINVAL;
        dst = &s->opt.rcvbuf;
        break;
    case NN_RCVMAXSIZE:
        if (v < -1)
            return -EINVAL;
        atomic_store_explicit(&s->opt.rcvmaxsize, v, memory_order_relaxed);
        return 0;
    case NN_SNDTIMEO:
        dst = &s->opt.sndtimeo;
        break;
    case NN_RCVTIMEO:
        dst = &s->opt.rcvtimeo;
        break;
    case NN_RECONNECT_IVL:
        if (v < 0)
            return -EINVAL;
        dst = &s->opt.reconnect_ivl;
        break;
    case NN_RECONNECT_IVL_MAX:
        if (v < 0)
            return -EINVAL;
        dst = &s->opt.reconnect_ivl_max;
        break;
    case NN_SNDPRIO:
        if (v < 1 || v > 16)
            return -EINVAL;
        dst = &s->opt.sndprio;
        break;
    case NN_RCVPRIO:
        if (v < 1 || v > 16)
            return -EINVAL;
        dst = &s->opt.rcvprio;
        break;
    case NN_IPV4ONLY:
        if (v != 0 && v != 1)
            return -EINVAL;
        dst = &s->opt.ipv4only;
        break;
    case NN_MAXTTL:
        if (v < 1 || v > 255)
            return -EINVAL;
        dst = &s->opt.maxttl;
        break;
    default:
        return -ENOPROTOOPT;
    }
    sp_sock_lock(s);
    *dst = v;
    if (option == NN_SNDBUF || option == NN_RCVBUF)
        s->opt.bufs_set = true;
    sp_sock_unlock(s);
    return 0;
}

int sp_sock_getopt(struct sp_sock *s, int level, int option, void *val, size_t *len)
{
    int v;
    int rc = 0;
    if (level > NN_SOL_SOCKET) {
        if (level != s->type->protocol || !s->type->ops->getopt)
            return -ENOPROTOOPT;
        sp_sock_lock(s);
        s->in_proto++;
        rc = s->type->ops->getopt(s, option, val, len);
        s->in_proto--;
        sp_sock_unlock(s);
        return rc;
    }
    if (level < NN_SOL_SOCKET) {
        const struct sp_optset *set = sp_optset_find(level);
        if (!set)
            return -ENOPROTOOPT;
        sp_sock_lock(s);
        rc = sp_optstore_get(&s->tpopts, set, option, val, len);
        sp_sock_unlock(s);
        return rc;
    }
    sp_sock_lock(s);
    switch (option) {
    case NN_DOMAIN:
        v = s->type->domain;
        break;
    case NN_PROTOCOL:
        v = s->type->protocol;
        break;
    case NN_LINGER:
        v = s->opt.linger;
        break;
    case NN_SNDBUF:
        v = s->opt.sndbuf;
        break;
    case NN_RCVBUF:
        v = s->opt.rcvbuf;
        break;
    case NN_RCVMAXSIZE:
        v = atomic_load_explicit(&s->opt.rcvmaxsize, memory_order_relaxed);
        break;
    case NN_SNDTIMEO:
        v = s->opt.sndtimeo;
        break;
    case NN_RCVTIMEO:
        v = s->opt.rcvtimeo;
        break;
    case NN_RECONNECT_IVL:
        v = s->opt.reconnect_ivl;
        break;
    case NN_RECONNECT_IVL_MAX:
        v = s->opt.reconnect_ivl_max;
        break;
    case NN_SNDPRIO:
        v = s->opt.sndprio;
        break;
    case NN_RCVPRIO:
        v = s->opt.rcvprio;
        break;
    case NN_IPV4ONLY:
        v = s->opt.ipv4only;
        break;
    case NN_MAXTTL:
        v = s->opt.maxttl;
        break;
    case NN_SNDFD:
        if (s->type->flags & SP_SOCKTYPE_NOSEND)
            goto noopt;
        rc = v = efd_get(s, &s->sndfd, SP_EV_OUT);
        break;
    case NN_RCVFD:
        if (s->type->flags & SP_SOCKTYPE_NORECV)
            goto noopt;
        rc = v = efd_get(s, &s->rcvfd, SP_EV_IN);
        sp_pipe_wake_reader(s->lone_pipe); /* pollers need background reads */
        break;
    case NN_SOCKET_NAME:
        strncpy(val, s->name, *len);
        *len = strlen(s->name);
        sp_sock_unlock(s);
        return 0;
    default:
        goto noopt;
    }
    if (rc < 0) {
        sp_sock_unlock(s);
        return rc;
    }
    sp_opt_put_int(val, len, v);
    sp_sock_unlock(s);
    return 0;
noopt:
    sp_sock_unlock(s);
    return -ENOPROTOOPT;
}

/* ---- endpoints ---- */

static void ep_free(struct sp_ep *ep)
{
    for (size_t i = 0; ep->tp->optsets && ep->tp->optsets[i]; i++)
        sp_optset_free(ep->tp->optsets[i], ep->opts[i]);
    free(ep);
}

int sp_sock_add_ep(struct sp_sock *s, const char *addr, bool bind)
{
    if (!addr)
        return -EINVAL;
    size_t len = strlen(addr);
    if (len >= NN_SOCKADDR_MAX)
        return -ENAMETOOLONG;
    const char *colon = strchr(addr, ':');
    if (!colon || colon[1] != '/' || colon[2] != '/')
        return -EINVAL;
    const struct sp_transport *tp = sp_transport_find(addr, (size_t) (colon - addr));
    if (!tp)
        return -EPROTONOSUPPORT;
    /* A type the transport cannot carry: as if the transport did not
       exist for it. */
    if (!sp_transport_carries(tp, s->type))
        return -EPROTONOSUPPORT;

    size_t nopts = 0;
    while (tp->optsets && tp->optsets[nopts])
        nopts++;
    struct sp_ep *ep = calloc(1, sizeof *ep + nopts * sizeof ep->opts[0]);
    if (!ep)
        return -ENOMEM;
    ep->sock = s;
    ep->bound = bind;
    ep->tp = tp;
    memcpy(ep->addr, colon + 3, len - (size_t) (colon + 3 - addr) + 1);
    sp_sock_lock(s);
    ep->sndprio = s->opt.sndprio;
    ep->rcvprio = s->opt.rcvprio;
    ep->ipv4only = s->opt.ipv4only;
    ep->reconnect_ivl = s->opt.reconnect_ivl;
    ep->reconnect_ivl_max = s->opt.reconnect_ivl_max;
    for (size_t i = 0; i < nopts; i++) {
        if (!(ep->opts[i] = sp_optset_dup(&s->tpopts, tp->optsets[i]))) {
            sp_sock_unlock(s);
            ep_free(ep);
            return -ENOMEM;
        }
    }
    /* On the list before the transport starts, so that nn_close finds it. */
    sp_list_push_back(&s->eps, &ep->item);
    sp_sock_unlock(s);

    int rc = bind ? tp->bind(ep) : tp->connect(ep);

    sp_sock_lock(s);
    if (rc != 0) {
        sp_list_remove(&ep->item);
        sp_sock_unlock(s);
        ep_free(ep);
        return rc;
    }
    ep->eid = ++s->next_eid;
    rc = ep->eid;
    sp_sock_unlock(s);
    return rc;
}

int sp_sock_rm_ep(struct sp_sock *s, int eid)
{
    struct sp_ep *victim = NULL;
    sp_sock_lock(s);
    sp_list_foreach(&s->eps, it) {
        struct sp_ep *ep = sp_cont(it, struct sp_ep, item);
        if (ep->eid == eid && eid > 0 && !ep->stopping) {
            ep->stopping = true;
            victim = ep;
            break;
        }
    }
    sp_sock_unlock(s);
    if (!victim)
        return -EINVAL;
    victim->ops->stop(victim);
    return 0;
}

void sp_ep_connopts(struct sp_ep *ep, struct sp_connopts *o)
{
    SP_ASSERT_UNLOCKED();
    struct sp_sock *s = ep->sock;
    sp_sock_lock(s);
    o->sndbuf = s->opt.sndbuf;
    o->rcvbuf = s->opt.rcvbuf;
    o->bufs_set = s->opt.bufs_set;
    o->ipv4only = s->opt.ipv4only;
    sp_sock_unlock(s);
}

/* The index of set in ep's transport's list. */
static size_t opts_index(const struct sp_ep *ep, const struct sp_optset *set)
{
    size_t i = 0;
    SP_ASSERT(ep->tp->optsets != NULL);
    while (ep->tp->optsets[i] != set) {
        SP_ASSERT(ep->tp->optsets[i + 1] != NULL); /* not one of its sets: a bug */
        i++;
    }
    return i;
}

const void *sp_ep_opts(const struct sp_ep *ep, const struct sp_optset *set)
{
    return ep->opts[opts_index(ep, set)];
}

int sp_ep_opts_now(struct sp_ep *ep, const struct sp_optset *set, void *dst)
{
    struct sp_sock *s = ep->sock;
    sp_sock_lock(s);
    int rc = sp_optstore_copy(&s->tpopts, set, dst);
    sp_sock_unlock(s);
    return rc;
}

void sp_ep_set_error(struct sp_ep *ep, int err)
{
    sp_ep_set_error_detail(ep, err, NULL);
}

void sp_ep_set_error_detail(struct sp_ep *ep, int err, const char *detail)
{
    struct sp_sock *s = ep->sock;
    sp_sock_lock(s);
    int old = ep->last_error;
    if (old == err) {
        sp_sock_unlock(s);
        return;
    }
    ep->last_error = err;
    if (!old && err)
        sp_sock_stat_add(s, SP_STAT_CURRENT_EP_ERRORS, 1);
    else if (old && !err)
        sp_sock_stat_add(s, SP_STAT_CURRENT_EP_ERRORS, -1);
    if (err && sp_print_errors) {
        if (detail)
            fprintf(stderr, "nanomsg: socket.%s[%s]: Error: %s (%s)\n", s->name, ep->addr, nn_strerror(err),
                    detail);
        else
            fprintf(stderr, "nanomsg: socket.%s[%s]: Error: %s\n", s->name, ep->addr, nn_strerror(err));
    }
    sp_sock_unlock(s);
}

void sp_ep_report(struct sp_ep *ep, int err, const char *detail)
{
    struct sp_sock *s = ep->sock;
    SP_ASSERT_UNLOCKED();
    if (!sp_print_errors)
        return;
    sp_sock_lock(s);
    fprintf(stderr, "nanomsg: socket.%s[%s]: Error: %s (%s)\n", s->name, ep->addr, nn_strerror(err), detail);
    sp_sock_unlock(s);
}

void sp_ep_stopped(struct sp_ep *ep)
{
    struct sp_sock *s = ep->sock;
    sp_sock_lock(s);
    if (ep->last_error)
        sp_sock_stat_add(s, SP_STAT_CURRENT_EP_ERRORS, -1);
    sp_list_remove(&ep->item);
    ep_free(ep);
    sp_sock_notify(s); /* sp_sock_destroy waits for its endpoints */
    sp_sock_unlock(s);
}

void sp_ep_stat(struct sp_ep *ep, int stat, int delta)
{
    sp_sock_stat_add(ep->sock, (enum sp_stat) stat, delta);
}

/* ---- statistics ---- */

int sp_sock_stat_get(struct sp_sock *s, int stat, uint64_t *value)
{
    enum sp_stat slot;
    switch (stat) {
    case NN_STAT_ESTABLISHED_CONNECTIONS: slot = SP_STAT_ESTABLISHED; break;
    case NN_STAT_ACCEPTED_CONNECTIONS: slot = SP_STAT_ACCEPTED; break;
    case NN_STAT_DROPPED_CONNECTIONS: slot = SP_STAT_DROPPED; break;
    case NN_STAT_BROKEN_CONNECTIONS: slot = SP_STAT_BROKEN; break;
    case NN_STAT_CONNECT_ERRORS: slot = SP_STAT_CONNECT_ERRORS; break;
    case NN_STAT_BIND_ERRORS: slot = SP_STAT_BIND_ERRORS; break;
    case NN_STAT_ACCEPT_ERRORS: slot = SP_STAT_ACCEPT_ERRORS; break;
    case NN_STAT_CURRENT_CONNECTIONS: slot = SP_STAT_CURRENT_CONNECTIONS; break;
    case NN_STAT_INPROGRESS_CONNECTIONS: slot = SP_STAT_INPROGRESS; break;
    case NN_STAT_CURRENT_EP_ERRORS: slot = SP_STAT_CURRENT_EP_ERRORS; break;
    case NN_STAT_MESSAGES_SENT: slot = SP_STAT_MESSAGES_SENT; break;
    case NN_STAT_MESSAGES_RECEIVED: slot = SP_STAT_MESSAGES_RECEIVED; break;
    case NN_STAT_BYTES_SENT: slot = SP_STAT_BYTES_SENT; break;
    case NN_STAT_BYTES_RECEIVED: slot = SP_STAT_BYTES_RECEIVED; break;
    case NN_STAT_MESSAGES_LOST: slot = SP_STAT_MESSAGES_LOST; break;
    case NN_STAT_MESSAGES_DROPPED: slot = SP_STAT_MESSAGES_DROPPED; break;
    case NN_STAT_CURRENT_SND_PRIORITY: {
        int prio = 0; /* what libnanomsg reports for types without a load balancer */
        sp_sock_lock(s);
        if (s->type->ops->current_sndprio)
            prio = s->type->ops->current_sndprio(s);
        sp_sock_unlock(s);
        *value = (uint64_t) (int64_t) prio;
        return 0;
    }
    default:
        return -EINVAL;
    }
    *value = atomic_load_explicit(&s->stats[slot], memory_order_relaxed);
    return 0;
}
