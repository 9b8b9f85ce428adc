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

/* libnanomsg's header-exchange deadline. */
#define SP_SPWIRE_HS_TIMEOUT_MS 1000

#endif
