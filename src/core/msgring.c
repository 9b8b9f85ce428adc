/* The message ring: a linked list of fixed-size nodes. The producer fills
   the tail node and links a fresh one when it is full; the consumer frees
   (or keeps as the spare) each node it has emptied. Only the counts cross
   between the threads: pub_count (release) makes the slots up to it, and
   the links to their nodes, visible to the consumer; done_count/done_bytes
   (release) tell the producer how much has left. */
#include "core/msgring.h"

#include <errno.h>
#include <stdlib.h>

#include "utils/prefetch.h"

struct sp_msgring_node {
    struct sp_msgring_node *next;
    struct sp_msg m[SP_MSGRING_NODE];
};

static struct sp_msgring_node *node_new(struct sp_msgring *r)
{
    struct sp_msgring_node *n = atomic_exchange_explicit(&r->spare, NULL, memory_order_acquire);
    if (!n)
        n = malloc(sizeof *n);
    if (n)
        n->next = NULL;
    return n;
}

int sp_msgring_init(struct sp_msgring *r)
{
    atomic_init(&r->spare, NULL);
    struct sp_msgring_node *n = node_new(r);
    if (!n)
        return -ENOMEM;
    r->wnode = r->rnode = n;
    r->widx = r->ridx = 0;
    r->wcount = r->wbytes = r->wseen_count = r->wseen_bytes = 0;
    r->rcount = r->rbytes = r->rseen = 0;
    atomic_init(&r->pub_bytes, 0);
    atomic_init(&r->pub_count, 0);
    atomic_init(&r->done_bytes, 0);
    atomic_init(&r->done_count, 0);
    return 0;
}

void sp_msgring_term(struct sp_msgring *r)
{
    struct sp_msg m;
    r->rseen = atomic_load(&r->pub_count);
    while (sp_msgring_pop(r, &m) == 0)
        sp_msg_term(&m);
    free(r->rnode);
    free(atomic_load(&r->spare));
    r->rnode = r->wnode = NULL;
}

int sp_msgring_push(struct sp_msgring *r, struct sp_msg *m)
{
    if (r->widx == SP_MSGRING_NODE) {
        struct sp_msgring_node *n = node_new(r);
        if (!n)
            return -ENOMEM;
        r->wnode->next = n; /* published with the first message in n */
        r->wnode = n;
        r->widx = 0;
    }
    r->wnode->m[r->widx++] = *m;
    /* The slot three ahead of this message was last read by the consumer
       a node's round ago: ask for its lines now, so that the push that
       fills it, and the fence its caller puts after that, do not wait for
       them. Not a nearer one: slots are 48 bytes, and one that shares a
       line with this message would take that line from a consumer about
       to read it (measured: 0.8x). */
    if (r->widx + 2 < SP_MSGRING_NODE) {
        sp_prefetch_write(&r->wnode->m[r->widx + 2]);
        sp_prefetch_write((char *) &r->wnode->m[r->widx + 3] - 1);
    }
    r->wcount++;
    r->wbytes += sp_msg_wirelen(m);
    sp_msg_init(m);
    atomic_store_explicit(&r->pub_bytes, r->wbytes, memory_order_relaxed);
    atomic_store_explicit(&r->pub_count, r->wcount, memory_order_release);
    return 0;
}

void sp_msgring_fill(struct sp_msgring *r, bool fresh, uint64_t *count, uint64_t *bytes)
{
    if (fresh) {
        /* Count first: the consumer stores bytes before count, so the bytes
           read next are at least as recent. */
        r->wseen_count = atomic_load_explicit(&r->done_count, memory_order_acquire);
        r->wseen_bytes = atomic_load_explicit(&r->done_bytes, memory_order_acquire);
    }
    *count = r->wcount - r->wseen_count;
    *bytes = r->wbytes - r->wseen_bytes;
}

bool sp_msgring_ready(struct sp_msgring *r)
{
    if (r->rcount == r->rseen)
        r->rseen = atomic_load_explicit(&r->pub_count, memory_order_acquire);
    return r->rcount != r->rseen;
}

void sp_msgring_left(struct sp_msgring *r, uint64_t *count, uint64_t *bytes)
{
    /* Count first: the producer stores bytes before count. */
    r->rseen = atomic_load_explicit(&r->pub_count, memory_order_acquire);
    uint64_t pushed = atomic_load_explicit(&r->pub_bytes, memory_order_relaxed);
    *count = r->rseen - r->rcount;
    *bytes = pushed - r->rbytes;
}

int sp_msgring_pop(struct sp_msgring *r, struct sp_msg *m)
{
    if (!sp_msgring_ready(r))
        return -EAGAIN;
    if (r->ridx == SP_MSGRING_NODE) {
        struct sp_msgring_node *old = r->rnode;
        r->rnode = old->next;
        r->ridx = 0;
        free(atomic_exchange_explicit(&r->spare, old, memory_order_acq_rel));
    }
    *m = r->rnode->m[r->ridx++];
    r->rcount++;
    r->rbytes += sp_msg_wirelen(m);
    atomic_store_explicit(&r->done_bytes, r->rbytes, memory_order_release);
    atomic_store_explicit(&r->done_count, r->rcount, memory_order_release);
    return 0;
}
