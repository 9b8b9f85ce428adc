/* Fan-out to the writable pipes. */
#include "utils/dist.h"

#include "core/pipe.h"

void sp_dist_init(struct sp_dist *d)
{
    sp_list_init(&d->ready);
    d->count = 0;
}

void sp_dist_entry_init(struct sp_dist_entry *e, struct sp_pipe *pipe)
{
    e->pipe = pipe;
    e->item.next = e->item.prev = NULL;
}

void sp_dist_add(struct sp_dist *d, struct sp_dist_entry *e)
{
    if (!(e->pipe->flags & SP_PIPE_NOSEND))
        sp_dist_out(d, e);
}

void sp_dist_rm(struct sp_dist *d, struct sp_dist_entry *e)
{
    if (sp_list_item_linked(&e->item)) {
        sp_list_remove(&e->item);
        d->count--;
    }
}

void sp_dist_out(struct sp_dist *d, struct sp_dist_entry *e)
{
    if (!sp_list_item_linked(&e->item)) {
        sp_list_push_back(&d->ready, &e->item);
        d->count++;
    }
}

void sp_dist_send(struct sp_dist *d, struct sp_msg *msg, struct sp_pipe *except)
{
    sp_list_foreach_safe(&d->ready, it, tmp) {
        struct sp_dist_entry *e = sp_cont(it, struct sp_dist_entry, item);
        if (e->pipe == except)
            continue;
        struct sp_msg copy;
        if (sp_msg_dup(&copy, msg) != 0)
            continue; /* out of memory: this pipe misses it, like a busy one */
        if (sp_pipe_send(e->pipe, &copy) == SP_PIPE_RELEASE) {
            sp_list_remove(&e->item);
            d->count--;
        }
    }
    sp_msg_term(msg);
}
