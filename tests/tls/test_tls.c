/* tls+tcp:// and wss:// through the public API: exchanges with the
   certificates given as files or as PEM text, what a client refuses (no CA
   for the server's certificate, a name that does not match, an expired
   certificate), what a server refuses (a plaintext peer, a client without
   the certificate it requires), and the NN_TLS options. A refused
   connection never takes the socket down: the tests check that it still
   works afterwards. Failures print their reason under NN_PRINT_ERRORS, which
   is read at library start-up, so those cases run in a child process (this
   program run again with arguments). Certificates come from mkcerts.sh. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>

#include <nanomsg/keepalive.h>
#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/reqrep.h>
#include <nanomsg/tls.h>

#include "testutil.h"
#include "certs.h"

enum creds { FILES, PEM };

/* ---- servers and clients ---- */

static void set_file_or_pem(int s, int file_opt, int pem_opt, const char *name, enum creds how)
{
    if (how == FILES) {
        tu_setstr(s, NN_TLS, file_opt, tls_cert(name));
    } else {
        char *pem = tu_read_file(tls_cert(name));
        tu_setstr(s, NN_TLS, pem_opt, pem);
        free(pem);
    }
}

/* A socket bound on scheme://127.0.0.1:<fresh port> with the certificate
   NAME.crt / NAME.key (and NN_RCVMAXSIZE unless 0); url receives the
   address clients use (host "localhost", the name in the certificates). */
static int tls_server_with(const char *scheme, int protocol, const char *name, enum creds how, int rcvmaxsize,
                           char *url, size_t cap)
{
    char crt[64], key[64], bind_url[96];
    int s = tu_socket(AF_SP, protocol);
    if (rcvmaxsize)
        tu_setint(s, NN_SOL_SOCKET, NN_RCVMAXSIZE, rcvmaxsize);
    int port = tu_free_port();
    snprintf(crt, sizeof crt, "%s.crt", name);
    snprintf(key, sizeof key, "%s.key", name);
    set_file_or_pem(s, NN_TLS_CERT_FILE, NN_TLS_CERT_PEM, crt, how);
    set_file_or_pem(s, NN_TLS_KEY_FILE, NN_TLS_KEY_PEM, key, how);
    snprintf(bind_url, sizeof bind_url, "%s://127.0.0.1:%d", scheme, port);
    tu_bind(s, bind_url);
    snprintf(url, cap, "%s://localhost:%d%s", scheme, port, strcmp(scheme, "wss") == 0 ? "/sp" : "");
    return s;
}

static int tls_server(const char *scheme, int protocol, const char *name, enum creds how, char *url, size_t cap)
{
    return tls_server_with(scheme, protocol, name, how, 0, url, cap);
}

/* A client that trusts the test CA. */
static int tls_client(int protocol, enum creds how)
{
    int s = tu_socket(AF_SP, protocol);
    set_file_or_pem(s, NN_TLS_CA_FILE, NN_TLS_CA_PEM, "ca.crt", how);
    return s;
}

static char *pattern(size_t n)
{
    char *p = malloc(n);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = (char) ('A' + (i * 7 + i / 251) % 26);
    return p;
}

static void recv_exact(int s, const void *want, size_t n)
{
    void *got = NULL;
    int rc = nn_recv(s, &got, NN_MSG, 0);
    if (rc < 0)
        fprintf(stderr, "nn_recv: %s\n", nn_strerror(nn_errno()));
    assert_int_equal(rc, (int) n);
    if (n)
        assert_memory_equal(got, want, n);
    nn_freemsg(got);
}

static void req_rep_exchange(const char *scheme, enum creds how)
{
    char url[96];
    int rep = tls_server(scheme, NN_REP, "server", how, url, sizeof url);
    int req = tls_client(NN_REQ, how);
    tu_connect(req, url);
    for (int i = 0; i < 3; i++) {
        tu_send(req, "request");
        tu_recv(rep, "request");
        tu_send(rep, "reply");
        tu_recv(req, "reply");
    }
    /* A reply spread over many TLS records. */
    size_t n = 300000;
    char *big = pattern(n);
    tu_send(req, "big one please");
    tu_recv(rep, "big one please");
    assert_int_equal(nn_send(rep, big, n, 0), (int) n);
    recv_exact(req, big, n);
    free(big);
    assert_int_equal(nn_close(req), 0);
    assert_int_equal(nn_close(rep), 0);
}

static void push_pull_exchange(const char *scheme, enum creds how)
{
    char url[96];
    int pull = tls_server(scheme, NN_PULL, "server", how, url, sizeof url);
    int push = tls_client(NN_PUSH, how);
    tu_connect(push, url);
    size_t n = 300000;
    char *big = pattern(n);
    tu_send(push, "first");
    assert_int_equal(nn_send(push, "", 0, 0), 0);
    assert_int_equal(nn_send(push, big, n, 0), (int) n);
    tu_send(push, "last");
    tu_recv(pull, "first");
    recv_exact(pull, "", 0);
    recv_exact(pull, big, n);
    tu_recv(pull, "last");
    free(big);
    assert_int_equal(nn_close(push), 0);
    assert_int_equal(nn_close(pull), 0);
}

static void test_tls_tcp_req_rep_with_ca_file(void **state)
{
    (void) state;
    req_rep_exchange("tls+tcp", FILES);
}

static void test_tls_tcp_req_rep_with_pem_in_memory(void **state)
{
    (void) state;
    req_rep_exchange("tls+tcp", PEM);
}

static void test_tls_tcp_push_pull_with_ca_file(void **state)
{
    (void) state;
    push_pull_exchange("tls+tcp", FILES);
}

