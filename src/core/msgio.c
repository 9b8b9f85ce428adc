/* nn_msghdr <-> sp_msg, and the control-message iterator nn_cmsg_nxthdr_. */
#include "utils/err.h"
#include "core/msgio.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "core/appmsg.h"
#include "core/chunk.h"
#include "core/sendsrc.h"

struct nn_cmsghdr *nn_cmsg_nxthdr_(const struct nn_msghdr *mhdr, const struct nn_cmsghdr *cmsg)
{
    if (!mhdr || !mhdr->msg_control)
        return NULL;
    char *data;
    size_t sz;
    if (mhdr->msg_controllen == NN_MSG) {
        data = *(char **) mhdr->msg_control;
        if (!data || !sp_appmsg_held(data))
            return NULL;
        sz = sp_chunk_size(data);
    } else {
        data = mhdr->msg_control;
        sz = mhdr->msg_controllen;
    }
    const size_t headsz = NN_CMSG_SPACE(0);
    if (sz < headsz)
        return NULL;
    size_t off;
    if (!cmsg) {
        off = 0;
    } else {
        /* A header shorter than itself would never advance: stop there. */
        if (cmsg->cmsg_len < headsz)
            return NULL;
        size_t cur = (size_t) ((const char *) cmsg - data);
        size_t step = NN_CMSG_ALIGN_(cmsg->cmsg_len);
        if (cur > sz || step > sz - cur)
            return NULL;
        off = cur + step;
    }
    if (off > sz || headsz > sz - off)
        return NULL;
    struct nn_cmsghdr *next = (struct nn_cmsghdr *) (data + off);
    if (next->cmsg_len > sz || NN_CMSG_ALIGN_(next->cmsg_len) > sz - off)
        return NULL;
    return next;
}

long sp_msgio_find_cmsg(const struct sp_msg *msg, int level, int type, size_t min)
{
    if (!msg->ctrl)
        return -1;
    const char *c = msg->ctrl;
    const size_t headsz = NN_CMSG_SPACE(0);
    size_t sz = sp_chunk_size(msg->ctrl), off = 0;
    while (sz - off >= headsz) {
        struct nn_cmsghdr ch;
        memcpy(&ch, c + off, sizeof ch);
        if (ch.cmsg_len < headsz || ch.cmsg_len > sz - off)
            break;
        if (ch.cmsg_level == level && ch.cmsg_type == type && ch.cmsg_len - headsz >= min)
            return (long) off;
        size_t step = NN_CMSG_ALIGN_(ch.cmsg_len);
        if (step > sz - off)
            break;
        off += step;
    }
    return -1;
}

/* Walks a control buffer: picks the first PROTO_SP/SP_HDR cmsg as the SP
   header, and keeps the other cmsgs (transport ones) as msg->ctrl. */
static int parse_control(const char *data, size_t sz, struct sp_msg *msg)
{
    const size_t headsz = NN_CMSG_SPACE(0);
    size_t off = 0;
    bool have_hdr = false;
    size_t keep = 0;
    char *ctrl = NULL;
    while (sz >= headsz && off <= sz - headsz) {
        struct nn_cmsghdr ch;
        memcpy(&ch, data + off, sizeof ch);
        /* The same bounds as nn_cmsg_nxthdr_: the padded cmsg must fit. */
        if (ch.cmsg_len < headsz || ch.cmsg_len > sz - off || NN_CMSG_ALIGN_(ch.cmsg_len) > sz - off)
            break;
        size_t step = NN_CMSG_ALIGN_(ch.cmsg_len);
        if (ch.cmsg_level == PROTO_SP && ch.cmsg_type == SP_HDR) {
            if (!have_hdr) {
                have_hdr = true;
                size_t clen = ch.cmsg_len - headsz;
                size_t hlen;
                if (clen > sizeof(size_t)) {
                    memcpy(&hlen, data + off + headsz, sizeof hlen);
                    if (hlen <= clen - sizeof(size_t)) {
                        int rc = sp_msg_set_hdr(msg, data + off + headsz + sizeof(size_t), hlen);
                        if (rc)
                            return rc;
                    }
                }
            }
        } else {
            if (!ctrl) {
                ctrl = sp_chunk_alloc(sz);
                if (!ctrl)
                    return -ENOMEM;
            }
            memcpy(ctrl + keep, data + off, step);
            keep += step;
        }
        off += step;
    }
    if (ctrl) {
        sp_chunk_shrink(ctrl, keep);
        msg->ctrl = ctrl;
    }
    return 0;
}

