/* Pins the nn_symbol / nn_symbol_info table and nn_strerror of our library to
   libnanomsg 1.1.5, without needing Debian's library at run time. Bindings
   look constants up by name through these calls, so each test asserts
   something a binding would see. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include <nanomsg/nn.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>

static int symbol_count(void)
{
    struct nn_symbol_properties sym;
    int i = 0;
    while (nn_symbol_info(i, &sym, (int) sizeof sym) != 0)
        i++;
    return i;
}

/* Looks a symbol up by name the way nnpy does; -1 if absent. */
static int find_symbol(const char *name, struct nn_symbol_properties *out)
{
    for (int i = 0; nn_symbol_info(i, out, (int) sizeof *out) != 0; i++)
        if (strcmp(out->name, name) == 0)
            return i;
    return -1;
}

static void assert_entry(int i, const char *name, int value, int ns, int type,
                         int unit)
{
    struct nn_symbol_properties sym;
    assert_int_equal(nn_symbol_info(i, &sym, (int) sizeof sym),
                     (int) sizeof sym);
    assert_string_equal(sym.name, name);
    assert_int_equal(sym.value, value);
    assert_int_equal(sym.ns, ns);
    assert_int_equal(sym.type, type);
    assert_int_equal(sym.unit, unit);

    int v = -12345;
    assert_string_equal(nn_symbol(i, &v), name);
    assert_int_equal(v, value);
}

static void test_symbol_table_has_121_entries_in_libnanomsg_order(void **state)
{
    (void) state;
    assert_int_equal(symbol_count(), 121);

    assert_entry(0, "NN_NS_NAMESPACE", 0, NN_NS_NAMESPACE, NN_TYPE_NONE,
                 NN_UNIT_NONE);
    assert_entry(6, "NN_NS_SOCKET_OPTION", 6, NN_NS_NAMESPACE, NN_TYPE_NONE,
                 NN_UNIT_NONE);
    assert_entry(23, "NN_UNIT_COUNTER", 6, NN_NS_OPTION_UNIT, NN_TYPE_NONE,
                 NN_UNIT_NONE);
    assert_entry(24, "NN_UNIT_MESSAGES", 5, NN_NS_OPTION_UNIT, NN_TYPE_NONE,
                 NN_UNIT_NONE);
    assert_entry(25, "NN_VERSION_CURRENT", 5, NN_NS_VERSION, NN_TYPE_NONE,
                 NN_UNIT_NONE);
    assert_entry(37, "NN_REP", 49, NN_NS_PROTOCOL, NN_TYPE_NONE, NN_UNIT_NONE);
    assert_entry(38, "NN_REQ", 48, NN_NS_PROTOCOL, NN_TYPE_NONE, NN_UNIT_NONE);
    assert_entry(46, "NN_LINGER", 1, NN_NS_SOCKET_OPTION, NN_TYPE_INT,
                 NN_UNIT_MILLISECONDS);
    assert_entry(61, "NN_SOCKET_NAME", 15, NN_NS_SOCKET_OPTION, NN_TYPE_STR,
                 NN_UNIT_NONE);
    assert_entry(63, "NN_SUB_SUBSCRIBE", 1, NN_NS_TRANSPORT_OPTION,
                 NN_TYPE_STR, NN_UNIT_NONE);
    assert_entry(81, "EFSM", 156384766, NN_NS_ERROR, NN_TYPE_NONE,
                 NN_UNIT_NONE);
    assert_entry(96, "ETERM", 156384765, NN_NS_ERROR, NN_TYPE_NONE,
                 NN_UNIT_NONE);
    assert_entry(119, "NN_STAT_CURRENT_SND_PRIORITY", 401, NN_NS_STATISTIC,
                 NN_TYPE_INT, NN_UNIT_PRIORITY);
    assert_entry(120, "NN_STAT_CURRENT_EP_ERRORS", 203, NN_NS_STATISTIC,
                 NN_TYPE_INT, NN_UNIT_NONE);
}

static void test_symbol_values_match_the_header_macros(void **state)
{
    (void) state;
    struct nn_symbol_properties sym;
    assert_true(find_symbol("NN_SUB_UNSUBSCRIBE", &sym) >= 0);
    assert_int_equal(sym.value, NN_SUB_UNSUBSCRIBE);
    assert_true(find_symbol("NN_REQ_RESEND_IVL", &sym) >= 0);
    assert_int_equal(sym.value, NN_REQ_RESEND_IVL);
    assert_true(find_symbol("EADDRINUSE", &sym) >= 0);
    assert_int_equal(sym.value, EADDRINUSE);
    assert_true(find_symbol("ETIMEDOUT", &sym) >= 0);
    assert_int_equal(sym.value, ETIMEDOUT);
    assert_true(find_symbol("NN_STAT_BYTES_SENT", &sym) >= 0);
    assert_int_equal(sym.value, NN_STAT_BYTES_SENT);
    /* Not in libnanomsg's table. */
    assert_int_equal(find_symbol("NN_MSG", &sym), -1);
    assert_int_equal(find_symbol("NN_IPC_SEC_ATTR", &sym), -1);
    assert_int_equal(find_symbol("EISCONN", &sym), -1);
}

