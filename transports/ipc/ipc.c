/* The ipc transport: AF_UNIX stream sockets at a filesystem path, framed with
   a type byte (always 1) before each message length. Binding removes a stale
   socket file nobody listens on, but never a file that is not a socket, and a
   path too long for sun_path is ENAMETOOLONG instead of libnanomsg's abort. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <nanomsg/ipc.h>

#include "core/ep.h"
#include "transport.h"
#include "utils/connector.h"
#include "utils/listener.h"
#include "utils/spwire.h"

/* libnanomsg uses 10: too few when many peers connect at once. */
#define SP_IPC_BACKLOG SOMAXCONN

static const struct sp_stream_cfg ipc_cfg = {&sp_spwire_ops, &sp_spwire_ipc, false};

struct ipc_path {
    struct sockaddr_un sun;
    socklen_t len;
    dev_t dev;   /* identity of the socket file we created */
    ino_t ino;
};

static int ipc_fill(const char *path, struct ipc_path *p)
{
    size_t n = strlen(path);
    memset(p, 0, sizeof *p);
    if (n >= sizeof p->sun.sun_path)
        return -ENAMETOOLONG;
    p->sun.sun_family = AF_UNIX;
    memcpy(p->sun.sun_path, path, n + 1);
    p->len = (socklen_t) sizeof p->sun;
    return 0;
}

/* Removes a socket file that nobody listens on. -EADDRINUSE if someone does
   or if the path holds something that is not a socket. */
static int clear_stale(struct ipc_path *p)
{
    struct stat st;
    if (lstat(p->sun.sun_path, &st) != 0)
        return 0;
    if (!S_ISSOCK(st.st_mode))
        return -EADDRINUSE;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int rc = connect(fd, (struct sockaddr *) &p->sun, p->len);
    int err = errno;
    close(fd);
    if (rc == 0)
        return -EADDRINUSE;
    if (err == ECONNREFUSED)
        unlink(p->sun.sun_path);
    return 0;
}

static void ipc_cleanup(struct sp_listener *l)
{
    struct ipc_path *p = l->tpdata;
    struct stat st;
    /* Unlink only the file we created: another process may have replaced it. */
    if (lstat(p->sun.sun_path, &st) == 0 && st.st_dev == p->dev && st.st_ino == p->ino)
        unlink(p->sun.sun_path);
    free(p);
}

static int ipc_bind(struct sp_ep *ep)
{
    struct ipc_path *p = malloc(sizeof *p);
    if (!p)
        return -ENOMEM;
    int rc = ipc_fill(ep->addr, p);
    if (rc == 0)
        rc = clear_stale(p);
    if (rc) {
        free(p);
        return rc;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = -errno;
        free(p);
        return rc;
    }
    struct stat st;
    if (bind(fd, (struct sockaddr *) &p->sun, p->len) != 0 || listen(fd, SP_IPC_BACKLOG) != 0 ||
        lstat(p->sun.sun_path, &st) != 0) {
        rc = -errno;
        close(fd);
        free(p);
        return rc;
    }
    p->dev = st.st_dev;
    p->ino = st.st_ino;
    rc = sp_listener_start(ep, fd, &ipc_cfg, SP_SPWIRE_HS_TIMEOUT_MS, ipc_cleanup, p);
    if (rc) {
        unlink(p->sun.sun_path);
        close(fd);
        free(p);
    }
    return rc;
}

static int ipc_resolve(struct sp_connector *c, struct sockaddr_storage *ss, socklen_t *sl)
{
    struct ipc_path *p = c->tpdata;
    memcpy(ss, &p->sun, sizeof p->sun);
    *sl = p->len;
    return 0;
}

static void ipc_destroy(struct sp_connector *c)
{
    free(c->tpdata);
}

static const struct sp_connector_ops ipc_connector_ops = {
    .resolve = ipc_resolve,
    .destroy = ipc_destroy,
};

static int ipc_connect(struct sp_ep *ep)
{
    struct ipc_path *p = malloc(sizeof *p);
    if (!p)
        return -ENOMEM;
    int rc = ipc_fill(ep->addr, p);
    if (rc == 0)
        rc = sp_connector_start(ep, &ipc_cfg, SP_SPWIRE_DIAL_HS_TIMEOUT_MS, &ipc_connector_ops, p);
    if (rc)
        free(p);
    return rc;
}

const struct sp_transport sp_ipc_transport = {
    .scheme = "ipc",
    .id = NN_IPC,
    .bind = ipc_bind,
    .connect = ipc_connect,
};
