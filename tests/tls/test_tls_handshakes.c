/* What a TLS handshake costs decides how fast connections come up, and two
   choices make it cheap without weakening it:
   - The key-exchange curve. mbedTLS 2.x lists its curves largest first, so
     two peers left to its defaults agree on secp521r1, about ten times the
     work of x25519. nanosp prefers x25519, then secp256r1, and still
     accepts every curve mbedTLS has.
   - Session resumption (RFC 5077 tickets). A server gives each client a
     ticket, its session encrypted under a key only that endpoint has; a
     client that connects to it again, from any socket of the process set
     to check the server the same way, resumes the session with no key
     exchange and no certificate to check. A ticket never outlives the
     server socket that made it, so it never spares a new server its
     certificate check.
   The peer is mbedTLS driven directly (tlspeer.h), whose handshake bytes
   show what happened: the server's ServerKeyExchange curve, the client's
   supported_groups and SessionTicket extensions, and which messages a
   handshake had (an abbreviated one has no Certificate, no key exchange). */
#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/tls.h>

#include <mbedtls/ecp.h>

#include "tlspeer.h"

/* TLS named-curve ids (RFC 8422, RFC 7748). */
#define TLS_X25519 29
#define TLS_SECP256R1 23
#define TLS_SECP384R1 24
#define TLS_SECP521R1 25

/* Handshake message types (RFC 5246, RFC 5077). */
#define HS_CLIENT_HELLO 1
#define HS_NEW_SESSION_TICKET 4
#define HS_CERTIFICATE 11
#define HS_SERVER_KEY_EXCHANGE 12
#define HS_CLIENT_KEY_EXCHANGE 16

/* ClientHello extensions. */
#define EXT_SUPPORTED_GROUPS 10
#define EXT_SESSION_TICKET 35

/* ---- nanosp's side ---- */

/* A server of protocol proto with cert.crt on port (0: a free one). */
static int server_socket_of(int proto, const char *cert, int *port)
{
    char url[64], crt[64], key[64];
    int s = tu_socket(AF_SP, proto);
    snprintf(crt, sizeof crt, "%s.crt", cert);
    snprintf(key, sizeof key, "%s.key", cert);
    tu_setstr(s, NN_TLS, NN_TLS_CERT_FILE, tls_cert(crt));
    tu_setstr(s, NN_TLS, NN_TLS_KEY_FILE, tls_cert(key));
    if (!*port)
        *port = tu_free_port();
    snprintf(url, sizeof url, "tls+tcp://127.0.0.1:%d", *port);
    tu_bind(s, url);
    return s;
}

/* A PAIR server (one peer at a time) with server.crt on a free port. */
static int server_socket(int *port)
{
    *port = 0;
    return server_socket_of(NN_PAIR, "server", port);
}

/* A client of protocol proto of host:port that checks the server against
   the test CA; verify: NN_TLS_VERIFY, or -1 to leave the default
   (required). */
static int client_socket_of(int proto, const char *host, int port, int verify)
{
    char url[96];
    int s = tu_socket(AF_SP, proto);
    tu_setstr(s, NN_TLS, NN_TLS_CA_FILE, tls_cert("ca.crt"));
    if (verify >= 0)
        tu_setint(s, NN_TLS, NN_TLS_VERIFY, verify);
    snprintf(url, sizeof url, "tls+tcp://%s:%d", host, port);
    tu_connect(s, url);
    return s;
}

static int client_socket(const char *host, int port, int verify)
{
    return client_socket_of(NN_PAIR, host, port, verify);
}

/* ---- the mbedTLS peer's side ---- */

/* A message each way between nanosp's socket s and the peer p, over the
   connection just set up: the handshake gave a working pipe. The peer
   speaks first (as a client it may; as a server it must, nanosp's PAIR
   client having nothing to say). */
