/*
    zmq_mc: pgm_mc (PUB/SUB over reliable multicast, see pgm_mc.c) built
    against libzmq's epgm:// instead of our library.
*/
#define PERF_ZMQ 1
#include "pgm_mc.c"
