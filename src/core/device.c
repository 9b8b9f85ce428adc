/* nn_device: forwards messages between two raw sockets (or back into one raw
   socket, the loopback device) until a socket is closed or the library is
   terminated. Two-way devices run one thread per direction. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include <nanomsg/nn.h>

#include "core/global.h"
#include "protocol.h"

/* Out of memory for a moment: the device goes on (a receive gets its
   message again, a message that could not be sent is dropped, as a full
   queue drops it), after a pause that keeps it from spinning while memory
   stays short. */
static int out_of_memory(void)
{
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
    return 0;
}

/* Moves one message from 'from' to 'to' with its SP header and transport
   cmsgs. 0 or -1 (errno set). */
static int forward(int from, int to)
{
    void *body = NULL;
    void *control = NULL;
    struct nn_iovec iov = {&body, NN_MSG};
    struct nn_msghdr hdr = {&iov, 1, &control, NN_MSG};
    if (nn_recvmsg(from, &hdr, 0) < 0)
        return errno == ENOMEM ? out_of_memory() : -1;
    if (nn_sendmsg(to, &hdr, 0) < 0) {
        int err = errno;
        nn_freemsg(body);
        errno = err;
        return err == ENOMEM ? out_of_memory() : -1;
    }
    return 0;
}

struct direction {
    int from;
    int to;
    int err;
};

static void *pump(void *arg)
{
    struct direction *d = arg;
    while (forward(d->from, d->to) == 0)
        ;
    d->err = errno;
    return NULL;
}

int nn_device(int s1, int s2)
{
    const struct sp_socktype *t1 = NULL, *t2 = NULL;
    if (s1 < 0 && s2 < 0) {
        errno = EBADF;
        return -1;
    }
    if (s1 < 0 || s2 < 0) {
        int s = s1 < 0 ? s2 : s1;
        int rc = sp_global_socktype(s, &t1);
        if (rc) {
            errno = -rc;
            return -1;
        }
        if (t1->domain != AF_SP_RAW) {
            errno = EINVAL;
            return -1;
        }
        while (forward(s, s) == 0)
            ;
        return -1;
    }
    int rc = sp_global_socktype(s1, &t1);
    if (rc == 0)
        rc = sp_global_socktype(s2, &t2);
    if (rc) {
        errno = -rc;
        return -1;
    }
    if (t1->domain != AF_SP_RAW || t2->domain != AF_SP_RAW || t1->protocol / 16 != t2->protocol / 16) {
        errno = EINVAL;
        return -1;
    }
    bool r1 = !(t1->flags & SP_SOCKTYPE_NORECV), w1 = !(t1->flags & SP_SOCKTYPE_NOSEND);
    bool r2 = !(t2->flags & SP_SOCKTYPE_NORECV), w2 = !(t2->flags & SP_SOCKTYPE_NOSEND);
    if ((r1 && !w2) || (r2 && !w1) || (!r1 && !r2)) {
        errno = EINVAL;
        return -1;
    }
    if (r1 && r2) {
        struct direction a = {s1, s2, 0}, b = {s2, s1, 0};
        pthread_t ta, tb;
        if (pthread_create(&ta, NULL, pump, &a) != 0) {
            errno = ENOMEM;
            return -1;
        }
        if (pthread_create(&tb, NULL, pump, &b) != 0) {
            /* Run the second direction here instead. */
            pump(&b);
        } else {
            pthread_join(tb, NULL);
        }
        pthread_join(ta, NULL);
        errno = a.err ? a.err : b.err;
        return -1;
    }
    int from = r1 ? s1 : s2, to = r1 ? s2 : s1;
    while (forward(from, to) == 0)
        ;
    return -1;
}
