/* For the fuzz targets that open real endpoints (url, wshs, api): a network
   namespace of the process's own, with only a loopback interface, so that
   whatever address an input names stays inside it. A tcp bind on any port
   collides with nothing on the host, a connection to any address other than
   the loopback fails at once (no route), and a host name fails to resolve
   without leaving the machine. Ipc paths are relative to a private
   temporary directory (the targets also keep '/' out of them).

   Call fuzz_private_net() before the library starts a thread (from
   LLVMFuzzerInitialize: a namespace is per thread, and threads created
   later inherit the creator's). It needs root, or unprivileged user
   namespaces; without either it exits as a test with an unmet
   prerequisite does (tests/common/testutil.h). */
#ifndef FUZZNET_H
#define FUZZNET_H

#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testutil.h"

static inline void fuzz_private_net(const char *who)
{
    if (unshare(CLONE_NEWNET) != 0 && unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0) {
        char why[256];
        snprintf(why, sizeof why,
                 "%s: cannot make a private network namespace (unshare: %s): run it as root", who,
                 strerror(errno));
        exit(tu_unmet(why));
    }
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq r;
    memset(&r, 0, sizeof r);
    snprintf(r.ifr_name, sizeof r.ifr_name, "lo");
    if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &r) != 0 || (r.ifr_flags |= IFF_UP, ioctl(fd, SIOCSIFFLAGS, &r)) != 0) {
        fprintf(stderr, "%s: cannot bring up the loopback of the private namespace: %s\n", who,
                strerror(errno));
        exit(1);
    }
    close(fd);
    if (chdir(tu_tmpdir()) != 0) {
        fprintf(stderr, "%s: chdir %s: %s\n", who, tu_tmpdir(), strerror(errno));
        exit(1);
    }
}

#endif
