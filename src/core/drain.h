/* Waiting for a count of users to drop to zero when the last user must not
   touch the counted object afterwards, because the waiter may free it at
   once: a socket's deferred signals (sock->sigrefs). The waiter marks the
   count itself (SP_DRAIN_WAITING), so a user learns from its own
   decrement, at no extra cost on the hot path, that it must wake the
   waiter; the wake-up goes through one library-wide condition, which
   outlives every object. Waits are rare (teardown) and one count has one
   waiter at a time. */
#ifndef SP_DRAIN_H
#define SP_DRAIN_H

#include <stdatomic.h>

/* Added to a count by its waiter; users count below it. */
#define SP_DRAIN_WAITING 0x40000000

/* Waits until no user is counted in *count. No lock held. */
void sp_drain_wait(atomic_int *count);

void sp_drain_wake(void);

/* Drops one user: the last touch of the object that holds count. */
static inline void sp_drain_put(atomic_int *count)
{
    if (atomic_fetch_sub_explicit(count, 1, memory_order_release) == SP_DRAIN_WAITING + 1)
        sp_drain_wake();
}

#endif
