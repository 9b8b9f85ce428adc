/* An OpenPGM session driven by an event loop (call order and the facts it
   relies on: ../shared/PGM.md; OpenPGM 5.3.128 sources for the rest). */
#include "pgm/pgmsock.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <unistd.h>

/* Before <pgm/pgm.h>: it declares pgm_poll_info and pgm_epoll_ctl only when
   these are in scope. */
#include <poll.h>
#include <sys/epoll.h>

#include <pgm/pgm.h>

#include "core/global.h"
#include "utils/clock.h"
#include "utils/random.h"

/* One APDU per pgm_recvmsgv call. With room for more, OpenPGM 5.3.128
   reads on after delivering some and can hand the same sender's window to
   pgm_rxw_readv twice in one call; if the second finds a gap it forgets
   that the first left packets committed (peer->last_commit = 0), and those
   are then never released: once the gap is declared lost, readv refuses to
   pass it while packets are committed, and that sender is never heard
   again (a late joiner stalled so after a loss). A call that fills its one
   entry returns at once, so every readv of a sender follows the release of
   what the previous one committed. The calls per sp_pgmsock_service bound
   the datagrams one wake-up handles, to keep the loop fair. */
#define SP_PGMSOCK_MSGV 1
#define SP_PGMSOCK_BUDGET 256

/* Receiver timing, as libzmq sets it for OpenPGM (in microseconds). */
#define SP_PGM_SPMR_EXPIRY (25u * 1000u)
#define SP_PGM_NAK_BO_IVL (50u * 1000u)
#define SP_PGM_NAK_RPT_IVL (200u * 1000u)
#define SP_PGM_NAK_RDATA_IVL (200u * 1000u)
/* Sender: an ambient SPM every SP_PGMSOCK_AMBIENT_SPM_MS (pgmsock.h says
   why so often), and after data a burst of heartbeats that tells receivers
   promptly about a lost tail. */
#define SP_PGM_AMBIENT_SPM (SP_PGMSOCK_AMBIENT_SPM_MS * 1000u)
/* The shortest wait of a sender the rate limit held back. OpenPGM's bucket
   holds at most one millisecond of the rate (at rates of 1000 TPDUs a second
   and more) and fills from the last send that passed: a sender back later
   than that finds it full and loses the rest. Woken by the loop's
   millisecond timers (1 to 1.1 ms in practice) a sender at 40 MB/s reached
   91 % of it. Half a millisecond sends half a bucket per wake-up and leaves
   the other half for a late one; shorter would wake the loop for a
   datagram or two each time. */
#define SP_PGMSOCK_RATE_WAIT_US 500u

/* The receive socket's kernel buffer, asked for with SO_RCVBUF (the kernel
   caps the request at net.core.rmem_max, 208 KiB by default, and doubles
   it: at least twice the default buffer). At the default a receiver holds
   60 to 90 datagrams, 6 to 9 ms of a 10 MB/s stream of one message each or
   3 ms at 40 MB/s: a loop thread that waits longer for a CPU overflows it,
   the loss brings NAKs and repairs on top of the data, and on a loaded
   2-CPU host a 10 MB/s stream collapsed so (10,000 of 20,000 messages
   delivered, 23,000 datagrams dropped by the kernel), as did a 40 MB/s one
   (6,000 msg/s instead of 32,000). Twice the default sufficed there; at
   80 MB/s a buffer of 2 MiB delivered 60,000 msg/s without a drop where
   the default lost a third of the messages or more for good. */
#define SP_PGMSOCK_RCVBUF (1024 * 1024)

static const int heartbeat_spm[] = {100 * 1000, 100 * 1000, 100 * 1000, 100 * 1000, 1300 * 1000,
                                    7 * 1000000, 16 * 1000000, 25 * 1000000, 30 * 1000000};