static void test_tls_tcp_push_pull_with_pem_in_memory(void **state)
{
    (void) state;
    push_pull_exchange("tls+tcp", PEM);
}

static void test_wss_req_rep_with_ca_file(void **state)
{
    (void) state;
    req_rep_exchange("wss", FILES);
}

static void test_wss_req_rep_with_pem_in_memory(void **state)
{
    (void) state;
    req_rep_exchange("wss", PEM);
}

static void test_wss_push_pull_with_ca_file(void **state)
{
    (void) state;
    push_pull_exchange("wss", FILES);
}

static void test_wss_push_pull_with_pem_in_memory(void **state)
{
    (void) state;
    push_pull_exchange("wss", PEM);
}

/* ---- when the options take effect ---- */

/* NN_RCVMAXSIZE is read at every message header (as libnanomsg does on tcp
   and ws): changing it on a connected socket applies to the next message. */
static bool established_twice(void *p)
{
    return nn_get_statistic(*(int *) p, NN_STAT_ESTABLISHED_CONNECTIONS) >= 2;
}

static void rcvmaxsize_lowered_drops_connection(const char *scheme)
{
    char url[96];
    int pull = tls_server(scheme, NN_PULL, "server", FILES, url, sizeof url);
    int push = tls_client(NN_PUSH, FILES);
    tu_setint(push, NN_SOL_SOCKET, NN_RECONNECT_IVL, 10);
    tu_connect(push, url);
    tu_send(push, "abc");
    tu_recv(pull, "abc");
    tu_setint(pull, NN_SOL_SOCKET, NN_RCVMAXSIZE, 4);
    tu_send(push, "abcde");
    /* The receiver waits as an application would. The connection is dropped
       and the pusher connects again; the 5-byte message is lost, and the
       next one that fits comes through the new connection. */
    tu_setint(pull, NN_SOL_SOCKET, NN_RCVTIMEO, 20);
    uint64_t end = tu_now_ms() + TU_DEADLINE_MS;
    bool sent = false;
    char buf[16];
    int rc = -1;
    while (rc < 0 && tu_now_ms() < end) {
        rc = nn_recv(pull, buf, sizeof buf, 0);
        if (rc < 0)
            assert_int_equal(nn_errno(), ETIMEDOUT);
        if (!sent && established_twice(&push)) {
            tu_send(push, "xyz");
            sent = true;
        }
    }
    assert_int_equal(rc, 3);
    assert_memory_equal(buf, "xyz", 3);
    assert_int_equal(nn_close(push), 0);
    assert_int_equal(nn_close(pull), 0);
}

static void rcvmaxsize_raised_lets_message_through(const char *scheme)
{
    char url[96];
    int pull = tls_server_with(scheme, NN_PULL, "server", FILES, 4, url, sizeof url);
    int push = tls_client(NN_PUSH, FILES);
    tu_connect(push, url);
    tu_send(push, "abc");
    tu_recv(pull, "abc");
    tu_setint(pull, NN_SOL_SOCKET, NN_RCVMAXSIZE, 100);
    tu_send(push, "abcde");
    tu_recv(pull, "abcde");
    assert_int_equal(nn_close(push), 0);
    assert_int_equal(nn_close(pull), 0);
}

static void test_tls_rcvmaxsize_lowered_after_connection_drops_next_oversize_message(void **state)
{
    (void) state;
    rcvmaxsize_lowered_drops_connection("tls+tcp");
}

static void test_wss_rcvmaxsize_lowered_after_connection_drops_next_oversize_message(void **state)
{
    (void) state;
    rcvmaxsize_lowered_drops_connection("wss");
}

static void test_tls_rcvmaxsize_raised_after_connection_lets_next_message_through(void **state)
{
    (void) state;
    rcvmaxsize_raised_lets_message_through("tls+tcp");
}

static void test_wss_rcvmaxsize_raised_after_connection_lets_next_message_through(void **state)
{
    (void) state;
    rcvmaxsize_raised_lets_message_through("wss");
}

/* The NN_TLS options (no libnanomsg counterpart) are taken at nn_bind and
   nn_connect: an endpoint loads its certificates and keys once, and later
   changes apply to endpoints made afterwards. */
static void tls_options_taken_at_bind_and_connect(const char *scheme)
{
    int port = tu_free_port();
    char url[96], bind_url[96];
    snprintf(url, sizeof url, "%s://localhost:%d%s", scheme, port, strcmp(scheme, "wss") == 0 ? "/sp" : "");
    snprintf(bind_url, sizeof bind_url, "%s://127.0.0.1:%d", scheme, port);
    /* The client connects before the server exists, trusting the test CA,
       then trusts only an unrelated certificate: its endpoint keeps the CA. */
    int c = tls_client(NN_PAIR, FILES);
    tu_setint(c, NN_SOL_SOCKET, NN_RECONNECT_IVL, 10);
    tu_connect(c, url);
    tu_setstr(c, NN_TLS, NN_TLS_CA_FILE, tls_cert("rogue.crt"));
    /* The server binds with the CA-signed certificate, then switches to a
       self-signed one: its endpoint keeps serving the first. */
    int srv = tu_socket(AF_SP, NN_PAIR);
    tu_setstr(srv, NN_TLS, NN_TLS_CERT_FILE, tls_cert("server.crt"));
    tu_setstr(srv, NN_TLS, NN_TLS_KEY_FILE, tls_cert("server.key"));
    tu_bind(srv, bind_url);
    tu_setstr(srv, NN_TLS, NN_TLS_CERT_FILE, tls_cert("self.crt"));
    tu_setstr(srv, NN_TLS, NN_TLS_KEY_FILE, tls_cert("self.key"));
    tu_send(c, "made with the first options");
    tu_recv(srv, "made with the first options");
    assert_int_equal(nn_close(c), 0);
    assert_int_equal(nn_close(srv), 0);
}

