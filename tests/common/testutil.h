/* The one set of test helpers every suite uses (library testutil, in
   tests/common):
   - testutil.c: no cmocka, no socket of ours: a private temporary directory
     per test process, free TCP ports, monotonic time, condition waits with
     deadlines, threads, plain POSIX peers speaking SP bytes, missing
     prerequisites. Programs that are not cmocka suites (peers) use these.
   - testutil_nn.c: cmocka assertions over the public nanomsg API: sockets
     with bounded timeouts, string exchanges, errno checks, statistic waits,
     SP_HDR control data, calls parked in another thread, forked children.
   - testutil_ws.c: a plain POSIX WebSocket peer (upgrade both ways, frames),
     with its own SHA-1 and base64 so that it checks the library rather than
     agreeing with it.
   Public nanomsg headers only, so that every suite also builds against
   Debian's libnanomsg 1.1.5:
     gcc -DAGAINST_LIBNANOMSG -I tests/common tests/api/test_x.c \
         tests/common/testutil*.c /usr/lib/x86_64-linux-gnu/libnanomsg.so.5 \
         -lcmocka -lpthread
   Nothing here sleeps a fixed time to synchronise: waits poll a condition
   and give up at a deadline that only a failing test ever reaches. */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include <nanomsg/nn.h>

/* A fresh directory under $TMPDIR (or /tmp), created on first call and removed
   with its contents when the process exits. */
const char *tu_tmpdir(void);

/* Writes "ipc://<tmpdir>/<name>" into buf (size len) and returns buf. */
char *tu_ipc_url(char *buf, size_t len, const char *name);

/* Writes "inproc://<name>-<pid>-<n>", unique within the process run, into
   buf (size len) and returns buf. */
char *tu_inproc_url(char *buf, size_t len, const char *name);

/* A TCP port on 127.0.0.1 that was free a moment ago (kernel-chosen, so
   parallel tests do not collide). */
int tu_free_port(void);

/* Writes "tcp://127.0.0.1:<port>" into buf and returns buf. */
char *tu_tcp_url(char *buf, size_t len, int port);

/* Milliseconds on CLOCK_MONOTONIC. */
uint64_t tu_now_ms(void);

/* Sleeps ms milliseconds: only for pacing a polling loop, never as sync. */
void tu_sleep_ms(int ms);

/* Polls cond(arg) every millisecond until it returns true (-> true) or
   timeout_ms passes (-> false). */
bool tu_wait_until(bool (*cond)(void *arg), void *arg, int timeout_ms);

/* Plain-socket peers (tests that speak the wire by hand). */
/* Sends all len bytes (MSG_NOSIGNAL): false on any error. */
bool tu_write_all(int fd, const void *buf, size_t len);
/* Reads exactly len bytes within timeout_ms: false on EOF, error or timeout. */
bool tu_read_exact(int fd, void *buf, size_t len, int timeout_ms);
/* Discards input until the peer closes the connection (EOF or reset) -> true,
   or timeout_ms passes -> false. */
bool tu_wait_closed(int fd, int timeout_ms);
/* A blocking TCP connection to 127.0.0.1:port with TCP_NODELAY, or to the
   unix socket at path; rcvbuf > 0 sets SO_RCVBUF first (a small receive
   window). The fd, or -1. */
int tu_connect_tcp(int port, int rcvbuf);
int tu_connect_ipc(const char *path, int rcvbuf);
/* Accepts one connection on the listening fd lfd within timeout_ms: the fd,
   or -1. */
int tu_accept(int lfd, int timeout_ms);
/* Waits until the peer's kernel acknowledged every byte sent on the TCP
   connection fd (its send queue is empty: the bytes sit in the peer's receive
   queue, whether or not the peer read them) -> true, or timeout_ms passes.
   A unix stream socket needs no such wait: send() queues the bytes at the
   peer before it returns. */
