/* Reconnect backoff as libnanomsg does it: the k-th wait is
   (2^(k-1) - 1) * ivl, capped at max (max 0 means max = ivl); once capped the
   wait stays at max. The counter is never reset, as in libnanomsg. */
#ifndef SP_BACKOFF_H
#define SP_BACKOFF_H

struct sp_backoff {
    int ivl;
    int max;
    long long n; /* next multiplier + 1 */
};

static inline void sp_backoff_init(struct sp_backoff *b, int ivl, int max)
{
    b->ivl = ivl;
    b->max = max == 0 ? ivl : max;
    b->n = 1;
}

/* The next wait in milliseconds. */
static inline int sp_backoff_next(struct sp_backoff *b)
{
    long long t = (b->n - 1) * (long long) b->ivl;
    if (t > b->max)
        return b->max;
    if (b->n < (1LL << 40))
        b->n *= 2;
    return (int) t;
}

#endif
