/* Fuzz target for the WebSocket opening handshake on both sides, end to end
   through a real connection (transports/ws/wswire.c's hs_input and
   transports/utils/stream.c's handshake: reads in pieces, the 4 KiB limit,
   the response or refusal written, the bytes that follow the handshake fed
   to the frame decoder). fuzz_ws.c covers the parsers and frames on their
   own; here they run as a connection runs them, in a private network
   namespace (fuzznet.h), with the fuzzer playing the other side over a
   plain TCP socket:

     server side  a nanosp socket of the chosen type is bound to ws://; the
                  input is the request (and whatever follows it) the fuzzer
                  sends before it half-closes. The server must answer exactly
                  what its parser decides for the first end of the header
                  block within 4 KiB: the 101 with the right accept key and
                  subprotocol, a 400 with the reason and version, the 400
                  "Opening Handshake Too Long" past 4 KiB, or nothing for a
                  request cut short; after a 101 only unmasked pong or close
                  frames; then close the connection.
     client side  a nanosp socket of the chosen type connects to the
                  fuzzer's listener; its request must be one a server of the
                  peer type accepts. The input is the response, with every
                  "@@" replaced by the accept key of the request's nonce. A
                  response the parser refuses (or one cut short) closes the
                  connection with nothing more sent; an accepted one leaves
                  only masked pong or close frames after it.

   Input layout:
     byte 0   bit 0: 0 server side, 1 client side; bits 1-4: the nanosp
              socket type (types[], modulo 10); bits 5-7: the bytes go out in
              that many more pieces (sent back to back: how the peer's reads
              cut them depends on the moment)
     the rest the request or the response */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <nanomsg/bus.h>
#include <nanomsg/nn.h>
#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>
#include <nanomsg/survey.h>

#include "ws/wswire.h"

#include "fuzz.h"
#include "fuzznet.h"

#define CHECK(cond)                                                                           \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            fprintf(stderr, "fuzz_wshs: %s:%d: check failed: %s (errno %d)\n", __FILE__, __LINE__, \
                    #cond, errno);                                                            \
            abort();                                                                          \
        }                                                                                     \
    } while (0)

/* SP_STREAM_HS_MAX: the most a handshake may take. */
#define HS_MAX 4096
/* A peer that neither answers nor closes within this long is a hang. */
#define DEADLINE_MS 10000
/* The namespace is ours: fixed ports collide with nothing. */
#define SERVER_PORT0 6000

static const int types[10] = {NN_PAIR, NN_REQ, NN_REP, NN_PUB, NN_SUB,
                              NN_SURVEYOR, NN_RESPONDENT, NN_PUSH, NN_PULL, NN_BUS};
static const char *const names[10] = {"pair", "req", "rep", "pub", "sub",
                                      "surveyor", "respondent", "push", "pull", "bus"};
static const int peers[10] = {0, 2, 1, 4, 3, 6, 5, 8, 7, 9}; /* index of the peer type */

static int servers[10] = {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1};
static int clients[10] = {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1};
static bool ready;

