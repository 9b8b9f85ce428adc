/* inproc transport: in-process endpoints matched by name. Pins down
   connect-before-bind, re-attachment of connectors to a new binder, name
   clashes, the receiver-side byte budget (NN_RCVBUF), that incompatible
   socket types are never paired (SPEC §4.16, §3.7), and that no wake-up
   between the two ends is lost however many are raised at once. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <nanomsg/inproc.h>
#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/pubsub.h>

#include "testutil.h"

static void test_inproc_connect_before_bind_delivers(void **state)
{
    (void) state;
    int pull = tu_socket(AF_SP, NN_PULL);
    int push = tu_socket(AF_SP, NN_PUSH);

    tu_connect(pull, "inproc://connect-first");
    tu_bind(push, "inproc://connect-first");
    tu_send(push, "hello");
    tu_recv(pull, "hello");

    tu_close(push);
    tu_close(pull);
}

static void test_inproc_pair_exchanges_both_ways(void **state)
{
    (void) state;
    tu_pair_exchange("inproc://pair-both-ways");
}

static void test_inproc_empty_name_is_a_valid_address(void **state)
{
    (void) state;
    int a = tu_socket(AF_SP, NN_PAIR);
    int b = tu_socket(AF_SP, NN_PAIR);

    tu_bind(a, "inproc://");
    tu_connect(b, "inproc://");
    tu_send(b, "empty-name");
    tu_recv(a, "empty-name");

    tu_close(a);
    tu_close(b);
}

static void test_inproc_connector_reattaches_to_new_binder(void **state)
{
    (void) state;
    int c = tu_socket(AF_SP, NN_PAIR);
    int b1 = tu_socket(AF_SP, NN_PAIR);
    int b2;

    tu_bind(b1, "inproc://reattach");
    tu_connect(c, "inproc://reattach");
    tu_send(c, "first");
    tu_recv(b1, "first");
    tu_close(b1);

    /* The connector stays registered under the name and pairs with whoever
       binds it next. */
    b2 = tu_socket(AF_SP, NN_PAIR);
    tu_bind(b2, "inproc://reattach");
    tu_send(c, "second");
    tu_recv(b2, "second");
    tu_send(b2, "back");
    tu_recv(c, "back");

    tu_close(b2);
    tu_close(c);
}

static void test_inproc_bind_twice_fails_with_eaddrinuse(void **state)
{
    (void) state;
    int a = tu_socket(AF_SP, NN_PAIR);
    int b = tu_socket(AF_SP, NN_PAIR);

    tu_bind(a, "inproc://bound-twice");
    assert_int_equal(nn_bind(a, "inproc://bound-twice"), -1);
    assert_int_equal(nn_errno(), EADDRINUSE);
    assert_int_equal(nn_bind(b, "inproc://bound-twice"), -1);
    assert_int_equal(nn_errno(), EADDRINUSE);

    /* Once the owner is gone the name is free again. */
    tu_close(a);
    tu_bind(b, "inproc://bound-twice");
    tu_close(b);
}

static void test_inproc_names_are_case_sensitive(void **state)
{
    (void) state;
    int a = tu_socket(AF_SP, NN_PAIR);
    int b = tu_socket(AF_SP, NN_PAIR);

    tu_bind(a, "inproc://CaseName");
    tu_bind(b, "inproc://casename");

    tu_close(a);
    tu_close(b);
}

/* Receiver-side queue limit: with the receiver's NN_RCVBUF = 200 bytes and
   10-byte messages exactly 20 non-blocking sends succeed (19 queued + 1 held
   by the sender's pipe), the 21st gets EAGAIN. */
static void test_inproc_rcvbuf_limits_queued_messages(void **state)
{
    (void) state;
    int pull = tu_socket(AF_SP, NN_PULL);
    int push = tu_socket(AF_SP, NN_PUSH);
    int sent = 0;
    int i;

    tu_setint(pull, NN_SOL_SOCKET, NN_RCVBUF, 200);
    tu_bind(pull, "inproc://rcvbuf");
    tu_connect(push, "inproc://rcvbuf");

    /* Make sure the pipe is attached before counting. */
    tu_send(push, "warm-up");
    tu_recv(pull, "warm-up");

    while (sent < 1000 && nn_send(push, "0123456789", 10, NN_DONTWAIT) == 10)
        sent++;
    assert_int_equal(nn_errno(), EAGAIN);
    assert_int_equal(sent, 20);
    /* The queue stays full: waiting does not make room. */
    tu_setint(push, NN_SOL_SOCKET, NN_SNDTIMEO, 50);
    assert_int_equal(nn_send(push, "0123456789", 10, 0), -1);
    assert_int_equal(nn_errno(), ETIMEDOUT);

    /* Draining makes room again and nothing was lost or reordered. */
    for (i = 0; i < 20; i++)
        tu_recv(pull, "0123456789");
    tu_setint(push, NN_SOL_SOCKET, NN_SNDTIMEO, TU_DEADLINE_MS);
    tu_send(push, "after");
    tu_recv(pull, "after");

    tu_close(push);
    tu_close(pull);
}