SP_HOT int sp_msgio_build(const struct nn_msghdr *h, struct sp_msg *msg, size_t *len)
{
    sp_msg_init(msg);
    if (!h)
        return -EINVAL;
    if (h->msg_iovlen < 0)
        return -EMSGSIZE;
    int rc = 0;
    if (h->msg_iovlen == 1 && h->msg_iov && h->msg_iov[0].iov_len == NN_MSG) {
        void *chunk = h->msg_iov[0].iov_base ? *(void **) h->msg_iov[0].iov_base : NULL;
        /* Taken out of the application's set now: once the send succeeds
           the chunk may be freed (and its address reused) at any moment.
           sp_msgio_unbuild gives it back if the send fails. */
        if (!chunk || !sp_appmsg_take(chunk)) {
            rc = -EFAULT;
            goto iov_fail;
        }
        msg->body = chunk;
        *len = sp_chunk_size(chunk);
    } else {
        size_t total = 0;
        if (h->msg_iovlen > 0 && !h->msg_iov) {
            rc = -EFAULT;
            goto iov_fail;
        }
        for (int i = 0; i < h->msg_iovlen; i++) {
            const struct nn_iovec *v = &h->msg_iov[i];
            if (v->iov_len == NN_MSG) {
                rc = -EINVAL;
                goto iov_fail;
            }
            if (!v->iov_base && v->iov_len) {
                rc = -EFAULT;
                goto iov_fail;
            }
            if (v->iov_len > SIZE_MAX - total) {
                rc = -EINVAL;
                goto iov_fail;
            }
            total += v->iov_len;
        }
        msg->body = sp_chunk_alloc(total);
        if (!msg->body) {
            rc = -ENOMEM;
            goto iov_fail;
        }
        char *p = msg->body;
        for (int i = 0; i < h->msg_iovlen; i++) {
            if (h->msg_iov[i].iov_len)
                memcpy(p, h->msg_iov[i].iov_base, h->msg_iov[i].iov_len);
            p += h->msg_iov[i].iov_len;
        }
        *len = total;
    }
    if (h->msg_control) {
        if (h->msg_controllen == NN_MSG) {
            void *c = *(void **) h->msg_control;
            if (c && sp_appmsg_take(c)) {
                rc = parse_control(c, sp_chunk_size(c), msg);
                sp_chunk_free(c); /* adopted on success and failure alike */
            }
        } else {
            rc = parse_control(h->msg_control, h->msg_controllen, msg);
        }
        if (rc) {
            sp_msgio_unbuild(h, msg);
            return rc;
        }
    }
    return 0;
iov_fail:
    /* An iovec error comes before the control data is looked at: an NN_MSG
       control chunk stays the caller's, as in libnanomsg. */
    return rc;
}

SP_HOT int sp_msgio_build_deferred(const struct nn_msghdr *h, struct sp_msg *msg, size_t *len)
{
    const struct nn_iovec *v = h ? h->msg_iov : NULL;
    if (!v || h->msg_iovlen != 1 || h->msg_control || v->iov_len == NN_MSG || v->iov_len < SP_SENDSRC_MIN ||
        !v->iov_base)
        return sp_msgio_build(h, msg, len);
    sp_msg_init(msg);
    msg->body = sp_chunk_alloc(v->iov_len);
    if (!msg->body)
        return -ENOMEM;
    sp_sendsrc_set(msg->body, v->iov_base);
    *len = v->iov_len;
    return 0;
}

void sp_msgio_unbuild(const struct nn_msghdr *h, struct sp_msg *msg)
{
    if (h && h->msg_iovlen == 1 && h->msg_iov && h->msg_iov[0].iov_len == NN_MSG && msg->body) {
        /* Still the caller's. The set had room for it a moment ago; only a
           full set that cannot grow refuses, and then the chunk is freed
           rather than left unaccounted. */
        if (sp_appmsg_give(msg->body) == 0)
            msg->body = NULL;
    }
    sp_msg_term(msg);
}

