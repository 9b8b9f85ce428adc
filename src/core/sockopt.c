/* nn_setsockopt and nn_getsockopt: the NN_SOL_SOCKET options, the
   protocol's level (its ops) and the transports' levels (their option
   sets, kept per socket in sock->tpopts without the core knowing what they
   mean). */
#include "core/sock.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <string.h>

#include "core/pipe.h"
#include "transport.h"

/* The levels the core only routes: the protocol's (its number, to its ops)
   and the transports' (negative, to their option sets). A get when getlen
   is set, else a set. */
static int other_level(struct sp_sock *s, int level, int option, const void *setval, size_t setlen, void *getval,
                       size_t *getlen)
{
    const struct sp_proto_ops *ops = s->type->ops;
    const struct sp_optset *set = NULL;
    if (level > NN_SOL_SOCKET) {
        if (level != s->type->protocol || (getlen ? !ops->getopt : !ops->setopt))
            return -ENOPROTOOPT;
    } else if (!(set = sp_optset_find(level))) {
        return -ENOPROTOOPT;
    }
    int rc;
    sp_sock_lock(s);
    if (set) {
        rc = getlen ? sp_optstore_get(&s->tpopts, set, option, getval, getlen)
                    : sp_optstore_set(&s->tpopts, set, option, setval, setlen);
    } else {
        s->in_proto++;
        rc = getlen ? ops->getopt(s, option, getval, getlen) : ops->setopt(s, option, setval, setlen);
        s->in_proto--;
    }
    sp_sock_unlock(s);
    return rc;
}

/* The NN_SOL_SOCKET int options that nn_setsockopt stores as given: the
   range it accepts (EINVAL outside it) and their field. */
#define SOL_INT(opt, lo, hi, field) {opt, lo, hi, offsetof(struct sp_sockopts, field)}
static const struct {
    int option;
    int min;
    int max;
    size_t off;
} sol_ints[] = {
    SOL_INT(NN_LINGER, INT_MIN, INT_MAX, linger), /* < 0: no limit */
    SOL_INT(NN_SNDBUF, 1, INT_MAX, sndbuf),
    SOL_INT(NN_RCVBUF, 1, INT_MAX, rcvbuf),
    SOL_INT(NN_SNDTIMEO, INT_MIN, INT_MAX, sndtimeo),
    SOL_INT(NN_RCVTIMEO, INT_MIN, INT_MAX, rcvtimeo),
    SOL_INT(NN_RECONNECT_IVL, 0, INT_MAX, reconnect_ivl),
    SOL_INT(NN_RECONNECT_IVL_MAX, 0, INT_MAX, reconnect_ivl_max),
    SOL_INT(NN_SNDPRIO, 1, 16, sndprio),
    SOL_INT(NN_RCVPRIO, 1, 16, rcvprio),
    SOL_INT(NN_IPV4ONLY, 0, 1, ipv4only),
    SOL_INT(NN_MAXTTL, 1, 255, maxttl),
};

int sp_sock_setopt(struct sp_sock *s, int level, int option, const void *val, size_t len)
{
    int v = 0;
    if (level != NN_SOL_SOCKET)
        return other_level(s, level, option, val, len, NULL, NULL);
    if (option == NN_SOCKET_NAME) {
        if (len > 63)
            return -EINVAL;
        sp_sock_lock(s);
        if (len)
            memcpy(s->name, val, len);
        s->name[len] = 0;
        sp_sock_unlock(s);
        return 0;
    }
    /* libnanomsg checks the size before it looks the option up. */
    if (sp_opt_int(val, len, INT_MIN, INT_MAX, &v) != 0)
        return -EINVAL;
    if (option == NN_RCVMAXSIZE) {
        /* Read without the lock on every message header (sock.h). */
        if (v < -1)
            return -EINVAL;
        atomic_store_explicit(&s->opt.rcvmaxsize, v, memory_order_relaxed);
        return 0;
    }
    for (size_t i = 0; i < sizeof sol_ints / sizeof sol_ints[0]; i++) {
        if (sol_ints[i].option != option)
            continue;
        if (v < sol_ints[i].min || v > sol_ints[i].max)
            return -EINVAL;
        sp_sock_lock(s);
        *(int *) ((char *) &s->opt + sol_ints[i].off) = v;
        if (option == NN_SNDBUF || option == NN_RCVBUF)
            s->opt.bufs_set = true;
        sp_sock_unlock(s);
        return 0;
    }
    return -ENOPROTOOPT;
}

int sp_sock_getopt(struct sp_sock *s, int level, int option, void *val, size_t *len)
{
    int v;
    int rc = 0;
    if (level != NN_SOL_SOCKET)
        return other_level(s, level, option, NULL, 0, val, len);
    sp_sock_lock(s);
    switch (option) {
    case NN_DOMAIN:
        v = s->type->domain;
        break;
    case NN_PROTOCOL:
        v = s->type->protocol;
        break;
    case NN_LINGER:
        v = s->opt.linger;
        break;
    case NN_SNDBUF:
        v = s->opt.sndbuf;
        break;
    case NN_RCVBUF:
        v = s->opt.rcvbuf;
        break;
    case NN_RCVMAXSIZE:
        v = atomic_load_explicit(&s->opt.rcvmaxsize, memory_order_relaxed);
        break;
    case NN_SNDTIMEO:
        v = s->opt.sndtimeo;
        break;
    case NN_RCVTIMEO:
        v = s->opt.rcvtimeo;
        break;
    case NN_RECONNECT_IVL:
        v = s->opt.reconnect_ivl;
        break;
    case NN_RECONNECT_IVL_MAX:
        v = s->opt.reconnect_ivl_max;
        break;
    case NN_SNDPRIO:
        v = s->opt.sndprio;
        break;
    case NN_RCVPRIO:
        v = s->opt.rcvprio;
        break;
    case NN_IPV4ONLY:
        v = s->opt.ipv4only;
        break;
    case NN_MAXTTL:
        v = s->opt.maxttl;
        break;
    case NN_SNDFD:
        if (s->type->flags & SP_SOCKTYPE_NOSEND)
            goto noopt;
        rc = v = sp_sock_eventfd(s, SP_EV_OUT);
        break;
    case NN_RCVFD:
        if (s->type->flags & SP_SOCKTYPE_NORECV)
            goto noopt;
        rc = v = sp_sock_eventfd(s, SP_EV_IN);
        sp_pipe_wake_reader(s->lone_pipe); /* pollers need background reads */
        break;
    case NN_SOCKET_NAME:
        strncpy(val, s->name, *len);
        *len = strlen(s->name);
        sp_sock_unlock(s);
        return 0;
    default:
        goto noopt;
    }
    if (rc < 0) {
        sp_sock_unlock(s);
        return rc;
    }
    sp_opt_put_int(val, len, v);
    sp_sock_unlock(s);
    return 0;
noopt:
    sp_sock_unlock(s);
    return -ENOPROTOOPT;
}

