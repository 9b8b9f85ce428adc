/* Strict priorities with round robin inside a priority. */
#include "utils/priolist.h"

#include <stddef.h>

void sp_priolist_init(struct sp_priolist *pl)
{
    for (int i = 0; i < SP_PRIO_SLOTS; i++) {
        sp_list_init(&pl->slots[i]);
        pl->cursor[i] = NULL;
    }
    pl->current = -1;
}

void sp_priolist_entry_init(struct sp_priolist_entry *e, struct sp_pipe *pipe, int priority)
{
    e->pipe = pipe;
    e->priority = priority < 1 ? 1 : priority > SP_PRIO_SLOTS ? SP_PRIO_SLOTS : priority;
    e->item.next = e->item.prev = NULL;
}

static void find_current(struct sp_priolist *pl)
{
    for (int i = 0; i < SP_PRIO_SLOTS; i++) {
        if (!sp_list_empty(&pl->slots[i])) {
            pl->current = i + 1;
            return;
        }
    }
    pl->current = -1;
}

void sp_priolist_activate(struct sp_priolist *pl, struct sp_priolist_entry *e)
{
    if (sp_list_item_linked(&e->item))
        return;
    int s = e->priority - 1;
    sp_list_push_back(&pl->slots[s], &e->item);
    if (!pl->cursor[s])
        pl->cursor[s] = &e->item;
    if (pl->current == -1 || e->priority < pl->current)
        pl->current = e->priority;
}

static void unlink_entry(struct sp_priolist *pl, struct sp_list_item *it, int s)
{
    if (pl->cursor[s] == it) {
        struct sp_list_item *next = sp_list_next(&pl->slots[s], it);
        if (!next)
            next = sp_list_first(&pl->slots[s]);
        pl->cursor[s] = next == it ? NULL : next;
    }
    sp_list_remove(it);
}

void sp_priolist_rm(struct sp_priolist *pl, struct sp_priolist_entry *e)
{
    if (!sp_list_item_linked(&e->item))
        return;
    int s = e->priority - 1;
    unlink_entry(pl, &e->item, s);
    if (pl->current == e->priority && sp_list_empty(&pl->slots[s]))
        find_current(pl);
}

struct sp_pipe *sp_priolist_pipe(struct sp_priolist *pl)
{
    if (pl->current == -1)
        return NULL;
    struct sp_list_item *it = pl->cursor[pl->current - 1];
    return sp_cont(it, struct sp_priolist_entry, item)->pipe;
}

void sp_priolist_advance(struct sp_priolist *pl, bool release)
{
    if (pl->current == -1)
        return;
    int s = pl->current - 1;
    struct sp_list_item *it = pl->cursor[s];
    if (release) {
        unlink_entry(pl, it, s);
        if (sp_list_empty(&pl->slots[s]))
            find_current(pl);
        return;
    }
    struct sp_list_item *next = sp_list_next(&pl->slots[s], it);
    pl->cursor[s] = next ? next : sp_list_first(&pl->slots[s]);
}