static void test_tls_options_are_taken_at_nn_bind_and_nn_connect(void **state)
{
    (void) state;
    tls_options_taken_at_bind_and_connect("tls+tcp");
}

static void test_wss_options_are_taken_at_nn_bind_and_nn_connect(void **state)
{
    (void) state;
    tls_options_taken_at_bind_and_connect("wss");
}

/* ---- refusals: a client that does not get a connection ---- */

/* Waits until c counted a broken connection (the failed handshake), then
   checks that c has no connection: nothing can be sent. */
static void assert_client_refused(int c)
{
    assert_true(tu_wait_stat_min(c, NN_STAT_BROKEN_CONNECTIONS, 1, TU_DEADLINE_MS));
    assert_int_equal(nn_get_statistic(c, NN_STAT_CURRENT_CONNECTIONS), 0);
    assert_int_equal(nn_send(c, "x", 1, NN_DONTWAIT), -1);
    assert_int_equal(nn_errno(), EAGAIN);
}

/* Child process: a PAIR server and a PAIR client that must fail to connect
   (scenario noca, wronghost or expired). Exit 0 once the client counted the
   broken connection and has no pipe. Plain checks, no cmocka. */
static int child(const char *scenario, const char *scheme, int port, const char *certs)
{
    char path[600], url[96];
    int srv = nn_socket(AF_SP, NN_PAIR), cli = nn_socket(AF_SP, NN_PAIR);
    if (srv < 0 || cli < 0)
        return 2;
    nn_setsockopt(srv, NN_SOL_SOCKET, NN_SOCKET_NAME, "server", 6);
    nn_setsockopt(cli, NN_SOL_SOCKET, NN_SOCKET_NAME, "client", 6);
    const char *name = strcmp(scenario, "noca") == 0      ? "self"
                       : strcmp(scenario, "expired") == 0 ? "expired"
                                                          : "server";
    snprintf(path, sizeof path, "%s/%s.crt", certs, name);
    nn_setsockopt(srv, NN_TLS, NN_TLS_CERT_FILE, path, strlen(path));
    snprintf(path, sizeof path, "%s/%s.key", certs, name);
    nn_setsockopt(srv, NN_TLS, NN_TLS_KEY_FILE, path, strlen(path));
    snprintf(url, sizeof url, "%s://127.0.0.1:%d", scheme, port);
    if (nn_bind(srv, url) < 0)
        return 3;
    if (strcmp(scenario, "noca") != 0) {
        snprintf(path, sizeof path, "%s/ca.crt", certs);
        nn_setsockopt(cli, NN_TLS, NN_TLS_CA_FILE, path, strlen(path));
    }
    if (strcmp(scenario, "wronghost") == 0)
        nn_setsockopt(cli, NN_TLS, NN_TLS_SERVER_NAME, "other.example", 13);
    snprintf(url, sizeof url, "%s://localhost:%d", scheme, port);
    if (nn_connect(cli, url) < 0)
        return 4;
    uint64_t end = tu_now_ms() + 8000;
    while (nn_get_statistic(cli, NN_STAT_BROKEN_CONNECTIONS) < 1 && tu_now_ms() < end)
        tu_sleep_ms(1);
    if (nn_get_statistic(cli, NN_STAT_BROKEN_CONNECTIONS) < 1)
        return 5;
    if (nn_get_statistic(cli, NN_STAT_CURRENT_CONNECTIONS) != 0 ||
        nn_get_statistic(srv, NN_STAT_CURRENT_CONNECTIONS) != 0)
        return 6;
    if (nn_send(cli, "x", 1, NN_DONTWAIT) != -1 || nn_errno() != EAGAIN)
        return 7;
    nn_close(cli);
    nn_close(srv);
    return 0;
}

/* Runs the child with NN_PRINT_ERRORS set and checks that it printed
   "nanomsg: socket.client[localhost:PORT]: Error: Protocol error (TLS
   handshake failed: <reason>)". */
static void refused_with_reason(const char *scenario, const char *scheme, const char *reason)
{
    int port = tu_free_port();
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        setenv("NN_PRINT_ERRORS", "1", 1);
        char arg[16];
        snprintf(arg, sizeof arg, "%d", port);
        execl("/proc/self/exe", "test_tls", "child", scenario, scheme, arg, tls_certs(), (char *) NULL);
        _exit(127);
    }
    close(fds[1]);
    static char out[8192];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof out - 1 && (r = read(fds[0], out + n, sizeof out - 1 - n)) > 0)
        n += (size_t) r;
    out[n] = 0;
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "child %s %s: status %d, stderr:\n%s\n", scenario, scheme, status, out);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    char want[512];
    snprintf(want, sizeof want,
             "nanomsg: socket.client[localhost:%d]: Error: Protocol error (TLS handshake failed: %s)\n", port,
             reason);
    if (!strstr(out, want))
        fprintf(stderr, "expected the line\n  %sin the child's stderr:\n%s\n", want, out);
    assert_non_null(strstr(out, want));
}

static void test_tls_client_without_ca_gets_no_connection_and_says_why(void **state)
{
    (void) state;
    refused_with_reason("noca", "tls+tcp",
                        "certificate verification failed: The certificate is not correctly signed by the trusted CA");
}

static void test_wss_client_without_ca_gets_no_connection_and_says_why(void **state)
{
    (void) state;
    refused_with_reason("noca", "wss",
                        "certificate verification failed: The certificate is not correctly signed by the trusted CA");
}

static void test_tls_wrong_server_name_is_refused_and_says_why(void **state)
{
    (void) state;
    refused_with_reason("wronghost", "tls+tcp",
                        "certificate verification failed: "
                        "The certificate Common Name (CN) does not match with the expected CN");
}