struct sp_pgmsock {
    pgm_sock_t *sock;
    int roles;
    uint64_t tsi;
    size_t maxdgram;
    int nfds;
    int recv_fd;    /* PGM_RECV_SOCK: data, NAKs, SPMRs */
    int pending_fd; /* PGM_PENDING_SOCK: data left in the window */
    int repair_fd;  /* PGM_REPAIR_SOCK (senders): repairs queued */
    int send_fd;    /* PGM_SEND_SOCK (senders): writable again */
    int rate_fd;    /* senders: a timerfd, the end of a rate-limit wait */
    uint64_t rate_due_ns; /* when rate_fd fires (sp_clock_ns), 0: disarmed */
    /* A datagram OpenPGM took but could not send yet (rate limit or full
       socket buffer): OpenPGM must be called again with the same length
       before anything else is sent. */
    uint8_t *held;
    size_t held_len;
    bool held_on_socket; /* blocked by the kernel (wait for POLLOUT), else by the rate */
    bool rate_limited;   /* service stopped on the rate limit: repairs wait for the timer */
    bool more;           /* service stopped on its budget */
    struct pgm_msgv_t msgv[SP_PGMSOCK_MSGV];
    struct sp_pgmsock_stats st;
};

/* ---- OpenPGM, once per process ---- */

static pthread_mutex_t lib_lock = PTHREAD_MUTEX_INITIALIZER;
static int lib_users;
static pgm_log_func_t lib_prev_handler;
static void *lib_prev_closure;

static void log_handler(const int level, const char *message, void *closure)
{
    (void) closure;
    /* OpenPGM talks a lot at NORMAL level; only its warnings and errors
       are worth an application's stderr, and only when asked for. */
    if (sp_print_errors && level >= PGM_LOG_LEVEL_WARNING && message)
        fprintf(stderr, "nanomsg: pgm: %s\n", message);
}

static int lib_ref(char *detail, size_t dlen)
{
    int rc = 0;
    pthread_mutex_lock(&lib_lock);
    if (lib_users == 0) {
        /* Before pgm_init, which already logs. */
        lib_prev_handler = pgm_log_set_handler(log_handler, NULL);
        lib_prev_closure = NULL;
        pgm_error_t *err = NULL;
        if (!pgm_init(&err)) {
            if (detail && dlen)
                snprintf(detail, dlen, "%s", err && err->message ? err->message : "pgm_init failed");
            pgm_error_free(err);
            pgm_log_set_handler(lib_prev_handler, lib_prev_closure);
            rc = -ENOMEM;
            goto out;
        }
    }
    lib_users++;
out:
    pthread_mutex_unlock(&lib_lock);
    return rc;
}

static void lib_unref(void)
{
    pthread_mutex_lock(&lib_lock);
    if (--lib_users == 0) {
        pgm_shutdown();
        pgm_log_set_handler(lib_prev_handler, lib_prev_closure);
    }
    pthread_mutex_unlock(&lib_lock);
}

/* ---- errors ---- */

static int errno_of(const pgm_error_t *e)
{
    if (!e)
        return EINVAL;
    switch (e->code) {
    case PGM_ERROR_PERM:
        return EACCES; /* raw PGM needs CAP_NET_RAW */
    case PGM_ERROR_NODEV:
    case PGM_ERROR_NXIO:
    case PGM_ERROR_NONAME:
    case PGM_ERROR_NODATA:
        return ENODEV;
    case PGM_ERROR_NOMEM:
        return ENOMEM;
    case PGM_ERROR_NOBUFS:
        return ENOBUFS;
    case PGM_ERROR_MFILE:
        return EMFILE;
    case PGM_ERROR_NFILE:
        return ENFILE;
    case PGM_ERROR_AFNOSUPPORT:
    case PGM_ERROR_ADDRFAMILY:
        return EAFNOSUPPORT;
    case PGM_ERROR_NOPROTOOPT:
        return ENOPROTOOPT;
    default:
        return EINVAL;
    }
}

static void set_detail(char *detail, size_t dlen, const char *what, const pgm_error_t *e)
{
    if (detail && dlen)
        snprintf(detail, dlen, "%s%s%s", what, e && e->message ? ": " : "",
                 e && e->message ? e->message : "");
}

/* ---- open and close ---- */

static bool setopt_int(pgm_sock_t *sock, int opt, int v)
{
    return pgm_setsockopt(sock, IPPROTO_PGM, opt, &v, sizeof v);
}

static bool get_fd(pgm_sock_t *sock, int opt, int *fd)
{
    socklen_t len = sizeof *fd;
    return pgm_getsockopt(sock, IPPROTO_PGM, opt, fd, &len);
}

