/* The send rate of a PGM sender (pgmrate.h says why it is ours). */
#include "pgm/pgmrate.h"

#include <limits.h>

#define NS_PER_S 1000000000u

void sp_pgmrate_init(struct sp_pgmrate *r, uint64_t rate, size_t maxpkt, uint64_t now_ns)
{
    if (rate == 0)
        rate = 1;
    uint64_t burst = rate * SP_PGMRATE_BURST_MS / 1000u;
    if (burst < 2u * (uint64_t) maxpkt)
        burst = 2u * (uint64_t) maxpkt;
    r->rate = rate;
    r->cap = burst * NS_PER_S;
    r->tokens = r->cap;
    r->last_ns = now_ns;
}

/* What the bucket holds at now_ns. */
static uint64_t level(const struct sp_pgmrate *r, uint64_t now_ns)
{
    if (now_ns <= r->last_ns)
        return r->tokens; /* a clock that did not move, or an older reading */
    uint64_t dt = now_ns - r->last_ns;
    /* Compared before multiplying: a long idle time would overflow. */
    uint64_t room = r->cap - r->tokens;
    if (dt > room / r->rate)
        return r->cap;
    return r->tokens + r->rate * dt;
}

static uint64_t need_of(const struct sp_pgmrate *r, size_t n)
{
    uint64_t need = (uint64_t) n * NS_PER_S;
    /* Larger than a burst (the owner said it never sends one): goes when
       the bucket is full. */
    return need > r->cap ? r->cap : need;
}

uint64_t sp_pgmrate_wait(const struct sp_pgmrate *r, uint64_t now_ns, size_t n)
{
    uint64_t have = level(r, now_ns), need = need_of(r, n);
    return have >= need ? 0 : (need - have + r->rate - 1u) / r->rate;
}

bool sp_pgmrate_take(struct sp_pgmrate *r, uint64_t now_ns, size_t n)
{
    uint64_t have = level(r, now_ns), need = need_of(r, n);
    if (have < need)
        return false;
    r->tokens = have - need;
    if (now_ns > r->last_ns)
        r->last_ns = now_ns;
    return true;
}

int sp_pgmrate_ceiling(int rate)
{
    if (rate <= 0)
        return rate;
    uint64_t c = (uint64_t) rate * SP_PGMRATE_CEILING_PCT / 100u;
    return c > (uint64_t) INT_MAX ? INT_MAX : (int) c;
}
