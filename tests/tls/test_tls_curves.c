/* Which curve a TLS connection's key exchange runs on decides how fast
   connections come up: mbedTLS 2.x lists its curves largest first, so two
   peers left to its defaults agree on secp521r1, about ten times the work
   of x25519 per handshake. nanosp prefers x25519, then secp256r1, and
   still accepts every curve mbedTLS has. The peer is mbedTLS driven
   directly (tlspeer.h), whose handshake bytes show the choice: the curve
   of the server's ServerKeyExchange, the order of the client's
   supported_groups extension. */
#include <nanomsg/pair.h>
#include <nanomsg/tls.h>

#include <mbedtls/ecp.h>

#include "tlspeer.h"

/* TLS named-curve ids (RFC 8422, RFC 7748). */
#define TLS_X25519 29
#define TLS_SECP256R1 23
#define TLS_SECP384R1 24
#define TLS_SECP521R1 25

static int server_socket(int *port)
{
    char url[64];
    int s = tu_socket(AF_SP, NN_PAIR);
    tu_setstr(s, NN_TLS, NN_TLS_CERT_FILE, tls_cert("server.crt"));
    tu_setstr(s, NN_TLS, NN_TLS_KEY_FILE, tls_cert("server.key"));
    *port = tu_free_port();
    snprintf(url, sizeof url, "tls+tcp://127.0.0.1:%d", *port);
    tu_bind(s, url);
    return s;
}

/* A message each way over the established connection, so that the choice
   did not only get through the handshake but gives a working pipe. */
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

/* The curve our server chose, from its ServerKeyExchange (ECDHE: curve
   type 3, named_curve, then the point). */
static int server_curve(const mbedtls_ecp_group_id *offer)
{
    int port;
    struct tp p;
    int srv = server_socket(&port);
    tp_start_with(&p, tu_raw_connect(port), false, offer, true);
    struct bytes hs;
    size_t len = 0;
    const uint8_t *ske = tp_handshake_msg(&p, 12, &hs, &len);
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

/* Our client's ClientHello: supported_groups (extension 10) lists x25519,
   then secp256r1, then the others; and a server that only takes secp521r1
   still gets a working connection. */
static void client_hello_groups(const mbedtls_ecp_group_id *server_curves, uint16_t *groups, size_t *n)
{
    int port;
    char url[64];
    int lfd = tu_raw_listen(&port);
    int s = tu_socket(AF_SP, NN_PAIR);
    tu_setstr(s, NN_TLS, NN_TLS_CA_FILE, tls_cert("ca.crt"));
    snprintf(url, sizeof url, "tls+tcp://localhost:%d", port);
    tu_connect(s, url);
    struct tp p;
    int fd = tu_accept(lfd, TU_DEADLINE_MS);
    assert_true(fd >= 0);
    tp_start_with(&p, fd, true, server_curves, true);
    struct bytes hs;
    size_t len = 0;
    const uint8_t *ch = tp_handshake_msg(&p, 1, &hs, &len);
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
    *n = 0;
    for (off += 2; off + 4 <= ext_end;) {
        int type = ch[off] << 8 | ch[off + 1];
        size_t elen = (size_t) (ch[off + 2] << 8 | ch[off + 3]);
        assert_true(off + 4 + elen <= ext_end);
        if (type == 10) {
            assert_true(elen >= 2);
            for (size_t i = 2; i + 1 < elen && *n < 32; i += 2)
                groups[(*n)++] = (uint16_t) (ch[off + 4 + i] << 8 | ch[off + 5 + i]);
        }
        off += 4 + elen;
    }
    b_free(&hs);
    /* The server speaks first here (no message from the peer to wait for). */
    struct bytes b = {0};
    b_sp_header(&b, NN_PAIR);
    b_sp_msg(&b, -1, "to the client", 13);
    tp_write_record(&p, b.p, b.len);
    b_free(&b);
    tu_recv(s, "to the client");
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

/* The server's choice is one of the curves our client likes least; the
   connection must still work (client_hello_groups exchanges a message). */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_picks_x25519_when_the_client_offers_it),
        cmocka_unit_test(test_server_picks_secp256r1_from_an_mbedtls_default_client),
        cmocka_unit_test(test_server_picks_secp256r1_from_a_client_without_x25519),
        cmocka_unit_test(test_client_offers_x25519_then_secp256r1_first),
        cmocka_unit_test(test_client_connects_to_a_server_that_takes_only_secp521r1),
        cmocka_unit_test(test_client_connects_to_a_server_that_takes_only_secp384r1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
