/* SP framing over a byte stream, on top of the pure decoder. */
#include "utils/err.h"
#include "utils/spwire.h"

#include <errno.h>
#include <stdlib.h>

#include "core/ep.h"
#include "core/sock.h"

const enum sp_framing sp_spwire_tcp = SP_FRAMING_TCP;
const enum sp_framing sp_spwire_ipc = SP_FRAMING_IPC;

SP_HOT static int spwire_init(struct sp_stream *s)
{
    const enum sp_framing *framing = s->cfg->wire_arg;
    struct sp_decoder *d = malloc(sizeof *d);
    if (!d)
        return -ENOMEM;
    if (sp_decoder_init(d, *framing, &s->ep->sock->opt.rcvmaxsize) != 0) {
        free(d);
        return -ENOMEM;
    }
    s->wire = d;
    /* Both sides write their header at once, without waiting for the peer. */
    uint8_t hdr[8];
    sp_sphdr_make(hdr, s->ep->sock->type->protocol);
    return sp_stream_hs_write(s, hdr, sizeof hdr);
}

SP_HOT static void spwire_term(struct sp_stream *s)
{
    sp_decoder_term(s->wire);
    free(s->wire);
    s->wire = NULL;
}

SP_HOT static size_t spwire_hs_room(struct sp_stream *s)
{
    /* Exactly the header: what follows it belongs to the decoder. */
    return s->hs_inlen < 8 ? 8 - s->hs_inlen : 0;
}

SP_HOT static int spwire_hs_input(struct sp_stream *s, size_t *used)
{
    if (s->hs_inlen < 8)
        return 0;
    int peer = sp_sphdr_parse(s->hs_in);
    if (peer < 0)
        return -1;
    s->pipe.peer_protocol = peer;
    *used = 8;
    return 1;
}

SP_HOT static size_t spwire_frame(struct sp_stream *s, struct sp_msg *msg, uint8_t hdr[16])
{
    struct sp_decoder *d = s->wire;
    return sp_frame_hdr(d->framing, hdr, sp_msg_wirelen(msg));
}

SP_HOT static void spwire_space(struct sp_stream *s, void **buf, size_t *len)
{
    sp_decoder_space(s->wire, buf, len);
}

SP_HOT static void spwire_tail(struct sp_stream *s, void **buf, size_t *len)
{
    sp_decoder_tail(s->wire, buf, len);
}

SP_HOT static int spwire_commit(struct sp_stream *s, size_t n, struct sp_msgq *out)
{
    return sp_decoder_commit(s->wire, n, out);
}

SP_HOT static void spwire_land_offer(struct sp_stream *s, void *buf, size_t cap)
{
    sp_decoder_land_offer(s->wire, buf, cap);
}

SP_HOT static int spwire_land_state(struct sp_stream *s, size_t *len)
{
    return sp_decoder_land_state(s->wire, len);
}

SP_HOT static int spwire_land_withdraw(struct sp_stream *s)
{
    return sp_decoder_land_withdraw(s->wire);
}

const struct sp_wire_ops sp_spwire_ops = {
    .init = spwire_init,
    .term = spwire_term,
    .hs_input = spwire_hs_input,
    .hs_room = spwire_hs_room,
    .frame = spwire_frame,
    .space = spwire_space,
    .tail = spwire_tail,
    .commit = spwire_commit,
    .land_offer = spwire_land_offer,
    .land_state = spwire_land_state,
    .land_withdraw = spwire_land_withdraw,
};
