/* The request/reply and survey backtrace (SPEC §3.6): a stack of 32-bit big-
   endian tags in front of the body, the last one (the request or survey id)
   with bit 31 set, the ones before it hop ids pushed by devices. */
#ifndef SP_BACKTRACE_H
#define SP_BACKTRACE_H

#include <stdint.h>
#include <string.h>

#include "core/msg.h"

static inline uint32_t sp_get_u32(const uint8_t *p)
{
    return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) | ((uint32_t) p[2] << 8) | p[3];
}

static inline void sp_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) (v >> 24);
    p[1] = (uint8_t) (v >> 16);
    p[2] = (uint8_t) (v >> 8);
    p[3] = (uint8_t) v;
}

/* Moves the backtrace from the front of the body into the SP header: 0, or
   -1 when the body has no terminated stack within maxttl tags (the message
   must be dropped). */
static inline int sp_backtrace_split(struct sp_msg *m, int maxttl)
{
    size_t len = sp_msg_bodylen(m);
    const uint8_t *b = sp_msg_bodyp(m);
    size_t n = 0;
    for (;;) {
        if ((n + 1) * 4 > len || (int) (n + 1) > maxttl)
            return -1;
        uint32_t tag = sp_get_u32(b + n * 4);
        n++;
        if (tag & 0x80000000u)
            break;
    }
    return sp_msg_split_hdr(m, n * 4) == 0 ? 0 : -1;
}

/* The id with the top bit forced, as it goes on the wire. */
static inline uint32_t sp_backtrace_id(uint32_t id)
{
    return id | 0x80000000u;
}

#endif
