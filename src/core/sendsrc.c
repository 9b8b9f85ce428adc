/* The per-thread record of a body still in the sending caller's buffer. */
#include "core/sendsrc.h"

SP_THREAD_LOCAL struct sp_sendsrc sp_tl_sendsrc;
