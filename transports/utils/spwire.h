/* The SP framing of the tcp and ipc transports as a stream wire: the 8-byte
   SP header exchange, then length-prefixed messages (SPEC §3.1-§3.3). */
#ifndef SP_SPWIRE_H
#define SP_SPWIRE_H

#include "utils/decoder.h"
#include "utils/stream.h"

extern const struct sp_wire_ops sp_spwire_ops;

/* wire_arg values for sp_spwire_ops. */
extern const enum sp_framing sp_spwire_tcp;
extern const enum sp_framing sp_spwire_ipc;

/* libnanomsg's header-exchange deadline, kept for accepted connections: a
   client that connects and stays silent holds a server's descriptor no
   longer than that. */
#define SP_SPWIRE_HS_TIMEOUT_MS 1000

/* The connecting side waits longer (NNG's negotiation deadline). Its clock
   starts when the kernel completes the connection, which is before the
   server has accepted it: when thousands of clients connect at once, the
   last ones in the accept queue wait more than a second for the server's
   header. With libnanomsg's 1 s they gave up, reconnected to the back of
   the queue, and the server spent its time accepting connections their
   clients had already closed: with 2,000 clients of one PULL on a loaded
   2-CPU machine, 100 of them got through in 20 s (tests/faults/scale.c). */
#define SP_SPWIRE_DIAL_HS_TIMEOUT_MS 10000

#endif
