/* A chunk is the reference-counted buffer behind every message body and every
   NN_MSG pointer handed to the application. The pointer that travels is the
   data pointer; the header sits right before it and carries a tag derived from
   the address, so a pointer that is not a live chunk is recognised (EFAULT)
   instead of crashing the process. */
#ifndef SP_CHUNK_H
#define SP_CHUNK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A new chunk of size bytes (content uninitialised) with one reference, or NULL
   (size too large or out of memory). */
void *sp_chunk_alloc(size_t size);

/* True if p is the data pointer of a live chunk. */
bool sp_chunk_valid(const void *p);

size_t sp_chunk_size(const void *p);

/* Adds n references (fan-out shares one chunk among pipes). */
void sp_chunk_addref(void *p, uint32_t n);

/* Drops one reference; the last one frees the memory. */
void sp_chunk_free(void *p);

/* True when the caller holds the only reference. */
bool sp_chunk_exclusive(const void *p);

/* Resizes; returns the (possibly moved) chunk or NULL with p untouched. A
   shared chunk is always copied (the copy has one reference and p loses one). */
void *sp_chunk_realloc(void *p, size_t size);

/* Removes the first n bytes; returns the new data pointer (in place when
   possible, else a copy; p loses its reference either way) or NULL (ENOMEM,
   p untouched). */
void *sp_chunk_trim(void *p, size_t n);

/* Shrinks the visible size in place (size <= current size). */
void sp_chunk_shrink(void *p, size_t size);

/* Frees the blocks kept for reuse (library teardown). */
void sp_chunk_cache_drain(void);

#endif