static void exchange(int s, struct tp *p)
{
    struct bytes b = {0};
    b_sp_header(&b, NN_PAIR);
    b_sp_msg(&b, -1, "from the peer", 13);
    tp_write_record(p, b.p, b.len);
    b_free(&b);
    tu_recv(s, "from the peer");
    uint8_t hdr[8];
    assert_true(tp_read(p, hdr, 8, TU_DEADLINE_MS)); /* nanosp's SP header */
    tu_send(s, "from nanosp");
    uint8_t msg[8 + 11];
    assert_true(tp_read(p, msg, sizeof msg, TU_DEADLINE_MS));
    assert_memory_equal(msg + 8, "from nanosp", 11);
}

/* Whether the peer's handshake bytes (kept with keep_in) hold a message of
   the given type. */
static bool has_msg(struct tp *p, int type)
{
    struct bytes hs;
    size_t len;
    bool yes = tp_handshake_msg(p, type, &hs, &len) != NULL;
    b_free(&hs);
    return yes;
}

/* The ClientHello extension of the given type in the bytes a peer server
   kept: its data and length, or NULL. hs holds the bytes (caller frees). */
static const uint8_t *client_hello_ext(struct tp *p, int type, struct bytes *hs, size_t *elen)
{
    size_t len = 0;
    const uint8_t *ch = tp_handshake_msg(p, HS_CLIENT_HELLO, hs, &len);
    assert_non_null(ch);
    /* version, random, session id, cipher suites, compression methods */
    size_t off = 2 + 32;
    assert_true(off < len);
    off += 1 + ch[off];
    assert_true(off + 2 <= len);
    off += 2 + (size_t) (ch[off] << 8 | ch[off + 1]);
    assert_true(off < len);
    off += 1 + ch[off];
    assert_true(off + 2 <= len);
    size_t ext_end = off + 2 + (size_t) (ch[off] << 8 | ch[off + 1]);
    assert_true(ext_end <= len);
    for (off += 2; off + 4 <= ext_end;) {
        int t = ch[off] << 8 | ch[off + 1];
        size_t l = (size_t) (ch[off + 2] << 8 | ch[off + 3]);
        assert_true(off + 4 + l <= ext_end);
        if (t == type) {
            *elen = l;
            return ch + off + 4;
        }
        off += 4 + l;
    }
    return NULL;
}

/* ---- the curve ---- */

/* The curve our server chose for a client offering these curves, from its
   ServerKeyExchange (ECDHE: curve type 3, named_curve, then the point). */
static int server_curve(const mbedtls_ecp_group_id *offer)
{
    int port;
    struct tp p;
    int srv = server_socket(&port);
    tp_start_with(&p, tu_raw_connect(port), false, &(struct tp_opts){.curves = offer, .keep_in = true});
    struct bytes hs;
    size_t len = 0;
    const uint8_t *ske = tp_handshake_msg(&p, HS_SERVER_KEY_EXCHANGE, &hs, &len);
    assert_non_null(ske);
    assert_true(len >= 3);
    assert_int_equal(ske[0], 3);
    int curve = ske[1] << 8 | ske[2];
    b_free(&hs);
    exchange(srv, &p);
    tp_close(&p);
    tu_close(srv);
    return curve;
}

static void test_server_picks_x25519_when_the_client_offers_it(void **state)
{
    (void) state;
    static const mbedtls_ecp_group_id offer[] = {MBEDTLS_ECP_DP_SECP521R1, MBEDTLS_ECP_DP_SECP384R1,
                                                 MBEDTLS_ECP_DP_SECP256R1, MBEDTLS_ECP_DP_CURVE25519,
                                                 MBEDTLS_ECP_DP_NONE};
    assert_int_equal(server_curve(offer), TLS_X25519);
}

/* mbedTLS's default offer lists 13 curves, secp521r1 first and x25519
   12th; an mbedTLS 2.28 server reads only the first 11 of a client's list,
   so the best it sees is secp256r1 (5th) - not secp521r1, as its own
   default order would pick. */
static void test_server_picks_secp256r1_from_an_mbedtls_default_client(void **state)
{
    (void) state;
    assert_int_equal(server_curve(NULL), TLS_SECP256R1);
}