bool tu_wait_acked(int fd, int timeout_ms);
/* The 8-byte SP header announcing protocol id proto. */
void tu_sp_header(unsigned char hdr[8], int proto);
/* The prefix of an SP frame of len bytes into out: the message type byte
   0x01 on ipc, then the u64 big-endian length. Its size (8 or 9). */
size_t tu_frame_prefix(unsigned char out[9], bool ipc, uint64_t len);
/* Writes one SP frame carrying body (tu_frame_prefix, then body). All of it
   or false. */
bool tu_write_frame(int fd, bool ipc, const void *body, size_t len);
/* Reads one TCP-mapping SP frame (u64 big-endian length, body) into buf
   (cap bytes) within timeout_ms: its length, or -1 (EOF, error, timeout, or
   larger than cap). */
int tu_read_frame(int fd, void *buf, size_t cap, int timeout_ms);
/* Reads an HTTP head byte by byte (so nothing after it is consumed) until the
   blank line, EOF or timeout; NUL-terminated in buf. Its length. */
size_t tu_read_http(int fd, char *buf, size_t cap, int timeout_ms);
/* The value of header name (case-insensitive) in an HTTP head, copied into
   out; false if absent. */
bool tu_http_header(const char *head, const char *name, char *out, size_t cap);
/* Big-endian 32-bit words of SP headers (request ids, hop counts). */
uint32_t tu_get32(const unsigned char *p);
void tu_put32(unsigned char *p, uint32_t v);

/* True while thread tid of this process sleeps in a system call a blocked
   nn_send/nn_recv waits in: poll, ppoll, a read (recvfrom, recvmsg, read),
   futex or epoll_wait (anything, where /proc does not say which call it is).
   With in_poll, only poll, ppoll or a read, where a blocked nn_recv that
   reads its connection itself waits (a PAIR over tcp in the read; libnanomsg's
   calls wait on their readiness fds). */
bool tu_thread_sleeps(int tid, bool in_poll);
/* True while thread tid of this process is asleep in the kernel ('S' in its
   /proc stat), in whatever call. */
bool tu_thread_asleep(long tid);
/* The calling thread's Linux thread id. */
long tu_gettid(void);
/* The number of threads of this process, or -1. */
int tu_thread_count(void);

/* Missing prerequisites (a program, a library, a feature of the machine). A
   test that cannot run fails and says which Debian package brings what is
   missing (tools/install-deps.sh installs them all), unless the build was
   configured with -Dallow_skip=true (meson then sets NANOSP_ALLOW_SKIP=true
   in the tests' environment): then it skips. tests/common/prereq.sh is the
   same rule for the shell tests. */
bool tu_skip_allowed(void);
/* Prints why (WHY: a sentence) and returns main's exit status: 77 (skipped)
   when skipping is allowed, else 1. */
int tu_unmet(const char *why);
/* The same for WHAT, from the Debian package PACKAGE, not being installed. */
int tu_missing(const char *what, const char *package);

/* Runs fn(arg) in a new thread; tu_thread_join waits for it. */
typedef struct tu_thread { unsigned long handle; } tu_thread;
void tu_thread_start(tu_thread *t, void (*fn)(void *), void *arg);
void tu_thread_join(tu_thread *t);

/* Unit suites (internal modules, linked with the static library). */
#define TU_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
/* Whether AddressSanitizer or ThreadSanitizer is in the build: a few
   checks read memory that both rightly call freed, and are only compiled in
   builds without either (TU_READS_FREED). */
#if defined(__SANITIZE_ADDRESS__)
#define TU_HAVE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TU_HAVE_ASAN 1
#endif
#endif
#ifndef TU_HAVE_ASAN
#define TU_HAVE_ASAN 0
#endif
#if defined(__SANITIZE_THREAD__)
#define TU_HAVE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TU_HAVE_TSAN 1
#endif
#endif
#ifndef TU_HAVE_TSAN
#define TU_HAVE_TSAN 0
#endif
#define TU_READS_FREED (!TU_HAVE_ASAN && !TU_HAVE_TSAN)
/* Fills p with a pattern that depends on the position and a seed, so that a
   byte moved to the wrong place is noticed. */
