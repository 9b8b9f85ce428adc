/* BUS (SPEC §4.8, §4.9, §4.11): a message sent on a BUS node reaches every
   directly connected node, never the sender itself, and is not forwarded
   further by cooked nodes. A raw BUS node tags each received message with an
   8-byte identity of the pipe it came from and, given that tag back on send,
   sends to every pipe except that one: which is what lets a raw BUS hub
   running nn_device(hub, -1) relay between nodes without echoing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <nanomsg/bus.h>

#include "testutil.h"

static void test_bus_message_reaches_every_direct_neighbour_but_not_the_sender(void **state)
{
    (void) state;
    static const enum tu_transport ts[] = {TU_INPROC, TU_IPC, TU_TCP};
    for (size_t i = 0; i < 3; i++) {
        char url[TU_URL_LEN];
        int hub = tu_socket(AF_SP, NN_BUS);
        int a = tu_socket(AF_SP, NN_BUS);
        int c = tu_socket(AF_SP, NN_BUS);
        tu_bind(hub, tu_url(url, ts[i], "star"));
        tu_connect(a, url);
        tu_connect(c, url);
        tu_wait_connections(hub, 2);
        tu_wait_connections(a, 1);
        tu_wait_connections(c, 1);

        tu_send(hub, "from-hub");
        tu_recv(a, "from-hub");
        tu_recv(c, "from-hub");
        /* The hub did not get its own message: the first thing it receives
           is A's. */
        tu_send(a, "from-a");
        tu_recv(hub, "from-a");
        tu_close(a);
        tu_close(c);
        tu_close(hub);
    }
}

/* A line A - B - C: what A sends reaches B only; B's own message reaches both
   ends, and C's first message is B's (B did not pass A's on). */
static void test_cooked_bus_does_not_forward_to_neighbours_of_neighbours(void **state)
{
    (void) state;
    char url_a[TU_URL_LEN], url_c[TU_URL_LEN];
    int a = tu_socket(AF_SP, NN_BUS);
    int b = tu_socket(AF_SP, NN_BUS);
    int c = tu_socket(AF_SP, NN_BUS);
    tu_bind(a, tu_url(url_a, TU_TCP, "line-a"));
    tu_bind(c, tu_url(url_c, TU_TCP, "line-c"));
    tu_connect(b, url_a);
    tu_connect(b, url_c);
    tu_wait_connections(a, 1);
    tu_wait_connections(c, 1);
    tu_wait_connections(b, 2);

    tu_send(a, "from-a");
    tu_recv(b, "from-a");
    tu_send(b, "from-b");
    tu_recv(c, "from-b");
    tu_recv(a, "from-b");
    tu_send(c, "from-c");
    tu_recv(b, "from-c");
    /* A's next message is still not "from-c". */
    tu_send(b, "from-b-2");
    tu_recv(a, "from-b-2");
}

