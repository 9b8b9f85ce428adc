/*
    nanosp extension to the nanomsg API: TCP keepalive, so that a connection
    whose peer vanished without a word (its host powered off, its network
    gone, a NAT that forgot it) is dropped instead of kept for ever. Not part
    of libnanomsg 1.1.5; programs that include only the 11 libnanomsg
    headers are unaffected. See nn_tcp(7).

    Copyright 2026 The nanosp developers. MIT licence, as nanomsg.
*/

#ifndef NN_KEEPALIVE_H_INCLUDED
#define NN_KEEPALIVE_H_INCLUDED

#include "tcp.h"

#ifdef __cplusplus
extern "C" {
#endif

/*  Option of level NN_TCP, of type int, in milliseconds; default 0 (off:
    the operating system's behaviour, which never gives up on an idle
    connection and gives up on unacknowledged data after about 15 minutes).
    When positive, a connection made afterwards (tcp, tls+tcp, ws and wss;
    each connection attempt and each accepted connection reads it) is
    dropped once its peer has acknowledged nothing for that long: the
    kernel probes an idle connection every third of that time (TCP
    keepalive, at least 1 s apart) and gives up on probes or data left
    unanswered (TCP_USER_TIMEOUT). A connector then reconnects. On Linux
    5.11 and later, a peer that keeps its receive window closed that long
    (alive, but not reading) is given up on too. Negative values fail with
    EINVAL.

    nanosp's own option number: 1000 plus the libnanomsg number space of
    the level, which neither libnanomsg nor NNG's compatibility headers use
    (both have only NN_TCP_NODELAY, 1). */
#define NN_TCP_KEEPALIVE 1001

#ifdef __cplusplus
}
#endif

#endif