static void test_tls_expired_certificate_is_refused_and_says_why(void **state)
{
    (void) state;
    refused_with_reason("expired", "tls+tcp", "certificate verification failed: The certificate validity has expired");
}

static void test_tls_client_works_again_after_server_name_is_fixed(void **state)
{
    (void) state;
    char url[96];
    int srv = tls_server("tls+tcp", NN_PAIR, "server", FILES, url, sizeof url);
    int c = tls_client(NN_PAIR, FILES);
    tu_setstr(c, NN_TLS, NN_TLS_SERVER_NAME, "other.example");
    int eid = tu_connect(c, url);
    assert_client_refused(c);
    /* The options are taken at nn_connect: an empty value restores the
       default (the URL's host). */
    assert_int_equal(nn_shutdown(c, eid), 0);
    assert_int_equal(nn_setsockopt(c, NN_TLS, NN_TLS_SERVER_NAME, "", 0), 0);
    tu_connect(c, url);
    tu_send(c, "fixed");
    tu_recv(srv, "fixed");
    assert_int_equal(nn_close(c), 0);
    assert_int_equal(nn_close(srv), 0);
}

static void test_tls_server_name_option_allows_connecting_by_address(void **state)
{
    (void) state;
    char url[96];
    int srv = tls_server("tls+tcp", NN_PAIR, "server", FILES, url, sizeof url);
    int c = tls_client(NN_PAIR, FILES);
    tu_setstr(c, NN_TLS, NN_TLS_SERVER_NAME, "localhost");
    /* Same port, by address: the certificate is checked against the option. */
    char by_ip[96];
    snprintf(by_ip, sizeof by_ip, "tls+tcp://127.0.0.1:%s", strrchr(url, ':') + 1);
    tu_connect(c, by_ip);
    tu_send(c, "by address");
    tu_recv(srv, "by address");
    assert_int_equal(nn_close(c), 0);
    assert_int_equal(nn_close(srv), 0);
}

static void test_tls_expired_server_still_serves_client_that_does_not_verify(void **state)
{
    (void) state;
    char url[96];
    int srv = tls_server("tls+tcp", NN_PAIR, "expired", FILES, url, sizeof url);
    int bad = tls_client(NN_PAIR, FILES);
    tu_connect(bad, url);
    assert_client_refused(bad);
    int c = tu_socket(AF_SP, NN_PAIR);
    tu_setint(c, NN_TLS, NN_TLS_VERIFY, NN_TLS_VERIFY_NONE);
    assert_int_equal(nn_close(bad), 0);
    tu_connect(c, url);
    tu_send(c, "no questions asked");
    tu_recv(srv, "no questions asked");
    assert_int_equal(nn_close(c), 0);
    assert_int_equal(nn_close(srv), 0);
}

static void test_tls_verify_none_client_connects_to_self_signed_server(void **state)
{
    (void) state;
    char url[96];
    int srv = tls_server("tls+tcp", NN_REP, "self", FILES, url, sizeof url);
    int c = tu_socket(AF_SP, NN_REQ);
    tu_setint(c, NN_TLS, NN_TLS_VERIFY, NN_TLS_VERIFY_NONE);
    tu_connect(c, url);
    tu_send(c, "anyone?");
    tu_recv(srv, "anyone?");
    tu_send(srv, "me");
    tu_recv(c, "me");
    assert_int_equal(nn_close(c), 0);
    assert_int_equal(nn_close(srv), 0);
}

static void test_tls_self_signed_server_trusted_as_its_own_ca(void **state)
{
    (void) state;
    char url[96];
    int srv = tls_server("wss", NN_PAIR, "self", FILES, url, sizeof url);
    int c = tu_socket(AF_SP, NN_PAIR);
    tu_setstr(c, NN_TLS, NN_TLS_CA_FILE, tls_cert("self.crt"));
    tu_connect(c, url);
    tu_send(c, "pinned");
    tu_recv(srv, "pinned");
    assert_int_equal(nn_close(c), 0);
    assert_int_equal(nn_close(srv), 0);
}

/* ---- refusals: a server that drops a peer ---- */

static void test_tls_plaintext_sp_peer_is_dropped_and_server_keeps_working(void **state)
{
    (void) state;
    char url[96];
    int srv = tls_server("tls+tcp", NN_PULL, "server", FILES, url, sizeof url);
    int port = atoi(strrchr(url, ':') + 1);
    /* A raw SP-over-TCP peer: header, then a message. */
    int fd = tu_raw_connect(port);
    static const uint8_t hello[] = {0, 'S', 'P', 0, 0, 0x50, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 'h', 'i'};
    tu_raw_write(fd, hello, sizeof hello);
    assert_true(tu_wait_closed(fd, TU_DEADLINE_MS));
    close(fd);
    assert_true(tu_wait_stat_min(srv, NN_STAT_BROKEN_CONNECTIONS, 1, TU_DEADLINE_MS));
    /* A nanomsg tcp:// PUSH keeps knocking; a TLS PUSH gets through, and
       only its message arrives. */
    int plain = tu_socket(AF_SP, NN_PUSH);
    char tcp_url[64];
    snprintf(tcp_url, sizeof tcp_url, "tcp://127.0.0.1:%d", port);
    tu_connect(plain, tcp_url);
    assert_true(tu_wait_stat_min(srv, NN_STAT_BROKEN_CONNECTIONS, 3, TU_DEADLINE_MS));
    int c = tls_client(NN_PUSH, FILES);
    tu_connect(c, url);
    tu_send(c, "encrypted");
    tu_recv(srv, "encrypted");
    char buf[16];
    assert_int_equal(nn_recv(srv, buf, sizeof buf, NN_DONTWAIT), -1);
    assert_int_equal(nn_errno(), EAGAIN);
    assert_int_equal(nn_close(plain), 0);
    assert_int_equal(nn_close(c), 0);
    assert_int_equal(nn_close(srv), 0);
}