/* Applies the options in the order OpenPGM needs them before pgm_bind3;
   returns the name of the setting that failed, or NULL. */
static const char *configure(struct sp_pgmsock *s, const struct sp_pgmurl *u, const struct sp_pgmopts *o)
{
    pgm_sock_t *sock = s->sock;
    if (u->udp && (!setopt_int(sock, PGM_UDP_ENCAP_UCAST_PORT, u->port) ||
                   !setopt_int(sock, PGM_UDP_ENCAP_MCAST_PORT, u->port)))
        return "PGM_UDP_ENCAP_PORT";
    if (!setopt_int(sock, PGM_MTU, o->maxtpdu))
        return "PGM_MTU";
    if (s->roles == SP_PGMSOCK_SEND && !setopt_int(sock, PGM_SEND_ONLY, 1))
        return "PGM_SEND_ONLY";
    if (s->roles == SP_PGMSOCK_RECV && !setopt_int(sock, PGM_RECV_ONLY, 1))
        return "PGM_RECV_ONLY";
    int sqns = (int) sp_pgmopts_window_sqns(o);
    if (s->roles & SP_PGMSOCK_SEND) {
        if (!setopt_int(sock, PGM_TXW_SQNS, sqns))
            return "PGM_TXW_SQNS";
        /* The rate limit is set before pgm_connect or it does not apply. */
        if (!setopt_int(sock, PGM_TXW_MAX_RTE, o->rate))
            return "PGM_TXW_MAX_RTE";
        if (!setopt_int(sock, PGM_AMBIENT_SPM, (int) SP_PGM_AMBIENT_SPM))
            return "PGM_AMBIENT_SPM";
        if (!pgm_setsockopt(sock, IPPROTO_PGM, PGM_HEARTBEAT_SPM, heartbeat_spm, sizeof heartbeat_spm))
            return "PGM_HEARTBEAT_SPM";
    }
    if (s->roles & SP_PGMSOCK_RECV) {
        /* A receiver asks for a lost packet about as long as a sender with
           the same options keeps it. */
        int retries = o->recovery_ivl / (int) (SP_PGM_NAK_RPT_IVL / 1000u);
        if (retries < 2)
            retries = 2;
        if (retries > 255)
            retries = 255; /* OpenPGM's limit */
        if (!setopt_int(sock, PGM_RXW_SQNS, sqns) ||
            !setopt_int(sock, PGM_PEER_EXPIRY, o->peer_expiry * 1000) ||
            !setopt_int(sock, PGM_SPMR_EXPIRY, (int) SP_PGM_SPMR_EXPIRY) ||
            !setopt_int(sock, PGM_NAK_BO_IVL, (int) SP_PGM_NAK_BO_IVL) ||
            !setopt_int(sock, PGM_NAK_RPT_IVL, (int) SP_PGM_NAK_RPT_IVL) ||
            !setopt_int(sock, PGM_NAK_RDATA_IVL, (int) SP_PGM_NAK_RDATA_IVL) ||
            !setopt_int(sock, PGM_NAK_DATA_RETRIES, retries) ||
            !setopt_int(sock, PGM_NAK_NCF_RETRIES, retries))
            return "receiver options";
    }
    return NULL;
}

static uint64_t tsi_key(const pgm_tsi_t *t)
{
    uint64_t k;
    memcpy(&k, t, sizeof k);
    return k;
}

