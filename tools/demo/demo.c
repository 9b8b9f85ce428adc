/* A short tour of the library: PAIR ping-pong and PUSH/PULL fan-in over
   inproc, ipc and tcp, using only the public nn_* API, exactly as a program
   written for libnanomsg would. Prints what it does and exits 0 on success. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nanomsg/nn.h>
#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>

static void check(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "demo: %s: %s\n", what, nn_strerror(nn_errno()));
        exit(1);
    }
}

static void set_timeouts(int s)
{
    int ms = 5000;
    check(nn_setsockopt(s, NN_SOL_SOCKET, NN_SNDTIMEO, &ms, sizeof ms), "NN_SNDTIMEO");
    check(nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &ms, sizeof ms), "NN_RCVTIMEO");
}

static void pair_pingpong(const char *url)
{
    int a = nn_socket(AF_SP, NN_PAIR), b = nn_socket(AF_SP, NN_PAIR);
    check(a, "nn_socket");
    check(b, "nn_socket");
    set_timeouts(a);
    set_timeouts(b);
    check(nn_bind(a, url), "nn_bind");
    check(nn_connect(b, url), "nn_connect");
    check(nn_send(b, "ping", 4, 0), "nn_send");
    char *msg = NULL;
    int n = nn_recv(a, &msg, NN_MSG, 0); /* zero-copy receive */
    check(n, "nn_recv");
    printf("  PAIR  %-28s got \"%.*s\"", url, n, msg);
    nn_freemsg(msg);
    check(nn_send(a, "pong", 4, 0), "nn_send");
    char buf[16];
    n = nn_recv(b, buf, sizeof buf, 0);
    check(n, "nn_recv");
    printf(", answered \"%.*s\"\n", n, buf);
    nn_close(a);
    nn_close(b);
}

static void push_pull(const char *url)
{
    int pull = nn_socket(AF_SP, NN_PULL);
    check(pull, "nn_socket");
    set_timeouts(pull);
    check(nn_bind(pull, url), "nn_bind");
    int push[3];
    for (int i = 0; i < 3; i++) {
        push[i] = nn_socket(AF_SP, NN_PUSH);
        check(push[i], "nn_socket");
        set_timeouts(push[i]);
        check(nn_connect(push[i], url), "nn_connect");
        char m[32];
        int len = snprintf(m, sizeof m, "job %d", i);
        check(nn_send(push[i], m, (size_t) len, 0), "nn_send");
    }
    printf("  PUSH->PULL %-23s", url);
    for (int i = 0; i < 3; i++) {
        char buf[32];
        int n = nn_recv(pull, buf, sizeof buf, 0);
        check(n, "nn_recv");
        printf(" \"%.*s\"", n, buf);
    }
    printf("\n");
    for (int i = 0; i < 3; i++)
        nn_close(push[i]);
    nn_close(pull);
}

int main(void)
{
    char ipc[128];
    snprintf(ipc, sizeof ipc, "ipc:///tmp/nanosp-demo-%d.ipc", (int) getpid());
    printf("nanosp demo (libnanomsg %d.%d.%d ABI)\n", NN_VERSION_CURRENT, NN_VERSION_REVISION,
           NN_VERSION_AGE);
    pair_pingpong("inproc://demo");
    pair_pingpong(ipc);
    pair_pingpong("tcp://127.0.0.1:25790");
    push_pull("inproc://jobs");
    push_pull(ipc);
    push_pull("tcp://127.0.0.1:25791");
    printf("ok\n");
    return 0;
}