static void test_inproc_message_larger_than_rcvbuf_passes(void **state)
{
    (void) state;
    int pull = tu_socket(AF_SP, NN_PULL);
    int push = tu_socket(AF_SP, NN_PUSH);
    char big[1000];
    char buf[2000];

    memset(big, 'x', sizeof big);
    tu_setint(pull, NN_SOL_SOCKET, NN_RCVBUF, 200);
    tu_bind(pull, "inproc://bigger-than-rcvbuf");
    tu_connect(push, "inproc://bigger-than-rcvbuf");
    assert_int_equal(nn_send(push, big, sizeof big, 0), (int) sizeof big);
    assert_int_equal(nn_recv(pull, buf, sizeof buf, 0), (int) sizeof big);
    assert_memory_equal(buf, big, sizeof big);

    tu_close(push);
    tu_close(pull);
}

/* RCVMAXSIZE is not enforced by inproc. */
static void test_inproc_ignores_rcvmaxsize(void **state)
{
    (void) state;
    int pull = tu_socket(AF_SP, NN_PULL);
    int push = tu_socket(AF_SP, NN_PUSH);
    char big[1000];
    char buf[2000];

    memset(big, 'y', sizeof big);
    tu_setint(pull, NN_SOL_SOCKET, NN_RCVMAXSIZE, 100);
    tu_bind(pull, "inproc://no-rcvmaxsize");
    tu_connect(push, "inproc://no-rcvmaxsize");
    assert_int_equal(nn_send(push, big, sizeof big, 0), (int) sizeof big);
    assert_int_equal(nn_recv(pull, buf, sizeof buf, 0), (int) sizeof big);

    tu_close(push);
    tu_close(pull);
}

/* A PUSH connector and a PAIR connector wait on a PAIR binder: only the PAIR
   is attached. The compatible exchange proves the binder has processed both
   connectors, so the PUSH being still unable to send is not a race. */
static void test_inproc_incompatible_protocols_never_pair(void **state)
{
    (void) state;
    int bound = tu_socket(AF_SP, NN_PAIR);
    int wrong = tu_socket(AF_SP, NN_PUSH);
    int right = tu_socket(AF_SP, NN_PAIR);

    tu_connect(wrong, "inproc://incompatible");
    tu_bind(bound, "inproc://incompatible");
    tu_connect(right, "inproc://incompatible");
    tu_send(right, "compatible");
    tu_recv(bound, "compatible");
    tu_send(bound, "reply");
    tu_recv(right, "reply");

    assert_int_equal(nn_send(wrong, "x", 1, NN_DONTWAIT), -1);
    assert_int_equal(nn_errno(), EAGAIN);
    tu_setint(wrong, NN_SOL_SOCKET, NN_SNDTIMEO, 50);
    assert_int_equal(nn_send(wrong, "x", 1, 0), -1);
    assert_int_equal(nn_errno(), ETIMEDOUT);
    tu_recv_nothing(bound);

    tu_close(wrong);
    tu_close(right);
    tu_close(bound);
}

/* Same-family but same-role sockets (PUSH to PUSH) do not pair either: every
   message of a PUSH binder goes to the only real PULL. */
static void test_inproc_push_does_not_pair_with_push(void **state)
{
    (void) state;
    int bound = tu_socket(AF_SP, NN_PUSH);
    int wrong = tu_socket(AF_SP, NN_PUSH);
    int pull = tu_socket(AF_SP, NN_PULL);
    int i;

    tu_bind(bound, "inproc://push-push");
    tu_connect(wrong, "inproc://push-push");
    tu_connect(pull, "inproc://push-push");
    for (i = 0; i < 4; i++)
        tu_send(bound, "to-pull");
    for (i = 0; i < 4; i++)
        tu_recv(pull, "to-pull");
    assert_int_equal(nn_send(wrong, "x", 1, NN_DONTWAIT), -1);
    assert_int_equal(nn_errno(), EAGAIN);

    tu_close(wrong);
    tu_close(pull);
    tu_close(bound);
}

static void test_inproc_raw_and_cooked_sockets_interoperate(void **state)
{
    (void) state;
    int raw = tu_socket(AF_SP_RAW, NN_PAIR);
    int cooked = tu_socket(AF_SP, NN_PAIR);

    tu_bind(raw, "inproc://raw-cooked");
    tu_connect(cooked, "inproc://raw-cooked");
    tu_send(cooked, "to-raw");
    tu_recv(raw, "to-raw");
    tu_send(raw, "to-cooked");
    tu_recv(cooked, "to-cooked");

    tu_close(raw);
    tu_close(cooked);
}