static void test_wss_plaintext_websocket_client_is_dropped(void **state)
{
    (void) state;
    char url[96], req[512];
    int srv = tls_server("wss", NN_PAIR, "server", FILES, url, sizeof url);
    int port = atoi(strrchr(url, ':') + 1);
    int fd = tu_raw_connect(port);
    tu_ws_request(req, sizeof req, "pair.sp.nanomsg.org");
    tu_raw_write_str(fd, req);
    assert_true(tu_wait_closed(fd, TU_DEADLINE_MS));
    close(fd);
    assert_true(tu_wait_stat_min(srv, NN_STAT_BROKEN_CONNECTIONS, 1, TU_DEADLINE_MS));
    int c = tls_client(NN_PAIR, FILES);
    tu_connect(c, url);
    tu_send(c, "over tls");
    tu_recv(srv, "over tls");
    assert_int_equal(nn_close(c), 0);
    assert_int_equal(nn_close(srv), 0);
}

/* ---- mutual TLS ---- */

/* A server that requires (or, optionally, asks for) a client certificate
   signed by the test CA. */
static int mutual_server(const char *scheme, int verify, char *url, size_t cap)
{
    char bind_url[96];
    int port = tu_free_port();
    int srv = tu_socket(AF_SP, NN_PAIR);
    tu_setstr(srv, NN_TLS, NN_TLS_CERT_FILE, tls_cert("server.crt"));
    tu_setstr(srv, NN_TLS, NN_TLS_KEY_FILE, tls_cert("server.key"));
    tu_setstr(srv, NN_TLS, NN_TLS_CA_FILE, tls_cert("ca.crt"));
    tu_setint(srv, NN_TLS, NN_TLS_VERIFY, verify);
    snprintf(bind_url, sizeof bind_url, "%s://127.0.0.1:%d", scheme, port);
    tu_bind(srv, bind_url);
    snprintf(url, cap, "%s://localhost:%d", scheme, port);
    return srv;
}

/* A client trusting the CA, presenting NAME.crt (NULL: no certificate). */
static int mutual_client(const char *name)
{
    int c = tls_client(NN_PAIR, FILES);
    if (name) {
        char f[64];
        snprintf(f, sizeof f, "%s.crt", name);
        tu_setstr(c, NN_TLS, NN_TLS_CERT_FILE, tls_cert(f));
        snprintf(f, sizeof f, "%s.key", name);
        tu_setstr(c, NN_TLS, NN_TLS_KEY_FILE, tls_cert(f));
    }
    return c;
}

static void test_tls_mutual_server_accepts_client_certificate_signed_by_ca(void **state)
{
    (void) state;
    char url[96];
    int srv = mutual_server("tls+tcp", NN_TLS_VERIFY_REQUIRED, url, sizeof url);
    int c = mutual_client("client");
    tu_connect(c, url);
    tu_send(c, "it is me");
    tu_recv(srv, "it is me");
    tu_send(srv, "welcome");
    tu_recv(c, "welcome");
    assert_int_equal(nn_close(c), 0);
    assert_int_equal(nn_close(srv), 0);
}

static void test_wss_mutual_server_accepts_client_certificate_signed_by_ca(void **state)
{
    (void) state;
    char url[96];
    int srv = mutual_server("wss", NN_TLS_VERIFY_REQUIRED, url, sizeof url);
    int c = mutual_client("client");
    tu_connect(c, url);
    tu_send(c, "it is me");
    tu_recv(srv, "it is me");
    assert_int_equal(nn_close(c), 0);
    assert_int_equal(nn_close(srv), 0);
}

static void mutual_refused(const char *client_cert)
{
    char url[96];
    int srv = mutual_server("tls+tcp", NN_TLS_VERIFY_REQUIRED, url, sizeof url);
    int bad = mutual_client(client_cert);
    tu_connect(bad, url);
    assert_client_refused(bad);
    assert_true(tu_wait_stat_min(srv, NN_STAT_BROKEN_CONNECTIONS, 1, TU_DEADLINE_MS));
    assert_int_equal(nn_get_statistic(srv, NN_STAT_CURRENT_CONNECTIONS), 0);
    assert_int_equal(nn_close(bad), 0);
    /* The server still takes a client with the right certificate. */
    int c = mutual_client("client");
    tu_connect(c, url);
    tu_send(c, "the right one");
    tu_recv(srv, "the right one");
    assert_int_equal(nn_close(c), 0);
    assert_int_equal(nn_close(srv), 0);
}

static void test_tls_mutual_server_refuses_client_without_certificate(void **state)
{
    (void) state;
    mutual_refused(NULL);
}

static void test_tls_mutual_server_refuses_self_signed_client_certificate(void **state)
{
    (void) state;
    mutual_refused("rogue");
}

static void test_tls_optional_verify_server_accepts_any_client(void **state)
{
    (void) state;
    /* OPTIONAL asks for a certificate but goes on whatever it gets. */
    char url[96];
    int srv = mutual_server("tls+tcp", NN_TLS_VERIFY_OPTIONAL, url, sizeof url);
    const char *who[] = {NULL, "rogue", "client"};
    for (int i = 0; i < 3; i++) {
        int c = mutual_client(who[i]);
        tu_connect(c, url);
        tu_send(c, "anyone");
        tu_recv(srv, "anyone");
        assert_int_equal(nn_close(c), 0);
    }
    assert_int_equal(nn_close(srv), 0);
}

