/*
    nanosp extension to the nanomsg API: reliable multicast over PGM
    ("pgm://", IP protocol 113) and over PGM encapsulated in UDP ("epgm://"),
    through OpenPGM. Not part of libnanomsg 1.1.5; programs that include only
    the 11 libnanomsg headers are unaffected. See nn_pgm(7).

    Copyright 2026 The nanosp developers. MIT licence, as nanomsg.
*/

#ifndef NN_PGM_H_INCLUDED
#define NN_PGM_H_INCLUDED

#include "nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/*  The option level of the PGM options (a transport level, like NN_TCP).
    libnanomsg uses -1..-4 (NN_INPROC, NN_IPC, NN_TCP, NN_WS), NNG's
    compatibility headers the same four, and <nanomsg/tls.h> -5. */
#define NN_PGM -6

/*  Options, set with nn_setsockopt (level NN_PGM) before nn_bind or
    nn_connect; each endpoint takes the values in force when it is created.
    All are of type int. Out-of-range values fail with EINVAL. */

/*  Maximum rate of a sender, in bytes per second on the wire (original
    data, repairs and session messages together, headers included).
    Default 20000000 (20 MB/s); at least 1000, and at least NN_PGM_MAXTPDU
    (checked at nn_bind/nn_connect). */
#define NN_PGM_RATE 1

/*  How long, in milliseconds, a sender keeps sent data for repairs, and a
    receiver asks for lost data before it gives up. Default 2000; 100 to
    600000. A sender's repair window holds up to NN_PGM_RATE times this
    interval of data. */
#define NN_PGM_RECOVERY_IVL 2

/*  Time-to-live of the multicast packets sent: the number of routers they
    may cross plus one. Default 1 (the local network only); 1 to 255. */
#define NN_PGM_HOPS 3

/*  Whether multicast packets sent are also delivered to sockets on the same
    host, 0 or 1. Default 1. */
#define NN_PGM_LOOP 4

/*  Largest packet sent or received, in bytes, IP header included (the MTU
    of the path). Default 1500; 576 to 65535. Every member of a group must
    use the same value, or at least one as large as every sender's. */
#define NN_PGM_MAXTPDU 5

/*  How long, in milliseconds, a receiver keeps a remote sender from which
    nothing arrives: then its receive pipe is closed (once the messages
    queued from it have been received) and its state freed; a sender heard
    again later is a new peer. Default 300000 (5 minutes); 1000 to 2000000. */
#define NN_PGM_PEER_EXPIRY 6

/*  Statistics (nn_get_statistic), counters. nanosp's own ids: 1000 plus the
    libnanomsg group they belong to (3xx, messages), which no libnanomsg or
    NNG statistic uses. Any socket answers them; the pgm and epgm
    transports are the ones that count. */

/*  Messages a receiver lost whole: cut by a loss the sender could no longer
    repair (it had left the sender's NN_PGM_RECOVERY_IVL). They are never
    delivered truncated. (A late joiner does not count the message it joined
    in the middle of.) */
#define NN_STAT_MESSAGES_LOST 1301

/*  Messages dropped because a queue was full: sends while the sender's
    backlog exceeds NN_SNDBUF (the rate limit holds them back), and received
    messages while the receiving queue of one sender exceeds NN_RCVBUF. */
#define NN_STAT_MESSAGES_DROPPED 1302

#ifdef __cplusplus
}
#endif

#endif
