/* Conversion between the application's nn_msghdr (iovecs, NN_MSG chunks,
   control data) and the library's sp_msg, for nn_sendmsg and nn_recvmsg. */
#ifndef SP_MSGIO_H
#define SP_MSGIO_H

#include <nanomsg/nn.h>

#include "core/msg.h"

/* Builds msg from an outgoing msghdr; *len = body length. 0 or -errno
   (EINVAL, EMSGSIZE, EFAULT, ENOMEM); on error nothing is owned by msg. An
   NN_MSG control chunk is the library's once the iovecs were accepted (it
   is freed even if the send fails later), the caller's if they were not,
   as in libnanomsg. */
int sp_msgio_build(const struct nn_msghdr *hdr, struct sp_msg *msg, size_t *len);

/* The same, for a socket type that hands the message to one pipe unchanged
   (SP_SOCKTYPE_PLAIN_SEND): a large body from one plain iovec gets its
   chunk but is not copied yet (core/sendsrc.h); the caller ends the claim
   with sp_sendsrc_clear once the send returns. */
int sp_msgio_build_deferred(const struct nn_msghdr *hdr, struct sp_msg *msg, size_t *len);

/* The send failed: give an NN_MSG body chunk back to the caller (it stays
   theirs) and free everything else msg holds. */
void sp_msgio_unbuild(const struct nn_msghdr *hdr, struct sp_msg *msg);

/* Delivers a received msg into the application's msghdr and frees msg;
   *len = full body length (even when the buffers were smaller). 0 or -errno
   (the message is lost on a bad argument, as in libnanomsg), or -ENOMEM
   with msg left whole (the caller gives it back to the socket). */
int sp_msgio_deliver(struct nn_msghdr *hdr, struct sp_msg *msg, size_t *len);

/* The first control message at (level, type) in msg->ctrl (well formed:
   sp_msgio_build keeps only cmsgs that fit) whose data has at least min
   bytes: its offset in msg->ctrl, or -1. Its data starts NN_CMSG_SPACE(0)
   bytes further. */
long sp_msgio_find_cmsg(const struct sp_msg *msg, int level, int type, size_t min);

#endif
