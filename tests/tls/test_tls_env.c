/* TLS material from the environment, for programs that cannot set NN_TLS
   options (nn_env(7)): SSL_CERT_FILE and SSL_CERT_DIR are trusted when
   set, NN_TLS_CERT_FILE/NN_TLS_KEY_FILE give an endpoint its certificate,
   NN_TLS_VERIFY and NN_TLS_SERVER_NAME change verification. What a program
   sets with nn_setsockopt wins, and the environment is read when an
   endpoint is created (nn_bind/nn_connect), never afterwards: a client
   keeps reconnecting with what it read then. Certificates come from
   mkcerts.sh. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include <nanomsg/pair.h>
#include <nanomsg/reqrep.h>
#include <nanomsg/tls.h>

#include "testutil.h"
#include "certs.h"

static const char *const tls_env[] = {
    "SSL_CERT_FILE", "SSL_CERT_DIR", "NN_TLS_CA_FILE", "NN_TLS_CERT_FILE", "NN_TLS_KEY_FILE",
    "NN_TLS_VERIFY", "NN_TLS_SERVER_NAME",
};

static void clear_env(void)
{
    for (size_t i = 0; i < sizeof tls_env / sizeof tls_env[0]; i++)
        unsetenv(tls_env[i]);
}

static int reset(void **state)
{
    (void) state;
    clear_env();
    return 0;
}

/* A server on tls+tcp://127.0.0.1:<port> with NAME.crt/NAME.key set as
   options (none when name is NULL: from the environment); url gets the
   address clients use. */
static int server(int protocol, const char *name, char *url, size_t cap, int port)
{
    char bind_url[64];
    int s = tu_socket(AF_SP, protocol);
    if (name) {
        char crt[64], key[64];
        snprintf(crt, sizeof crt, "%s.crt", name);
        snprintf(key, sizeof key, "%s.key", name);
        tu_setstr(s, NN_TLS, NN_TLS_CERT_FILE, tls_cert(crt));
        tu_setstr(s, NN_TLS, NN_TLS_KEY_FILE, tls_cert(key));
    }
    snprintf(bind_url, sizeof bind_url, "tls+tcp://127.0.0.1:%d", port);
    tu_bind(s, bind_url);
    snprintf(url, cap, "tls+tcp://localhost:%d", port);
    return s;
}

static void exchange(int client, int srv, const char *msg)
{
    tu_send(client, msg);
    tu_recv(srv, msg);
}

/* The client tried (a handshake failed) and has no connection. */
static void assert_refused(int c, uint64_t attempts)
{
    assert_true(tu_wait_stat_min(c, NN_STAT_BROKEN_CONNECTIONS, attempts, TU_DEADLINE_MS));
    assert_int_equal(nn_get_statistic(c, NN_STAT_CURRENT_CONNECTIONS), 0);
    assert_int_equal(nn_send(c, "x", 1, NN_DONTWAIT), -1);
    assert_int_equal(nn_errno(), EAGAIN);
}

static void test_env_ssl_cert_file_is_trusted_by_a_client_without_options(void **state)
{
    (void) state;
    char url[64];
    int srv = server(NN_PAIR, "server", url, sizeof url, tu_free_port());
    setenv("SSL_CERT_FILE", tls_cert("ca.crt"), 1);
    int c = tu_socket(AF_SP, NN_PAIR);
    tu_connect(c, url);
    exchange(c, srv, "trusted through SSL_CERT_FILE");
    assert_int_equal(nn_close(c), 0);
    assert_int_equal(nn_close(srv), 0);
}

static void test_env_ssl_cert_file_bundle_with_an_unusable_certificate_trusts_the_others(void **state)
{
    (void) state;
    /* As OpenSSL does with a bundle: a certificate that cannot be parsed is
       skipped, not a reason to trust nothing. */
    char bundle[600], cmd[2000];
    snprintf(bundle, sizeof bundle, "%s/bundle.pem", tu_tmpdir());
    snprintf(cmd, sizeof cmd,
             "{ printf -- '-----BEGIN CERTIFICATE-----\\nAAAA\\n-----END CERTIFICATE-----\\n'; cat '%s'; } >'%s'",
             tls_cert("ca.crt"), bundle);
    assert_int_equal(system(cmd), 0);
    setenv("SSL_CERT_FILE", bundle, 1);
    char url[64];
    int srv = server(NN_PAIR, "server", url, sizeof url, tu_free_port());
    int c = tu_socket(AF_SP, NN_PAIR);
    tu_connect(c, url);
    exchange(c, srv, "trusted through a bundle with a bad entry");
    assert_int_equal(nn_close(c), 0);
    assert_int_equal(nn_close(srv), 0);
}

