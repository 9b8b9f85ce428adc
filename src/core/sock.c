/* The socket object: its life cycle and lock, readiness publication
   (NN_SNDFD/NN_RCVFD and waiting callers, only on transitions) and blocking
   send/recv over the protocol. Its options are in sockopt.c, its endpoints
   in ep.c, its statistics in stat.c. */
#include "core/sock.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/drain.h"
#include "core/ep.h"
#include "core/global.h"
#include "core/pipe.h"
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

/* mutex_enter for a caller that spun (on another CPU) until it saw the
   socket's readiness change: the thread that published the change still
   holds the lock for a moment, and blocking on it then would cost a futex
   sleep and wake-up on both sides (lat inproc: +30 % CPU per round trip).
   So try a while first. Not for every lock: elsewhere (the 2-cores
   stream) a spin on a busy lock costs more than it saves. */
static inline void mutex_enter_spun(struct sp_sock *s)
{
    SP_ASSERT(tl_held == NULL);
    for (int i = 0; i < 200; i++) {
        if (pthread_mutex_trylock(&s->lock) == 0) {
            tl_held = s;
            return;
        }
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
    mutex_enter(s);
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
    s->ready_cpu = -1;
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
    atomic_init(&s->copy_pipes, 0);
    for (int i = 0; i < SP_STAT_COUNT; i++)
        atomic_init(&s->stats[i], 0);
    /* Under the lock like every protocol callback; unlocking publishes the
       initial readiness. */
    sp_sock_lock(s);
    int rc = type->ops->init(s);
    if (rc != 0) {
        /* No protocol state to publish readiness from (out of memory). */
        mutex_leave(s);
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->lock);
        free(s);
        return rc;
    }
    sp_sock_unlock(s);
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

int sp_sock_eventfd(struct sp_sock *s, int ev)
{
    SP_ASSERT_LOCKED(s);
    int *fdp = ev == SP_EV_OUT ? &s->sndfd : &s->rcvfd;
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

SP_HOT static int sock_events(struct sp_sock *s)
{
    /* Closing: both ways "ready" (the calls fail at once with EBADF), so the
       fds stay readable until they are closed, however long the close
       lingers (see sp_sock_mark_closing). */
    if (atomic_load_explicit(&s->closing, memory_order_relaxed))
        return SP_EV_IN | SP_EV_OUT;
    int ev = s->type->ops->events(s);
    if (s->stashed)
        ev |= SP_EV_IN;
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
    if (!sock->caller_polling)
        return;
    if (sock->caller_reading) {
        /* A blocking read can only be ended for good, and only the socket's
           end needs that (see caller_wait; the transport ends it itself
           when the connection goes). */
        if (atomic_load_explicit(&sock->closing, memory_order_relaxed))
            sock->caller_pipe->ops->read_cancel(sock->caller_pipe);
        return;
    }
    efd_set(sock->callerfd, true);
}

/* Publishes transitions of the readiness state. Lock held. Returns whether
   blocked callers must be woken, which publish() does at once. */
SP_HOT static bool publish_nowake(struct sp_sock *s)
{
    SP_ASSERT_LOCKED(s);
    int ev = sock_events(s);
    int changed = ev ^ s->events;
    if (!changed && !s->kicked)
        return false;
    if (changed & SP_EV_IN)
        efd_set(s->rcvfd, ev & SP_EV_IN);
    if (changed & SP_EV_OUT)
        efd_set(s->sndfd, ev & SP_EV_OUT);
    bool wake = false;
    if ((ev & ~s->events) || s->kicked) {
        s->kicked = false;
        /* Before the bump: a spinner takes the line when it sees that, and
           a write after it would fetch the line back with the lock still
           held, which the spinner then waits for (measured: +40 % CPU per
           round trip in lat inproc). */
        int cpu = sched_getcpu();
        if (s->ready_cpu != cpu)
            s->ready_cpu = cpu;
        atomic_fetch_add_explicit(&s->evseq, 1, memory_order_release);
        wake = s->waiters > 0;
        sp_sock_wake_caller(s);
    }
    s->events = ev;
    return wake;
}

SP_HOT static void publish(struct sp_sock *s)
{
    if (publish_nowake(s))
        futex_wake_all(&s->evseq);
}

SP_HOT void sp_sock_lock(struct sp_sock *sock)
{
    mutex_enter(sock);
}

SP_HOT void sp_sock_unlock(struct sp_sock *sock)
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
    sp_msg_term(&sock->stash);
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
SP_COLD static int wait_change(struct sp_sock *s, unsigned seq, uint64_t deadline)
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
   the socket closes; false when the spin budget ran out. On one CPU
   (one_cpu) busy-waiting would only keep the thread that makes us ready
   from running, so each round yields the CPU instead: the peer runs until
   it blocks (the queue full, or empty) or its slice ends, and we take what
   it did as one batch, with no futex sleep and no wake-up call (a spinner
   is not a waiter). A sleep instead lets the kernel, which favours the
   thread that slept, switch back at the peer's first message (or first
   freed slot): one message per switch. The loop, not a single yield: right
   after such a switch the peer may not be eligible to run yet, and the
   yields use up what the scheduler holds against it. */
SP_COLD static bool spin_for_change(struct sp_sock *s, unsigned seq, bool one_cpu)
{
    uint64_t end = 0;
    for (unsigned i = 0;; i++) {
        if (atomic_load_explicit(&s->evseq, memory_order_acquire) != seq ||
            atomic_load_explicit(&s->closing, memory_order_relaxed))
            return true;
        if (one_cpu || (i & 63) == 0) {
            uint64_t t = sp_clock_ns();
            if (!end)
                end = t + SP_SPIN_NS;
            else if (t >= end)
                return false;
        }
        if (one_cpu) {
            sched_yield();
            continue;
        }
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
}

/* CPUs this thread may run on: spinning on a single one only delays the
   thread that would make us ready. Asked of the kernel at most once a second
   per thread (a syscall per wait would cost more than the spin saves). */
SP_HOT static int usable_cpus(void)
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

/* Whether a wait on one CPU should yield (spin_for_change) rather than
   sleep. Yielding pays in a stream, where the peer fills or drains a whole
   queue while we yield and the next wait comes many messages later; in a
   ping-pong (a request, a reply) there is one message per wait either
   way, and a yield only risks handing the CPU to another process for a
   whole slice where a sleeper woken by the peer would run at once. So
   each yield is judged at the next wait by the messages the socket moved
   in between; a poor one makes the socket sleep for a growing number of
   waits before it tries again. Lock held. */
#define SP_YIELD_BATCH 16
#define SP_YIELD_PENALTY_MAX 1024

SP_COLD static bool yield_pays(struct sp_sock *s)
{
    uint64_t moved = atomic_load_explicit(&s->stats[SP_STAT_MESSAGES_SENT], memory_order_relaxed) +
                     atomic_load_explicit(&s->stats[SP_STAT_MESSAGES_RECEIVED], memory_order_relaxed);
    if (s->yield_judge) {
        s->yield_judge = false;
        if (moved - s->yield_mark >= SP_YIELD_BATCH) {
            s->yield_penalty = 0;
        } else {
            s->yield_penalty = s->yield_penalty ? s->yield_penalty * 2 : 1;
            if (s->yield_penalty > SP_YIELD_PENALTY_MAX)
                s->yield_penalty = SP_YIELD_PENALTY_MAX;
            s->yield_skip = s->yield_penalty;
        }
    }
    if (s->yield_skip > 0) {
        s->yield_skip--;
        return false;
    }
    s->yield_judge = true;
    s->yield_mark = moved;
    return true;
}

/* poll()'s timeout until deadline (sp_clock_ms; 0: none): -1 without one,
   0 once it has passed. */
static int poll_timeout(uint64_t deadline)
{
    if (!deadline)
        return -1;
    uint64_t now = sp_clock_ms();
    if (now >= deadline)
        return 0;
    return deadline - now > INT_MAX ? INT_MAX : (int) (deadline - now);
}

/* Makes the callerfd that wakes a caller polling a pipe's fd. Lock held.
   0 or -1. */
static int callerfd_make(struct sp_sock *s)
{
    if (s->callerfd < 0)
        s->callerfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return s->callerfd < 0 ? -1 : 0;
}

/* A blocked recv on a socket with one pipe that can be read from the
   caller's thread: poll the pipe's fd (and callerfd, for closing and other
   readiness changes) directly. Lock held (released while polling). 0 when
   something may have changed (the caller retries), 1 when a message landed
   in land (offered for a plain-recv socket type, else NULL), -ETIMEDOUT,
   -EINTR, or -ENOTSUP when the pipe cannot do it now. */
static int caller_wait(struct sp_sock *s, uint64_t deadline, bool spin, bool *caught, struct sp_land *land,
                       bool read_first)
{
    SP_ASSERT_LOCKED(s);
    struct sp_pipe *pipe = s->lone_pipe;
    if (pipe && s->caller_polling && s->caller_writing) {
        /* A sender polls: we wait for the loop, which must read then. */
        sp_pipe_wake_reader(pipe);
        return -ENOTSUP;
    }
    if (!pipe || !pipe->ops->wait_begin || s->caller_polling)
        return -ENOTSUP;
    int timeout = poll_timeout(deadline);
    if (timeout == 0)
        return -ETIMEDOUT;
    int fd = pipe->ops->wait_begin(pipe, land);
    /* Made only once a pipe lets the caller read: a socket whose pipes never
       do (inproc, pgm) spends no descriptor on it. */
    if (fd >= 0 && callerfd_make(s) != 0) {
        pipe->ops->wait_end(pipe, 0, true);
        fd = -1;
    }
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
    int rc = 0;
    for (;;) {
        s->caller_polling = true;
        s->caller_pipe = pipe;
        /* Waiting in a read of the connection saves the poll before it, but
           such a read ends only with input, the connection, a signal or for
           good (read_cancel). So only when nothing else can make the socket
           readable meanwhile: no deadline, and a socket type with one pipe
           at most, so that the socket's end (nn_close, nn_term) is the only
           other event (a message another thread's recv could not hand over,
           see sp_sock_unrecv, is returned once this read returns). A spin,
           if any, still polls first: it must not block. With a land the
           read goes where the decoder wants the next bytes: the caller's
           buffer once a large message lands there, so a large message also
           comes in blocking reads, each iteration (SP_WAIT_MORE) one. */
        bool ready = pipe->ops->wait_ready && pipe->ops->wait_ready(pipe);
        bool reading = !ready && deadline == 0 && (s->type->flags & SP_SOCKTYPE_ONEPIPE) && pipe->ops->read_begin &&
                       pipe->ops->read_begin(pipe);
        s->caller_reading = reading;
        struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = s->callerfd, .events = POLLIN}};
        int n = 0, err = 0;
        if (ready) {
            /* Input the fd does not show is there already: no waiting (and
               no spin: it caught what it would have waited for). */
            n = 1;
            p[0].revents = POLLIN;
            if (spin)
                *caught = true;
            spin = false;
        } else if (read_first && !spin && !reading) {
            /* Read before any poll: in a stream of large messages the
               next one is usually there already. Once: what follows polls. */
            n = 1;
            p[0].revents = POLLIN;
            read_first = false;
        } else {
            mutex_leave(s);
            if (spin) {
                /* Busy-poll the connection for a moment: a reply due within
                   microseconds is then taken without a sleep and a wake-up. */
                uint64_t end = sp_clock_ns() + SP_SPIN_NS;
                while ((n = poll(p, 2, 0)) == 0 && sp_clock_ns() < end)
                    ;
                *caught = n > 0;
                spin = false;
            }
            if (n == 0 && reading) {
                if (pipe->ops->read_wait(pipe) == 0) {
                    n = 1;
                    p[0].revents = POLLIN;
                } else {
                    n = -1;
                    errno = EINTR;
                }
            } else if (n == 0) {
                n = poll(p, 2, timeout);
            }
            err = errno;
            mutex_enter(s);
        }
        s->caller_polling = false;
        s->caller_reading = false;
        s->caller_pipe = NULL;
        if (n > 0 && p[1].revents)
            efd_set(s->callerfd, false);
        /* Outside any protocol call: what wait_end delivers reaches the
           protocol at once. */
        int w = pipe->ops->wait_end(pipe, n > 0 ? p[0].revents : 0, false);
        if (w == SP_WAIT_MORE) {
            /* Part of a message is in land: wait for the rest here, unless
               something else needs the caller (closing, a wake-up, a signal)
               or its time is up; the part then goes to the pipe. */
            int left = poll_timeout(deadline);
            bool stop = n < 0 || (n > 0 && p[1].revents) || left == 0 ||
                        atomic_load_explicit(&s->closing, memory_order_relaxed);
            if (!stop) {
                timeout = left;
                continue;
            }
            w = pipe->ops->wait_end(pipe, 0, true);
        }
        if (w == SP_WAIT_LANDED)
            rc = 1;
        else if (n < 0 && err == EINTR)
            rc = -EINTR;
        break;
    }
    sp_pipe_rele(pipe);
    return rc;
}

