/* A program of a libnanomsg user, built by tests/install/install.sh against an
   installed copy of the library (pkg-config or CMake). It exchanges a message
   over inproc, sets a TLS option (so <nanomsg/tls.h> is ours), and prints the
   libnanomsg it runs on: the test checks that it is the installed copy (or, for
   the static build, that no libnanomsg.so is loaded at all). */
#include <stdio.h>
#include <string.h>

#include <nanomsg/nn.h>
#include <nanomsg/pair.h>
#include <nanomsg/tls.h>

static int fail(const char *what)
{
    fprintf(stderr, "app: %s: %s\n", what, nn_strerror(nn_errno()));
    return 1;
}

int main(void)
{
    int a = nn_socket(AF_SP, NN_PAIR), b = nn_socket(AF_SP, NN_PAIR);
    if (a < 0 || b < 0)
        return fail("nn_socket");
    if (nn_bind(a, "inproc://install-test") < 0 || nn_connect(b, "inproc://install-test") < 0)
        return fail("nn_bind/nn_connect");
    int verify = NN_TLS_VERIFY_REQUIRED;
    if (nn_setsockopt(b, NN_TLS, NN_TLS_VERIFY, &verify, sizeof verify) != 0)
        return fail("nn_setsockopt NN_TLS_VERIFY");
    if (nn_send(b, "hello", 5, 0) != 5)
        return fail("nn_send");
    char buf[16];
    int n = nn_recv(a, buf, sizeof buf, 0);
    if (n != 5 || memcmp(buf, "hello", 5) != 0)
        return fail("nn_recv");
    nn_close(a);
    nn_close(b);
    printf("exchanged hello\n");
    FILE *maps = fopen("/proc/self/maps", "r");
    char line[1024];
    while (maps && fgets(line, sizeof line, maps)) {
        char *path = strchr(line, '/');
        if (path && strstr(path, "libnanomsg")) {
            printf("libnanomsg: %s", path);
            break;
        }
    }
    if (maps)
        fclose(maps);
    return 0;
}
