/* A protocol timer (REQ resend, SURVEYOR deadline): an event-loop timer whose
   callback runs with the socket lock held and never after the protocol was
   torn down. Starting one starts the event loop if it is not running. */
#ifndef SP_SOCKTIMER_H
#define SP_SOCKTIMER_H

#include <stdbool.h>
#include <stdint.h>

#include "aio/loop.h"

struct sp_sock;
struct sp_socktimer;

typedef void (*sp_socktimer_fn)(struct sp_sock *sock, struct sp_socktimer *t);

struct sp_socktimer {
    struct sp_timer timer;
    struct sp_sock *sock;
    sp_socktimer_fn fn;
    bool armed; /* socket lock */
};

void sp_socktimer_init(struct sp_socktimer *t, struct sp_sock *sock, sp_socktimer_fn fn);
/* (Re)arms it; socket lock held. 0 or -errno (the loop could not start). */
int sp_socktimer_start(struct sp_socktimer *t, uint64_t ms);
/* Disarms it; socket lock held. */
void sp_socktimer_stop(struct sp_socktimer *t);
/* Disarms it and waits until no callback can be running; no lock held. */
void sp_socktimer_term(struct sp_socktimer *t);

#endif
