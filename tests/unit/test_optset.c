/* Transport options as the core keeps them (core/optset.h): a socket holds
   no block for a level until an option is set there, reads the defaults
   without keeping them, keeps nothing after a refused first value, copies
   blocks deeply (an endpoint's copy outlives changes to the socket's) and
   frees what they own (the ASan build checks the leaks). And the registry:
   each transport level finds its owner's option set, transports carry the
   socket types they list, and the endpoint of a type a transport does not
   carry is refused with EPROTONOSUPPORT. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <nanomsg/inproc.h>
#include <nanomsg/ipc.h>
#include <nanomsg/nn.h>
#include <nanomsg/pair.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/tcp.h>
#include <nanomsg/tls.h>
#include <nanomsg/ws.h>

#include "testutil.h"
#include "core/optset.h"
#include "protocol.h"
#include "sp_config.h"
#include "transport.h"

/* ---- a fake option set: an int with bounds and a string ---- */

enum { FAKE_NUM = 1, FAKE_STR = 2 };

struct fake_opts {
    int num;
    char *str;
};

/* Blocks made (init or copy) and freed: equal once all is torn down. */
static int fake_made, fake_freed;

static void fake_init(void *p)
{
    struct fake_opts *o = p;
    o->num = 7;
    o->str = NULL;
    fake_made++;
}

static void fake_term(void *p)
{
    struct fake_opts *o = p;
    free(o->str);
    o->str = NULL;
    fake_freed++;
}

static int fake_copy(void *dst, const void *src)
{
    const struct fake_opts *s = src;
    struct fake_opts *d = dst;
    fake_made++;
    d->num = s->num;
    d->str = s->str ? strdup(s->str) : NULL;
    return s->str && !d->str ? -ENOMEM : 0;
}

static int fake_set(void *p, int option, const void *val, size_t len)
{
    struct fake_opts *o = p;
    if (option == FAKE_NUM) {
        int v;
        if (len != sizeof v)
            return -EINVAL;
        memcpy(&v, val, sizeof v);
        if (v < 0)
            return -EINVAL;
        o->num = v;
        return 0;
    }
    if (option == FAKE_STR) {
        char *s = strndup(val, len);
        if (!s)
            return -ENOMEM;
        free(o->str);
        o->str = s;
        return 0;
    }
    return -ENOPROTOOPT;
}

static int fake_get(const void *p, int option, void *val, size_t *len)
{
    const struct fake_opts *o = p;
    if (option == FAKE_NUM) {
        memcpy(val, &o->num, *len < sizeof(int) ? *len : sizeof(int));
        *len = sizeof(int);
        return 0;
    }
    if (option == FAKE_STR) {
        const char *s = o->str ? o->str : "";
        size_t n = strlen(s);
        memcpy(val, s, *len < n ? *len : n);
        *len = n;
        return 0;
    }
    return -ENOPROTOOPT;
}

static const struct sp_optset fake_set_def = {
    .level = -100,
    .size = sizeof(struct fake_opts),
    .init = fake_init,
    .term = fake_term,
    .copy = fake_copy,
    .set = fake_set,
    .get = fake_get,
};

static int get_num(const struct sp_optstore *st)
{
    int v = -1;
    size_t len = sizeof v;
    assert_int_equal(sp_optstore_get(st, &fake_set_def, FAKE_NUM, &v, &len), 0);
    assert_int_equal(len, sizeof v);
    return v;
}

static void test_a_socket_keeps_no_block_until_an_option_is_set(void **state)
{
    (void) state;
    struct sp_optstore st;
    sp_optstore_init(&st);
    assert_int_equal(get_num(&st), 7); /* the defaults, read... */
    assert_int_equal(st.n, 0);         /* ...without keeping them */
    int bad = -1;
    assert_int_equal(sp_optstore_set(&st, &fake_set_def, FAKE_NUM, &bad, sizeof bad), -EINVAL);
    assert_int_equal(sp_optstore_set(&st, &fake_set_def, 99, &bad, sizeof bad), -ENOPROTOOPT);
    assert_int_equal(st.n, 0); /* refused values leave nothing behind */
    int v = 3;
    assert_int_equal(sp_optstore_set(&st, &fake_set_def, FAKE_NUM, &v, sizeof v), 0);
    assert_int_equal(st.n, 1);
    assert_int_equal(get_num(&st), 3);
    assert_int_equal(sp_optstore_set(&st, &fake_set_def, FAKE_NUM, &bad, sizeof bad), -EINVAL);
    assert_int_equal(get_num(&st), 3); /* a refused value changes nothing */
    sp_optstore_term(&st);
    assert_int_equal(fake_made, fake_freed);
}