static void test_server_picks_secp256r1_from_a_client_without_x25519(void **state)
{
    (void) state;
    static const mbedtls_ecp_group_id offer[] = {MBEDTLS_ECP_DP_SECP521R1, MBEDTLS_ECP_DP_SECP384R1,
                                                 MBEDTLS_ECP_DP_SECP256R1, MBEDTLS_ECP_DP_NONE};
    assert_int_equal(server_curve(offer), TLS_SECP256R1);
}

/* Our client's ClientHello, as a peer server taking only server_curves
   (NULL: mbedTLS's defaults) saw it: the supported_groups it offered. The
   connection must work whatever the server chose. */
static void client_hello_groups(const mbedtls_ecp_group_id *server_curves, uint16_t *groups, size_t *n)
{
    int port;
    int lfd = tu_raw_listen(&port);
    int s = client_socket("localhost", port, -1);
    struct tp p;
    int fd = tu_accept(lfd, TU_DEADLINE_MS);
    assert_true(fd >= 0);
    tp_start_with(&p, fd, true, &(struct tp_opts){.curves = server_curves, .keep_in = true});
    struct bytes hs;
    size_t len = 0;
    const uint8_t *g = client_hello_ext(&p, EXT_SUPPORTED_GROUPS, &hs, &len);
    assert_non_null(g);
    assert_true(len >= 2);
    *n = 0;
    for (size_t i = 2; i + 1 < len && *n < 32; i += 2)
        groups[(*n)++] = (uint16_t) (g[i] << 8 | g[i + 1]);
    b_free(&hs);
    exchange(s, &p);
    tp_close(&p);
    tu_close(s);
    close(lfd);
}

static void test_client_offers_x25519_then_secp256r1_first(void **state)
{
    (void) state;
    uint16_t groups[32];
    size_t n;
    client_hello_groups(NULL, groups, &n);
    assert_true(n >= 4);
    assert_int_equal(groups[0], TLS_X25519);
    assert_int_equal(groups[1], TLS_SECP256R1);
    bool has521 = false;
    for (size_t i = 0; i < n; i++)
        has521 = has521 || groups[i] == TLS_SECP521R1;
    assert_true(has521);
}

/* The server's choice is one of the curves our client likes least. */
static void server_takes_only(mbedtls_ecp_group_id curve)
{
    const mbedtls_ecp_group_id only[] = {curve, MBEDTLS_ECP_DP_NONE};
    uint16_t groups[32];
    size_t n;
    client_hello_groups(only, groups, &n);
    assert_true(n >= 1);
}

static void test_client_connects_to_a_server_that_takes_only_secp521r1(void **state)
{
    (void) state;
    server_takes_only(MBEDTLS_ECP_DP_SECP521R1);
}

static void test_client_connects_to_a_server_that_takes_only_secp384r1(void **state)
{
    (void) state;
    server_takes_only(MBEDTLS_ECP_DP_SECP384R1);
}

/* ---- sessions: our server ---- */

/* A peer client's connection to our server on port, offering to resume
   resume (or not); the session it ends with goes to *got if not NULL.
   Returns whether the handshake was a full one (the server sent its
   certificate). */
static bool peer_client_handshake(int srv, int port, const mbedtls_ssl_session *resume, mbedtls_ssl_session *got)
{
    struct tp p;
    tp_start_with(&p, tu_raw_connect(port), false, &(struct tp_opts){.keep_in = true, .resume = resume});
    bool full = has_msg(&p, HS_CERTIFICATE);
    assert_int_equal(full, has_msg(&p, HS_SERVER_KEY_EXCHANGE));
    /* a ticket with every full handshake (a resumed one keeps its own) */
    assert_int_equal(has_msg(&p, HS_NEW_SESSION_TICKET), full);
    if (got)
        assert_int_equal(mbedtls_ssl_get_session(&p.ssl, got), 0);
    exchange(srv, &p);
    tp_close(&p);
    return full;
}

static void test_server_resumes_a_session_from_its_ticket(void **state)
{
    (void) state;
    int port;
    int srv = server_socket(&port);
    mbedtls_ssl_session s;
    mbedtls_ssl_session_init(&s);
    assert_true(peer_client_handshake(srv, port, NULL, &s));
    assert_non_null(s.ticket);
    assert_false(peer_client_handshake(srv, port, &s, NULL));
    assert_false(peer_client_handshake(srv, port, &s, NULL)); /* a ticket may serve again */
    mbedtls_ssl_session_free(&s);
    tu_close(srv);
}