/* ---- configuration errors ---- */

static void test_tls_bind_without_certificate_fails_with_einval(void **state)
{
    (void) state;
    char url[64];
    int port = tu_free_port();
    int s = tu_socket(AF_SP, NN_PAIR);
    snprintf(url, sizeof url, "tls+tcp://127.0.0.1:%d", port);
    assert_int_equal(nn_bind(s, url), -1);
    assert_int_equal(nn_errno(), EINVAL);
    snprintf(url, sizeof url, "wss://127.0.0.1:%d", port);
    assert_int_equal(nn_bind(s, url), -1);
    assert_int_equal(nn_errno(), EINVAL);
    /* A certificate without its key, or a file that is not there. */
    tu_setstr(s, NN_TLS, NN_TLS_CERT_FILE, tls_cert("server.crt"));
    assert_int_equal(nn_bind(s, url), -1);
    assert_int_equal(nn_errno(), EINVAL);
    tu_setstr(s, NN_TLS, NN_TLS_KEY_FILE, tls_cert("no-such.key"));
    assert_int_equal(nn_bind(s, url), -1);
    assert_int_equal(nn_errno(), EINVAL);
    /* Nothing was left bound: with the right key the same port works. */
    tu_setstr(s, NN_TLS, NN_TLS_KEY_FILE, tls_cert("server.key"));
    assert_true(nn_bind(s, url) >= 0);
    assert_int_equal(nn_close(s), 0);
}

static void test_tls_bind_with_key_not_matching_certificate_fails_with_einval(void **state)
{
    (void) state;
    /* Caught at nn_bind (mbedtls_pk_check_pair) instead of failing every
       handshake later. */
    char url[64];
    int s = tu_socket(AF_SP, NN_PAIR);
    snprintf(url, sizeof url, "tls+tcp://127.0.0.1:%d", tu_free_port());
    tu_setstr(s, NN_TLS, NN_TLS_CERT_FILE, tls_cert("server.crt"));
    tu_setstr(s, NN_TLS, NN_TLS_KEY_FILE, tls_cert("client.key"));
    assert_int_equal(nn_bind(s, url), -1);
    assert_int_equal(nn_errno(), EINVAL);
    assert_int_equal(nn_close(s), 0);
}

static void test_tls_connect_with_unreadable_ca_fails_with_einval(void **state)
{
    (void) state;
    int s = tu_socket(AF_SP, NN_PAIR);
    tu_setstr(s, NN_TLS, NN_TLS_CA_FILE, tls_cert("no-such-ca.crt"));
    assert_int_equal(nn_connect(s, "tls+tcp://localhost:5555"), -1);
    assert_int_equal(nn_errno(), EINVAL);
    tu_setstr(s, NN_TLS, NN_TLS_CA_PEM,
              "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n");
    assert_int_equal(nn_connect(s, "wss://localhost:5555/"), -1);
    assert_int_equal(nn_errno(), EINVAL);
    assert_int_equal(nn_close(s), 0);
}

static void test_tls_encrypted_key_needs_its_password(void **state)
{
    (void) state;
    char url[64];
    int s = tu_socket(AF_SP, NN_PAIR);
    snprintf(url, sizeof url, "tls+tcp://127.0.0.1:%d", tu_free_port());
    tu_setstr(s, NN_TLS, NN_TLS_CERT_FILE, tls_cert("server.crt"));
    tu_setstr(s, NN_TLS, NN_TLS_KEY_FILE, tls_cert("encrypted.key"));
    assert_int_equal(nn_bind(s, url), -1);
    assert_int_equal(nn_errno(), EINVAL);
    tu_setstr(s, NN_TLS, NN_TLS_KEY_PASSWORD, "wrong");
    assert_int_equal(nn_bind(s, url), -1);
    assert_int_equal(nn_errno(), EINVAL);
    tu_setstr(s, NN_TLS, NN_TLS_KEY_PASSWORD, "nanosp-test");
    assert_true(nn_bind(s, url) >= 0);
    int c = tls_client(NN_PAIR, FILES);
    char curl[64];
    snprintf(curl, sizeof curl, "tls+tcp://localhost:%s", strrchr(url, ':') + 1);
    tu_connect(c, curl);
    tu_send(c, "unlocked");
    tu_recv(s, "unlocked");
    assert_int_equal(nn_close(c), 0);
    assert_int_equal(nn_close(s), 0);
}

