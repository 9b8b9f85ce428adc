/* The incremental decoder of a framed SP stream (TCP: [u64 length][payload],
   IPC: [u8 1][u64 length][payload]) and the checker of the 8-byte SP header.
   It owns the read buffer: the caller asks where to read, reads, commits, and
   gets whole messages. Small frames are split out of one large read; a large
   frame is read straight into its own chunk. Pure code, no I/O: the fuzz
   target drives it directly. */
#ifndef SP_DECODER_H
#define SP_DECODER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/msg.h"

enum sp_framing {
    SP_FRAMING_TCP, /* [u64 length][payload] */
    SP_FRAMING_IPC, /* [u8 type = 1][u64 length][payload] */
};

struct sp_decoder {
    enum sp_framing framing;
    const atomic_int *maxsize; /* NN_RCVMAXSIZE (-1 unlimited), read at each
                                  frame header: the application may change
                                  it while the connection runs */
    uint8_t *rbuf;     /* NULL until the first read */
    size_t rcap;       /* its size: small at first, grown for busy peers */
    size_t rlen;       /* valid bytes in rbuf */
    bool grow;         /* the next space() enlarges rbuf */
    void *big;         /* chunk of a large frame being filled, or land */
    size_t big_len;
    size_t big_done;
    /* A receiving caller's own buffer (sp_decoder_land_offer): the next
       large frame that fits is read straight into it instead of into a
       chunk that nn_recv would then copy (one pass over the body less). */
    void *land;
    size_t land_cap;
    bool landing;      /* big is land: the frame is being read into it */
    bool landed;       /* a whole frame is in land (sp_decoder_land_state) */
    size_t land_len;   /* its length */
    bool pushed;       /* a message was decoded since the land was offered:
                          a frame landing now would overtake it */
    /* The header of a large frame has been read, none of its body: where
       the body goes (a chunk, or the land a caller offers by then) is
       chosen by the next sp_decoder_space. */
    bool next_pending;
    size_t next_len;
};

/* maxsize must outlive the decoder. 0 or -ENOMEM. */
int sp_decoder_init(struct sp_decoder *d, enum sp_framing framing, const atomic_int *maxsize);
void sp_decoder_term(struct sp_decoder *d);

/* Where the next read should store bytes, and how many it may store: > 0, or
   0 when the read buffer cannot be allocated (the caller then ends the
   connection, as a read of nothing means). */
void sp_decoder_space(struct sp_decoder *d, void **buf, size_t *len);

/* Where bytes may be read right behind the space, in the same read: the
   next frame's header, behind the rest of a large body (len 0: none). A
   stream of large frames then reads each body with one read, no byte of
   it into the read buffer: the header alone comes with the previous read,
   and the body goes where the next space points (the land a caller
   offers, else a chunk of its own), not through the read buffer. */
void sp_decoder_tail(struct sp_decoder *d, void **buf, size_t *len);

/* n bytes were stored there (in the space, then in the tail): appends
   every completed message to out. 0, or -1 when the peer broke the
   framing (bad type byte, frame over *maxsize as it is when its header is
   parsed) or memory ran out: the connection must be dropped. */
int sp_decoder_commit(struct sp_decoder *d, size_t n, struct sp_msgq *out);

/* Bytes of frame header for the framing. */
static inline size_t sp_frame_hdr_len(enum sp_framing f)
{
    return f == SP_FRAMING_IPC ? 9 : 8;
}

/* Offers buf (cap bytes) for the next frame: if it is a large one (read
   straight into its own buffer anyway) that fits and no message was
   decoded before it in the same commit, its body goes into buf and it is
   not appended to out; sp_decoder_land_state then says so. Whatever comes
   after it is decoded as usual. */
void sp_decoder_land_offer(struct sp_decoder *d, void *buf, size_t cap);

/* Whether a frame has landed: 1 and *len its length (the offer is then
   used up), 0 when part of one is in the buffer or its header alone is
   read (more reads complete it), -1 when nothing is. */
int sp_decoder_land_state(const struct sp_decoder *d, size_t *len);

/* Takes the offer back before the buffer goes back to its owner: a frame
   partly read into it moves to a chunk of its own (the decoder carries on
   there), and a landed frame is forgotten (its owner took it). 0, or -1 out
   of memory: the connection must be dropped. */
int sp_decoder_land_withdraw(struct sp_decoder *d);

/* Writes the frame header of a payload of len bytes; returns its length. */
size_t sp_frame_hdr(enum sp_framing f, uint8_t *out, uint64_t len);

/* Our 8-byte SP header for a socket of the given protocol. */
void sp_sphdr_make(uint8_t out[8], int protocol);

/* The peer's protocol from its SP header, or -1 if the magic is wrong.
   Bytes 6-7 are reserved but not checked, as in libnanomsg. */
int sp_sphdr_parse(const uint8_t in[8]);

#endif
