/* A message as it moves through the library: the body (a chunk), the SP header
   (protocol backtrace, small and usually inline) and optional control data
   (transport cmsgs such as the WebSocket opcode, as a chunk in nn_cmsghdr
   format). Messages are moved by value; ownership moves with them. */
#ifndef SP_MSG_H
#define SP_MSG_H

#include <stddef.h>
#include <stdint.h>

#define SP_MSG_HDR_INLINE 24

struct sp_msg {
    void *body;   /* chunk, or NULL for an empty body */
    void *ctrl;   /* chunk of transport cmsgs, or NULL */
    size_t hdrlen;
    union {
        uint8_t inl[SP_MSG_HDR_INLINE];
        uint8_t *heap; /* when hdrlen > SP_MSG_HDR_INLINE */
    } hdr;
};

static inline void sp_msg_init(struct sp_msg *m)
{
    m->body = NULL;
    m->ctrl = NULL;
    m->hdrlen = 0;
}

/* Frees everything the message owns and leaves it empty. */
void sp_msg_term(struct sp_msg *m);

/* A message whose body is a new chunk of size bytes: 0 or -ENOMEM. */
int sp_msg_init_size(struct sp_msg *m, size_t size);

static inline uint8_t *sp_msg_hdr(struct sp_msg *m)
{
    return m->hdrlen > SP_MSG_HDR_INLINE ? m->hdr.heap : m->hdr.inl;
}

size_t sp_msg_bodylen(const struct sp_msg *m);

static inline uint8_t *sp_msg_bodyp(struct sp_msg *m)
{
    return (uint8_t *) m->body;
}

/* Replaces the SP header with a copy of len bytes: 0 or -ENOMEM. */
int sp_msg_set_hdr(struct sp_msg *m, const void *data, size_t len);

/* Prepends len bytes to the SP header: 0 or -ENOMEM. */
int sp_msg_push_hdr(struct sp_msg *m, const void *data, size_t len);

/* Moves the first n body bytes to the end of the SP header (protocols parse
   their header out of the received payload): 0, -EINVAL (body too short) or
   -ENOMEM. */
int sp_msg_split_hdr(struct sp_msg *m, size_t n);

/* dst becomes a copy of src that shares src's body and control chunks. */
int sp_msg_dup(struct sp_msg *dst, struct sp_msg *src);

/* Total bytes the message takes on a stream wire: header + body. */
static inline size_t sp_msg_wirelen(const struct sp_msg *m)
{
    return m->hdrlen + sp_msg_bodylen(m);
}

/* A FIFO of messages (ring buffer, capacity a power of two) counting the
   bytes it holds. */
struct sp_msgq {
    struct sp_msg *ring;
    size_t cap;
    size_t head;
    size_t count;
    size_t bytes;
};

void sp_msgq_init(struct sp_msgq *q);
/* Frees the queued messages and the ring. */
void sp_msgq_term(struct sp_msgq *q);
/* Appends (takes ownership): 0 or -ENOMEM (m untouched). */
int sp_msgq_push(struct sp_msgq *q, struct sp_msg *m);
/* Pops the oldest into m: 0 or -EAGAIN when empty. */
int sp_msgq_pop(struct sp_msgq *q, struct sp_msg *m);
/* The i-th oldest message (i < count). */
static inline struct sp_msg *sp_msgq_at(struct sp_msgq *q, size_t i)
{
    return &q->ring[(q->head + i) & (q->cap - 1)];
}

#endif