void tu_fill(void *p, size_t len, unsigned seed);
/* True when p holds the pattern tu_fill(.., len, seed) wrote, starting at
   pattern position from. */
bool tu_check_fill(const void *p, size_t len, unsigned seed, size_t from);

/* ==== testutil_nn.c: cmocka suites over the public nanomsg API ==== */

/* Upper bound for anything that should happen "soon" (a connection, a
   message in flight, a blocked call parking). Only a failing test ever waits
   this long. */
#define TU_DEADLINE_MS 5000

/* How long a test watches for something that must NOT arrive, after it has
   already made sure (by a witness or a sentinel) that it would have been
   sent by now. An observation window, never a synchronisation. */
#define TU_QUIET_MS 200

#ifndef NN_MAX_SOCKETS
#define NN_MAX_SOCKETS 512
#endif

/* errno assertions: assert_nn_fail(expr, err) fails the test unless expr is
   -1 with nn_errno() == err; assert_nn_ok(expr) fails it if expr < 0 and
   is expr. Both print both errnos. */
void tu_check_fail(int rc, int want, const char *expr, const char *file, int line);
int tu_check_ok(int rc, const char *expr, const char *file, int line);
#define assert_nn_fail(expr, err) \
    do { \
        errno = 0; \
        tu_check_fail((int) (expr), (err), #expr, __FILE__, __LINE__); \
    } while (0)
#define assert_nn_ok(expr) tu_check_ok((int) (expr), #expr, __FILE__, __LINE__)

/* A socket whose blocking calls give up after TU_DEADLINE_MS (NN_SNDTIMEO and
   NN_RCVTIMEO set), so that a broken library fails the test instead of
   hanging it. */
int tu_socket(int domain, int protocol);
/* A socket with the library's default options (for tests of the defaults
   themselves and of calls that block forever). */
int tu_socket_default(int domain, int protocol);
void tu_setint(int s, int level, int option, int value);
int tu_getint(int s, int level, int option);
/* Sets a string option (without its NUL). */
void tu_setstr(int s, int level, int option, const char *value);
/* nn_bind / nn_connect that must succeed: the endpoint id. */
int tu_bind(int s, const char *url);
int tu_connect(int s, const char *url);
void tu_close(int s);
/* Per-test teardown: closes every socket id so that a failing test cannot
   leave sockets (or threads blocked on them) behind for the next one. */
int tu_close_all(void **state);
#define tu_test(f) cmocka_unit_test_teardown(f, tu_close_all)

/* A fresh address on transport t, unique within the process run, in buf of
   TU_URL_LEN bytes. */
#define TU_URL_LEN 256
enum tu_transport { TU_INPROC, TU_IPC, TU_TCP };
extern const char *const tu_transport_names[3];
char *tu_url(char *buf, enum tu_transport t, const char *name);
/* Two fresh sockets (default options) connected over inproc: *a binds, *b
   connects. */
void tu_inproc_pair(int proto_a, int proto_b, int *a, int *b);
/* The same with sockets made by tu_socket (deadline timeouts). */
void tu_inproc_pair_bounded(int proto_a, int proto_b, int *a, int *b);

/* Sends str (without NUL), blocking up to the socket's NN_SNDTIMEO. */
void tu_send(int s, const char *str);
/* Receives one message into buf (NUL-terminated, buf[0] = 0 on error);
   returns nn_recv's result. */
int tu_recv_str(int s, char *buf, size_t len, int flags);
/* tu_recv(s, str): receives one message and checks that it equals str. */
void tu_recv_expect(int s, const char *str, const char *file, int line);
#define tu_recv(s, str) tu_recv_expect((s), (str), __FILE__, __LINE__)
/* Asserts that no message is waiting right now. */
void tu_recv_nothing(int s);
/* Asserts that nothing arrives during an observation window of ms. */
void tu_recv_nothing_for(int s, int ms);
/* Keeps sending msg (each attempt waits at most attempt_ms) until the receiver
   r gets one message equal to msg, or TU_DEADLINE_MS passes. For pipes that
   may be (re)connecting: a message sent into a dying connection is lost, which
   is exactly the behaviour these tests live with. Extra copies of msg that
   were in flight are drained by the caller if it cares. */
bool tu_send_until_received(int s, int r, const char *msg, int attempt_ms);

/* tu_wait_stat(s, stat, value): waits until nn_get_statistic(s, stat) ==
   value, or fails the test. */
void tu_wait_stat_at(int s, int stat, uint64_t value, const char *file, int line);
#define tu_wait_stat(s, stat, value) tu_wait_stat_at((s), (stat), (value), __FILE__, __LINE__)
#define tu_wait_connections(s, n) tu_wait_stat((s), NN_STAT_CURRENT_CONNECTIONS, (n))
/* Waits until nn_get_statistic(s, stat) >= min (and is not the error value):
   false after timeout_ms. */
bool tu_wait_stat_min(int s, int stat, uint64_t min, int timeout_ms);

/* True when fd polls readable within timeout_ms (0 = right now). */
bool tu_fd_readable(int fd, int timeout_ms);
/* The NN_SNDFD or NN_RCVFD (option) of socket s: a valid fd. */
int tu_fd(int s, int option);
/* Descriptors this process holds (the count includes the directory stream
   that reads them, the same in every reading). */
int tu_fd_count(void);
/* The first socket descriptor of this process for which match(fd, arg) is
   true, or -1: how a test finds the library's end of a connection to read
   its kernel options. */
int tu_find_socket(bool (*match)(int fd, void *arg), void *arg);

/* SP_HDR control data. Sends body with the given SP header; returns
   nn_sendmsg's result. */
int tu_sendmsg_hdr(int s, const void *hdr, size_t hdrlen, const char *body, int flags);
/* Receives one message: body (NUL-terminated) into body, its SP header into
   hdr (up to hdrcap bytes) and its length into *hdrlen. Returns the body
   length or -1. */
int tu_recvmsg_hdr(int s, char *body, size_t bodycap, void *hdr, size_t hdrcap, size_t *hdrlen,
                   int flags);

/* A call run in a helper thread that is expected to block: the thread
   publishes its tid, then makes the call; tu_blocked_start waits until the
   thread has been asleep on several consecutive polls, so that a momentary
   lock wait on the way into the call is not mistaken for the blocking wait
   itself. */
enum tu_op {
    TU_OP_RECV,    /* nn_recv(s) */
    TU_OP_SEND,    /* nn_send(s, "x") */
    TU_OP_DEVICE,  /* nn_device(s, s2) */
    TU_OP_POLL,    /* nn_poll on s for NN_POLLIN */
    TU_OP_POLL_FD, /* poll(2) on the fd s (an NN_RCVFD...) for POLLIN */
};
struct tu_blocked {
    int s;
    int s2;                 /* second socket of TU_OP_DEVICE */
    enum tu_op op;
    volatile long tid;      /* set by the thread before the call */
    volatile int started;   /* 1 once tid is valid */
    volatile int done;      /* 1 once the call returned */
    int samples;            /* consecutive polls that saw the thread asleep */
    int rc;                 /* the call's result */
    int err;                /* nn_errno() (errno for TU_OP_POLL_FD) after the call */
    char buf[64];           /* what a TU_OP_RECV received */
    struct nn_pollfd pfd;   /* TU_OP_POLL: polls s for NN_POLLIN */
};
void tu_blocked_run(void *arg);
bool tu_blocked_is_sleeping(void *arg);
bool tu_blocked_is_done(void *arg);
/* Starts the call in thread t: true once it is parked in it (and has not
   returned). Uses no cmocka assertion: also for forked children. */
bool tu_blocked_start(tu_thread *t, struct tu_blocked *b, int s, int s2, enum tu_op op);

/* Inside a forked child: report the first broken expectation and exit
   non-zero (cmocka's asserts would unwind into the child's copy of the test
   runner). */
#define TU_CHILD_CHECK(cond) \
    do { \
        if (!(cond)) { \
            fprintf(stderr, "%s:%d: child check failed: %s (errno %d: %s)\n", __FILE__, \
                    __LINE__, #cond, errno, nn_strerror(errno)); \
            fflush(stderr); \
            _exit(1); \
        } \
    } while (0)
/* Runs scenario() in a forked child (so that nn_term cannot affect this
   process) and fails the test unless it exits 0 within 30 s. */
void tu_run_in_child(void (*scenario)(void));

/* Plain TCP peers that fail the test when the kernel refuses. */
/* A connection to 127.0.0.1:port (TCP_NODELAY). */
int tu_raw_connect(int port);
/* A listening socket on a kernel-chosen port of 127.0.0.1; *port receives it. */
int tu_raw_listen(int *port);
void tu_raw_write(int fd, const void *buf, size_t len);
void tu_raw_write_str(int fd, const char *str);
/* Sends the 8-byte SP header naming proto, then reads and checks the
   peer's, which must name peer_proto. */
void tu_sp_handshake(int fd, int proto, int peer_proto);
/* Writes one TCP-mapping frame: u64 big-endian length, then payload. */
void tu_raw_send_frame(int fd, const void *payload, size_t len);

/* A PAIR binds url, another connects to it, and a message goes each way. */
void tu_pair_exchange(const char *url);

/* A fresh peer of the right type connects to url and exchanges a message with
   srv, a bound PAIR, REP or PULL socket: srv still serves proper peers. */
void tu_assert_serves(int srv, int srv_protocol, const char *url);

/* The whole file, NUL-terminated (caller frees); at most 64 KiB. */
char *tu_read_file(const char *path);

/* ==== testutil_ws.c: a plain POSIX WebSocket peer ==== */

/* Sec-WebSocket-Accept for a key (RFC 6455 §4.2.2); out has >= 29 bytes. */
void tu_ws_accept(const char *key, char *out);
/* Writes one frame: first byte b0 (FIN, RSV and opcode as given), masked with
   a fixed key when mask is true. */
void tu_ws_write_frame(int fd, uint8_t b0, bool mask, const void *payload, size_t len);
/* A frame read from a raw fd: payload unmasked, NUL-terminated. */
struct tu_ws_frame {
    uint8_t b0; /* FIN, RSV, opcode */
    bool masked;
    size_t len;
    uint8_t data[70000];
};
/* Reads one frame (payload up to sizeof data - 1); false on EOF or timeout. */
bool tu_ws_read_frame(int fd, struct tu_ws_frame *fr, int timeout_ms);
/* The next frame must be a close frame with this status code, then the peer
   closes the connection. */
void tu_ws_expect_close(int fd, int code);
/* The RFC 6455 sample nonce and its Sec-WebSocket-Accept (§1.3). */
#define TU_WS_SAMPLE_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define TU_WS_SAMPLE_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
/* An upgrade request for the sample key; protocol NULL omits the
   Sec-WebSocket-Protocol header. */
void tu_ws_request(char *buf, size_t cap, const char *protocol);
/* A raw WebSocket client that completed the upgrade with the given
   subprotocol on 127.0.0.1:port. */
int tu_ws_raw_client(int port, const char *protocol);
/* Server side of the upgrade on an accepted raw fd: reads the request,
   checks it names want_protocol, answers 101 with the right accept key. The
   request head is left in req. */
void tu_ws_raw_server_upgrade(int fd, const char *want_protocol, char *req, size_t cap);

#endif
