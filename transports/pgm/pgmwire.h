/* The SP-over-PGM wire format, shared by the encoder (pgmenc) and the decoder
   (pgmdec); man/nn_pgm.7.adoc is its specification. Every datagram handed to
   OpenPGM is one TPDU (never an APDU that OpenPGM would fragment: Debian's
   libpgm crashes on those) and starts with this 8-byte header:

     0      1      2      3      4      5      6      7
     +------+------+------+------+------+------+------+------+
     | 'S'  | 'P'  | ver  | rsvd | SP protocol | first start |
     +------+------+------+------+------+------+------+------+

   then the payload: a slice of the sender's message stream, in which each
   message is a length (a QUIC variable-length integer, RFC 9000 section 16)
   followed by that many bytes (the SP header and body, as on tcp). "first
   start" is the payload offset at which the first message that begins in
   this datagram begins, or SP_PGM_NO_START if none does: a late joiner or a
   receiver after a loss resynchronises there. Pure definitions, no I/O. */
#ifndef SP_PGMWIRE_H
#define SP_PGMWIRE_H

#include <stddef.h>
#include <stdint.h>

#define SP_PGM_HDR_LEN 8
#define SP_PGM_MAGIC0 0x53 /* 'S' */
#define SP_PGM_MAGIC1 0x50 /* 'P' */
#define SP_PGM_VERSION 1
#define SP_PGM_NO_START 0xffffu

/* The largest datagram: the offset field must be able to point anywhere in
   the payload, and 0xffff is reserved. */
#define SP_PGM_DGRAM_MAX 65535u

/* Largest value a length prefix can carry (2^62 - 1). */
#define SP_PGM_VARINT_MAX ((UINT64_C(1) << 62) - 1)

static inline void sp_pgm_hdr_put(uint8_t *p, int proto, unsigned first_start)
{
    p[0] = SP_PGM_MAGIC0;
    p[1] = SP_PGM_MAGIC1;
    p[2] = SP_PGM_VERSION;
    p[3] = 0;
    p[4] = (uint8_t) (proto >> 8);
    p[5] = (uint8_t) proto;
    p[6] = (uint8_t) (first_start >> 8);
    p[7] = (uint8_t) first_start;
}

static inline unsigned sp_pgm_get16(const uint8_t *p)
{
    return (unsigned) p[0] << 8 | p[1];
}

/* Bytes of the length prefix for a message of len bytes (len <= 2^62 - 1). */
static inline size_t sp_pgm_varint_len(uint64_t len)
{
    return len < 64 ? 1 : len < 16384 ? 2 : len < (UINT64_C(1) << 30) ? 4 : 8;
}

/* Bytes of a prefix, from its first byte. */
static inline size_t sp_pgm_varint_size(uint8_t first)
{
    return (size_t) 1 << (first >> 6);
}

/* Writes the shortest prefix for len into p; returns its length. */
static inline size_t sp_pgm_varint_put(uint8_t *p, uint64_t len)
{
    size_t n = sp_pgm_varint_len(len);
    static const uint8_t tag[9] = {0, 0x00, 0x40, 0, 0x80, 0, 0, 0, 0xc0};
    for (size_t i = n; i > 0; i--) {
        p[i - 1] = (uint8_t) len;
        len >>= 8;
    }
    p[0] |= tag[n];
    return n;
}

/* The value of a complete prefix of n = sp_pgm_varint_size(p[0]) bytes. */
static inline uint64_t sp_pgm_varint_get(const uint8_t *p, size_t n)
{
    uint64_t v = p[0] & 0x3f;
    for (size_t i = 1; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

#endif