static void test_symbol_names_are_unique(void **state)
{
    (void) state;
    int n = symbol_count();
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            assert_string_not_equal(nn_symbol(i, NULL), nn_symbol(j, NULL));
}

static void test_symbol_out_of_range_returns_null_with_einval(void **state)
{
    (void) state;
    int v = -12345;
    errno = 0;
    assert_null(nn_symbol(-1, &v));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(nn_symbol(121, &v));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(nn_symbol(0x7fffffff, NULL));
    assert_int_equal(errno, EINVAL);
    assert_int_equal(v, -12345);
}

static void test_symbol_accepts_null_value_pointer(void **state)
{
    (void) state;
    assert_string_equal(nn_symbol(0, NULL), "NN_NS_NAMESPACE");
}

static void test_symbol_info_out_of_range_returns_zero_errno_untouched(
    void **state)
{
    (void) state;
    struct nn_symbol_properties sym;
    errno = 0;
    assert_int_equal(nn_symbol_info(-1, &sym, (int) sizeof sym), 0);
    assert_int_equal(nn_symbol_info(121, &sym, (int) sizeof sym), 0);
    assert_int_equal(errno, 0);
}

static void test_symbol_info_full_buffer_returns_struct_size(void **state)
{
    (void) state;
    struct nn_symbol_properties sym;
    assert_int_equal(nn_symbol_info(0, &sym, (int) sizeof sym),
                     (int) sizeof(struct nn_symbol_properties));
    /* A larger buffer still gets (and reports) one struct. */
    struct nn_symbol_properties big[2];
    memset(big, 0xAB, sizeof big);
    assert_int_equal(nn_symbol_info(0, big, (int) sizeof big),
                     (int) sizeof(struct nn_symbol_properties));
    unsigned char expect[sizeof big[1]];
    memset(expect, 0xAB, sizeof expect);
    assert_memory_equal(&big[1], expect, sizeof expect);
}

static void test_symbol_info_short_buffer_gets_truncated_copy(void **state)
{
    (void) state;
    struct nn_symbol_properties sym;
    memset(&sym, 0xAB, sizeof sym);
    assert_int_equal(nn_symbol_info(6, &sym, (int) sizeof(int)),
                     (int) sizeof(int));
    assert_int_equal(sym.value, 6);
    /* Nothing past buflen is written. */
    unsigned char expect[sizeof sym - sizeof(int)];
    memset(expect, 0xAB, sizeof expect);
    assert_memory_equal((unsigned char *) &sym + sizeof(int), expect,
                        sizeof expect);
}

static void test_symbol_info_zero_or_negative_buflen_copies_nothing(
    void **state)
{
    (void) state;
    /* libnanomsg hands a negative buflen to memcpy as a huge size. */
    struct nn_symbol_properties sym;
    memset(&sym, 0xAB, sizeof sym);
    assert_int_equal(nn_symbol_info(6, &sym, 0), 0);
    assert_int_equal(nn_symbol_info(6, &sym, -1), 0);
    assert_int_equal(nn_symbol_info(6, &sym, -2147483647 - 1), 0);
    unsigned char expect[sizeof sym];
    memset(expect, 0xAB, sizeof expect);
    assert_memory_equal(&sym, expect, sizeof expect);
}

static void test_strerror_names_nanomsg_native_errors(void **state)
{
    (void) state;
    assert_string_equal(nn_strerror(ETERM), "Nanomsg library was terminated");
    assert_string_equal(nn_strerror(EFSM),
                        "Operation cannot be performed in this state");
    assert_string_equal(nn_strerror(EINVAL), strerror(EINVAL));
    assert_string_equal(nn_strerror(EADDRINUSE), strerror(EADDRINUSE));
}

static void test_errno_returns_current_errno(void **state)
{
    (void) state;
    errno = EMSGSIZE;
    assert_int_equal(nn_errno(), EMSGSIZE);
    errno = EFSM;
    assert_int_equal(nn_errno(), EFSM);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_symbol_table_has_121_entries_in_libnanomsg_order),
        cmocka_unit_test(test_symbol_values_match_the_header_macros),
        cmocka_unit_test(test_symbol_names_are_unique),
        cmocka_unit_test(test_symbol_out_of_range_returns_null_with_einval),
        cmocka_unit_test(test_symbol_accepts_null_value_pointer),
        cmocka_unit_test(
            test_symbol_info_out_of_range_returns_zero_errno_untouched),
        cmocka_unit_test(test_symbol_info_full_buffer_returns_struct_size),
        cmocka_unit_test(test_symbol_info_short_buffer_gets_truncated_copy),
        cmocka_unit_test(
            test_symbol_info_zero_or_negative_buflen_copies_nothing),
        cmocka_unit_test(test_strerror_names_nanomsg_native_errors),
        cmocka_unit_test(test_errno_returns_current_errno),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
