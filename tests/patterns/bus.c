/* BUS (SPEC §4.8, §4.9, §4.11): a message sent on a BUS node reaches every
   directly connected node, never the sender itself, and is not forwarded
   further by cooked nodes. A raw BUS node tags each received message with an
   8-byte identity of the pipe it came from and, given that tag back on send,
   sends to every pipe except that one: which is what lets a raw BUS hub
   running nn_device(hub, -1) relay between nodes without echoing. */
#include "pattest.h"

#include <nanomsg/bus.h>

static void test_bus_message_reaches_every_direct_neighbour_but_not_the_sender(void **state)
{
    (void) state;
    static const enum pt_transport ts[] = {PT_INPROC, PT_IPC, PT_TCP};
    for (size_t i = 0; i < 3; i++) {
        char url[PT_URL_LEN];
        int hub = pt_socket(AF_SP, NN_BUS);
        int a = pt_socket(AF_SP, NN_BUS);
        int c = pt_socket(AF_SP, NN_BUS);
        pt_bind(hub, pt_url(url, ts[i], "star"));
        pt_connect(a, url);
        pt_connect(c, url);
        pt_wait_connections(hub, 2);
        pt_wait_connections(a, 1);
        pt_wait_connections(c, 1);

        pt_send(hub, "from-hub");
        pt_recv(a, "from-hub");
        pt_recv(c, "from-hub");
        /* The hub did not get its own message: the first thing it receives
           is A's. */
        pt_send(a, "from-a");
        pt_recv(hub, "from-a");
        pt_close(a);
        pt_close(c);
        pt_close(hub);
    }
}

/* A line A - B - C: what A sends reaches B only; B's own message reaches both
   ends, and C's first message is B's (B did not pass A's on). */
static void test_cooked_bus_does_not_forward_to_neighbours_of_neighbours(void **state)
{
    (void) state;
    char url_a[PT_URL_LEN], url_c[PT_URL_LEN];
    int a = pt_socket(AF_SP, NN_BUS);
    int b = pt_socket(AF_SP, NN_BUS);
    int c = pt_socket(AF_SP, NN_BUS);
    pt_bind(a, pt_url(url_a, PT_TCP, "line-a"));
    pt_bind(c, pt_url(url_c, PT_TCP, "line-c"));
    pt_connect(b, url_a);
    pt_connect(b, url_c);
    pt_wait_connections(a, 1);
    pt_wait_connections(c, 1);
    pt_wait_connections(b, 2);

    pt_send(a, "from-a");
    pt_recv(b, "from-a");
    pt_send(b, "from-b");
    pt_recv(c, "from-b");
    pt_recv(a, "from-b");
    pt_send(c, "from-c");
    pt_recv(b, "from-c");
    /* A's next message is still not "from-c". */
    pt_send(b, "from-b-2");
    pt_recv(a, "from-b-2");
}