static void test_an_endpoint_copy_is_deep_and_outlives_later_changes(void **state)
{
    (void) state;
    struct sp_optstore st;
    sp_optstore_init(&st);
    assert_int_equal(sp_optstore_set(&st, &fake_set_def, FAKE_STR, "first", 5), 0);
    struct fake_opts *copy = sp_optset_dup(&st, &fake_set_def);
    assert_non_null(copy);
    assert_int_equal(sp_optstore_set(&st, &fake_set_def, FAKE_STR, "second", 6), 0);
    assert_string_equal(copy->str, "first");
    char buf[16];
    size_t len = sizeof buf;
    assert_int_equal(sp_optstore_get(&st, &fake_set_def, FAKE_STR, buf, &len), 0);
    assert_int_equal(len, 6);
    assert_memory_equal(buf, "second", 6);
    sp_optset_free(&fake_set_def, copy);
    /* A copy of a level never set: the defaults. */
    struct sp_optstore none;
    sp_optstore_init(&none);
    struct fake_opts *d = sp_optset_dup(&none, &fake_set_def);
    assert_non_null(d);
    assert_int_equal(d->num, 7);
    assert_null(d->str);
    sp_optset_free(&fake_set_def, d);
    sp_optstore_term(&st);
    assert_int_equal(fake_made, fake_freed);
}

/* ---- the registry ---- */

static void test_each_transport_level_finds_its_owners_option_set(void **state)
{
    (void) state;
    const int levels[] = {NN_TCP, NN_IPC,
#if SP_HAVE_MBEDTLS
                          NN_WS, NN_TLS
#endif
    };
    for (size_t i = 0; i < TU_ARRAY_LEN(levels); i++) {
        const struct sp_optset *set = sp_optset_find(levels[i]);
        assert_non_null(set);
        assert_int_equal(set->level, levels[i]);
    }
    assert_null(sp_optset_find(NN_INPROC)); /* inproc has no options */
    assert_null(sp_optset_find(-1000));
    assert_null(sp_optset_find(NN_SOL_SOCKET));
}

static void test_a_transport_carries_only_the_types_it_lists(void **state)
{
    (void) state;
    const struct sp_socktype *pub = sp_socktype_find(AF_SP, NN_PUB);
    const struct sp_socktype *xpub = sp_socktype_find(AF_SP_RAW, NN_PUB);
    const struct sp_socktype *pair = sp_socktype_find(AF_SP, NN_PAIR);
    static const int multicast[] = {NN_PUB, NN_SUB, 0};
    const struct sp_transport listed = {.scheme = "fake", .protocols = multicast};
    assert_true(sp_transport_carries(&listed, pub));
    assert_true(sp_transport_carries(&listed, xpub)); /* raw and cooked alike */
    assert_false(sp_transport_carries(&listed, pair));
    const struct sp_transport all = {.scheme = "fake2"};
    assert_true(sp_transport_carries(&all, pair));
    /* Every transport of the library carries every type today. */
    const char *schemes[] = {"inproc", "ipc", "tcp",
#if SP_HAVE_MBEDTLS
                             "ws", "wss", "tls+tcp"
#endif
    };
    for (size_t i = 0; i < TU_ARRAY_LEN(schemes); i++) {
        const struct sp_transport *tp = sp_transport_find(schemes[i], strlen(schemes[i]));
        assert_non_null(tp);
        assert_true(sp_transport_carries(tp, pair));
        assert_true(sp_transport_carries(tp, xpub));
    }
}

static void test_transport_init_and_term_run_as_the_library_starts_and_stops(void **state)
{
    (void) state;
    /* The first socket starts the transports (inproc sets up its registry
       of addresses there), the last one stops them; twice in a row. */
    for (int round = 0; round < 2; round++) {
        int a = nn_socket(AF_SP, NN_PAIR), b = nn_socket(AF_SP, NN_PAIR);
        assert_true(a >= 0 && b >= 0);
        assert_true(nn_bind(a, "inproc://optset-test") >= 0);
        assert_true(nn_connect(b, "inproc://optset-test") >= 0);
        assert_int_equal(nn_send(b, "x", 1, 0), 1);
        char c;
        assert_int_equal(nn_recv(a, &c, 1, 0), 1);
        assert_int_equal(nn_close(a), 0);
        assert_int_equal(nn_close(b), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_socket_keeps_no_block_until_an_option_is_set),
        cmocka_unit_test(test_an_endpoint_copy_is_deep_and_outlives_later_changes),
        cmocka_unit_test(test_each_transport_level_finds_its_owners_option_set),
        cmocka_unit_test(test_a_transport_carries_only_the_types_it_lists),
        cmocka_unit_test(test_transport_init_and_term_run_as_the_library_starts_and_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
