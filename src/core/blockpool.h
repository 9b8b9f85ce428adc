/* Recycling of small message blocks. A message body is usually allocated by
   one thread (the I/O thread decoding it, or the sender) and freed by
   another (the receiver, or the I/O thread once written); malloc then
   shuffles every block between its per-thread caches and a locked arena.
   The pool keeps blocks of a few fixed sizes in per-thread magazines and
   moves them between threads in batches through a small locked depot. */
#ifndef SP_BLOCKPOOL_H
#define SP_BLOCKPOOL_H

#include <stddef.h>

/* A block of at least len bytes: its real length is stored in *got (a size
   class, or len itself when the pool does not serve that size). NULL when
   out of memory. */
void *sp_blockpool_get(size_t len, size_t *got);

/* Gives back a block of exactly len bytes from sp_blockpool_get (or from
   malloc: blocks of a non-class length go to free()). */
void sp_blockpool_put(void *blk, size_t len);

/* Frees the depot and the calling thread's magazines (the last socket is
   gone). Other threads free theirs when they exit. */
void sp_blockpool_drain(void);

#endif
