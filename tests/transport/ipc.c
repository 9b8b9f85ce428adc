/* ipc transport (AF_UNIX stream sockets). Pins down the exchange itself, how
   bind treats whatever already sits at the path (stale socket: cleaned up;
   live listener or regular file: EADDRINUSE), path length limits, connect
   retrying until a binder appears, and removal of the socket file when the
   binder goes away (SPEC §4.15, §4.18). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include <nanomsg/ipc.h>
#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>

#include "testutil.h"

#define URL_LEN 256

static const char *url_path(const char *url)
{
    return url + strlen("ipc://");
}

static bool path_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static bool path_gone(void *arg)
{
    return !path_exists(arg);
}

static void test_ipc_pair_exchanges_both_ways(void **state)
{
    (void) state;
    char url[URL_LEN];
    tu_pair_exchange(tu_ipc_url(url, sizeof url, "pair.ipc"));
}

static void test_ipc_push_pull_delivers_in_order(void **state)
{
    (void) state;
    char url[URL_LEN];
    char msg[32];
    int pull = tu_socket(AF_SP, NN_PULL);
    int push = tu_socket(AF_SP, NN_PUSH);
    int i;

    tu_ipc_url(url, sizeof url, "pipeline.ipc");
    tu_bind(pull, url);
    tu_connect(push, url);
    for (i = 0; i < 50; i++) {
        snprintf(msg, sizeof msg, "msg-%d", i);
        tu_send(push, msg);
    }
    for (i = 0; i < 50; i++) {
        snprintf(msg, sizeof msg, "msg-%d", i);
        tu_recv(pull, msg);
    }

    tu_close(push);
    tu_close(pull);
}

static void test_ipc_empty_message_is_delivered(void **state)
{
    (void) state;
    char url[URL_LEN];
    char buf[8];
    int pull = tu_socket(AF_SP, NN_PULL);
    int push = tu_socket(AF_SP, NN_PUSH);

    tu_ipc_url(url, sizeof url, "empty.ipc");
    tu_bind(pull, url);
    tu_connect(push, url);
    assert_int_equal(nn_send(push, "", 0, 0), 0);
    assert_int_equal(nn_recv(pull, buf, sizeof buf, 0), 0);

    tu_close(push);
    tu_close(pull);
}

/* A socket file left behind by a process that died (here: a plain AF_UNIX
   socket bound then closed, which leaves the file) does not block the bind. */
static void test_ipc_bind_replaces_stale_socket_file(void **state)
{
    (void) state;
    char url[URL_LEN];
    struct sockaddr_un sa;
    int fd;
    int a = tu_socket(AF_SP, NN_PAIR);
    int b = tu_socket(AF_SP, NN_PAIR);

    tu_ipc_url(url, sizeof url, "stale.ipc");
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    strcpy(sa.sun_path, url_path(url));
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof sa), 0);
    close(fd);
    assert_true(path_exists(url_path(url)));

    tu_bind(a, url);
    tu_connect(b, url);
    tu_send(b, "after-stale");
    tu_recv(a, "after-stale");

    tu_close(a);
    tu_close(b);
}

static void test_ipc_bind_on_live_binder_fails_with_eaddrinuse(void **state)
{
    (void) state;
    char url[URL_LEN];
    int a = tu_socket(AF_SP, NN_PAIR);
    int b = tu_socket(AF_SP, NN_PAIR);
    int c = tu_socket(AF_SP, NN_PAIR);

    tu_ipc_url(url, sizeof url, "busy.ipc");
    tu_bind(a, url);
    assert_int_equal(nn_bind(b, url), -1);
    assert_int_equal(nn_errno(), EADDRINUSE);

    /* The failed bind did not disturb the first binder. */
    tu_connect(c, url);
    tu_send(c, "still-there");
    tu_recv(a, "still-there");

    tu_close(a);
    tu_close(b);
    tu_close(c);
}

#ifndef AGAINST_LIBNANOMSG
/* libnanomsg unlinks whatever is at the path, deleting user data; we refuse
   to touch anything that is not a socket. */
static void test_ipc_bind_keeps_regular_file_and_fails(void **state)
{
    (void) state;
    char url[URL_LEN];
    char buf[16];
    int fd;
    int s = tu_socket(AF_SP, NN_PULL);

    tu_ipc_url(url, sizeof url, "regular-file");
    fd = open(url_path(url), O_CREAT | O_WRONLY | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "precious", 8), 8);
    close(fd);

    assert_int_equal(nn_bind(s, url), -1);
    assert_int_equal(nn_errno(), EADDRINUSE);

    fd = open(url_path(url), O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(read(fd, buf, sizeof buf), 8);
    assert_memory_equal(buf, "precious", 8);
    close(fd);

    tu_close(s);
}

/* sun_path holds 107 characters plus NUL on Linux; a longer path still fits
   the 128-byte URL limit. libnanomsg aborts on it; we report ENAMETOOLONG. */
static void test_ipc_bind_path_too_long_fails_with_enametoolong(void **state)
{
    (void) state;
    char url[URL_LEN];
    char name[URL_LEN];
    size_t dirlen = strlen(tu_tmpdir()) + 1;
    size_t namelen = sizeof(((struct sockaddr_un *) 0)->sun_path) + 2 - dirlen;
    int s = tu_socket(AF_SP, NN_PULL);

    assert_true(namelen < sizeof name);
    memset(name, 'n', namelen);
    name[namelen] = 0;
    tu_ipc_url(url, sizeof url, name);
    assert_true(strlen(url_path(url)) >= sizeof(((struct sockaddr_un *) 0)->sun_path));
    assert_true(strlen(url) < NN_SOCKADDR_MAX);

    assert_int_equal(nn_bind(s, url), -1);
    assert_int_equal(nn_errno(), ENAMETOOLONG);
    assert_false(path_exists(url_path(url)));

    /* The socket is still usable. */
    tu_ipc_url(url, sizeof url, "short.ipc");
    tu_bind(s, url);

    tu_close(s);
}
#endif