static void test_env_ssl_cert_dir_list_is_trusted(void **state)
{
    (void) state;
    /* OpenSSL's syntax: directories separated by ':'. The first has nothing
       useful, the second the test CA. */
    char empty[600], cadir[600], list[1300];
    snprintf(empty, sizeof empty, "%s/empty-cadir", tu_tmpdir());
    snprintf(cadir, sizeof cadir, "%s/cadir", tu_tmpdir());
    mkdir(empty, 0700);
    mkdir(cadir, 0700);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s/ca.pem'", tls_cert("ca.crt"), cadir);
    assert_int_equal(system(cmd), 0);
    snprintf(list, sizeof list, "%s:%s", empty, cadir);
    setenv("SSL_CERT_DIR", list, 1);
    char url[64];
    int srv = server(NN_PAIR, "server", url, sizeof url, tu_free_port());
    int c = tu_socket(AF_SP, NN_PAIR);
    tu_connect(c, url);
    exchange(c, srv, "trusted through SSL_CERT_DIR");
    assert_int_equal(nn_close(c), 0);
    assert_int_equal(nn_close(srv), 0);
}

static void test_env_without_ca_the_system_store_does_not_trust_the_test_ca(void **state)
{
    (void) state;
    char url[64];
    int srv = server(NN_PAIR, "server", url, sizeof url, tu_free_port());
    int c = tu_socket(AF_SP, NN_PAIR);
    tu_connect(c, url);
    assert_refused(c, 1);
    assert_int_equal(nn_close(c), 0);
    assert_int_equal(nn_close(srv), 0);
}

static void test_env_ca_option_wins_over_ssl_cert_file(void **state)
{
    (void) state;
    char url[64];
    int srv = server(NN_PAIR, "server", url, sizeof url, tu_free_port());
    setenv("SSL_CERT_FILE", tls_cert("ca.crt"), 1);
    int c = tu_socket(AF_SP, NN_PAIR);
    tu_setstr(c, NN_TLS, NN_TLS_CA_FILE, tls_cert("self.crt")); /* not the server's CA */
    tu_connect(c, url);
    assert_refused(c, 1);
    assert_int_equal(nn_close(c), 0);
    assert_int_equal(nn_close(srv), 0);
}

static void test_env_verify_option_wins_over_nn_tls_verify(void **state)
{
    (void) state;
    char url[64];
    int srv = server(NN_PAIR, "self", url, sizeof url, tu_free_port());
    setenv("NN_TLS_VERIFY", "none", 1);
    int c = tu_socket(AF_SP, NN_PAIR);
    tu_setint(c, NN_TLS, NN_TLS_VERIFY, NN_TLS_VERIFY_REQUIRED);
    tu_connect(c, url);
    assert_refused(c, 1);
    assert_int_equal(nn_close(c), 0);
    /* Without the option, the environment applies. */
    c = tu_socket(AF_SP, NN_PAIR);
    tu_connect(c, url);
    exchange(c, srv, "not verified, as NN_TLS_VERIFY=none says");
    assert_int_equal(nn_close(c), 0);
    assert_int_equal(nn_close(srv), 0);
}

static void test_env_server_name_option_wins_over_nn_tls_server_name(void **state)
{
    (void) state;
    char url[64];
    int port = tu_free_port();
    int srv = server(NN_PAIR, "server", url, sizeof url, port);
    snprintf(url, sizeof url, "tls+tcp://127.0.0.1:%d", port); /* no name to check */
    setenv("SSL_CERT_FILE", tls_cert("ca.crt"), 1);
    setenv("NN_TLS_SERVER_NAME", "other.example", 1);
    int c = tu_socket(AF_SP, NN_PAIR);
    tu_setstr(c, NN_TLS, NN_TLS_SERVER_NAME, "localhost");
    tu_connect(c, url);
    exchange(c, srv, "the option's name");
    assert_int_equal(nn_close(c), 0);
    c = tu_socket(AF_SP, NN_PAIR);
    tu_connect(c, url);
    assert_refused(c, 1); /* other.example is not in the certificate */
    assert_int_equal(nn_close(c), 0);
    setenv("NN_TLS_SERVER_NAME", "localhost", 1);
    c = tu_socket(AF_SP, NN_PAIR);
    tu_connect(c, url);
    exchange(c, srv, "the environment's name");
    assert_int_equal(nn_close(c), 0);
    assert_int_equal(nn_close(srv), 0);
}

static void test_env_server_takes_certificate_and_key_from_environment(void **state)
{
    (void) state;
    setenv("NN_TLS_CERT_FILE", tls_cert("server.crt"), 1);
    setenv("NN_TLS_KEY_FILE", tls_cert("server.key"), 1);
    char url[64];
    int srv = server(NN_REP, NULL, url, sizeof url, tu_free_port());
    clear_env();
    int c = tu_socket(AF_SP, NN_REQ);
    tu_setstr(c, NN_TLS, NN_TLS_CA_FILE, tls_cert("ca.crt"));
    tu_connect(c, url);
    exchange(c, srv, "request");
    exchange(srv, c, "reply");
    assert_int_equal(nn_close(c), 0);
    assert_int_equal(nn_close(srv), 0);
}

