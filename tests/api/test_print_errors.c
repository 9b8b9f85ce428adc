/* NN_PRINT_ERRORS: with the variable set, endpoint errors are printed to
   stderr in libnanomsg's format; without it the library prints nothing. The
   variable is read when the library initialises, so each case runs in a fresh
   child process (this program re-executed with an argument). */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <nanomsg/nn.h>
#include <nanomsg/pair.h>

#include "testutil.h"

/* Child: connects to a port nobody listens on until a connect error was
   counted, then exits 0. */
static int child(int port)
{
    int s = nn_socket(AF_SP, NN_PAIR);
    if (s < 0)
        return 2;
    if (nn_setsockopt(s, NN_SOL_SOCKET, NN_SOCKET_NAME, "probe", 5) != 0)
        return 3;
    char url[64];
    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", port);
    if (nn_connect(s, url) < 0)
        return 4;
    uint64_t end = tu_now_ms() + 10000;
    while (nn_get_statistic(s, NN_STAT_CONNECT_ERRORS) < 1 && tu_now_ms() < end)
        tu_sleep_ms(1);
    nn_close(s);
    return nn_get_statistic(s, NN_STAT_CONNECT_ERRORS) == (uint64_t) -1 ? 0 : 5;
}

/* Runs the child with or without NN_PRINT_ERRORS; returns its stderr. */
static char *run_child(bool print, int port)
{
    /* The path, not /proc/self/exe itself: under valgrind that is the
       tool's binary, while readlink gives the program it runs. */
    char self[PATH_MAX];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(sl > 0);
    self[sl] = 0;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        if (print)
            setenv("NN_PRINT_ERRORS", "1", 1);
        else
            unsetenv("NN_PRINT_ERRORS");
        char arg[16];
        snprintf(arg, sizeof arg, "%d", port);
        execl(self, "test_print_errors", "child", arg, (char *) NULL);
        _exit(127);
    }
    close(fds[1]);
    static char buf[4096];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof buf - 1 && (r = read(fds[0], buf + n, sizeof buf - 1 - n)) > 0)
        n += (size_t) r;
    buf[n] = 0;
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    return buf;
}

static void test_print_errors_reports_endpoint_error_in_libnanomsg_format(void **state)
{
    (void) state;
    int port = tu_free_port();
    char *out = run_child(true, port);
    char want[128];
    snprintf(want, sizeof want, "nanomsg: socket.probe[127.0.0.1:%d]: Error: Connection refused\n", port);
    /* Printed once per change of the error, not once per retry. */
    assert_non_null(strstr(out, want));
    assert_null(strstr(strstr(out, want) + 1, want));
}

static void test_library_prints_nothing_without_print_errors(void **state)
{
    (void) state;
    char *out = run_child(false, tu_free_port());
    assert_string_equal(out, "");
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "child") == 0)
        return child(atoi(argv[2]));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_print_errors_reports_endpoint_error_in_libnanomsg_format),
        cmocka_unit_test(test_library_prints_nothing_without_print_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
