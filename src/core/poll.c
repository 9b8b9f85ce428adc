/* nn_poll: waits on the sockets' NN_RCVFD/NN_SNDFD readiness fds with poll(). */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>

#include <nanomsg/nn.h>

int nn_poll(struct nn_pollfd *fds, int nfds, int timeout)
{
    if (nfds < 0 || (nfds > 0 && !fds)) {
        errno = nfds < 0 ? EINVAL : EFAULT;
        return -1;
    }
    if (nfds == 0) {
        int rc = poll(NULL, 0, timeout);
        return rc < 0 ? -1 : 0;
    }
    struct pollfd *pfd = calloc((size_t) nfds * 2, sizeof *pfd);
    if (!pfd) {
        errno = ENOMEM;
        return -1;
    }
    for (int i = 0; i < nfds; i++) {
        pfd[2 * i].fd = pfd[2 * i + 1].fd = -1;
        if (fds[i].events & NN_POLLIN) {
            int fd;
            size_t sz = sizeof fd;
            if (nn_getsockopt(fds[i].fd, NN_SOL_SOCKET, NN_RCVFD, &fd, &sz) != 0) {
                free(pfd);
                return -1;
            }
            pfd[2 * i].fd = fd;
            pfd[2 * i].events = POLLIN;
        }
        if (fds[i].events & NN_POLLOUT) {
            int fd;
            size_t sz = sizeof fd;
            if (nn_getsockopt(fds[i].fd, NN_SOL_SOCKET, NN_SNDFD, &fd, &sz) != 0) {
                free(pfd);
                return -1;
            }
            pfd[2 * i + 1].fd = fd;
            pfd[2 * i + 1].events = POLLIN;
        }
    }
    int rc = poll(pfd, (nfds_t) nfds * 2, timeout);
    if (rc <= 0) {
        /* Timeout or error: revents are left as they were, like libnanomsg. */
        free(pfd);
        return rc < 0 ? -1 : 0;
    }
    int n = 0;
    for (int i = 0; i < nfds; i++) {
        fds[i].revents = 0;
        if (pfd[2 * i].revents & POLLIN)
            fds[i].revents |= NN_POLLIN;
        if (pfd[2 * i + 1].revents & POLLIN)
            fds[i].revents |= NN_POLLOUT;
        if (fds[i].revents)
            n++;
    }
    free(pfd);
    return n;
}