static void test_env_key_may_be_in_the_certificate_file(void **state)
{
    (void) state;
    char both[600], cmd[2000];
    snprintf(both, sizeof both, "%s/server-and-key.pem", tu_tmpdir());
    snprintf(cmd, sizeof cmd, "cat '%s' '%s' >'%s'", tls_cert("server.crt"), tls_cert("server.key"), both);
    assert_int_equal(system(cmd), 0);
    setenv("NN_TLS_CERT_FILE", both, 1);
    char url[64];
    int srv = server(NN_PAIR, NULL, url, sizeof url, tu_free_port());
    clear_env();
    int c = tu_socket(AF_SP, NN_PAIR);
    tu_setstr(c, NN_TLS, NN_TLS_CA_FILE, tls_cert("ca.crt"));
    tu_connect(c, url);
    exchange(c, srv, "one file");
    assert_int_equal(nn_close(c), 0);
    assert_int_equal(nn_close(srv), 0);
}

static void test_env_certificate_option_wins_over_nn_tls_cert_file(void **state)
{
    (void) state;
    /* The environment names a certificate the client does not trust; the
       server's options name the one it does. */
    setenv("NN_TLS_CERT_FILE", tls_cert("self.crt"), 1);
    setenv("NN_TLS_KEY_FILE", tls_cert("self.key"), 1);
    char url[64];
    int srv = server(NN_PAIR, "server", url, sizeof url, tu_free_port());
    clear_env();
    int c = tu_socket(AF_SP, NN_PAIR);
    tu_setstr(c, NN_TLS, NN_TLS_CA_FILE, tls_cert("ca.crt"));
    tu_connect(c, url);
    exchange(c, srv, "the option's certificate");
    assert_int_equal(nn_close(c), 0);
    assert_int_equal(nn_close(srv), 0);
}

static void test_env_client_certificate_from_environment_satisfies_mutual_tls(void **state)
{
    (void) state;
    char url[64];
    int port = tu_free_port();
    int srv = tu_socket(AF_SP, NN_PAIR);
    tu_setstr(srv, NN_TLS, NN_TLS_CERT_FILE, tls_cert("server.crt"));
    tu_setstr(srv, NN_TLS, NN_TLS_KEY_FILE, tls_cert("server.key"));
    tu_setstr(srv, NN_TLS, NN_TLS_CA_FILE, tls_cert("ca.crt"));
    tu_setint(srv, NN_TLS, NN_TLS_VERIFY, NN_TLS_VERIFY_REQUIRED);
    snprintf(url, sizeof url, "tls+tcp://127.0.0.1:%d", port);
    tu_bind(srv, url);
    snprintf(url, sizeof url, "tls+tcp://localhost:%d", port);
    setenv("SSL_CERT_FILE", tls_cert("ca.crt"), 1);
    setenv("NN_TLS_CERT_FILE", tls_cert("client.crt"), 1);
    setenv("NN_TLS_KEY_FILE", tls_cert("client.key"), 1);
    int c = tu_socket(AF_SP, NN_PAIR);
    tu_connect(c, url);
    exchange(c, srv, "with the environment's client certificate");
    assert_int_equal(nn_close(c), 0);
    assert_int_equal(nn_close(srv), 0);
}

static void test_env_is_read_at_connect_and_reconnects_keep_it(void **state)
{
    (void) state;
    char url[64];
    int port = tu_free_port();
    int srv = server(NN_PAIR, "server", url, sizeof url, port);
    setenv("SSL_CERT_FILE", tls_cert("ca.crt"), 1);
    int c = tu_socket(AF_SP, NN_PAIR);
    tu_connect(c, url);
    /* A program that changes its environment (or loses the right to read
       the file) after nn_connect keeps what was read. */
    setenv("SSL_CERT_FILE", tls_cert("no-such-file.crt"), 1);
    exchange(c, srv, "first server");
    assert_int_equal(nn_close(srv), 0);
    srv = server(NN_PAIR, "server", url, sizeof url, port);
    /* Sent before the client saw the first connection end, the message
       would go down that connection and be lost with it (PAIR keeps no
       copy): wait for the second one, which only a trusted handshake
       establishes. */
    assert_true(tu_wait_stat_min(c, NN_STAT_ESTABLISHED_CONNECTIONS, 2, TU_DEADLINE_MS));
    exchange(c, srv, "second server, after a reconnect");
    assert_int_equal(nn_close(c), 0);
    assert_int_equal(nn_close(srv), 0);
}

