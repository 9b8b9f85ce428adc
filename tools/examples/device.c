/* A device: a broker between REQ clients and a REP server, with raw sockets
   that pass each request and reply on with its routing header.
     reqrep server tcp://127.0.0.1:5555
     device tcp://127.0.0.1:5557 tcp://127.0.0.1:5555
     reqrep client tcp://127.0.0.1:5557 world      (prints "hello, world") */
#include <stdio.h>

#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: device FRONT_URL SERVER_URL\n");
        return 2;
    }
    int front = nn_socket(AF_SP_RAW, NN_REP); /* clients connect here */
    int back = nn_socket(AF_SP_RAW, NN_REQ);  /* and this one to the server */
    if (front < 0 || back < 0 || nn_bind(front, argv[1]) < 0 || nn_connect(back, argv[2]) < 0) {
        fprintf(stderr, "device: %s\n", nn_strerror(nn_errno()));
        return 1;
    }
    nn_device(front, back); /* forwards both ways until nn_term */
    fprintf(stderr, "nn_device: %s\n", nn_strerror(nn_errno()));
    return 1;
}
