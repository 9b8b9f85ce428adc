/* The library-wide condition behind sp_drain_wait. */
#include "core/drain.h"

#include <pthread.h>

static pthread_mutex_t drain_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t drain_cv = PTHREAD_COND_INITIALIZER;

void sp_drain_wait(atomic_int *count)
{
    /* Every decrement after this one sees the mark; one before it is seen
       by the reads below (all are read-modify-writes of one word). */
    if (atomic_fetch_or(count, SP_DRAIN_WAITING) != 0) {
        pthread_mutex_lock(&drain_lock);
        while ((atomic_load_explicit(count, memory_order_acquire) & ~SP_DRAIN_WAITING) != 0)
            pthread_cond_wait(&drain_cv, &drain_lock);
        pthread_mutex_unlock(&drain_lock);
    }
    atomic_fetch_and(count, ~SP_DRAIN_WAITING);
}

void sp_drain_wake(void)
{
    pthread_mutex_lock(&drain_lock);
    pthread_cond_broadcast(&drain_cv);
    pthread_mutex_unlock(&drain_lock);
}