int sp_pgmsock_open(struct sp_pgmsock **out, const struct sp_pgmurl *u, const struct sp_pgmopts *o,
                    int roles, char *detail, size_t dlen)
{
    *out = NULL;
    if (detail && dlen)
        detail[0] = '\0';
    if (roles < SP_PGMSOCK_SEND || roles > (SP_PGMSOCK_SEND | SP_PGMSOCK_RECV) || u->ifindex == 0 ||
        sp_pgmopts_check(o) != 0)
        return -EINVAL;
    int rc = lib_ref(detail, dlen);
    if (rc != 0)
        return rc;
    struct sp_pgmsock *s = calloc(1, sizeof *s);
    if (!s) {
        lib_unref();
        return -ENOMEM;
    }
    s->roles = roles;
    s->recv_fd = s->pending_fd = s->repair_fd = s->send_fd = s->rate_fd = -1;
    pgm_error_t *err = NULL;
    const char *failed = NULL;

    if (!pgm_socket(&s->sock, AF_INET, SOCK_SEQPACKET, u->udp ? IPPROTO_UDP : IPPROTO_PGM, &err)) {
        rc = -errno_of(err);
        set_detail(detail, dlen, "pgm_socket", err);
        goto fail;
    }
    if ((failed = configure(s, u, o)) != NULL)
        goto fail_opt;

    /* A random GSI: a host-derived one would be the same for every socket
       of this host, and two senders of one host must differ. */
    struct pgm_sockaddr_t addr;
    memset(&addr, 0, sizeof addr);
    uint32_t seed[4];
    for (size_t i = 0; i < 4; i++)
        seed[i] = sp_random_u32();
    if (!pgm_gsi_create_from_data(&addr.sa_addr.gsi, (const uint8_t *) seed, sizeof seed)) {
        failed = "GSI";
        goto fail_opt;
    }
    addr.sa_port = u->port;
    struct pgm_interface_req_t ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ir_interface = u->ifindex;
    struct sockaddr_in *ia = (struct sockaddr_in *) &ifr.ir_address;
    ia->sin_family = AF_INET;
    ia->sin_addr = u->ifaddr;
    if (!pgm_bind3(s->sock, &addr, sizeof addr, &ifr, sizeof ifr, &ifr, sizeof ifr, &err)) {
        rc = -errno_of(err);
        set_detail(detail, dlen, "pgm_bind3", err);
        goto fail;
    }

    struct group_req gr;
    memset(&gr, 0, sizeof gr);
    gr.gr_interface = u->ifindex;
    struct sockaddr_in *ga = (struct sockaddr_in *) &gr.gr_group;
    ga->sin_family = AF_INET;
    ga->sin_addr = u->group;
    /* Every role joins: a sender hears NCFs and SPMRs on the group. */
    errno = 0;
    if (!pgm_setsockopt(s->sock, IPPROTO_PGM, PGM_JOIN_GROUP, &gr, sizeof gr)) {
        /* The kernel refused the membership: typically an interface
           without multicast. */
        rc = errno == ENOBUFS ? -ENOBUFS : -ENODEV;
        set_detail(detail, dlen, "joining the multicast group failed", NULL);
        goto fail;
    }
    if (!pgm_setsockopt(s->sock, IPPROTO_PGM, PGM_SEND_GROUP, &gr, sizeof gr)) {
        rc = -ENODEV;
        set_detail(detail, dlen, "setting the multicast send interface failed", NULL);
        goto fail;
    }
    if (!setopt_int(s->sock, PGM_MULTICAST_LOOP, o->loop)) {
        failed = "PGM_MULTICAST_LOOP";
        goto fail_opt;
    }
    if (!setopt_int(s->sock, PGM_MULTICAST_HOPS, o->hops)) {
        failed = "PGM_MULTICAST_HOPS";
        goto fail_opt;
    }
    if (!setopt_int(s->sock, PGM_NOBLOCK, 1)) {
        failed = "PGM_NOBLOCK";
        goto fail_opt;
    }
    if (!pgm_connect(s->sock, &err)) {
        rc = -errno_of(err);
        set_detail(detail, dlen, "pgm_connect", err);
        goto fail;
    }

    if (!get_fd(s->sock, PGM_RECV_SOCK, &s->recv_fd) || !get_fd(s->sock, PGM_PENDING_SOCK, &s->pending_fd)) {
        failed = "PGM_RECV_SOCK";
        goto fail_opt;
    }
    s->nfds = 2;
    if (roles & SP_PGMSOCK_SEND) {
        /* Only a sender has these (asking a receiver for its repair
           descriptor trips an assertion in OpenPGM). */
        if (!get_fd(s->sock, PGM_REPAIR_SOCK, &s->repair_fd) ||
            !get_fd(s->sock, PGM_SEND_SOCK, &s->send_fd)) {
            failed = "PGM_REPAIR_SOCK";
            goto fail_opt;
        }
        /* The rate limit's waits are shorter than the loop's timers can
           measure (SP_PGMSOCK_RATE_WAIT_US). */
        s->rate_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (s->rate_fd < 0) {
            rc = -errno;
            goto fail;
        }
        s->nfds = 5;
    }
    /* The receive socket is bound to the port on every address: without
       this it would also get the traffic of other groups on the same port
       that any socket of the host joined. */
    int zero = 0;
    (void) setsockopt(s->recv_fd, IPPROTO_IP, IP_MULTICAST_ALL, &zero, sizeof zero);
    /* Room for bursts while the loop thread waits for a CPU (see
       SP_PGMSOCK_RCVBUF); capped by net.core.rmem_max. */
    int rcvbuf = SP_PGMSOCK_RCVBUF;
    (void) setsockopt(s->recv_fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);

    struct pgm_sockaddr_t me;
    socklen_t melen = sizeof me;
    int msss = 0;
    socklen_t msslen = sizeof msss;
    if (!pgm_getsockname(s->sock, &me, &melen) ||
        !pgm_getsockopt(s->sock, IPPROTO_PGM, PGM_MSSS, &msss, &msslen) || msss <= 0) {
        failed = "PGM_MSSS";
        goto fail_opt;
    }
    s->tsi = tsi_key(&me.sa_addr);
    s->maxdgram = (size_t) msss;
    s->held = malloc(s->maxdgram);
    if (!s->held) {
        rc = -ENOMEM;
        goto fail;
    }
    *out = s;
    return 0;

fail_opt:
    rc = -EINVAL;
    set_detail(detail, dlen, failed, NULL);
fail:
    pgm_error_free(err);
    if (s->sock)
        pgm_close(s->sock, false);
    if (s->rate_fd >= 0)
        close(s->rate_fd);
    free(s->held);
    free(s);
    lib_unref();
    return rc;
}