static void close_all(void)
{
    for (int i = 0; i < 10; i++) {
        if (servers[i] >= 0)
            nn_close(servers[i]);
        if (clients[i] >= 0)
            nn_close(clients[i]);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    fuzz_private_net("fuzz-wshs");
    for (int i = 0; i < 10; i++) {
        char url[64];
        servers[i] = nn_socket(AF_SP, types[i]);
        clients[i] = nn_socket(AF_SP, types[i]);
        CHECK(servers[i] >= 0 && clients[i] >= 0);
        snprintf(url, sizeof url, "ws://127.0.0.1:%d", SERVER_PORT0 + i);
        CHECK(nn_bind(servers[i], url) >= 0);
        if (types[i] == NN_SUB) {
            CHECK(nn_setsockopt(servers[i], NN_SUB, NN_SUB_SUBSCRIBE, "", 0) == 0);
            CHECK(nn_setsockopt(clients[i], NN_SUB, NN_SUB_SUBSCRIBE, "", 0) == 0);
        }
    }
    ready = true;
    atexit(close_all);
    return 0;
}

/* ---- plain socket helpers ---- */

/* poll, again after a signal (libFuzzer's timer interrupts it). */
static int poll1(struct pollfd *p, int ms)
{
    int r;
    while ((r = poll(p, 1, ms)) < 0 && errno == EINTR)
        ;
    return r;
}

static void send_pieces(int fd, const uint8_t *p, size_t n, unsigned pieces)
{
    size_t step = n / pieces + 1;
    for (size_t off = 0; off < n;) {
        size_t k = n - off < step ? n - off : step;
        ssize_t w = send(fd, p + off, k, MSG_NOSIGNAL);
        if (w < 0) {
            /* The peer may close before taking everything (a refusal). */
            CHECK(errno == EPIPE || errno == ECONNRESET);
            return;
        }
        off += (size_t) w;
        if (off < n)
            sched_yield();
    }
}

static void drain(int s)
{
    void *m;
    while (nn_recv(s, &m, NN_MSG, NN_DONTWAIT) >= 0)
        nn_freemsg(m);
}

/* Reads until the peer closes: the bytes (caller frees) and their count.
   Meanwhile takes what the nanosp socket s received: a connection that
   ended with messages still queued stays open until they are taken. */
static uint8_t *read_to_end(int fd, int s, size_t *len)
{
    size_t cap = 8192, n = 0;
    uint8_t *buf = malloc(cap);
    CHECK(buf != NULL);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        int r = poll1(&p, 5);
        if (r == 0) {
            drain(s);
            clock_gettime(CLOCK_MONOTONIC, &t);
            /* Else the peer neither closed nor said anything: a hang. */
            CHECK((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < DEADLINE_MS);
            continue;
        }
        CHECK(r == 1);
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            CHECK(buf != NULL);
        }
        ssize_t k = recv(fd, buf + n, cap - n, 0);
        if (k == 0 || (k < 0 && errno == ECONNRESET))
            break;
        CHECK(k > 0);
        n += (size_t) k;
    }
    *len = n;
    return buf;
}

/* Reads up to and including the first "\r\n\r\n": its length. */
static size_t read_header_block(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (n < cap) {
        CHECK(poll1(&p, DEADLINE_MS) == 1);
        ssize_t k = recv(fd, buf + n, 1, 0); /* one byte at a time: nothing beyond the block */
        CHECK(k == 1);
        n++;
        if (n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0)
            return n;
    }
    CHECK(!"request longer than its buffer");
    return 0;
}

/* What follows an accepted handshake: complete frames, masked or not as
   said, each a pong or a close. */
static void check_control_frames(const uint8_t *p, size_t n, bool masked)
{
    size_t off = 0;
    while (off < n) {
        CHECK(n - off >= 2);
        uint8_t b0 = p[off], b1 = p[off + 1];
        CHECK(b0 == 0x8A || b0 == 0x88);
        CHECK(((b1 & 0x80) != 0) == masked);
        size_t len = b1 & 0x7f;
        CHECK(len <= 125);
        size_t hl = 2 + (masked ? 4 : 0);
        CHECK(n - off >= hl + len);
        off += hl + len;
    }
}

/* ---- the server side: our request, the library's answer ---- */

static void fuzz_server(int ti, const uint8_t *req, size_t n, unsigned pieces)
{
    /* What the library's parser makes of the first end within 4 KiB. */
    size_t seen = n < HS_MAX ? n : HS_MAX;
    struct sp_ws_request r;
    int rc = sp_ws_parse_request((const char *) req, seen, types[ti], &r);
    char want[1024];
    size_t wl = 0;
    if (rc < 0 && n >= HS_MAX) {
        wl = (size_t) snprintf(want, sizeof want,
                               "HTTP/1.1 400 Opening Handshake Too Long\r\nSec-WebSocket-Version: 13\r\n\r\n");
    } else if (rc == 0 && r.status == 400) {
        wl = (size_t) snprintf(want, sizeof want, "HTTP/1.1 400 %s\r\nSec-WebSocket-Version: %s\r\n\r\n",
                               r.reason, r.version[0] ? r.version : "13");
    } else if (rc == 0) {
        char accept[32];
        CHECK(sp_ws_accept_key(r.key, accept, sizeof accept) == 0);
        wl = (size_t) snprintf(want, sizeof want,
                               "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                               "Sec-WebSocket-Accept: %s\r\n%s%s%s\r\n",
                               accept, r.protocol[0] ? "Sec-WebSocket-Protocol: " : "", r.protocol,
                               r.protocol[0] ? "\r\n" : "");
    }
    CHECK(wl < sizeof want);

    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t) (SERVER_PORT0 + ti));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(connect(fd, (struct sockaddr *) &a, sizeof a) == 0);
    send_pieces(fd, req, n, pieces);
    shutdown(fd, SHUT_WR);
    size_t got;
    uint8_t *answer = read_to_end(fd, servers[ti], &got);
    close(fd);
    if (got < wl || memcmp(answer, want, wl) != 0 || (rc == 0 && r.status == 101 ? false : got != wl)) {
        fprintf(stderr, "fuzz_wshs: the %s server answered %zu bytes:\n%.*s\nexpected %zu bytes:\n%.*s\n",
                names[ti], got, (int) got, (const char *) answer, wl, (int) wl, want);
        CHECK(0);
    }
    if (rc == 0 && r.status == 101)
        check_control_frames(answer + wl, got - wl, false);
    free(answer);
    drain(servers[ti]);
}

