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

/* The SP header exchange must end within this long, on both sides: NNG's
   negotiation deadline (libnanomsg: 1 s on both sides). Each side's clock
   starts before its peer can answer: the connecting side's when the kernel
   completes the connection, before the server has accepted it; the
   accepting side's at accept, when a client starved of CPU may not have
   written its header yet. When thousands of clients connect at once on a
   loaded machine, 1 s is too short either way. With libnanomsg's 1 s on
   the connecting side, clients gave up, reconnected to the back of the
   accept queue, and the server spent its time accepting connections their
   clients had already closed: with 2,000 clients of one PULL on a loaded
   2-CPU machine, 100 of them got through in 20 s. With 1 s on the
   accepting side, 200 to 700 of the 2,000 connections broke in their
   handshake, each losing the message its client had sent; with 10 s, none
   (tests/faults/scale.c). A client that connects and stays silent holds a
   server's descriptor that long, as a TLS client does (SP_TLS_HS_TIMEOUT_MS)
   and half as long as a WebSocket one (SP_WS_HS_TIMEOUT_MS): the deadline
   cleans up after broken peers, it is no defence against a hostile one,
   which can complete the exchange and stay idle. */
#define SP_SPWIRE_HS_TIMEOUT_MS 10000

#endif
