/* The send rate of a PGM sender: a token bucket that refills continuously
   (nanosecond clock) at the rate, and holds up to a burst's worth.

   Why our own and not only OpenPGM's: OpenPGM's bucket holds one
   millisecond of its rate and forgets the rest (a check more than a
   millisecond after the last one finds exactly a millisecond's worth). A
   sender driven by an event loop that wakes at millisecond granularity, or
   later on a loaded host, therefore gets less than its rate: a PUB offering
   10 MB/s steadily under a 20 MB/s limit dropped a quarter of its messages
   on a loaded two-CPU machine. This bucket keeps what the sender did not
   use for a while (SP_PGMRATE_BURST_MS), so a late wake-up catches up, and
   OpenPGM's own limiter is set to a multiple of the rate
   (SP_PGMRATE_CEILING) where it only bounds how fast that catching up, and
   repairs, go.

   Pure code (time is an argument), not thread-safe: the owner serialises
   calls. */
#ifndef SP_PGMRATE_H
#define SP_PGMRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How much unused rate is kept, in milliseconds of it. A stall of the
   sender's thread or of the loop this long is made up for at once. */
#define SP_PGMRATE_BURST_MS 10u
/* OpenPGM's limiter, in percent of the rate. It bounds how fast a sender
   catches up, so the bursts that receivers, and the sender's own socket
   (multicast loop), must absorb. At 400 % pgm-api's flat-out transfer to
   two SUBs sharing one loop with the PUB ended in hundreds of
   unrecoverable losses (RESETs) without network loss. At 200 %, flat out
   at 40 MB/s with 64-byte messages, socket buffers overflowed on both
   sides (UdpRcvbufErrors) and repairs took 2.5 times as long as without
   our bucket; at 125 % the same run matched that and 1000-byte messages
   went 1.3 to 1.6 times faster, while a loop woken every 2.5 ms still
   sustains half the rate. */
#define SP_PGMRATE_CEILING_PCT 125u

struct sp_pgmrate {
    uint64_t rate;   /* bytes per second */
    /* Bytes are counted in units of 1e-9 byte, so that refilling at rate
       bytes per second adds exactly rate units a nanosecond. */
    uint64_t cap;     /* the most the bucket holds */
    uint64_t tokens;  /* what it held at last_ns */
    uint64_t last_ns;
};

/* rate: bytes per second (> 0); maxpkt: the largest packet the owner sends
   (the bucket always holds at least two). Starts full at now_ns. */
void sp_pgmrate_init(struct sp_pgmrate *r, uint64_t rate, size_t maxpkt, uint64_t now_ns);

/* Nanoseconds from now_ns until the bucket holds n bytes (0: it does). */
uint64_t sp_pgmrate_wait(const struct sp_pgmrate *r, uint64_t now_ns, size_t n);

/* Takes n bytes if the bucket holds them at now_ns: true. Otherwise false,
   and nothing is taken. */
bool sp_pgmrate_take(struct sp_pgmrate *r, uint64_t now_ns, size_t n);

/* OpenPGM's rate limit (PGM_TXW_MAX_RTE) for a sender of this rate: the
   ceiling, within an int. */
int sp_pgmrate_ceiling(int rate);

#endif
