/* nn_get_statistic: the socket's counters by public id. */
#include <errno.h>

#include <nanomsg/nn.h>
#include <nanomsg/pgm.h> /* NN_STAT_MESSAGES_LOST, _DROPPED: ours, ids in no other library */

#include "core/sock.h"

int sp_sock_stat_get(struct sp_sock *s, int stat, uint64_t *value)
{
    enum sp_stat slot;
    switch (stat) {
    case NN_STAT_ESTABLISHED_CONNECTIONS: slot = SP_STAT_ESTABLISHED; break;
    case NN_STAT_ACCEPTED_CONNECTIONS: slot = SP_STAT_ACCEPTED; break;
    case NN_STAT_DROPPED_CONNECTIONS: slot = SP_STAT_DROPPED; break;
    case NN_STAT_BROKEN_CONNECTIONS: slot = SP_STAT_BROKEN; break;
    case NN_STAT_CONNECT_ERRORS: slot = SP_STAT_CONNECT_ERRORS; break;
    case NN_STAT_BIND_ERRORS: slot = SP_STAT_BIND_ERRORS; break;
    case NN_STAT_ACCEPT_ERRORS: slot = SP_STAT_ACCEPT_ERRORS; break;
    case NN_STAT_CURRENT_CONNECTIONS: slot = SP_STAT_CURRENT_CONNECTIONS; break;
    case NN_STAT_INPROGRESS_CONNECTIONS: slot = SP_STAT_INPROGRESS; break;
    case NN_STAT_CURRENT_EP_ERRORS: slot = SP_STAT_CURRENT_EP_ERRORS; break;
    case NN_STAT_MESSAGES_SENT: slot = SP_STAT_MESSAGES_SENT; break;
    case NN_STAT_MESSAGES_RECEIVED: slot = SP_STAT_MESSAGES_RECEIVED; break;
    case NN_STAT_BYTES_SENT: slot = SP_STAT_BYTES_SENT; break;
    case NN_STAT_BYTES_RECEIVED: slot = SP_STAT_BYTES_RECEIVED; break;
    case NN_STAT_MESSAGES_LOST: slot = SP_STAT_MESSAGES_LOST; break;
    case NN_STAT_MESSAGES_DROPPED: slot = SP_STAT_MESSAGES_DROPPED; break;
    case NN_STAT_CURRENT_SND_PRIORITY: {
        int prio = 0; /* what libnanomsg reports for types without a load balancer */
        sp_sock_lock(s);
        if (s->type->ops->current_sndprio)
            prio = s->type->ops->current_sndprio(s);
        sp_sock_unlock(s);
        *value = (uint64_t) (int64_t) prio;
        return 0;
    }
    default:
        return -EINVAL;
    }
    *value = atomic_load_explicit(&s->stats[slot], memory_order_relaxed);
    return 0;
}
