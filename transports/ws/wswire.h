/* SP over WebSocket (RFC 6455 and nanomsg's sp-websocket-mapping) as a stream
   wire: the HTTP upgrade with "<type>.sp.nanomsg.org" subprotocols, one
   message per (possibly fragmented) data frame, masking from the client,
   pings answered with pongs, the close handshake, NN_RCVMAXSIZE and the
   NN_WS_MSG_TYPE opcode per socket or per message. */
#ifndef SP_WSWIRE_H
#define SP_WSWIRE_H

#include <stdbool.h>

#include <nanomsg/nn.h>

#include "core/optset.h"
#include "utils/stream.h"

/* The wire_arg of sp_wswire_ops. */
struct sp_wswire_arg {
    bool client;
    char host[NN_SOCKADDR_MAX];     /* client: Host header, as written in the URL */
    char resource[NN_SOCKADDR_MAX]; /* client: request target, "/" by default */
};

extern const struct sp_wire_ops sp_wswire_ops;

/* The options at level NN_WS (NN_WS_MSG_TYPE), of ws and wss. */
extern const struct sp_optset sp_ws_optset;

/* libnanomsg's opening-handshake deadline. */
#define SP_WS_HS_TIMEOUT_MS 5000

/* The handshake parsers, exposed for the fuzz target. Both take the bytes
   received so far. */

/* Server side: -1 incomplete, else 0 and *status (101, or 400 with *reason),
   *peer = the client's protocol, *used = request length, key/subprotocol
   copied out for the response. */
struct sp_ws_request {
    int status;
    const char *reason;
    int peer;
    char key[64];
    char protocol[64];
    char version[16];
    size_t used;
};
int sp_ws_parse_request(const char *buf, size_t len, int our_protocol, struct sp_ws_request *req);

/* Client side: -1 incomplete, 0 accepted (*used set), 1 refused. */
int sp_ws_parse_response(const char *buf, size_t len, const char *accept, size_t *used);

/* base64(SHA-1(key + GUID)) into out (at least 29 bytes). 0 or -1. */
int sp_ws_accept_key(const char *key, char *out, size_t outlen);

#endif
