/* A chunk is the reference-counted buffer behind every message body and every
   NN_MSG pointer handed to the application. The pointer that travels is the
   data pointer; the header sits right before it. The public API never reads
   that header for a pointer the application passes in before it found the
   pointer in the set of messages the application holds (core/appmsg.h). */
#ifndef SP_CHUNK_H
#define SP_CHUNK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>

/* A new chunk of size bytes (content uninitialised) with one reference, or NULL
   (size too large or out of memory). */
void *sp_chunk_alloc(size_t size);

/* True if p is the data pointer of a live chunk, by the tag in its header.
   It reads the memory in front of p: a consistency check for pointers the
   library made (tests, fuzz targets), never for the application's. */
bool sp_chunk_valid(const void *p);

/* The header in front of every chunk's data (here so that the size is read
   inline on the hot path). */
#define SP_CHUNK_TAG 0x6e616e6f73702121ull /* "nanosp!!" */

struct sp_chunk_hdr {
    atomic_uint refs;
    uint32_t offset; /* bytes from the allocation start to this header */
    size_t size;     /* visible data size */
    size_t cap;      /* usable bytes from the data pointer */
    uint64_t tag;    /* SP_CHUNK_TAG ^ data address; cleared when freed */
};

_Static_assert(sizeof(struct sp_chunk_hdr) % 8 == 0, "chunk data must stay 8-aligned");

static inline struct sp_chunk_hdr *sp_chunk_hdr_of(const void *p)
{
    return (struct sp_chunk_hdr *) ((char *) p - sizeof(struct sp_chunk_hdr));
}

static inline size_t sp_chunk_size(const void *p)
{
    return sp_chunk_hdr_of(p)->size;
}

/* Adds n references (fan-out shares one chunk among pipes). */
void sp_chunk_addref(void *p, uint32_t n);

/* Drops one reference; the last one frees the memory. */
void sp_chunk_free(void *p);

/* True when the caller holds the only reference. */
bool sp_chunk_exclusive(const void *p);

/* Resizes; returns the (possibly moved) chunk or NULL with p untouched. Grows
   in place when the buffer has room (the library's own use: reassembling
   WebSocket fragments); nn_reallocmsg has libnanomsg's rules instead. A
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