/* A blocked send on a socket with one pipe that lets the caller write its
   queue: poll the pipe's fd for room (and callerfd, for closing and other
   readiness changes), then write the queue in this thread, as raw blocking
   writes would, instead of sleeping until the I/O thread has written it
   and signalled. Lock held (released while polling). 0 when something may
   have changed (the caller retries), -ETIMEDOUT, -EINTR, or -ENOTSUP when
   the pipe cannot do it now. */
SP_COLD static int caller_write_wait(struct sp_sock *s, uint64_t deadline)
{
    SP_ASSERT_LOCKED(s);
    struct sp_pipe *pipe = s->lone_pipe;
    if (!pipe || !pipe->ops->write_begin || s->caller_polling || (s->type->flags & SP_SOCKTYPE_ROUTED))
        return -ENOTSUP;
    int timeout = poll_timeout(deadline);
    if (timeout == 0)
        return -ETIMEDOUT;
    if (callerfd_make(s) != 0)
        return -ENOTSUP;
    int fd = pipe->ops->write_begin(pipe);
    if (fd < 0)
        return -ENOTSUP;
    /* The transport keeps the fd open until write_end (it wakes us through
       callerfd first when the connection goes). */
    sp_pipe_hold(pipe);
    int n, err;
    for (;;) {
        s->caller_polling = true;
        s->caller_writing = true;
        s->caller_pipe = pipe;
        mutex_leave(s);
        struct pollfd p[2] = {{.fd = fd, .events = POLLOUT}, {.fd = s->callerfd, .events = POLLIN}};
        n = poll(p, 2, timeout);
        err = errno;
        mutex_enter(s);
        s->caller_polling = false;
        s->caller_writing = false;
        s->caller_pipe = NULL;
        if (n > 0 && p[1].revents)
            efd_set(s->callerfd, false);
        /* Like a raw blocking write, go on writing the large message(s)
           until the queue is empty: the next send then finds the
           connection idle and writes from its caller's buffer, copying
           only what the kernel does not take (behind a queued remainder
           it would copy all of it), and the loop never wakes to write.
           Not past anything else that needs the caller, nor its time. */
        if (deadline && n > 0)
            timeout = poll_timeout(deadline);
        bool more = n > 0 && !p[1].revents && timeout != 0 &&
                    !atomic_load_explicit(&s->closing, memory_order_relaxed);
        /* Outside any protocol call: SP_EV_OUT reaches the protocol at once. */
        if (!pipe->ops->write_end(pipe, n > 0 ? p[0].revents : 0, more))
            break;
    }
    sp_pipe_rele(pipe);
    if (n < 0 && err == EINTR)
        return -EINTR;
    if (n == 0 && deadline)
        return -ETIMEDOUT;
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

SP_HOT static int xfer(struct sp_sock *s, struct sp_msg *msg, int flags, bool send, struct sp_land *land, bool *landed)
{
    uint64_t deadline = 0;
    int rc;
    /* The protocol takes the message on success: measure it first. */
    size_t len = send ? sp_msg_bodylen(msg) : 0;
    bool woke = false; /* wake_reader was called */
    bool read_tried = false; /* caller_wait has read (or polled) once */
    sp_sock_lock(s);
    /* nn_setsockopt stores it under the lock, maybe in another thread. */
    int timeo = send ? s->opt.sndtimeo : s->opt.rcvtimeo;
    for (;;) {
        if (atomic_load_explicit(&s->closing, memory_order_relaxed)) {
            rc = -EBADF;
            break;
        }
        if (!send && s->stashed) {
            *msg = s->stash;
            sp_msg_init(&s->stash);
            s->stashed = false;
            rc = 0;
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
        /* A routed send waits for its destination (sp_sock_kick) even while
           another destination keeps SP_EV_OUT on. */
        if ((s->events & ev) && !(send && (s->type->flags & SP_SOCKTYPE_ROUTED)))
            continue; /* became ready meanwhile */
        /* One caller spins at a time: with several blocked on one socket
           (or one core) more spinners only steal the producer's CPU. Only
           receivers spin: a send blocks on a full pipe, which drains only
           when the thread that empties it (the loop, the receiver) runs,
           and a spinning sender would compete with it for the CPU. On one
           CPU, where spinning means yielding it, a sender does too. */
        unsigned seq = atomic_load_explicit(&s->evseq, memory_order_acquire);
        int cpus = s->spinners == 0 && s->waiters == 0 ? usable_cpus() : 0;
        /* Sharing our one CPU with the thread that made the socket ready
           last time, most likely the one to do so again. */
        bool one_cpu = cpus == 1 && s->ready_cpu == sched_getcpu();
        bool may_spin = false;
        if (s->spin_skip > 0)
            s->spin_skip--;
        else
            may_spin = !send && cpus > 1 && !s->recv_landed;
        if (!send) {
            /* Receiving in this thread, when the socket's only pipe allows
               it; its spin (if any) polls the connection itself. */
            bool caught = false;
            struct sp_land *l = (s->type->flags & SP_SOCKTYPE_PLAIN_RECV) ? land : NULL;
            rc = caller_wait(s, deadline, may_spin, &caught, l, l && s->recv_landed && !read_tried);
            read_tried = true;
            if (rc != -ENOTSUP) {
                if (may_spin)
                    spin_result(s, caught);
                if (rc == 0)
                    continue;
                if (rc == 1) {
                    *landed = true;
                    rc = 0;
                }
                break; /* landed, -ETIMEDOUT or -EINTR */
            }
        }
        if (send) {
            /* Writing the pipe's queue in this thread, when the socket's
               only pipe allows it. */
            rc = caller_write_wait(s, deadline);
            if (rc != -ENOTSUP) {
                if (rc == 0)
                    continue;
                break; /* -ETIMEDOUT or -EINTR */
            }
        }
        if (one_cpu && yield_pays(s)) {
            s->spinners++;
            mutex_leave(s);
            bool changed = spin_for_change(s, seq, true);
            mutex_enter(s);
            s->spinners--;
            if (changed || atomic_load_explicit(&s->evseq, memory_order_acquire) != seq)
                continue;
        } else if (may_spin) {
            s->spinners++;
            mutex_leave(s);
            bool changed = spin_for_change(s, seq, false);
            if (changed)
                mutex_enter_spun(s);
            else
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
            /* A send between two recvs: a request and its reply, not a
               stream. The reply comes back whole after the peer's turn, in
               about the time a spin covers (lat ipc 64 KiB: 23 us without
               the spin, 15 with it). */
            s->recv_landed = false;
            stat_bump_locked(s, SP_STAT_MESSAGES_SENT, 1);
            stat_bump_locked(s, SP_STAT_BYTES_SENT, len);
        } else {
            s->recv_landed = landed && *landed && land->len >= SP_LAND_LARGE;
            stat_bump_locked(s, SP_STAT_MESSAGES_RECEIVED, 1);
            stat_bump_locked(s, SP_STAT_BYTES_RECEIVED, landed && *landed ? land->len : sp_msg_bodylen(msg));
        }
    }
    sp_sock_unlock(s);
    return rc;
}

SP_HOT int sp_sock_send(struct sp_sock *sock, struct sp_msg *msg, int flags)
{
    if (sock->type->flags & SP_SOCKTYPE_NOSEND)
        return -ENOTSUP;
    return xfer(sock, msg, flags, true, NULL, NULL);
}

int sp_sock_recv(struct sp_sock *sock, struct sp_msg *msg, int flags)
{
    if (sock->type->flags & SP_SOCKTYPE_NORECV)
        return -ENOTSUP;
    return xfer(sock, msg, flags, false, NULL, NULL);
}

SP_HOT int sp_sock_recv_into(struct sp_sock *sock, struct sp_msg *msg, int flags, struct sp_land *land, bool *landed)
{
    *landed = false;
    if (sock->type->flags & SP_SOCKTYPE_NORECV)
        return -ENOTSUP;
    return xfer(sock, msg, flags, false, land, landed);
}

void sp_sock_unrecv(struct sp_sock *s, struct sp_msg *msg)
{
    sp_sock_lock(s);
    if (s->stashed) {
        /* Two threads failed to take theirs at once: one is lost, as any
           message was before this stash existed. */
        sp_msg_term(msg);
        sp_sock_unlock(s);
        return;
    }
    stat_bump_locked(s, SP_STAT_MESSAGES_RECEIVED, (uint64_t) -1);
    stat_bump_locked(s, SP_STAT_BYTES_RECEIVED, (uint64_t) 0 - sp_msg_bodylen(msg));
    s->stash = *msg;
    sp_msg_init(msg);
    s->stashed = true;
    sp_sock_unlock(s);
}