static void test_env_set_after_connect_does_not_apply_to_that_endpoint(void **state)
{
    (void) state;
    char url[64];
    int srv = server(NN_PAIR, "server", url, sizeof url, tu_free_port());
    int c = tu_socket(AF_SP, NN_PAIR);
    tu_connect(c, url);
    assert_refused(c, 1);
    setenv("SSL_CERT_FILE", tls_cert("ca.crt"), 1);
    assert_refused(c, 2); /* it retried, still without the CA */
    assert_int_equal(nn_close(c), 0);
    /* A new endpoint reads it. */
    c = tu_socket(AF_SP, NN_PAIR);
    tu_connect(c, url);
    exchange(c, srv, "new endpoint");
    assert_int_equal(nn_close(c), 0);
    assert_int_equal(nn_close(srv), 0);
}

static void test_env_bad_values_fail_bind_and_connect_with_einval(void **state)
{
    (void) state;
    int s = tu_socket(AF_SP, NN_PAIR);
    setenv("NN_TLS_VERIFY", "sometimes", 1);
    assert_int_equal(nn_connect(s, "tls+tcp://localhost:5555"), -1);
    assert_int_equal(nn_errno(), EINVAL);
    /* Plain transports do not read it. */
    assert_true(nn_connect(s, "tcp://localhost:5555") >= 0);
    clear_env();
    setenv("SSL_CERT_FILE", tls_cert("no-such-ca.crt"), 1);
    assert_int_equal(nn_connect(s, "wss://localhost:5555/"), -1);
    assert_int_equal(nn_errno(), EINVAL);
    clear_env();
    setenv("SSL_CERT_DIR", tls_cert("no-such-dir"), 1);
    assert_int_equal(nn_connect(s, "tls+tcp://localhost:5555"), -1);
    assert_int_equal(nn_errno(), EINVAL);
    clear_env();
    char url[64];
    snprintf(url, sizeof url, "tls+tcp://127.0.0.1:%d", tu_free_port());
    setenv("NN_TLS_CERT_FILE", tls_cert("no-such.crt"), 1);
    assert_int_equal(nn_bind(s, url), -1);
    assert_int_equal(nn_errno(), EINVAL);
    setenv("NN_TLS_CERT_FILE", tls_cert("server.crt"), 1); /* the key is not in this file */
    assert_int_equal(nn_bind(s, url), -1);
    assert_int_equal(nn_errno(), EINVAL);
    setenv("NN_TLS_KEY_FILE", tls_cert("client.key"), 1); /* not its key */
    assert_int_equal(nn_bind(s, url), -1);
    assert_int_equal(nn_errno(), EINVAL);
    setenv("NN_TLS_KEY_FILE", tls_cert("server.key"), 1);
    assert_true(nn_bind(s, url) >= 0);
    assert_int_equal(nn_close(s), 0);
}

int main(void)
{
    if (!tls_have_openssl()) {
        const char *ci = getenv("CI");
        fprintf(stderr, "openssl is needed to make the test certificates\n");
        return ci && strcmp(ci, "true") == 0 ? 1 : 77;
    }
    clear_env();
    tls_certs();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_env_ssl_cert_file_is_trusted_by_a_client_without_options, reset, reset),
        cmocka_unit_test_setup_teardown(test_env_ssl_cert_file_bundle_with_an_unusable_certificate_trusts_the_others,
                                        reset, reset),
        cmocka_unit_test_setup_teardown(test_env_ssl_cert_dir_list_is_trusted, reset, reset),
        cmocka_unit_test_setup_teardown(test_env_without_ca_the_system_store_does_not_trust_the_test_ca, reset,
                                        reset),
        cmocka_unit_test_setup_teardown(test_env_ca_option_wins_over_ssl_cert_file, reset, reset),
        cmocka_unit_test_setup_teardown(test_env_verify_option_wins_over_nn_tls_verify, reset, reset),
        cmocka_unit_test_setup_teardown(test_env_server_name_option_wins_over_nn_tls_server_name, reset, reset),
        cmocka_unit_test_setup_teardown(test_env_server_takes_certificate_and_key_from_environment, reset, reset),
        cmocka_unit_test_setup_teardown(test_env_key_may_be_in_the_certificate_file, reset, reset),
        cmocka_unit_test_setup_teardown(test_env_certificate_option_wins_over_nn_tls_cert_file, reset, reset),
        cmocka_unit_test_setup_teardown(test_env_client_certificate_from_environment_satisfies_mutual_tls, reset,
                                        reset),
        cmocka_unit_test_setup_teardown(test_env_is_read_at_connect_and_reconnects_keep_it, reset, reset),
        cmocka_unit_test_setup_teardown(test_env_set_after_connect_does_not_apply_to_that_endpoint, reset, reset),
        cmocka_unit_test_setup_teardown(test_env_bad_values_fail_bind_and_connect_with_einval, reset, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
