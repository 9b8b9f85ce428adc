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

/* The kernel send buffer of an ipc connection while the application set
   neither NN_SNDBUF nor NN_RCVBUF. Unix sockets have no autotuning: they
   stay at net.core.wmem_default (208 KiB), where a stream of 64 KiB
   messages fills the buffer every third message and a 1 MiB message takes
   five writes. Each full buffer hands the rest to the loop thread, which
   the kernel wakes only once the buffer is down to a quarter, while the
   sending thread waits for the loop: most 64 KiB messages cost a thread
   switch on each side, where tcp over loopback autotunes its buffer up to
   tcp_wmem's 4 MiB and writes each message at once. The kernel doubles the value and caps
   it at twice net.core.wmem_max (208 KiB by default: then 416 KiB). The
   memory is taken only while messages are in flight; the pipe's own
   NN_SNDBUF limit is unchanged. */
#define SP_IPC_SNDBUF (2 * 1024 * 1024)

static const struct sp_stream_cfg ipc_cfg = {
    .wire = &sp_spwire_ops,
    .wire_arg = &sp_spwire_ipc,
    .sndbuf_auto = SP_IPC_SNDBUF,
};

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
    if (bind(fd, (struct sockaddr *) &p->sun, p->len) != 0 || listen(fd, SP_LISTEN_BACKLOG) != 0 ||
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
        rc = sp_connector_start(ep, &ipc_cfg, SP_SPWIRE_HS_TIMEOUT_MS, &ipc_connector_ops, p);
    if (rc)
        free(p);
    return rc;
}

/* ---- the NN_IPC options ----

   libnanomsg 1.1.5 uses them on Windows only (named-pipe security and
   buffer sizes); elsewhere it stores them and gives them back, and so do
   we. */

struct ipc_opts {
    void *sec_attr; /* NN_IPC_SEC_ATTR: the caller's pointer, as libnanomsg keeps it */
    int outbufsz;   /* NN_IPC_OUTBUFSZ */
    int inbufsz;    /* NN_IPC_INBUFSZ */
};

static void ipc_opts_init(void *opts)
{
    struct ipc_opts *o = opts;
    o->sec_attr = NULL;
    o->outbufsz = 4096;
    o->inbufsz = 4096;
}

static int ipc_opts_set(void *opts, int option, const void *val, size_t len)
{
    struct ipc_opts *o = opts;
    /* libnanomsg's checks: the size first, whatever the option, then none
       on the value (a length or a size of 0 or less is kept as given). */
    if (len < sizeof(int))
        return -EINVAL;
    switch (option) {
    case NN_IPC_SEC_ATTR:
        o->sec_attr = (void *) val;
        return 0;
    case NN_IPC_OUTBUFSZ:
        memcpy(&o->outbufsz, val, sizeof o->outbufsz);
        return 0;
    case NN_IPC_INBUFSZ:
        memcpy(&o->inbufsz, val, sizeof o->inbufsz);
        return 0;
    default:
        return -ENOPROTOOPT;
    }
}

static int ipc_opts_get(const void *opts, int option, void *val, size_t *len)
{
    const struct ipc_opts *o = opts;
    switch (option) {
    case NN_IPC_SEC_ATTR:
        memcpy(val, &o->sec_attr, *len < sizeof o->sec_attr ? *len : sizeof o->sec_attr);
        *len = sizeof o->sec_attr;
        return 0;
    case NN_IPC_OUTBUFSZ:
        return sp_opt_put_int(val, len, o->outbufsz);
    case NN_IPC_INBUFSZ:
        return sp_opt_put_int(val, len, o->inbufsz);
    default:
        return -ENOPROTOOPT;
    }
}

static const struct sp_optset ipc_optset = {
    .level = NN_IPC,
    .size = sizeof(struct ipc_opts),
    .init = ipc_opts_init,
    .set = ipc_opts_set,
    .get = ipc_opts_get,
};

/* Nothing reads them (each endpoint still takes its copy, as of any set). */
static const struct sp_optset *const ipc_optsets[] = {&ipc_optset, NULL};

const struct sp_transport sp_ipc_transport = {
    .scheme = "ipc",
    .id = NN_IPC,
    .optsets = ipc_optsets,
    .bind = ipc_bind,
    .connect = ipc_connect,
};
