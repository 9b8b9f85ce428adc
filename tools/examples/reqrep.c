/* REQ/REP: the server answers every request; the client asks once.
     reqrep server tcp://127.0.0.1:5555
     reqrep client tcp://127.0.0.1:5555 world     (prints "hello, world") */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>

static void die(const char *what)
{
    fprintf(stderr, "%s: %s\n", what, nn_strerror(nn_errno()));
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "server") == 0) {
        int s = nn_socket(AF_SP, NN_REP);
        if (s < 0 || nn_bind(s, argv[2]) < 0)
            die("server");
        for (;;) {
            char *request, reply[256];
            int n = nn_recv(s, &request, NN_MSG, 0); /* the library allocates it */
            if (n < 0)
                die("nn_recv");
            snprintf(reply, sizeof reply, "hello, %.*s", n, request);
            nn_freemsg(request);
            if (nn_send(s, reply, strlen(reply), 0) < 0)
                die("nn_send");
        }
    }
    if (argc == 4 && strcmp(argv[1], "client") == 0) {
        int s = nn_socket(AF_SP, NN_REQ);
        if (s < 0 || nn_connect(s, argv[2]) < 0) /* the server may start later */
            die("client");
        if (nn_send(s, argv[3], strlen(argv[3]), 0) < 0)
            die("nn_send");
        char *reply;
        int n = nn_recv(s, &reply, NN_MSG, 0);
        if (n < 0)
            die("nn_recv");
        printf("%.*s\n", n, reply);
        nn_freemsg(reply);
        return nn_close(s) != 0;
    }
    fprintf(stderr, "usage: reqrep server URL | reqrep client URL NAME\n");
    return 2;
}
