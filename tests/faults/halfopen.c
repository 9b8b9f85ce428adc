/* Half-open handshakes: 1000 TCP connections to a ws:// REP and 1000 to a
   wss:// REP that never finish their handshake (half of them send nothing,
   half a beginning: an HTTP request without its blank line, a TLS record
   header without its record). What a user would notice:
   - a real client is still served: a REQ over ws and one over wss,
     connecting right after the 2000 opened, each get their reply. They
     come behind the crowd in the accept queues, so how soon depends on
     what accepting 2000 connections costs the server, which is what is
     asserted, in heap (malloc's count, load-independent): less than 16 KiB
     per half-open connection. An accepted wss connection gets its TLS
     record buffers (32 KiB) only once its client has sent something, and
     a ws one its 64 KiB read buffer only once its handshake is done (they
     cost 90 KiB on average when they got them at once, and the ws REQ
     waited 1 to 6 s on the loaded machine instead of 0.3). How long the
     serving took is a figure: asserted, or asserted to come before the
     first deadline freed a half-open one, it measures how much CPU the
     test got (under ASan on the loaded machine, 6.7 s, with the ws ones
     past their 5 s deadline and some wss ones past their 10 s one);
   - the half-open ones time out: the server closes every one of them, after
     its handshake deadline (SP_WS_HS_TIMEOUT_MS, 5 s, for ws; the TLS
     deadline SP_TLS_HS_TIMEOUT_MS, 10 s, for wss), and holds no more
     descriptors than before.
   The same in both modes (the deadlines are the library's). */
#include "faults.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/socket.h>

#include <cmocka.h>

#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>
#include <nanomsg/tls.h>

#define HALF 1000

/* The handshake deadlines (transports/ws/wswire.h, transports/tls/tlsctx.h). */
#define WS_HS_MS 5000
#define TLS_HS_MS 10000

static int raw_connect(int port)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t) port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    if (connect(fd, (struct sockaddr *) &sa, sizeof sa) != 0) {
        perror("connect");
        fail();
    }
    return fd;
}

struct crowd {
    int fd[HALF];
    uint64_t opened[HALF];
    uint64_t closed[HALF]; /* when the server closed it, 0 before */
};

static void open_crowd(struct crowd *c, int port, const void *start, size_t len)
{
    for (int i = 0; i < HALF; i++) {
        /* Taken before the connect: the server's clock starts when it
           accepts, which may come before connect() returns here (a
           starved test thread, a listener draining its queue at once). */
        c->opened[i] = tu_now_ms();
        c->fd[i] = raw_connect(port);
        c->closed[i] = 0;
        if (i % 2)
            assert_int_equal(send(c->fd[i], start, len, MSG_NOSIGNAL), (ssize_t) len);
    }
}

/* Notes which ones the server closed (EOF or reset); how many are closed. */
static int watch(struct crowd *c, int timeout_ms)
{
    static struct pollfd p[HALF];
    int closed = 0;
    for (int i = 0; i < HALF; i++) {
        p[i].fd = c->closed[i] ? -1 : c->fd[i];
        p[i].events = POLLIN;
        p[i].revents = 0;
    }
    poll(p, HALF, timeout_ms);
    uint64_t now = tu_now_ms();
    for (int i = 0; i < HALF; i++) {
        if (!c->closed[i] && p[i].revents) {
            char b[256];
            ssize_t n = recv(c->fd[i], b, sizeof b, MSG_DONTWAIT);
            if (n <= 0 && !(n < 0 && errno == EAGAIN))
                c->closed[i] = now;
        }
        if (c->closed[i])
            closed++;
    }
    return closed;
}

static int rep_server(void)
{
    int s = nn_socket(AF_SP, NN_REP);
    assert_true(s >= 0);
    int tmo = FX_DEADLINE_MS;
    assert_int_equal(nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &tmo, sizeof tmo), 0);
    assert_int_equal(nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDTIMEO, &tmo, sizeof tmo), 0);
    return s;
}

/* A REQ connects to url, asks and gets its answer from rep: how long it
   took, in ms. */
static uint64_t served(int rep, const char *url)
{
    uint64_t t0 = tu_now_ms();
    int req = nn_socket(AF_SP, NN_REQ);
    int tmo = FX_DEADLINE_MS;
    char buf[64];
    assert_true(req >= 0);
    assert_int_equal(nn_setsockopt(req, NN_SOL_SOCKET, NN_RCVTIMEO, &tmo, sizeof tmo), 0);
    assert_true(nn_connect(req, url) >= 0);
    assert_int_equal(nn_send(req, "anyone there?", 13, 0), 13);
    assert_int_equal(nn_recv(rep, buf, sizeof buf, 0), 13);
    assert_int_equal(nn_send(rep, "yes", 3, 0), 3);
    assert_int_equal(nn_recv(req, buf, sizeof buf, 0), 3);
    uint64_t ms = tu_now_ms() - t0;
    assert_int_equal(nn_close(req), 0);
    return ms;
}

/* The server's descriptors once it holds no TCP connection any more (it
   closes its side of a served REQ's connection when it notices the
   client's close, a moment after nn_close). */
static bool no_conns(void *p)
{
    (void) p;
    return fx_tcp_conns(0) == 0;
}

static int fds_settled(void)
{
    assert_true(tu_wait_until(no_conns, NULL, FX_DEADLINE_MS));
    return fx_fds(0);
}

