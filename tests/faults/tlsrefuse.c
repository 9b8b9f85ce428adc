/* TLS refusals, each with a clear NN_PRINT_ERRORS line, while good clients
   keep being served. One REP server (socket name "server") binds four
   endpoints: tls+tcp with a good certificate, tls+tcp with an expired one,
   tls+tcp requiring a client certificate, and plain tcp. A good REQ client
   ("good") stays connected to the first all along and exchanges a message
   after every refusal; a new good client is served at the end. The refused
   clients, one per case, are REQ sockets named after the case:
     wrongca     trusts a CA that did not sign the server's certificate
     wrongname   expects another name than the certificate's
     expired     meets the server whose certificate has expired
     plaintext   speaks plain SP (tcp://) to the TLS port
     tlstoplain  speaks TLS to the plain tcp port
     nocert      has no certificate for the server that requires one
   For each: the refused client never gets a connection, and the line each
   side prints under NN_PRINT_ERRORS says why (asserted verbatim; the
   figures quote them). NN_PRINT_ERRORS is read when the library starts, so
   it is set before the first socket and this process's stderr goes to a
   file while the refusals run. */
#include "faults.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>
#include <nanomsg/tls.h>

static char errpath[600];
static int saved_stderr = -1;

static void setstr(int s, int opt, const char *v)
{
    assert_int_equal(nn_setsockopt(s, NN_TLS, opt, v, strlen(v)), 0);
}

static int sock(int protocol, const char *name)
{
    int s = nn_socket(AF_SP, protocol);
    int tmo = FX_DEADLINE_MS;
    assert_true(s >= 0);
    assert_int_equal(nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDTIMEO, &tmo, sizeof tmo), 0);
    assert_int_equal(nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &tmo, sizeof tmo), 0);
    assert_int_equal(nn_setsockopt(s, NN_SOL_SOCKET, NN_SOCKET_NAME, name, strlen(name)), 0);
    return s;
}

/* The good client asks and the server answers: it is being served. */
static void exchange(int srv, int cli, const char *what)
{
    char buf[64];
    int n = (int) strlen(what);
    assert_int_equal(nn_send(cli, what, (size_t) n, 0), n);
    assert_int_equal(nn_recv(srv, buf, sizeof buf, 0), n);
    assert_int_equal(nn_send(srv, buf, (size_t) n, 0), n);
    assert_int_equal(nn_recv(cli, buf, sizeof buf, 0), n);
}

struct stat_arg {
    int s, stat;
};

static bool stat_nonzero(void *p)
{
    struct stat_arg *a = p;
    uint64_t v = nn_get_statistic(a->s, a->stat);
    return v != (uint64_t) -1 && v > 0;
}

/* Waits until text shows up in the captured stderr. */
struct text_arg {
    const char *text;
};

static bool printed(void *p)
{
    struct text_arg *a = p;
    fflush(stderr);
    char *err = fx_slurp(errpath);
    bool found = err && strstr(err, a->text);
    free(err);
    return found;
}

static void expect_line(const char *line)
{
    struct text_arg a = {line};
    if (!tu_wait_until(printed, &a, FX_DEADLINE_MS)) {
        char *err = fx_slurp(errpath);
        dprintf(saved_stderr, "expected the line\n  %swhich is not in what NN_PRINT_ERRORS printed:\n%s\n", line,
                err ? err : "");
        free(err);
        fail();
    }
    /* The figure without its newline. */
    char quoted[512];
    snprintf(quoted, sizeof quoted, "%.*s", (int) strlen(line) - 1, line);
    fx_figure("tlsrefuse", "%s", quoted);
}

/* The refused client c counted a failed connection and has none. */
static void refused(int c, int srv)
{
    struct stat_arg broken = {c, NN_STAT_BROKEN_CONNECTIONS};
    assert_true(tu_wait_until(stat_nonzero, &broken, FX_DEADLINE_MS));
    assert_int_equal(nn_get_statistic(c, NN_STAT_CURRENT_CONNECTIONS), 0);
    assert_int_equal(nn_send(c, "let me in", 9, NN_DONTWAIT), 9); /* REQ queues it */
    char buf[16];
    assert_int_equal(nn_recv(srv, buf, sizeof buf, NN_DONTWAIT), -1);
    assert_int_equal(nn_errno(), EAGAIN);
}