static void test_tls_options_are_validated(void **state)
{
    (void) state;
    int s = tu_socket(AF_SP, NN_PAIR);
    int v;
    size_t sz;
    char buf[600];
    /* NN_TLS_VERIFY: one of the three values, an int. */
    v = 3;
    assert_int_equal(nn_setsockopt(s, NN_TLS, NN_TLS_VERIFY, &v, sizeof v), -1);
    assert_int_equal(nn_errno(), EINVAL);
    v = -1;
    assert_int_equal(nn_setsockopt(s, NN_TLS, NN_TLS_VERIFY, &v, sizeof v), -1);
    assert_int_equal(nn_errno(), EINVAL);
    v = NN_TLS_VERIFY_OPTIONAL;
    assert_int_equal(nn_setsockopt(s, NN_TLS, NN_TLS_VERIFY, &v, 2), -1);
    assert_int_equal(nn_errno(), EINVAL);
    tu_setint(s, NN_TLS, NN_TLS_VERIFY, NN_TLS_VERIFY_OPTIONAL);
    v = -7;
    sz = sizeof v;
    assert_int_equal(nn_getsockopt(s, NN_TLS, NN_TLS_VERIFY, &v, &sz), 0);
    assert_int_equal(sz, sizeof v);
    assert_int_equal(v, NN_TLS_VERIFY_OPTIONAL);
    /* Strings read back as set (no NUL counted); an empty value clears. */
    const char *ca = tls_cert("ca.crt");
    tu_setstr(s, NN_TLS, NN_TLS_CA_FILE, ca);
    sz = sizeof buf;
    memset(buf, 0, sizeof buf);
    assert_int_equal(nn_getsockopt(s, NN_TLS, NN_TLS_CA_FILE, buf, &sz), 0);
    assert_int_equal(sz, strlen(ca));
    assert_string_equal(buf, ca);
    tu_setstr(s, NN_TLS, NN_TLS_SERVER_NAME, "example.org");
    sz = sizeof buf;
    memset(buf, 0, sizeof buf);
    assert_int_equal(nn_getsockopt(s, NN_TLS, NN_TLS_SERVER_NAME, buf, &sz), 0);
    assert_string_equal(buf, "example.org");
    assert_int_equal(nn_setsockopt(s, NN_TLS, NN_TLS_CA_FILE, "", 0), 0);
    sz = sizeof buf;
    assert_int_equal(nn_getsockopt(s, NN_TLS, NN_TLS_CA_FILE, buf, &sz), 0);
    assert_int_equal(sz, 0);
    /* Secrets are write-only. */
    tu_setstr(s, NN_TLS, NN_TLS_KEY_PEM, "-----BEGIN PRIVATE KEY-----\n");
    sz = sizeof buf;
    assert_int_equal(nn_getsockopt(s, NN_TLS, NN_TLS_KEY_PEM, buf, &sz), -1);
    assert_int_equal(nn_errno(), ENOPROTOOPT);
    tu_setstr(s, NN_TLS, NN_TLS_KEY_PASSWORD, "secret");
    sz = sizeof buf;
    assert_int_equal(nn_getsockopt(s, NN_TLS, NN_TLS_KEY_PASSWORD, buf, &sz), -1);
    assert_int_equal(nn_errno(), ENOPROTOOPT);
    /* Unknown options. */
    assert_int_equal(nn_setsockopt(s, NN_TLS, 99, "x", 1), -1);
    assert_int_equal(nn_errno(), ENOPROTOOPT);
    sz = sizeof buf;
    assert_int_equal(nn_getsockopt(s, NN_TLS, 99, buf, &sz), -1);
    assert_int_equal(nn_errno(), ENOPROTOOPT);
    assert_int_equal(nn_close(s), 0);
}

/* ---- NN_TCP_KEEPALIVE, read by tls+tcp and wss as by tcp ---- */

/* The kernel's keepalive settings of this process's TCP connection whose
   local port (accepted) or remote port (not) is port: SO_KEEPALIVE into
   *on, TCP_USER_TIMEOUT returned; -1 when there is no such connection. */
/* The TCP connection on `port`: this process's accepting end (own port) or
   connecting end (peer's port). */
struct tcp_port_end {
    int port;
    bool accepted;
};

static bool is_tcp_port_end(int fd, void *arg)
{
    const struct tcp_port_end *want = arg;
    struct sockaddr_in own, peer;
    socklen_t ol = sizeof own, pl = sizeof peer;
    if (getsockname(fd, (struct sockaddr *) &own, &ol) != 0 || own.sin_family != AF_INET ||
        getpeername(fd, (struct sockaddr *) &peer, &pl) != 0)
        return false;
    return ntohs(want->accepted ? own.sin_port : peer.sin_port) == want->port;
}

/* TCP_USER_TIMEOUT of that end, or -1 when there is none; *on: its SO_KEEPALIVE. */
static int user_timeout_at(int port, bool accepted, int *on)
{
    struct tcp_port_end want = {port, accepted};
    int fd = tu_find_socket(is_tcp_port_end, &want);
    if (fd < 0)
        return -1;
    socklen_t l = sizeof *on;
    unsigned int ut = 0;
    socklen_t ul = sizeof ut;
    assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, on, &l), 0);
    assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ut, &ul), 0);
    return (int) ut;
}

static void keepalive_on_both_ends(const char *scheme)
{
    char url[96];
    int srv = tls_server(scheme, NN_PAIR, "server", FILES, url, sizeof url);
    /* Read at each accepted connection, as by tcp: set after nn_bind. */
    tu_setint(srv, NN_TCP, NN_TCP_KEEPALIVE, 6000);
    int cli = tls_client(NN_PAIR, FILES);
    tu_setint(cli, NN_TCP, NN_TCP_KEEPALIVE, 9000);
    tu_connect(cli, url);
    tu_send(cli, "kept alive");
    tu_recv(srv, "kept alive");
    int port = atoi(strrchr(url, ':') + 1), on = -1;
    assert_int_equal(user_timeout_at(port, true, &on), 6000);
    assert_int_equal(on, 1);
    assert_int_equal(user_timeout_at(port, false, &on), 9000);
    assert_int_equal(on, 1);
    assert_int_equal(nn_close(cli), 0);
    assert_int_equal(nn_close(srv), 0);
}

static void test_tls_tcp_keepalive_applies_to_both_ends(void **state)
{
    (void) state;
    keepalive_on_both_ends("tls+tcp");
}

static void test_wss_keepalive_applies_to_both_ends(void **state)
{
    (void) state;
    keepalive_on_both_ends("wss");
}

/* ---- the handshake deadline ----
   A client that connects and says nothing is closed after 10 s. To keep the
   program short, the silent client starts in the group set-up, a thread
   watches for the close, and the last test collects the result. */

static struct {
    int srv;
    char url[96];
    int fd;
    uint64_t start;
    uint64_t closed_after; /* ms; 0: still open at the watch's deadline */
    tu_thread watcher;
} silent;

