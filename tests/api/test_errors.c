/* nn_errno / nn_strerror, the nanomsg-specific errno values, nn_symbol /
   nn_symbol_info bounds, and nn_device argument errors. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>

#include "testutil.h"

static void test_nanomsg_specific_errno_values_match_libnanomsg(void **state)
{
    (void) state;
    assert_int_equal(NN_HAUSNUMERO, 156384712);
    assert_int_equal(ETERM, 156384712 + 53);
    assert_int_equal(EFSM, 156384712 + 54);
}

static void test_nn_errno_returns_errno_of_last_failure(void **state)
{
    (void) state;
    assert_int_equal(nn_close(-1), -1);
    assert_int_equal(nn_errno(), EBADF);
    assert_int_equal(nn_errno(), errno);
    assert_int_equal(nn_socket(AF_SP, 0), -1);
    assert_int_equal(nn_errno(), EINVAL);
}

static void test_strerror_describes_nanomsg_and_system_errors(void **state)
{
    (void) state;
    assert_string_equal(nn_strerror(ETERM), "Nanomsg library was terminated");
    assert_string_equal(nn_strerror(EFSM), "Operation cannot be performed in this state");
    int sys[] = {EINVAL, EBADF, EAGAIN, ETIMEDOUT, ENOPROTOOPT, EADDRINUSE, EMFILE};
    for (size_t i = 0; i < sizeof sys / sizeof sys[0]; i++)
        assert_string_equal(nn_strerror(sys[i]), strerror(sys[i]));
}

static void test_symbol_outside_table_returns_null_with_einval(void **state)
{
    (void) state;
    int v = 0x5a;
    errno = 0;
    assert_null(nn_symbol(-1, &v));
    assert_int_equal(nn_errno(), EINVAL);
    assert_int_equal(v, 0x5a);
    errno = 0;
    assert_null(nn_symbol(121, &v));
    assert_int_equal(nn_errno(), EINVAL);
    errno = 0;
    assert_null(nn_symbol(100000, NULL));
    assert_int_equal(nn_errno(), EINVAL);
}

static void test_symbol_table_names_and_values_can_be_looked_up(void **state)
{
    (void) state;
    int v = -1;
    assert_string_equal(nn_symbol(0, &v), "NN_NS_NAMESPACE");
    assert_int_equal(v, 0);
    const char *last = nn_symbol(120, &v);
    assert_non_null(last);
    assert_string_equal(last, "NN_STAT_CURRENT_EP_ERRORS");
    assert_int_equal(v, NN_STAT_CURRENT_EP_ERRORS);
    /* Look a few up by name, as bindings do. */
    struct {
        const char *name;
        int value;
    } want[] = {{"AF_SP", AF_SP}, {"NN_PAIR", NN_PAIR}, {"NN_PUSH", NN_PUSH},
                {"NN_PULL", NN_PULL}, {"NN_LINGER", NN_LINGER},
                {"NN_SOCKET_NAME", NN_SOCKET_NAME}, {"NN_DONTWAIT", NN_DONTWAIT},
                {"ETERM", ETERM}, {"EFSM", EFSM}, {"EBADF", EBADF}};
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        bool found = false;
        for (int i = 0;; i++) {
            const char *name = nn_symbol(i, &v);
            if (!name)
                break;
            if (strcmp(name, want[k].name) == 0) {
                found = true;
                assert_int_equal(v, want[k].value);
            }
        }
        if (!found) {
            print_error("symbol %s not found\n", want[k].name);
            fail();
        }
    }
}

static void test_symbol_info_copies_entry_and_returns_zero_outside_table(void **state)
{
    (void) state;
    struct nn_symbol_properties p;
    memset(&p, 0, sizeof p);
    assert_int_equal(nn_symbol_info(34, &p, (int) sizeof p), (int) sizeof p);
    assert_string_equal(p.name, "NN_PAIR");
    assert_int_equal(p.value, NN_PAIR);
    assert_int_equal(p.ns, NN_NS_PROTOCOL);
    assert_int_equal(nn_symbol_info(-1, &p, (int) sizeof p), 0);
    assert_int_equal(nn_symbol_info(121, &p, (int) sizeof p), 0);
    /* A shorter buffer gets a prefix. */
    int value = -1;
    assert_int_equal(nn_symbol_info(34, (struct nn_symbol_properties *) &value,
                                    (int) sizeof value),
                     (int) sizeof value);
    assert_int_equal(value, NN_PAIR);
}

static void test_device_with_two_bad_sockets_fails_with_ebadf(void **state)
{
    (void) state;
    assert_nn_fail(nn_device(-1, -1), EBADF);
    assert_nn_fail(nn_device(5, 6), EBADF);
    int s = tu_socket_default(AF_SP_RAW, NN_PAIR);
    assert_nn_fail(nn_device(s, 300), EBADF);
}

static void test_device_with_cooked_socket_fails_with_einval(void **state)
{
    (void) state;
    int cooked = tu_socket_default(AF_SP, NN_PAIR);
    int raw = tu_socket_default(AF_SP_RAW, NN_PAIR);
    assert_nn_fail(nn_device(cooked, -1), EINVAL);
    assert_nn_fail(nn_device(-1, cooked), EINVAL);
    assert_nn_fail(nn_device(cooked, raw), EINVAL);
    assert_nn_fail(nn_device(raw, cooked), EINVAL);
}

static void test_device_across_protocol_families_fails_with_einval(void **state)
{
    (void) state;
    int pair = tu_socket_default(AF_SP_RAW, NN_PAIR);
    int pull = tu_socket_default(AF_SP_RAW, NN_PULL);
    assert_nn_fail(nn_device(pair, pull), EINVAL);
    assert_nn_fail(nn_device(pull, pair), EINVAL);
}

static void test_device_with_incompatible_directions_fails_with_einval(void **state)
{
    (void) state;
    int push1 = tu_socket_default(AF_SP_RAW, NN_PUSH);
    int push2 = tu_socket_default(AF_SP_RAW, NN_PUSH);
    int pull1 = tu_socket_default(AF_SP_RAW, NN_PULL);
    int pull2 = tu_socket_default(AF_SP_RAW, NN_PULL);
    assert_nn_fail(nn_device(push1, push2), EINVAL);
    assert_nn_fail(nn_device(pull1, pull2), EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        tu_test(test_nanomsg_specific_errno_values_match_libnanomsg),
        tu_test(test_nn_errno_returns_errno_of_last_failure),
        tu_test(test_strerror_describes_nanomsg_and_system_errors),
        tu_test(test_symbol_outside_table_returns_null_with_einval),
        tu_test(test_symbol_table_names_and_values_can_be_looked_up),
        tu_test(test_symbol_info_copies_entry_and_returns_zero_outside_table),
        tu_test(test_device_with_two_bad_sockets_fails_with_ebadf),
        tu_test(test_device_with_cooked_socket_fails_with_einval),
        tu_test(test_device_across_protocol_families_fails_with_einval),
        tu_test(test_device_with_incompatible_directions_fails_with_einval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