SP_HOT int sp_msgio_deliver(struct nn_msghdr *h, struct sp_msg *msg, size_t *len)
{
    size_t blen = sp_msg_bodylen(msg);
    int rc = 0;
    void *body_out = NULL; /* NN_MSG chunks for the caller, handed out last */
    char *ctrl_out = NULL;
    bool took_body = false; /* body_out is msg's own body */
    *len = blen;
    if (h->msg_iovlen == 1 && h->msg_iov && h->msg_iov[0].iov_len == NN_MSG) {
        if (!h->msg_iov[0].iov_base) {
            rc = -EFAULT;
            goto done;
        }
        void *chunk = msg->body;
        if (!chunk || !sp_chunk_exclusive(chunk)) {
            /* Shared (fan-out) bodies are copied: the caller may write into
               what it receives. */
            void *c = sp_chunk_alloc(blen);
            if (!c) {
                rc = -ENOMEM;
                goto done;
            }
            if (blen)
                memcpy(c, chunk, blen);
            chunk = c;
        } else {
            msg->body = NULL;
            took_body = true;
        }
        body_out = chunk;
    } else {
        const char *src = msg->body;
        size_t left = blen;
        if (h->msg_iovlen > 0 && !h->msg_iov) {
            rc = -EFAULT;
            goto done;
        }
        for (int i = 0; i < h->msg_iovlen; i++) {
            struct nn_iovec *v = &h->msg_iov[i];
            if (v->iov_len == NN_MSG) {
                rc = -EINVAL;
                goto done;
            }
            size_t n = v->iov_len < left ? v->iov_len : left;
            if (n && !v->iov_base) {
                rc = -EFAULT;
                goto done;
            }
            if (n)
                memcpy(v->iov_base, src, n);
            src += n;
            left -= n;
        }
    }
    if (h->msg_control) {
        size_t hlen = msg->hdrlen;
        size_t spsz = NN_CMSG_SPACE(sizeof(size_t) + hlen);
        size_t csz = msg->ctrl ? sp_chunk_size(msg->ctrl) : 0;
        char *out;
        size_t room;
        if (h->msg_controllen == NN_MSG) {
            out = ctrl_out = sp_chunk_alloc(spsz + csz);
            if (!out) {
                rc = -ENOMEM;
                goto done;
            }
            room = spsz + csz;
        } else {
            out = h->msg_control;
            room = h->msg_controllen;
        }
        if (room >= spsz) {
            struct nn_cmsghdr ch;
            memset(out, 0, spsz);
            ch.cmsg_len = spsz;
            ch.cmsg_level = PROTO_SP;
            ch.cmsg_type = SP_HDR;
            memcpy(out, &ch, sizeof ch);
            memcpy(out + NN_CMSG_SPACE(0), &hlen, sizeof hlen);
            if (hlen)
                memcpy(out + NN_CMSG_SPACE(0) + sizeof(size_t), sp_msg_hdr(msg), hlen);
            if (csz) {
                size_t n = room - spsz < csz ? room - spsz : csz;
                memcpy(out + spsz, msg->ctrl, n);
            }
        }
    }
    /* The caller holds the chunks from here on. */
    if (ctrl_out && sp_appmsg_give(ctrl_out) != 0) {
        rc = -ENOMEM;
        goto done;
    }
    if (body_out && sp_appmsg_give(body_out) != 0) {
        if (ctrl_out)
            sp_appmsg_take(ctrl_out);
        rc = -ENOMEM;
        goto done;
    }
    if (body_out)
        *(void **) h->msg_iov[0].iov_base = body_out;
    if (ctrl_out)
        *(void **) h->msg_control = ctrl_out;
    body_out = NULL;
    ctrl_out = NULL;
done:
    if (took_body && body_out) {
        msg->body = body_out; /* back where it came from */
        body_out = NULL;
    }
    if (body_out)
        sp_chunk_free(body_out);
    if (ctrl_out)
        sp_chunk_free(ctrl_out);
    if (rc != -ENOMEM)
        sp_msg_term(msg);
    return rc;
}
