/* PUB/SUB: the publisher sends "weather N" and "news N" ten times a second;
   a subscriber gets only the topics it subscribed to (prefixes).
     pubsub pub tcp://127.0.0.1:5556
     pubsub sub tcp://127.0.0.1:5556 weather 3     (prints 3 weather messages) */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nanomsg/nn.h>
#include <nanomsg/pubsub.h>

static void die(const char *what)
{
    fprintf(stderr, "%s: %s\n", what, nn_strerror(nn_errno()));
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "pub") == 0) {
        int s = nn_socket(AF_SP, NN_PUB);
        if (s < 0 || nn_bind(s, argv[2]) < 0)
            die("pub");
        for (unsigned n = 1;; n++) {
            char msg[32];
            snprintf(msg, sizeof msg, "%s %u", n % 2 ? "weather" : "news", n);
            if (nn_send(s, msg, strlen(msg), 0) < 0) /* dropped while nobody listens */
                die("nn_send");
            nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
        }
    }
    if (argc == 5 && strcmp(argv[1], "sub") == 0) {
        int s = nn_socket(AF_SP, NN_SUB);
        if (s < 0 || nn_setsockopt(s, NN_SUB, NN_SUB_SUBSCRIBE, argv[3], strlen(argv[3])) < 0 ||
            nn_connect(s, argv[2]) < 0)
            die("sub");
        for (int i = 0; i < atoi(argv[4]); i++) {
            char buf[64];
            int n = nn_recv(s, buf, sizeof buf, 0);
            if (n < 0)
                die("nn_recv");
            printf("%.*s\n", n, buf);
        }
        return nn_close(s) != 0;
    }
    fprintf(stderr, "usage: pubsub pub URL | pubsub sub URL TOPIC COUNT\n");
    return 2;
}
