/* Fan-out: sends one message to every pipe that can take it right now
   (PUB, BUS, SURVEYOR). Busy pipes miss the message; the body chunk is
   shared among the pipes, not copied. */
#ifndef SP_DIST_H
#define SP_DIST_H

#include "core/msg.h"
#include "utils/list.h"

struct sp_pipe;

struct sp_dist_entry {
    struct sp_pipe *pipe;
    struct sp_list_item item; /* in the ready list while writable */
};

struct sp_dist {
    struct sp_list ready;
    int count;
};

void sp_dist_init(struct sp_dist *d);
void sp_dist_entry_init(struct sp_dist_entry *e, struct sp_pipe *pipe);
/* A new pipe starts writable, unless it cannot send (SP_PIPE_NOSEND). */
void sp_dist_add(struct sp_dist *d, struct sp_dist_entry *e);
void sp_dist_rm(struct sp_dist *d, struct sp_dist_entry *e);
void sp_dist_out(struct sp_dist *d, struct sp_dist_entry *e);
/* Sends msg to every ready pipe except 'except' (may be NULL); takes msg. */
void sp_dist_send(struct sp_dist *d, struct sp_msg *msg, struct sp_pipe *except);

#endif