static void test_tls_refusals_say_why_and_good_clients_keep_being_served(void **state)
{
    (void) state;
    int p_good = tu_free_port(), p_expired = tu_free_port(), p_mutual = tu_free_port(), p_plain = tu_free_port();
    char url[128], want[600];
    int srv = sock(NN_REP, "server");
    setstr(srv, NN_TLS_CERT_FILE, fx_cert("server.crt"));
    setstr(srv, NN_TLS_KEY_FILE, fx_cert("server.key"));
    snprintf(url, sizeof url, "tls+tcp://127.0.0.1:%d", p_good);
    assert_true(nn_bind(srv, url) >= 0);
    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", p_plain);
    assert_true(nn_bind(srv, url) >= 0);
    setstr(srv, NN_TLS_CA_FILE, fx_cert("ca.crt"));
    int required = NN_TLS_VERIFY_REQUIRED;
    assert_int_equal(nn_setsockopt(srv, NN_TLS, NN_TLS_VERIFY, &required, sizeof required), 0);
    snprintf(url, sizeof url, "tls+tcp://127.0.0.1:%d", p_mutual);
    assert_true(nn_bind(srv, url) >= 0);
    int none = NN_TLS_VERIFY_NONE;
    assert_int_equal(nn_setsockopt(srv, NN_TLS, NN_TLS_VERIFY, &none, sizeof none), 0);
    setstr(srv, NN_TLS_CERT_FILE, fx_cert("expired.crt"));
    setstr(srv, NN_TLS_KEY_FILE, fx_cert("expired.key"));
    snprintf(url, sizeof url, "tls+tcp://127.0.0.1:%d", p_expired);
    assert_true(nn_bind(srv, url) >= 0);

    int good = sock(NN_REQ, "good");
    setstr(good, NN_TLS_CA_FILE, fx_cert("ca.crt"));
    snprintf(url, sizeof url, "tls+tcp://localhost:%d", p_good);
    assert_true(nn_connect(good, url) >= 0);
    exchange(srv, good, "before");

    /* Each refusal: the lines both sides print (NULL: that side prints
       nothing of its own, e.g. a plain tcp:// client or server, which keeps
       libnanomsg's behaviour). */
    char tls_good[64], tls_expired[64], tls_mutual[64], tcp_good[64], tls_plain[64];
    snprintf(tls_good, sizeof tls_good, "tls+tcp://localhost:%d", p_good);
    snprintf(tls_expired, sizeof tls_expired, "tls+tcp://localhost:%d", p_expired);
    snprintf(tls_mutual, sizeof tls_mutual, "tls+tcp://localhost:%d", p_mutual);
    snprintf(tcp_good, sizeof tcp_good, "tcp://127.0.0.1:%d", p_good);
    snprintf(tls_plain, sizeof tls_plain, "tls+tcp://localhost:%d", p_plain);
    struct refusal {
        const char *name;
        const char *url;
        const char *ca;          /* NN_TLS_CA_FILE, NULL: none (plain tcp) */
        const char *server_name; /* NN_TLS_SERVER_NAME, NULL: the host's */
        int port;                /* the server's, in its line */
        const char *client_says;
        const char *server_says;
    } cases[] = {
        {"wrongca", tls_good, "self.crt", NULL, p_good,
         "certificate verification failed: The certificate is not correctly signed by the trusted CA",
         "the client refused it: unknown CA (alert 48)"},
        {"wrongname", tls_good, "ca.crt", "other.example", p_good,
         "certificate verification failed: The certificate Common Name (CN) does not match with the expected CN",
         "the client refused it: bad certificate (alert 42)"},
        {"expired", tls_expired, "ca.crt", NULL, p_expired,
         "certificate verification failed: The certificate validity has expired",
         "the client refused it: certificate expired (alert 45)"},
        {"plaintext", tcp_good, NULL, NULL, p_good, NULL,
         "the client speaks SP without TLS (it connects to a tcp:// address?)"},
        {"tlstoplain", tls_plain, "ca.crt", NULL, p_plain, "the server speaks SP without TLS (a tcp:// address?)",
         NULL},
        {"nocert", tls_mutual, "ca.crt", NULL, p_mutual,
         "the server closed the connection; it may require a client certificate (NN_TLS_CERT_FILE)",
         "the client sent no certificate, and this endpoint requires one"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct refusal *r = &cases[i];
        int c = sock(NN_REQ, r->name);
        if (r->ca)
            setstr(c, NN_TLS_CA_FILE, fx_cert(r->ca));
        if (r->server_name)
            setstr(c, NN_TLS_SERVER_NAME, r->server_name);
        assert_true(nn_connect(c, r->url) >= 0);
        refused(c, srv);
        if (r->client_says) {
            snprintf(want, sizeof want, "nanomsg: socket.%s[localhost:%d]: Error: Protocol error (TLS handshake "
                     "failed: %s)\n", r->name, r->port, r->client_says);
            expect_line(want);
        }
        if (r->server_says) {
            snprintf(want, sizeof want, "nanomsg: socket.server[127.0.0.1:%d]: Error: Protocol error (TLS "
                     "handshake failed: %s)\n", r->port, r->server_says);
            expect_line(want);
        }
        assert_int_equal(nn_close(c), 0);
        char what[64];
        snprintf(what, sizeof what, "after %s", r->name);
        exchange(srv, good, what);
    }

    /* A new good client is served too. */
    int late = sock(NN_REQ, "late");
    setstr(late, NN_TLS_CA_FILE, fx_cert("ca.crt"));
    snprintf(url, sizeof url, "tls+tcp://localhost:%d", p_good);
    assert_true(nn_connect(late, url) >= 0);
    exchange(srv, late, "late");
    assert_int_equal(nn_close(late), 0);
    assert_int_equal(nn_close(good), 0);
    assert_int_equal(nn_close(srv), 0);
}

int main(int argc, char **argv)
{
    (void) argc;
    (void) argv;
    signal(SIGPIPE, SIG_IGN);
    if (!fx_cert("ca.crt"))
        return tu_missing("openssl (it makes the test certificates)", "openssl");
    /* Everything is set per socket here: nothing from the environment. */
    const char *const vars[] = {"SSL_CERT_FILE", "SSL_CERT_DIR", "NN_TLS_CA_FILE", "NN_TLS_CERT_FILE",
                                "NN_TLS_KEY_FILE", "NN_TLS_VERIFY", "NN_TLS_SERVER_NAME"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
    setenv("NN_PRINT_ERRORS", "1", 1);
    snprintf(errpath, sizeof errpath, "%s/print_errors.txt", tu_tmpdir());
    fflush(stderr);
    saved_stderr = dup(2);
    int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (saved_stderr < 0 || fd < 0 || dup2(fd, 2) < 0)
        return 1;
    close(fd);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_refusals_say_why_and_good_clients_keep_being_served),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    fflush(stderr);
    dup2(saved_stderr, 2);
    if (rc) {
        char *err = fx_slurp(errpath);
        fprintf(stderr, "--- this process's stderr (NN_PRINT_ERRORS, cmocka):\n%s---\n", err ? err : "");
        free(err);
    }
    return rc;
}
