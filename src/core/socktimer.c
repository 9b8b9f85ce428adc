/* Protocol timers on the event loop. */
#include "core/socktimer.h"

#include "core/sock.h"

static void fire(struct sp_timer *timer)
{
    struct sp_socktimer *t = sp_cont(timer, struct sp_socktimer, timer);
    struct sp_sock *sock = t->sock;
    sp_sock_lock(sock);
    /* Stopped meanwhile, or re-armed (then its new due time decides). */
    if (t->armed && !sp_timer_armed(&t->timer) && !atomic_load(&sock->closing)) {
        t->armed = false;
        sock->in_proto++;
        t->fn(sock, t);
        sock->in_proto--;
    }
    sp_sock_unlock(sock);
}

void sp_socktimer_init(struct sp_socktimer *t, struct sp_sock *sock, sp_socktimer_fn fn)
{
    sp_timer_init(&t->timer, fire);
    t->sock = sock;
    t->fn = fn;
    t->armed = false;
}

int sp_socktimer_start(struct sp_socktimer *t, uint64_t ms)
{
    SP_ASSERT_LOCKED(t->sock);
    int rc = sp_loop_start();
    if (rc != 0)
        return rc;
    t->armed = true;
    sp_timer_start(&t->timer, ms);
    return 0;
}

void sp_socktimer_stop(struct sp_socktimer *t)
{
    SP_ASSERT_LOCKED(t->sock);
    t->armed = false;
    sp_timer_stop(&t->timer);
}

void sp_socktimer_term(struct sp_socktimer *t)
{
    /* sp_loop_sync would wait for a callback that waits for our lock. */
    SP_ASSERT_UNLOCKED();
    t->armed = false;
    sp_timer_stop(&t->timer);
    sp_loop_sync();
}