static void timeouts_figure(const char *name, struct crowd *c, int deadline)
{
    uint64_t lo = UINT64_MAX, hi = 0;
    for (int i = 0; i < HALF; i++) {
        uint64_t d = c->closed[i] - c->opened[i];
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
        /* Never before the deadline: a slow client is not cut short. */
        assert_true(d + 50 >= (uint64_t) deadline);
    }
    fx_figure("halfopen", "%s: %d half-open connections closed by the server %llu to %llu ms after they opened "
              "(deadline %d ms)", name, HALF, (unsigned long long) lo, (unsigned long long) hi, deadline);
}

static void test_ws_and_wss_serve_real_clients_while_2000_handshakes_hang(void **state)
{
    (void) state;
    static struct crowd ws, wss;
    char ws_url[64], wss_bind[64], wss_url[64];
    int ws_port = tu_free_port(), wss_port = tu_free_port();
    snprintf(ws_url, sizeof ws_url, "ws://127.0.0.1:%d", ws_port);
    snprintf(wss_bind, sizeof wss_bind, "wss://127.0.0.1:%d", wss_port);
    snprintf(wss_url, sizeof wss_url, "wss://localhost:%d", wss_port);
    int rep = rep_server();
    int fds0 = fx_fds(0);
    assert_true(nn_bind(rep, ws_url) >= 0);
    assert_true(nn_bind(rep, wss_bind) >= 0);
    /* The first exchanges load the code and make the TLS material: what
       the crowd delays is measured against these. */
    uint64_t ws_alone = served(rep, ws_url), wss_alone = served(rep, wss_url);
    assert_true(fx_make_callerfd(rep, ws_url, NN_REQ));
    int fds_bound = fds_settled();

    static const char http_start[] = "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n";
    static const unsigned char tls_start[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00};
    uint64_t crowd_start = tu_now_ms();
    long cpu0 = fx_cpu_ms(0), rss0 = fx_rss_kb(0);
    size_t heap0 = fx_inuse();
    open_crowd(&ws, ws_port, http_start, sizeof http_start - 1);
    open_crowd(&wss, wss_port, tls_start, sizeof tls_start);
    uint64_t crowd_done = tu_now_ms();

    uint64_t ws_ms = served(rep, ws_url);
    uint64_t wss_ms = served(rep, wss_url);
    long cpu = fx_cpu_ms(0) - cpu0, rss = fx_rss_kb(0) - rss0;
    /* Each REQ came after its crowd, in the accept queue and in the loop's
       queue of ready connections: every half-open one has been accepted
       and has had its bytes read. (Under a sanitizer malloc's count is
       the sanitizer's: 0.) */
    double heap_per = ((double) fx_inuse() - (double) heap0) / 1024.0 / (2 * HALF);
    int ws_closed = watch(&ws, 0), wss_closed = watch(&wss, 0);
    fx_figure("halfopen", "with %d ws and %d wss handshakes hanging (opened in %llu ms): a ws REQ served in %llu ms "
              "(%llu alone), then a wss REQ in %llu ms (%llu alone); half-open connections closed by then: %d, %d; "
              "CPU time of the whole process (crowd, accepts, exchanges): %ld ms; RSS +%ld KiB (%.1f KiB per "
              "half-open connection), heap %.1f KiB per half-open connection",
              HALF, HALF, (unsigned long long) (crowd_done - crowd_start), (unsigned long long) ws_ms,
              (unsigned long long) ws_alone, (unsigned long long) wss_ms, (unsigned long long) wss_alone, ws_closed,
              wss_closed, cpu, rss, (double) rss / (2 * HALF), heap_per);
    assert_true(heap_per < 16.0);

    /* Then the server closes every one of them, at its deadline. */
    uint64_t end = crowd_done + TLS_HS_MS + FX_DEADLINE_MS;
    while ((ws_closed < HALF || wss_closed < HALF) && tu_now_ms() < end) {
        ws_closed = watch(&ws, 50);
        wss_closed = watch(&wss, 50);
    }
    assert_int_equal(ws_closed, HALF);
    assert_int_equal(wss_closed, HALF);
    timeouts_figure("ws", &ws, WS_HS_MS);
    timeouts_figure("wss", &wss, TLS_HS_MS);
    for (int i = 0; i < HALF; i++) {
        close(ws.fd[i]);
        close(wss.fd[i]);
    }
    /* And still serves, with no descriptor left behind. */
    served(rep, ws_url);
    served(rep, wss_url);
    int fds_end = fds_settled();
    fx_figure("halfopen", "server descriptors: %d before binding, %d bound, %d after the crowd left", fds0,
              fds_bound, fds_end);
    if (fds_end != fds_bound) {
        fprintf(stderr, "the server's descriptors:\n");
        fx_dump_fds(0);
    }
    assert_int_equal(fds_end, fds_bound);
    assert_int_equal(nn_close(rep), 0);
}

int main(int argc, char **argv)
{
    (void) argc;
    (void) argv;
    signal(SIGPIPE, SIG_IGN);
    fx_raise_nofile(16384);
    if (!fx_cert("ca.crt"))
        return tu_missing("openssl (it makes the test certificates)", "openssl");
    setenv("NN_TLS_CA_FILE", fx_cert("ca.crt"), 1);
    setenv("NN_TLS_CERT_FILE", fx_cert("server.crt"), 1);
    setenv("NN_TLS_KEY_FILE", fx_cert("server.key"), 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ws_and_wss_serve_real_clients_while_2000_handshakes_hang),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
