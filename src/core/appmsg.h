/* The set of messages the application holds: the NN_MSG chunks that
   nn_allocmsg, nn_reallocmsg and receives with NN_MSG handed out and that
   were not yet freed or given to a successful send. nn_freemsg,
   nn_reallocmsg and NN_MSG sends look a pointer up here before they touch
   the memory behind it, so a foreign pointer (one past an unmapped page, on
   the stack, into a chunk, freed already) gives EFAULT without the library
   reading a byte of it. A hash set of data pointers, split in shards with a
   lock each so that threads rarely meet. */
#ifndef SP_APPMSG_H
#define SP_APPMSG_H

#include <stdbool.h>

/* The application now holds chunk p (not in the set yet): 0, or -ENOMEM
   (the set could not grow; p is not handed out). */
int sp_appmsg_give(void *p);

/* The library takes p back: true if the application held it (it is no
   longer in the set), false for any other pointer. */
bool sp_appmsg_take(const void *p);

/* Whether the application holds p. */
bool sp_appmsg_held(const void *p);

/* Frees the tables of the shards that hold no message (the library's last
   socket closed; messages the application still holds keep theirs). */
void sp_appmsg_trim(void);

#endif
