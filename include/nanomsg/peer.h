/*
    nanosp extension to the nanomsg API: the PEER socket, which addresses
    each connection by a routing id (for a connection made by nn_connect,
    the endpoint id nn_connect returned). Not part of libnanomsg 1.1.5;
    programs that include only the 11 libnanomsg headers are unaffected.
    See nn_peer(7).

    Copyright 2026 The nanosp developers. MIT licence, as nanomsg.
*/

#ifndef NN_PEER_H_INCLUDED
#define NN_PEER_H_INCLUDED

#ifdef __cplusplus
extern "C" {
#endif

/*  Protocol family 9: nanomsg uses 1-7, NNG the same numbers; 8 is left
    alone. */
#define NN_PROTO_PEER 9

/*  The socket type (AF_SP only). Its SP header carries this number, and it
    talks only to PEER sockets. */
#define NN_PEER (NN_PROTO_PEER * 16 + 0)

/*  Control message (cmsg_level NN_PROTO_PEER) naming the connection a
    message comes from (nn_recvmsg) or goes to (nn_sendmsg, required): its
    data is a uint32_t routing id in host byte order. */
#define NN_PEER_ID 1

#ifdef __cplusplus
}
#endif

#endif