static void silent_watch(void *arg)
{
    (void) arg;
    if (tu_wait_closed(silent.fd, 16000))
        silent.closed_after = tu_now_ms() - silent.start;
}

static void test_tls_silent_client_is_closed_after_handshake_timeout(void **state)
{
    (void) state;
    tu_thread_join(&silent.watcher);
    close(silent.fd);
    silent.fd = -1;
    if (silent.closed_after < 9000 || silent.closed_after > 15000)
        fprintf(stderr, "silent client closed after %llu ms (0: never)\n",
                (unsigned long long) silent.closed_after);
    assert_true(silent.closed_after >= 9000 && silent.closed_after <= 15000);
    /* And the server still serves. */
    int c = tls_client(NN_PAIR, FILES);
    tu_connect(c, silent.url);
    tu_send(c, "after the silence");
    tu_recv(silent.srv, "after the silence");
    assert_int_equal(nn_close(c), 0);
}

static int setup(void **state)
{
    (void) state;
    tls_certs();
    silent.srv = tls_server("tls+tcp", NN_PAIR, "server", FILES, silent.url, sizeof silent.url);
    silent.fd = tu_raw_connect(atoi(strrchr(silent.url, ':') + 1));
    silent.start = tu_now_ms();
    tu_thread_start(&silent.watcher, silent_watch, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void) state;
    nn_close(silent.srv);
    return 0;
}

int main(int argc, char **argv)
{
    /* Every test sets the TLS options it needs: nothing may come from the
       caller's environment (nn_env(7); tls-env tests that). */
    const char *const env[] = {"SSL_CERT_FILE", "SSL_CERT_DIR", "NN_TLS_CA_FILE", "NN_TLS_CERT_FILE",
                               "NN_TLS_KEY_FILE", "NN_TLS_VERIFY", "NN_TLS_SERVER_NAME"};
    for (size_t i = 0; i < sizeof env / sizeof env[0]; i++)
        unsetenv(env[i]);
    if (argc == 6 && strcmp(argv[1], "child") == 0)
        return child(argv[2], argv[3], atoi(argv[4]), argv[5]);
    if (!tls_have_openssl())
        return tu_missing("openssl (it makes the test certificates)", "openssl");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_tcp_req_rep_with_ca_file),
        cmocka_unit_test(test_tls_tcp_req_rep_with_pem_in_memory),
        cmocka_unit_test(test_tls_tcp_push_pull_with_ca_file),
        cmocka_unit_test(test_tls_tcp_push_pull_with_pem_in_memory),
        cmocka_unit_test(test_wss_req_rep_with_ca_file),
        cmocka_unit_test(test_wss_req_rep_with_pem_in_memory),
        cmocka_unit_test(test_wss_push_pull_with_ca_file),
        cmocka_unit_test(test_wss_push_pull_with_pem_in_memory),
        cmocka_unit_test(test_tls_rcvmaxsize_lowered_after_connection_drops_next_oversize_message),
        cmocka_unit_test(test_wss_rcvmaxsize_lowered_after_connection_drops_next_oversize_message),
        cmocka_unit_test(test_tls_rcvmaxsize_raised_after_connection_lets_next_message_through),
        cmocka_unit_test(test_wss_rcvmaxsize_raised_after_connection_lets_next_message_through),
        cmocka_unit_test(test_tls_options_are_taken_at_nn_bind_and_nn_connect),
        cmocka_unit_test(test_wss_options_are_taken_at_nn_bind_and_nn_connect),
        cmocka_unit_test(test_tls_client_without_ca_gets_no_connection_and_says_why),
        cmocka_unit_test(test_wss_client_without_ca_gets_no_connection_and_says_why),
        cmocka_unit_test(test_tls_wrong_server_name_is_refused_and_says_why),
        cmocka_unit_test(test_tls_expired_certificate_is_refused_and_says_why),
        cmocka_unit_test(test_tls_client_works_again_after_server_name_is_fixed),
        cmocka_unit_test(test_tls_server_name_option_allows_connecting_by_address),
        cmocka_unit_test(test_tls_expired_server_still_serves_client_that_does_not_verify),
        cmocka_unit_test(test_tls_verify_none_client_connects_to_self_signed_server),
        cmocka_unit_test(test_tls_self_signed_server_trusted_as_its_own_ca),
        cmocka_unit_test(test_tls_plaintext_sp_peer_is_dropped_and_server_keeps_working),
        cmocka_unit_test(test_wss_plaintext_websocket_client_is_dropped),
        cmocka_unit_test(test_tls_mutual_server_accepts_client_certificate_signed_by_ca),
        cmocka_unit_test(test_wss_mutual_server_accepts_client_certificate_signed_by_ca),
        cmocka_unit_test(test_tls_mutual_server_refuses_client_without_certificate),
        cmocka_unit_test(test_tls_mutual_server_refuses_self_signed_client_certificate),
        cmocka_unit_test(test_tls_optional_verify_server_accepts_any_client),
        cmocka_unit_test(test_tls_bind_without_certificate_fails_with_einval),
        cmocka_unit_test(test_tls_bind_with_key_not_matching_certificate_fails_with_einval),
        cmocka_unit_test(test_tls_connect_with_unreadable_ca_fails_with_einval),
        cmocka_unit_test(test_tls_encrypted_key_needs_its_password),
        cmocka_unit_test(test_tls_options_are_validated),
        cmocka_unit_test(test_tls_tcp_keepalive_applies_to_both_ends),
        cmocka_unit_test(test_wss_keepalive_applies_to_both_ends),
        /* Last: it waits for the client that the set-up left silent. */
        cmocka_unit_test(test_tls_silent_client_is_closed_after_handshake_timeout),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
