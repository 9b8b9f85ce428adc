/* Options of the PGM transports. */
#include "pgm/pgmopts.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include <nanomsg/pgm.h>

void sp_pgmopts_init(struct sp_pgmopts *o)
{
    /* 20 MB/s lets a publisher send 10 MB/s steadily with room for headers,
       repairs and bursts; OpenPGM alone would allow 12.5 kB/s. */
    o->rate = SP_PGM_RATE_DEFAULT;
    o->recovery_ivl = SP_PGM_RECOVERY_IVL_DEFAULT;
    /* As libzmq: multicast stays on the local network unless asked. */
    o->hops = SP_PGM_HOPS_DEFAULT;
    /* Two sockets on one host hear each other, as they do on tcp. */
    o->loop = SP_PGM_LOOP_DEFAULT;
    o->maxtpdu = SP_PGM_MAXTPDU_DEFAULT;
    /* As libzmq and OpenPGM: a sender silent for five minutes is gone. */
    o->peer_expiry = SP_PGM_PEER_EXPIRY_DEFAULT;
}

static int *field(struct sp_pgmopts *o, int option, int *min, int *max)
{
    switch (option) {
    case NN_PGM_RATE:
        *min = SP_PGM_RATE_MIN;
        *max = INT_MAX;
        return &o->rate;
    case NN_PGM_RECOVERY_IVL:
        *min = SP_PGM_RECOVERY_IVL_MIN;
        *max = SP_PGM_RECOVERY_IVL_MAX;
        return &o->recovery_ivl;
    case NN_PGM_HOPS:
        *min = 1;
        *max = 255;
        return &o->hops;
    case NN_PGM_LOOP:
        *min = 0;
        *max = 1;
        return &o->loop;
    case NN_PGM_MAXTPDU:
        *min = SP_PGM_MAXTPDU_MIN;
        *max = SP_PGM_MAXTPDU_MAX;
        return &o->maxtpdu;
    case NN_PGM_PEER_EXPIRY:
        *min = SP_PGM_PEER_EXPIRY_MIN;
        *max = SP_PGM_PEER_EXPIRY_MAX;
        return &o->peer_expiry;
    default:
        return NULL;
    }
}

int sp_pgmopts_set(struct sp_pgmopts *o, int option, const void *optval, size_t optvallen)
{
    int min, max;
    int *f = field(o, option, &min, &max);
    if (!f)
        return -ENOPROTOOPT;
    if (!optval || optvallen != sizeof(int))
        return -EINVAL;
    int v;
    memcpy(&v, optval, sizeof v);
    if (v < min || v > max)
        return -EINVAL;
    *f = v;
    return 0;
}

int sp_pgmopts_get(const struct sp_pgmopts *o, int option, void *optval, size_t *optvallen)
{
    int min, max;
    const int *f = field((struct sp_pgmopts *) o, option, &min, &max);
    if (!f)
        return -ENOPROTOOPT;
    size_t n = *optvallen < sizeof(int) ? *optvallen : sizeof(int);
    memcpy(optval, f, n);
    *optvallen = sizeof(int);
    return 0;
}

int sp_pgmopts_check(const struct sp_pgmopts *o)
{
    /* OpenPGM asserts that a second's worth of rate holds one packet. */
    return o->rate >= o->maxtpdu ? 0 : -EINVAL;
}

uint32_t sp_pgmopts_window_sqns(const struct sp_pgmopts *o)
{
    uint64_t bytes = (uint64_t) o->rate * (uint64_t) o->recovery_ivl / 1000u;
    uint64_t sqns = bytes / (uint64_t) o->maxtpdu;
    if (sqns < 1)
        sqns = 1;
    if (sqns > SP_PGM_WINDOW_MAX_SQNS)
        sqns = SP_PGM_WINDOW_MAX_SQNS;
    return (uint32_t) sqns;
}
