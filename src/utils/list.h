/* An intrusive doubly linked list, circular with a sentinel head. Items embed
   a struct sp_list_item; an item not on any list has next == prev == NULL. */
#ifndef SP_LIST_H
#define SP_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct sp_list_item {
    struct sp_list_item *next;
    struct sp_list_item *prev;
};

struct sp_list {
    struct sp_list_item head;
};

#define sp_cont(ptr, type, member) \
    ((type *) (void *) ((char *) (ptr) - offsetof(type, member)))

static inline void sp_list_init(struct sp_list *l)
{
    l->head.next = l->head.prev = &l->head;
}

static inline bool sp_list_empty(const struct sp_list *l)
{
    return l->head.next == &l->head;
}

static inline bool sp_list_item_linked(const struct sp_list_item *it)
{
    return it->next != NULL;
}

static inline void sp_list_insert_before(struct sp_list_item *pos, struct sp_list_item *it)
{
    it->next = pos;
    it->prev = pos->prev;
    pos->prev->next = it;
    pos->prev = it;
}

static inline void sp_list_push_back(struct sp_list *l, struct sp_list_item *it)
{
    sp_list_insert_before(&l->head, it);
}

static inline void sp_list_push_front(struct sp_list *l, struct sp_list_item *it)
{
    sp_list_insert_before(l->head.next, it);
}

static inline void sp_list_remove(struct sp_list_item *it)
{
    it->prev->next = it->next;
    it->next->prev = it->prev;
    it->next = it->prev = NULL;
}

static inline struct sp_list_item *sp_list_first(const struct sp_list *l)
{
    return sp_list_empty(l) ? NULL : l->head.next;
}

/* The item after it, or NULL at the end. */
static inline struct sp_list_item *sp_list_next(const struct sp_list *l, const struct sp_list_item *it)
{
    return it->next == &l->head ? NULL : it->next;
}

#define sp_list_foreach(l, it) \
    for (struct sp_list_item *it = (l)->head.next; it != &(l)->head; it = it->next)

#define sp_list_foreach_safe(l, it, tmp)                                   \
    for (struct sp_list_item *it = (l)->head.next, *tmp = it->next;       \
         it != &(l)->head; it = tmp, tmp = it->next)

#endif