static void test_inproc_shutdown_of_connector_stops_delivery(void **state)
{
    (void) state;
    int push = tu_socket(AF_SP, NN_PUSH);
    int pull = tu_socket(AF_SP, NN_PULL);
    int eid;

    tu_bind(push, "inproc://shutdown-connector");
    eid = tu_connect(pull, "inproc://shutdown-connector");
    tu_send(push, "one");
    tu_recv(pull, "one");
    assert_int_equal(nn_shutdown(pull, eid), 0);
    assert_int_equal(nn_shutdown(pull, eid), -1);
    assert_int_equal(nn_errno(), EINVAL);

    /* With its only peer gone the PUSH cannot send any more. */
    tu_wait_stat(push, NN_STAT_CURRENT_CONNECTIONS, 0);
    assert_int_equal(nn_send(push, "x", 1, NN_DONTWAIT), -1);
    assert_int_equal(nn_errno(), EAGAIN);

    tu_close(push);
    tu_close(pull);
}

/* One send that wakes hundreds of connections at once: a PUB with 400
   inproc connections from one SUB. Each copy makes the SUB's end of its
   connection readable while the sender still holds the PUB, so all 400
   wake-ups wait in the sending thread until it lets go; every one must
   arrive (a lost one leaves that connection's copy unread for good). */
#define FLOOD_PIPES 400

static void test_inproc_one_send_wakes_every_one_of_400_connections(void **state)
{
    (void) state;
    int pub = tu_socket(AF_SP, NN_PUB);
    int sub = tu_socket(AF_SP, NN_SUB);
    char buf[64];
    int i;

    tu_bind(pub, "inproc://flood");
    assert_int_equal(nn_setsockopt(sub, NN_SUB, NN_SUB_SUBSCRIBE, "", 0), 0);
    for (i = 0; i < FLOOD_PIPES; i++)
        tu_connect(sub, "inproc://flood");
    tu_wait_stat(pub, NN_STAT_CURRENT_CONNECTIONS, FLOOD_PIPES);

    for (int round = 0; round < 3; round++) {
        snprintf(buf, sizeof buf, "copy-%d", round);
        tu_send(pub, buf);
        for (i = 0; i < FLOOD_PIPES; i++)
            tu_recv(sub, buf);
        tu_recv_nothing(sub);
    }

    tu_close(sub);
    tu_close(pub);
}

/* Two threads sending on one PUSH while a third drains the PULL, with a
   receive buffer of a few messages: both wake-ups (readable for the PULL,
   writable again for the PUSH) are raised over and over by threads racing
   on the same connection. Every message arrives; a lost wake-up would stall
   a side until its deadline. */
#define RACE_SENDERS 2
#define RACE_MSGS 20000

struct race_sender {
    int s;
    int sent;
};

static void *race_send(void *arg)
{
    struct race_sender *r = arg;
    for (r->sent = 0; r->sent < RACE_MSGS; r->sent++)
        if (nn_send(r->s, "racing", 6, 0) != 6)
            break;
    return NULL;
}

static void test_inproc_two_threads_sending_on_one_socket_lose_no_wakeup(void **state)
{
    (void) state;
    int push = tu_socket(AF_SP, NN_PUSH);
    int pull = tu_socket(AF_SP, NN_PULL);
    struct race_sender senders[RACE_SENDERS];
    pthread_t threads[RACE_SENDERS];
    char buf[16];
    int i, got = 0;

    tu_setint(pull, NN_SOL_SOCKET, NN_RCVBUF, 64);
    tu_bind(pull, "inproc://racing-senders");
    tu_connect(push, "inproc://racing-senders");
    for (i = 0; i < RACE_SENDERS; i++) {
        senders[i].s = push;
        assert_int_equal(pthread_create(&threads[i], NULL, race_send, &senders[i]), 0);
    }
    while (got < RACE_SENDERS * RACE_MSGS) {
        int rc = tu_recv_str(pull, buf, sizeof buf, 0);
        if (rc < 0)
            fprintf(stderr, "nn_recv after %d messages: %s\n", got, nn_strerror(nn_errno()));
        assert_int_equal(rc, 6);
        got++;
    }
    for (i = 0; i < RACE_SENDERS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(senders[i].sent, RACE_MSGS);
    }
    tu_recv_nothing(pull);

    tu_close(push);
    tu_close(pull);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inproc_connect_before_bind_delivers),
        cmocka_unit_test(test_inproc_pair_exchanges_both_ways),
        cmocka_unit_test(test_inproc_empty_name_is_a_valid_address),
        cmocka_unit_test(test_inproc_connector_reattaches_to_new_binder),
        cmocka_unit_test(test_inproc_bind_twice_fails_with_eaddrinuse),
        cmocka_unit_test(test_inproc_names_are_case_sensitive),
        cmocka_unit_test(test_inproc_rcvbuf_limits_queued_messages),
        cmocka_unit_test(test_inproc_message_larger_than_rcvbuf_passes),
        cmocka_unit_test(test_inproc_ignores_rcvmaxsize),
        cmocka_unit_test(test_inproc_incompatible_protocols_never_pair),
        cmocka_unit_test(test_inproc_push_does_not_pair_with_push),
        cmocka_unit_test(test_inproc_raw_and_cooked_sockets_interoperate),
        cmocka_unit_test(test_inproc_shutdown_of_connector_stops_delivery),
        cmocka_unit_test(test_inproc_one_send_wakes_every_one_of_400_connections),
        cmocka_unit_test(test_inproc_two_threads_sending_on_one_socket_lose_no_wakeup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