/* ---- the client side: the library's request, our response ---- */

static void fuzz_client(int ti, const uint8_t *resp, size_t n, unsigned pieces)
{
    /* A listener of its own for each input: after a refusal the connector
       retries at once (libnanomsg's backoff starts at 0), and such a retry
       must not be taken for the next input's connection. */
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(listener >= 0);
    struct sockaddr_in a;
    socklen_t sl = sizeof a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(listener, (struct sockaddr *) &a, sizeof a) == 0 && listen(listener, 4) == 0);
    CHECK(getsockname(listener, (struct sockaddr *) &a, &sl) == 0);
    int port = ntohs(a.sin_port);
    int s = clients[ti];
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/", port);
    int eid = nn_connect(s, url);
    CHECK(eid >= 0);
    struct pollfd p = {.fd = listener, .events = POLLIN};
    CHECK(poll1(&p, DEADLINE_MS) == 1);
    int fd = accept(listener, NULL, NULL);
    CHECK(fd >= 0);

    /* The request must be one a server of the peer type takes. */
    char req[HS_MAX];
    size_t rl = read_header_block(fd, req, sizeof req);
    struct sp_ws_request r;
    CHECK(sp_ws_parse_request(req, rl, types[peers[ti]], &r) == 0);
    CHECK(r.status == 101 && r.used == rl);
    CHECK(rl > 16 && memcmp(req, "GET / HTTP/1.1\r\n", 16) == 0);
    char host[64];
    snprintf(host, sizeof host, "\r\nHost: 127.0.0.1:%d\r\n", port);
    CHECK(memmem(req, rl, host, strlen(host)) != NULL);
    char proto[64];
    snprintf(proto, sizeof proto, "%s.sp.nanomsg.org", names[peers[ti]]);
    CHECK(strcmp(r.protocol, proto) == 0);
    CHECK(strlen(r.key) == 24);
    char accept[32];
    CHECK(sp_ws_accept_key(r.key, accept, sizeof accept) == 0);

    /* The response, "@@" standing for the accept key. */
    size_t al = strlen(accept);
    uint8_t *out = malloc(n / 2 * al + n + 1);
    CHECK(out != NULL);
    size_t ol = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n && resp[i] == '@' && resp[i + 1] == '@') {
            memcpy(out + ol, accept, al);
            ol += al;
            i++;
        } else {
            out[ol++] = resp[i];
        }
    }
    size_t used = 0;
    int rc = sp_ws_parse_response((const char *) out, ol < HS_MAX ? ol : HS_MAX, accept, &used);
    send_pieces(fd, out, ol, pieces);
    shutdown(fd, SHUT_WR);
    size_t got;
    uint8_t *after = read_to_end(fd, s, &got);
    close(fd);
    if (rc != 0 && got != 0) {
        fprintf(stderr, "fuzz_wshs: a %s client sent %zu bytes after a response it must refuse (%d)\n",
                names[ti], got, rc);
        CHECK(0);
    }
    if (rc == 0)
        check_control_frames(after, got, true);
    free(after);
    free(out);
    CHECK(nn_shutdown(s, eid) == 0);
    close(listener);
    drain(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (!ready)
        LLVMFuzzerInitialize(NULL, NULL);
    int ti = ((data[0] >> 1) & 15) % 10;
    unsigned pieces = 1 + (data[0] >> 5);
    if (data[0] & 1)
        fuzz_client(ti, data + 1, size - 1, pieces);
    else
        fuzz_server(ti, data + 1, size - 1, pieces);
    return 0;
}