void sp_pgmsock_close(struct sp_pgmsock *s)
{
    if (!s)
        return;
    /* flush: a sender announces its end with SPMs (receivers ignore them
       in OpenPGM 5.3, but a later version may not). */
    pgm_close(s->sock, (s->roles & SP_PGMSOCK_SEND) != 0);
    if (s->rate_fd >= 0)
        close(s->rate_fd);
    free(s->held);
    free(s);
    lib_unref();
}

uint64_t sp_pgmsock_tsi(const struct sp_pgmsock *s)
{
    return s->tsi;
}

size_t sp_pgmsock_maxdgram(const struct sp_pgmsock *s)
{
    return s->maxdgram;
}

const struct sp_pgmsock_stats *sp_pgmsock_stats(const struct sp_pgmsock *s)
{
    return &s->st;
}

/* ---- readiness ---- */

int sp_pgmsock_fds(const struct sp_pgmsock *s, struct sp_pgmsock_fd *fds)
{
    fds[0].fd = s->recv_fd;
    fds[0].events = EPOLLIN;
    fds[1].fd = s->pending_fd;
    fds[1].events = EPOLLIN;
    if (s->nfds == 5) {
        /* While the rate limit holds, a queued repair keeps this descriptor
           readable: watching it then would spin. The timer takes over. */
        fds[2].fd = s->repair_fd;
        fds[2].events = s->rate_limited ? 0 : EPOLLIN;
        fds[3].fd = s->send_fd;
        fds[3].events = s->held_len && s->held_on_socket ? EPOLLOUT : 0;
        fds[4].fd = s->rate_fd;
        fds[4].events = EPOLLIN;
    }
    return s->nfds;
}

static int timeval_ms(const struct timeval *tv)
{
    /* Rounded up: waking before OpenPGM's deadline would find nothing due
       and spin until it passes. */
    long long us = (long long) tv->tv_sec * 1000000 + tv->tv_usec;
    if (us <= 0)
        return 0;
    long long ms = (us + 999) / 1000;
    return ms > 0x7fffffff ? 0x7fffffff : (int) ms;
}

static int remain_ms(const struct sp_pgmsock *s, int opt)
{
    struct timeval tv;
    socklen_t len = sizeof tv;
    if (!pgm_getsockopt(s->sock, IPPROTO_PGM, opt, &tv, &len))
        return -1;
    return timeval_ms(&tv);
}