static void test_cooked_bus_send_with_sp_hdr_fails_with_einval(void **state)
{
    (void) state;
    char url[TU_URL_LEN];
    unsigned char hdr[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    int a = tu_socket(AF_SP, NN_BUS);
    int b = tu_socket(AF_SP, NN_BUS);
    tu_bind(a, tu_url(url, TU_INPROC, "cooked-hdr"));
    tu_connect(b, url);
    tu_wait_connections(a, 1);

    assert_nn_fail(tu_sendmsg_hdr(a, hdr, 8, "x", 0), EINVAL);
    assert_nn_fail(tu_sendmsg_hdr(a, hdr, 4, "x", 0), EINVAL);
    /* An empty SP header is no header. */
    assert_int_equal(tu_sendmsg_hdr(a, hdr, 0, "ok", 0), 2);
    tu_recv(b, "ok");
}

/* Raw hub with two cooked nodes; returns once all pipes are up. */
static void raw_hub(enum tu_transport t, int *hub, int *a, int *b)
{
    char url[TU_URL_LEN];
    *hub = tu_socket(AF_SP_RAW, NN_BUS);
    *a = tu_socket(AF_SP, NN_BUS);
    *b = tu_socket(AF_SP, NN_BUS);
    tu_bind(*hub, tu_url(url, t, "raw-hub"));
    tu_connect(*a, url);
    tu_connect(*b, url);
    tu_wait_connections(*hub, 2);
    tu_wait_connections(*a, 1);
    tu_wait_connections(*b, 1);
}

static void test_raw_bus_tags_each_message_with_its_8_byte_origin(void **state)
{
    (void) state;
    int hub, a, b;
    char body[32];
    unsigned char ha1[16], ha2[16], hb[16];
    size_t la1, la2, lb;
    raw_hub(TU_INPROC, &hub, &a, &b);

    tu_send(a, "a1");
    assert_int_equal(tu_recvmsg_hdr(hub, body, sizeof body, ha1, sizeof ha1, &la1, 0), 2);
    assert_string_equal(body, "a1");
    tu_send(b, "b1");
    assert_int_equal(tu_recvmsg_hdr(hub, body, sizeof body, hb, sizeof hb, &lb, 0), 2);
    assert_string_equal(body, "b1");
    tu_send(a, "a2");
    assert_int_equal(tu_recvmsg_hdr(hub, body, sizeof body, ha2, sizeof ha2, &la2, 0), 2);
    assert_string_equal(body, "a2");

    assert_int_equal(la1, 8);
    assert_int_equal(lb, 8);
    assert_int_equal(la2, 8);
    assert_memory_equal(ha1, ha2, 8);
    assert_memory_not_equal(ha1, hb, 8);
}

static void test_raw_bus_send_with_origin_header_skips_that_pipe(void **state)
{
    (void) state;
    int hub, a, b;
    char body[32];
    unsigned char ha[16];
    size_t la;
    raw_hub(TU_TCP, &hub, &a, &b);

    tu_send(a, "hello");
    assert_int_equal(tu_recvmsg_hdr(hub, body, sizeof body, ha, sizeof ha, &la, 0), 5);
    assert_int_equal(la, 8);

    assert_int_equal(tu_sendmsg_hdr(hub, ha, la, "not-to-a", 0), 8);
    assert_int_equal(tu_sendmsg_hdr(hub, ha, 0, "to-all", 0), 6);
    tu_recv(b, "not-to-a");
    tu_recv(b, "to-all");
    tu_recv(a, "to-all");

    /* Only 0 or 8 header bytes make sense. */
    assert_nn_fail(tu_sendmsg_hdr(hub, ha, 4, "bad", 0), EINVAL);
    assert_nn_fail(tu_sendmsg_hdr(hub, ha, 12, "bad", 0), EINVAL);
}

static void expect_loopback_hub_relays_without_echo(enum tu_transport t)
{
    char url[TU_URL_LEN];
    int node[3];
    static struct tu_blocked dev;
    tu_thread th;
    int hub = tu_socket(AF_SP_RAW, NN_BUS);
    tu_setint(hub, NN_SOL_SOCKET, NN_RCVTIMEO, -1);
    tu_bind(hub, tu_url(url, t, "loopback-hub"));
    memset(&dev, 0, sizeof dev);
    dev.s = hub;
    dev.s2 = -1;
    dev.op = TU_OP_DEVICE;
    tu_thread_start(&th, tu_blocked_run, &dev);
    for (int k = 0; k < 3; k++) {
        node[k] = tu_socket(AF_SP, NN_BUS);
        tu_connect(node[k], url);
        tu_wait_connections(node[k], 1);
    }
    tu_wait_connections(hub, 3);

    tu_send(node[0], "from-0");
    tu_recv(node[1], "from-0");
    tu_recv(node[2], "from-0");
    tu_send(node[1], "from-1");
    tu_recv(node[0], "from-1"); /* not its own "from-0" */
    tu_recv(node[2], "from-1");
    tu_send(node[2], "from-2");
    tu_recv(node[0], "from-2");
    tu_recv(node[1], "from-2"); /* not its own "from-1" */
    tu_recv_nothing(node[2]);

    assert_false(tu_blocked_is_done(&dev));
    tu_close(hub);
    assert_true(tu_wait_until(tu_blocked_is_done, &dev, TU_DEADLINE_MS));
    tu_thread_join(&th);
    assert_int_equal(dev.rc, -1);
    assert_int_equal(dev.err, EBADF);
    for (int k = 0; k < 3; k++)
        tu_close(node[k]);
}

static void test_raw_bus_loopback_device_relays_to_everyone_but_the_origin(void **state)
{
    (void) state;
    expect_loopback_hub_relays_without_echo(TU_INPROC);
    expect_loopback_hub_relays_without_echo(TU_TCP);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        tu_test(test_bus_message_reaches_every_direct_neighbour_but_not_the_sender),
        tu_test(test_cooked_bus_does_not_forward_to_neighbours_of_neighbours),
        tu_test(test_cooked_bus_send_with_sp_hdr_fails_with_einval),
        tu_test(test_raw_bus_tags_each_message_with_its_8_byte_origin),
        tu_test(test_raw_bus_send_with_origin_header_skips_that_pipe),
        tu_test(test_raw_bus_loopback_device_relays_to_everyone_but_the_origin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
