/* A priority list of pipes: 16 slots (priority 1 = highest), each a round-
   robin list of the pipes that are ready now. The current slot is the best
   non-empty one. Load balancing (send) and fair queueing (recv) are built on
   it, exactly as libnanomsg's strict-priority, round-robin-within-priority
   rule. */
#ifndef SP_PRIOLIST_H
#define SP_PRIOLIST_H

#include <stdbool.h>

#include "utils/list.h"

struct sp_pipe;

#define SP_PRIO_SLOTS 16

/* One pipe's membership, embedded in the protocol's per-pipe state. */
struct sp_priolist_entry {
    struct sp_pipe *pipe;
    int priority;              /* 1..16 */
    struct sp_list_item item;  /* in its slot while ready */
};

struct sp_priolist {
    struct sp_list slots[SP_PRIO_SLOTS];
    struct sp_list_item *cursor[SP_PRIO_SLOTS]; /* next pipe to use per slot */
    int current;                                /* best ready priority, -1 if none */
};

void sp_priolist_init(struct sp_priolist *pl);
void sp_priolist_entry_init(struct sp_priolist_entry *e, struct sp_pipe *pipe, int priority);
/* Marks the pipe ready (appended to its slot). No-op if it is ready already. */
void sp_priolist_activate(struct sp_priolist *pl, struct sp_priolist_entry *e);
/* Removes the pipe if it is ready (pipe gone). */
void sp_priolist_rm(struct sp_priolist *pl, struct sp_priolist_entry *e);
/* The pipe to use now, or NULL if none is ready. */
struct sp_pipe *sp_priolist_pipe(struct sp_priolist *pl);
/* After using the current pipe: move on to the next one in the slot, and drop
   the used one from the ready set when release is true. */
void sp_priolist_advance(struct sp_priolist *pl, bool release);
static inline bool sp_priolist_ready(const struct sp_priolist *pl)
{
    return pl->current != -1;
}
static inline int sp_priolist_priority(const struct sp_priolist *pl)
{
    return pl->current;
}

#endif