int sp_pgmsock_timeout(const struct sp_pgmsock *s)
{
    if (s->more)
        return 0;
    /* OpenPGM's timers: SPMs, NAK backoff, peer expiry. */
    int t = remain_ms(s, PGM_TIME_REMAIN);
    /* A timer that is due but blocked by the rate would bring us back at
       once, in a loop: the rate timer (rate_fd) does, when the rate
       allows. */
    if (t == 0 && s->rate_due_ns)
        return -1;
    if (!s->rate_due_ns && (s->rate_limited || (s->held_len && !s->held_on_socket))) {
        /* The rate timer could not be armed: this one waits instead, at
           least a millisecond (a remaining time computed for a smaller
           packet than the one waiting would bring us back at once). */
        int r = remain_ms(s, PGM_RATE_REMAIN);
        if (r < 1)
            r = 1;
        if (t < 1 || r < t)
            t = r;
    }
    return t;
}

/* ---- the rate timer ---- */

/* Arms rate_fd for the end of the wait the rate limit asks for now (at
   least SP_PGMSOCK_RATE_WAIT_US), unless it fires earlier already. */
static void rate_wait(struct sp_pgmsock *s)
{
    struct timeval tv;
    socklen_t len = sizeof tv;
    uint64_t us = 0;
    if (pgm_getsockopt(s->sock, IPPROTO_PGM, PGM_RATE_REMAIN, &tv, &len) && tv.tv_sec >= 0)
        us = (uint64_t) tv.tv_sec * 1000000u + (uint64_t) tv.tv_usec;
    if (us < SP_PGMSOCK_RATE_WAIT_US)
        us = SP_PGMSOCK_RATE_WAIT_US;
    uint64_t due = sp_clock_ns() + us * 1000u;
    if (s->rate_due_ns && s->rate_due_ns <= due)
        return;
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    its.it_value.tv_sec = (time_t) (due / 1000000000u);
    its.it_value.tv_nsec = (long) (due % 1000000000u);
    if (timerfd_settime(s->rate_fd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
        s->rate_due_ns = due;
}

/* Once its time has come, disarms rate_fd, which also makes it unreadable
   again (it is watched level-triggered). */
static void rate_done(struct sp_pgmsock *s)
{
    if (!s->rate_due_ns || sp_clock_ns() < s->rate_due_ns)
        return;
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    (void) timerfd_settime(s->rate_fd, 0, &its, NULL);
    s->rate_due_ns = 0;
}

/* ---- sending ---- */

/* Calls OpenPGM again for the held datagram: true once it went out. */
static bool finish_held(struct sp_pgmsock *s)
{
    size_t n = 0;
    int st = pgm_send(s->sock, s->held, s->held_len, &n);
    switch (st) {
    case PGM_IO_STATUS_RATE_LIMITED:
        s->held_on_socket = false;
        rate_wait(s);
        return false;
    case PGM_IO_STATUS_WOULD_BLOCK:
    case PGM_IO_STATUS_CONGESTION:
        s->held_on_socket = true;
        return false;
    default:
        /* Sent, or failed for good (already in the repair window either
           way: a receiver that misses it asks for it). */
        s->held_len = 0;
        return true;
    }
}

bool sp_pgmsock_send_blocked(const struct sp_pgmsock *s)
{
    return s->held_len != 0;
}

int sp_pgmsock_send(struct sp_pgmsock *s, const void *dg, size_t len)
{
    if (!(s->roles & SP_PGMSOCK_SEND))
        return -EINVAL;
    if (len == 0 || len > s->maxdgram)
        return -EMSGSIZE;
    if (s->held_len && !finish_held(s))
        return -EAGAIN;
    size_t n = 0;
    int st = pgm_send(s->sock, dg, len, &n);
    switch (st) {
    case PGM_IO_STATUS_NORMAL:
        s->st.sent++;
        return 0;
    case PGM_IO_STATUS_RATE_LIMITED:
    case PGM_IO_STATUS_WOULD_BLOCK:
    case PGM_IO_STATUS_CONGESTION:
        /* OpenPGM has put the datagram in its window already and sends it
           when called again with the same length: hold a copy for that. */
        memcpy(s->held, dg, len);
        s->held_len = len;
        s->held_on_socket = st != PGM_IO_STATUS_RATE_LIMITED;
        if (!s->held_on_socket)
            rate_wait(s);
        s->st.sent++;
        s->st.blocked++;
        return 0;
    default:
        return -EIO;
    }
}

/* ---- service ---- */

static bool fd_readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static void deliver(struct sp_pgmsock *s, size_t napdu, const struct sp_pgmsock_handler *h, void *arg)
{
    for (size_t i = 0; i < napdu; i++) {
        struct pgm_msgv_t *m = &s->msgv[i];
        if (m->msgv_len == 0)
            continue;
        struct pgm_sk_buff_t *skb = m->msgv_skb[0];
        if (m->msgv_len != 1) {
            /* An APDU in several TPDUs: not from an SP sender (ours never
               makes them). */
            s->st.fragmented++;
            continue;
        }
        uint64_t tsi = tsi_key(&skb->tsi);
        if (tsi == s->tsi) {
            s->st.own++; /* looped back by multicast */
            continue;
        }
        s->st.received++;
        if (h && h->data)
            h->data(arg, tsi, skb->data, skb->len);
    }
}

void sp_pgmsock_service(struct sp_pgmsock *s, const struct sp_pgmsock_handler *h, void *arg)
{
    s->rate_limited = false;
    s->more = false;
    rate_done(s);
    if (s->held_len)
        finish_held(s);
    /* Whether the call about to be made has packets to read: NAKs among
       them queue repairs that only the next calls send. */
    bool input = (s->roles & SP_PGMSOCK_SEND) && fd_readable(s->recv_fd);
    int i;
    for (i = 0; i < SP_PGMSOCK_BUDGET; i++) {
        size_t bytes = 0;
        pgm_error_t *err = NULL;
        /* OpenPGM fills entries from the first and says only how many bytes
           it read: cleared entries mark where its list ends. */
        for (size_t j = 0; j < SP_PGMSOCK_MSGV; j++)
            s->msgv[j].msgv_len = 0;
        /* MSG_ERRQUEUE: a RESET comes with the TSI of its sender. */
        int st = pgm_recvmsgv(s->sock, s->msgv, SP_PGMSOCK_MSGV, MSG_ERRQUEUE, &bytes, &err);
        if (st == PGM_IO_STATUS_NORMAL) {
            size_t n = 0;
            while (n < SP_PGMSOCK_MSGV && s->msgv[n].msgv_len > 0)
                n++;
            deliver(s, n, h, arg);
            continue;
        }
        if (st == PGM_IO_STATUS_RESET) {
            struct pgm_sk_buff_t *skb = s->msgv[0].msgv_len ? s->msgv[0].msgv_skb[0] : NULL;
            if (skb) {
                uint64_t tsi = tsi_key(&skb->tsi);
                pgm_free_skb(skb);
                s->msgv[0].msgv_len = 0;
                s->st.resets++;
                if (h && h->reset)
                    h->reset(arg, tsi);
            }
            /* OpenPGM reports a RESET without an error object; freeing NULL
               makes it log a failed assertion. */
            if (err)
                pgm_error_free(err);
            continue;
        }
        if (err) {
            if (sp_print_errors && err->message)
                fprintf(stderr, "nanomsg: pgm: %s\n", err->message);
            pgm_error_free(err);
        }
        if (st == PGM_IO_STATUS_RATE_LIMITED) {
            s->rate_limited = true;
            rate_wait(s);
            break;
        }
        /* Nothing more to read. A sender still owes the repairs queued by
           the NAKs it read, one per call, and OpenPGM tells of them only
           when one could not be sent (the repair descriptor). So it calls
           again after a call that read packets. Each repair sent also comes
           back as input while NN_PGM_LOOP is on, which carries on the
           chain until the queue is empty. */
        if (!(s->roles & SP_PGMSOCK_SEND))
            break;
        bool was_input = input;
        input = fd_readable(s->recv_fd);
        if (!was_input && !input && !fd_readable(s->repair_fd))
            break;
    }
    if (i == SP_PGMSOCK_BUDGET)
        s->more = true;
}