/* The longest path that fits sun_path (107 characters) works. */
static void test_ipc_longest_valid_path_works(void **state)
{
    (void) state;
    char url[URL_LEN];
    char name[URL_LEN];
    size_t dirlen = strlen(tu_tmpdir()) + 1;
    size_t namelen = sizeof(((struct sockaddr_un *) 0)->sun_path) - 1 - dirlen;
    int a = tu_socket(AF_SP, NN_PAIR);
    int b = tu_socket(AF_SP, NN_PAIR);

    memset(name, 'm', namelen);
    name[namelen] = 0;
    tu_ipc_url(url, sizeof url, name);
    assert_int_equal(strlen(url_path(url)), sizeof(((struct sockaddr_un *) 0)->sun_path) - 1);

    tu_bind(a, url);
    tu_connect(b, url);
    tu_send(b, "long-path");
    tu_recv(a, "long-path");

    tu_close(a);
    tu_close(b);
}

static void test_ipc_connect_before_bind_retries_until_binder_appears(void **state)
{
    (void) state;
    char url[URL_LEN];
    int push = tu_socket(AF_SP, NN_PUSH);
    int pull = tu_socket(AF_SP, NN_PULL);

    tu_ipc_url(url, sizeof url, "late-binder.ipc");
    tu_setint(push, NN_SOL_SOCKET, NN_RECONNECT_IVL, 20);
    tu_connect(push, url);
    assert_int_equal(nn_send(push, "x", 1, NN_DONTWAIT), -1);
    assert_int_equal(nn_errno(), EAGAIN);

    tu_bind(pull, url);
    tu_send(push, "found-you");
    tu_recv(pull, "found-you");

    tu_close(push);
    tu_close(pull);
}

static void test_ipc_relative_path_resolves_against_cwd(void **state)
{
    (void) state;
    char cwd[512];
    int a = tu_socket(AF_SP, NN_PAIR);
    int b = tu_socket(AF_SP, NN_PAIR);
    char path[URL_LEN];

    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(tu_tmpdir()), 0);
    tu_bind(a, "ipc://relative.ipc");
    snprintf(path, sizeof path, "%s/relative.ipc", tu_tmpdir());
    assert_true(path_exists(path));
    tu_connect(b, "ipc://relative.ipc");
    tu_send(b, "relative");
    tu_recv(a, "relative");
    tu_close(a);
    tu_close(b);
    assert_int_equal(chdir(cwd), 0);
}

static void test_ipc_socket_file_removed_on_shutdown(void **state)
{
    (void) state;
    char url[URL_LEN];
    char path[URL_LEN];
    int s = tu_socket(AF_SP, NN_PULL);
    int eid;

    tu_ipc_url(url, sizeof url, "shutdown.ipc");
    strcpy(path, url_path(url));
    eid = tu_bind(s, url);
    assert_true(path_exists(path));
    assert_int_equal(nn_shutdown(s, eid), 0);
    assert_true(tu_wait_until(path_gone, path, TU_DEADLINE_MS));

    /* The path is free for a new bind on the same socket. */
    tu_bind(s, url);
    assert_true(path_exists(path));

    tu_close(s);
}

static void test_ipc_socket_file_removed_on_close(void **state)
{
    (void) state;
    char url[URL_LEN];
    char path[URL_LEN];
    int s = tu_socket(AF_SP, NN_PULL);

    tu_ipc_url(url, sizeof url, "close.ipc");
    strcpy(path, url_path(url));
    tu_bind(s, url);
    assert_true(path_exists(path));
    tu_close(s);
    /* nn_close waits for the endpoints to stop. */
    assert_false(path_exists(path));
}

static void test_ipc_connector_reconnects_after_binder_restarts(void **state)
{
    (void) state;
    char url[URL_LEN];
    int push = tu_socket(AF_SP, NN_PUSH);
    int pull = tu_socket(AF_SP, NN_PULL);

    tu_ipc_url(url, sizeof url, "restart.ipc");
    tu_setint(push, NN_SOL_SOCKET, NN_RECONNECT_IVL, 20);
    tu_bind(pull, url);
    tu_connect(push, url);
    tu_send(push, "before");
    tu_recv(pull, "before");
    tu_close(pull);

    pull = tu_socket(AF_SP, NN_PULL);
    tu_bind(pull, url);
    assert_true(tu_send_until_received(push, pull, "after", 100));

    tu_close(push);
    tu_close(pull);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipc_pair_exchanges_both_ways),
        cmocka_unit_test(test_ipc_push_pull_delivers_in_order),
        cmocka_unit_test(test_ipc_empty_message_is_delivered),
        cmocka_unit_test(test_ipc_bind_replaces_stale_socket_file),
        cmocka_unit_test(test_ipc_bind_on_live_binder_fails_with_eaddrinuse),
#ifndef AGAINST_LIBNANOMSG
        cmocka_unit_test(test_ipc_bind_keeps_regular_file_and_fails),
        cmocka_unit_test(test_ipc_bind_path_too_long_fails_with_enametoolong),
#endif
        cmocka_unit_test(test_ipc_longest_valid_path_works),
        cmocka_unit_test(test_ipc_connect_before_bind_retries_until_binder_appears),
        cmocka_unit_test(test_ipc_relative_path_resolves_against_cwd),
        cmocka_unit_test(test_ipc_socket_file_removed_on_shutdown),
        cmocka_unit_test(test_ipc_socket_file_removed_on_close),
        cmocka_unit_test(test_ipc_connector_reconnects_after_binder_restarts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