static void test_server_takes_no_ticket_of_an_earlier_socket(void **state)
{
    (void) state;
    int port;
    int srv = server_socket(&port);
    mbedtls_ssl_session s;
    mbedtls_ssl_session_init(&s);
    assert_true(peer_client_handshake(srv, port, NULL, &s));
    tu_close(srv);
    /* The same certificate, the same port: a new socket, new ticket keys. */
    srv = server_socket_of(NN_PAIR, "server", &port);
    assert_true(peer_client_handshake(srv, port, &s, NULL));
    mbedtls_ssl_session_free(&s);
    tu_close(srv);
}

/* ---- sessions: our client ---- */

/* A peer server that gives tickets. It keeps a socket of ours open: the
   client's session cache lives as long as the library (until the last
   socket closed), and client_offers_ticket closes each client socket
   once it served. */
struct ticket_server {
    int keeper;
    int lfd, port;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_ssl_ticket_context tickets;
};

static void ticket_server_open(struct ticket_server *t)
{
    t->keeper = tu_socket(AF_SP, NN_PAIR);
    t->lfd = tu_raw_listen(&t->port);
    mbedtls_entropy_init(&t->entropy);
    mbedtls_ctr_drbg_init(&t->drbg);
    mbedtls_ssl_ticket_init(&t->tickets);
    assert_int_equal(mbedtls_ctr_drbg_seed(&t->drbg, mbedtls_entropy_func, &t->entropy, NULL, 0), 0);
    assert_int_equal(mbedtls_ssl_ticket_setup(&t->tickets, mbedtls_ctr_drbg_random, &t->drbg,
                                              MBEDTLS_CIPHER_AES_256_GCM, 3600),
                     0);
}

static void ticket_server_close(struct ticket_server *t)
{
    mbedtls_ssl_ticket_free(&t->tickets);
    mbedtls_ctr_drbg_free(&t->drbg);
    mbedtls_entropy_free(&t->entropy);
    close(t->lfd);
    tu_close(t->keeper);
}

/* Our client s (already connecting to t) handshakes with the peer server;
   returns whether it offered a ticket, and checks that the handshake was
   abbreviated exactly when it did (no ClientKeyExchange). s is closed
   before the peer's end, so that it does not reconnect: the peer's next
   accept is the next socket's connection. */
static bool client_offers_ticket(struct ticket_server *t, int s)
{
    struct tp p;
    int fd = tu_accept(t->lfd, TU_DEADLINE_MS);
    assert_true(fd >= 0);
    tp_start_with(&p, fd, true, &(struct tp_opts){.keep_in = true, .tickets = &t->tickets});
    struct bytes hs;
    size_t len = 0;
    bool offered = client_hello_ext(&p, EXT_SESSION_TICKET, &hs, &len) != NULL && len > 0;
    b_free(&hs);
    assert_int_equal(has_msg(&p, HS_CLIENT_KEY_EXCHANGE), !offered);
    exchange(s, &p);
    tu_close(s);
    tp_close(&p);
    return offered;
}

static void test_client_resumes_from_another_socket_with_the_same_settings(void **state)
{
    (void) state;
    struct ticket_server t;
    ticket_server_open(&t);
    int a = client_socket("localhost", t.port, -1);
    assert_false(client_offers_ticket(&t, a));
    int b = client_socket("localhost", t.port, NN_TLS_VERIFY_REQUIRED); /* the default, said */
    assert_true(client_offers_ticket(&t, b));
    ticket_server_close(&t);
}

