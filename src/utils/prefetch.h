/* Asking for a cache line before it is used. Between threads on different
   CPUs a line the other CPU wrote or read last must come over (or be taken
   from it) before this CPU can write it; asked early, the transfer overlaps
   other work instead of stalling the next locked instruction or fence. */
#ifndef SP_PREFETCH_H
#define SP_PREFETCH_H

/* For writing: the line arrives owned, not shared. GCC emits PREFETCHW for
   __builtin_prefetch(p, 1) only when told the CPU has it (-mprfchw); every
   x86-64 CPU executes it (those without the feature as a no-op), so it is
   spelled out here. */
static inline void sp_prefetch_write(const void *p)
{
#if defined(__x86_64__)
    __asm__ volatile("prefetchw %0" : : "m"(*(const char *) p));
#else
    __builtin_prefetch(p, 1);
#endif
}

/* For reading. */
static inline void sp_prefetch_read(const void *p)
{
    __builtin_prefetch(p, 0);
}

#endif