static void test_cooked_bus_send_with_sp_hdr_fails_with_einval(void **state)
{
    (void) state;
    char url[PT_URL_LEN];
    unsigned char hdr[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    int a = pt_socket(AF_SP, NN_BUS);
    int b = pt_socket(AF_SP, NN_BUS);
    pt_bind(a, pt_url(url, PT_INPROC, "cooked-hdr"));
    pt_connect(b, url);
    pt_wait_connections(a, 1);

    assert_nn_fail(pt_sendmsg_hdr(a, hdr, 8, "x", 0), EINVAL);
    assert_nn_fail(pt_sendmsg_hdr(a, hdr, 4, "x", 0), EINVAL);
    /* An empty SP header is no header. */
    assert_int_equal(pt_sendmsg_hdr(a, hdr, 0, "ok", 0), 2);
    pt_recv(b, "ok");
}

/* Raw hub with two cooked nodes; returns once all pipes are up. */
static void raw_hub(enum pt_transport t, int *hub, int *a, int *b)
{
    char url[PT_URL_LEN];
    *hub = pt_socket(AF_SP_RAW, NN_BUS);
    *a = pt_socket(AF_SP, NN_BUS);
    *b = pt_socket(AF_SP, NN_BUS);
    pt_bind(*hub, pt_url(url, t, "raw-hub"));
    pt_connect(*a, url);
    pt_connect(*b, url);
    pt_wait_connections(*hub, 2);
    pt_wait_connections(*a, 1);
    pt_wait_connections(*b, 1);
}

static void test_raw_bus_tags_each_message_with_its_8_byte_origin(void **state)
{
    (void) state;
    int hub, a, b;
    char body[32];
    unsigned char ha1[16], ha2[16], hb[16];
    size_t la1, la2, lb;
    raw_hub(PT_INPROC, &hub, &a, &b);

    pt_send(a, "a1");
    assert_int_equal(pt_recvmsg_hdr(hub, body, sizeof body, ha1, sizeof ha1, &la1, 0), 2);
    assert_string_equal(body, "a1");
    pt_send(b, "b1");
    assert_int_equal(pt_recvmsg_hdr(hub, body, sizeof body, hb, sizeof hb, &lb, 0), 2);
    assert_string_equal(body, "b1");
    pt_send(a, "a2");
    assert_int_equal(pt_recvmsg_hdr(hub, body, sizeof body, ha2, sizeof ha2, &la2, 0), 2);
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
    raw_hub(PT_TCP, &hub, &a, &b);

    pt_send(a, "hello");
    assert_int_equal(pt_recvmsg_hdr(hub, body, sizeof body, ha, sizeof ha, &la, 0), 5);
    assert_int_equal(la, 8);

    assert_int_equal(pt_sendmsg_hdr(hub, ha, la, "not-to-a", 0), 8);
    assert_int_equal(pt_sendmsg_hdr(hub, ha, 0, "to-all", 0), 6);
    pt_recv(b, "not-to-a");
    pt_recv(b, "to-all");
    pt_recv(a, "to-all");

    /* Only 0 or 8 header bytes make sense. */
    assert_nn_fail(pt_sendmsg_hdr(hub, ha, 4, "bad", 0), EINVAL);
    assert_nn_fail(pt_sendmsg_hdr(hub, ha, 12, "bad", 0), EINVAL);
}

static void expect_loopback_hub_relays_without_echo(enum pt_transport t)
{
    char url[PT_URL_LEN];
    int node[3];
    static struct pt_blocked dev;
    tu_thread th;
    int hub = pt_socket(AF_SP_RAW, NN_BUS);
    pt_setint(hub, NN_SOL_SOCKET, NN_RCVTIMEO, -1);
    pt_bind(hub, pt_url(url, t, "loopback-hub"));
    memset(&dev, 0, sizeof dev);
    dev.s = hub;
    dev.s2 = -1;
    dev.op = PT_OP_DEVICE;
    tu_thread_start(&th, pt_blocked_run, &dev);
    for (int k = 0; k < 3; k++) {
        node[k] = pt_socket(AF_SP, NN_BUS);
        pt_connect(node[k], url);
        pt_wait_connections(node[k], 1);
    }
    pt_wait_connections(hub, 3);

    pt_send(node[0], "from-0");
    pt_recv(node[1], "from-0");
    pt_recv(node[2], "from-0");
    pt_send(node[1], "from-1");
    pt_recv(node[0], "from-1"); /* not its own "from-0" */
    pt_recv(node[2], "from-1");
    pt_send(node[2], "from-2");
    pt_recv(node[0], "from-2");
    pt_recv(node[1], "from-2"); /* not its own "from-1" */
    pt_recv_nothing(node[2]);

    assert_false(pt_blocked_is_done(&dev));
    pt_close(hub);
    assert_true(tu_wait_until(pt_blocked_is_done, &dev, PT_DEADLINE_MS));
    tu_thread_join(&th);
    assert_int_equal(dev.rc, -1);
    assert_int_equal(dev.err, EBADF);
    for (int k = 0; k < 3; k++)
        pt_close(node[k]);
}

static void test_raw_bus_loopback_device_relays_to_everyone_but_the_origin(void **state)
{
    (void) state;
    expect_loopback_hub_relays_without_echo(PT_INPROC);
    expect_loopback_hub_relays_without_echo(PT_TCP);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        pt_test(test_bus_message_reaches_every_direct_neighbour_but_not_the_sender),
        pt_test(test_cooked_bus_does_not_forward_to_neighbours_of_neighbours),
        pt_test(test_cooked_bus_send_with_sp_hdr_fails_with_einval),
        pt_test(test_raw_bus_tags_each_message_with_its_8_byte_origin),
        pt_test(test_raw_bus_send_with_origin_header_skips_that_pipe),
        pt_test(test_raw_bus_loopback_device_relays_to_everyone_but_the_origin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
