/* The options of the pgm and epgm transports (level NN_PGM, see
   <nanomsg/pgm.h>): their defaults, validation and readback, and the OpenPGM
   settings derived from them. A socket keeps one set; each endpoint takes a
   copy when it is created. Pure code: no OpenPGM here. */
#ifndef SP_PGMOPTS_H
#define SP_PGMOPTS_H

#include <stddef.h>
#include <stdint.h>

struct sp_pgmopts {
    int rate;         /* NN_PGM_RATE: bytes per second on the wire */
    int recovery_ivl; /* NN_PGM_RECOVERY_IVL: milliseconds */
    int hops;         /* NN_PGM_HOPS: multicast TTL */
    int loop;         /* NN_PGM_LOOP: 0 or 1 */
    int maxtpdu;      /* NN_PGM_MAXTPDU: bytes, IP header included */
    int peer_expiry;  /* NN_PGM_PEER_EXPIRY: milliseconds */
};

#define SP_PGM_RATE_DEFAULT 20000000
#define SP_PGM_RATE_MIN 1000
#define SP_PGM_RECOVERY_IVL_DEFAULT 2000
#define SP_PGM_RECOVERY_IVL_MIN 100
#define SP_PGM_RECOVERY_IVL_MAX 600000
#define SP_PGM_HOPS_DEFAULT 1
#define SP_PGM_LOOP_DEFAULT 1
#define SP_PGM_MAXTPDU_DEFAULT 1500
#define SP_PGM_MAXTPDU_MIN 576
#define SP_PGM_MAXTPDU_MAX 65535
#define SP_PGM_PEER_EXPIRY_DEFAULT 300000
#define SP_PGM_PEER_EXPIRY_MIN 1000
/* OpenPGM takes it in microseconds, in an int. */
#define SP_PGM_PEER_EXPIRY_MAX 2000000

/* The repair window is capped at this many packets (OpenPGM allocates a
   pointer per packet up front, per sender and per remote sender). */
#define SP_PGM_WINDOW_MAX_SQNS (1u << 20)

void sp_pgmopts_init(struct sp_pgmopts *o);

/* nn_setsockopt at level NN_PGM: 0, -ENOPROTOOPT (unknown option), or
   -EINVAL (optvallen is not sizeof(int), or the value is out of range). */
int sp_pgmopts_set(struct sp_pgmopts *o, int option, const void *optval, size_t optvallen);

/* nn_getsockopt at level NN_PGM: copies min(*optvallen, sizeof(int)) bytes
   and sets *optvallen to sizeof(int). 0 or -ENOPROTOOPT. */
int sp_pgmopts_get(const struct sp_pgmopts *o, int option, void *optval, size_t *optvallen);

/* Checks the options together, at nn_bind/nn_connect: the rate must let the
   largest packet through. 0 or -EINVAL. */
int sp_pgmopts_check(const struct sp_pgmopts *o);

/* The repair (and receive) window in packets: rate x recovery interval /
   maxtpdu, at least 1, at most SP_PGM_WINDOW_MAX_SQNS. */
uint32_t sp_pgmopts_window_sqns(const struct sp_pgmopts *o);

#endif