static void test_client_does_not_resume_with_other_settings(void **state)
{
    (void) state;
    struct ticket_server t;
    ticket_server_open(&t);
    int a = client_socket("localhost", t.port, -1);
    assert_false(client_offers_ticket(&t, a));
    /* Checking the server less strictly, */
    int b = client_socket("localhost", t.port, NN_TLS_VERIFY_OPTIONAL);
    assert_false(client_offers_ticket(&t, b));
    /* or by its address instead of its name (the name it checks stays
       localhost), */
    int c = tu_socket(AF_SP, NN_PAIR);
    char url[64];
    tu_setstr(c, NN_TLS, NN_TLS_CA_FILE, tls_cert("ca.crt"));
    tu_setstr(c, NN_TLS, NN_TLS_SERVER_NAME, "localhost");
    snprintf(url, sizeof url, "tls+tcp://127.0.0.1:%d", t.port);
    tu_connect(c, url);
    assert_false(client_offers_ticket(&t, c));
    /* or with a certificate of its own: a session of its own. */
    int d = tu_socket(AF_SP, NN_PAIR);
    tu_setstr(d, NN_TLS, NN_TLS_CA_FILE, tls_cert("ca.crt"));
    tu_setstr(d, NN_TLS, NN_TLS_CERT_FILE, tls_cert("client.crt"));
    tu_setstr(d, NN_TLS, NN_TLS_KEY_FILE, tls_cert("client.key"));
    snprintf(url, sizeof url, "tls+tcp://localhost:%d", t.port);
    tu_connect(d, url);
    assert_false(client_offers_ticket(&t, d));
    /* The first settings again: the session is still there. */
    int e = client_socket("localhost", t.port, -1);
    assert_true(client_offers_ticket(&t, e));
    ticket_server_close(&t);
}

/* ---- sessions: ours on both sides ---- */

static void test_cached_session_does_not_spare_a_new_server_its_certificate_check(void **state)
{
    (void) state;
    int port;
    int srv = server_socket(&port);
    int a = client_socket("localhost", port, -1);
    tu_send(a, "first");
    tu_recv(srv, "first");
    tu_close(a);
    tu_close(srv);
    /* Another server on the same address, with a certificate the CA did
       not sign: the cached session must not let the client skip the check. */
    srv = server_socket_of(NN_PAIR, "self", &port);
    int b = client_socket("localhost", port, -1);
    assert_true(tu_wait_stat_min(b, NN_STAT_BROKEN_CONNECTIONS, 1, TU_DEADLINE_MS));
    assert_int_equal(nn_get_statistic(b, NN_STAT_CURRENT_CONNECTIONS), 0);
    assert_int_equal(nn_send(b, "x", 1, NN_DONTWAIT), -1);
    assert_int_equal(nn_errno(), EAGAIN);
    tu_close(b);
    tu_close(srv);
}

static void test_many_clients_of_one_server_all_get_through(void **state)
{
    (void) state;
    /* The crowd the cache is for: the first handshakes are full, the
       later ones resumed; every socket's message must arrive. */
    enum { N = 20 };
    int port = 0;
    int srv = server_socket_of(NN_PULL, "server", &port);
    int c[N];
    for (int i = 0; i < N; i++) {
        c[i] = client_socket_of(NN_PUSH, "localhost", port, -1);
        tu_send(c[i], "hello");
    }
    for (int i = 0; i < N; i++)
        tu_recv(srv, "hello");
    for (int i = 0; i < N; i++)
        tu_close(c[i]);
    tu_close(srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_picks_x25519_when_the_client_offers_it),
        cmocka_unit_test(test_server_picks_secp256r1_from_an_mbedtls_default_client),
        cmocka_unit_test(test_server_picks_secp256r1_from_a_client_without_x25519),
        cmocka_unit_test(test_client_offers_x25519_then_secp256r1_first),
        cmocka_unit_test(test_client_connects_to_a_server_that_takes_only_secp521r1),
        cmocka_unit_test(test_client_connects_to_a_server_that_takes_only_secp384r1),
        cmocka_unit_test(test_server_resumes_a_session_from_its_ticket),
        cmocka_unit_test(test_server_takes_no_ticket_of_an_earlier_socket),
        cmocka_unit_test(test_client_resumes_from_another_socket_with_the_same_settings),
        cmocka_unit_test(test_client_does_not_resume_with_other_settings),
        cmocka_unit_test(test_cached_session_does_not_spare_a_new_server_its_certificate_check),
        cmocka_unit_test(test_many_clients_of_one_server_all_get_through),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
