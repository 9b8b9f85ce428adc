/* Every socket type the library knows. Adding a protocol is a folder under
   protocols/, its socket types' line here and its sources in
   protocols/meson.build. */
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include <nanomsg/nn.h>

#include "protocol.h"

extern const struct sp_socktype sp_pair_socktype, sp_xpair_socktype;
extern const struct sp_socktype sp_push_socktype, sp_xpush_socktype;
extern const struct sp_socktype sp_pull_socktype, sp_xpull_socktype;
extern const struct sp_socktype sp_pub_socktype, sp_xpub_socktype;
extern const struct sp_socktype sp_sub_socktype, sp_xsub_socktype;
extern const struct sp_socktype sp_req_socktype, sp_xreq_socktype;
extern const struct sp_socktype sp_rep_socktype, sp_xrep_socktype;
extern const struct sp_socktype sp_surveyor_socktype, sp_xsurveyor_socktype;
extern const struct sp_socktype sp_respondent_socktype, sp_xrespondent_socktype;
extern const struct sp_socktype sp_bus_socktype, sp_xbus_socktype;
extern const struct sp_socktype sp_peer_socktype;

static const struct sp_socktype *const socktypes[] = {
    &sp_pair_socktype, &sp_xpair_socktype,
    &sp_pub_socktype, &sp_xpub_socktype,
    &sp_sub_socktype, &sp_xsub_socktype,
    &sp_req_socktype, &sp_xreq_socktype,
    &sp_rep_socktype, &sp_xrep_socktype,
    &sp_push_socktype, &sp_xpush_socktype,
    &sp_pull_socktype, &sp_xpull_socktype,
    &sp_surveyor_socktype, &sp_xsurveyor_socktype,
    &sp_respondent_socktype, &sp_xrespondent_socktype,
    &sp_bus_socktype, &sp_xbus_socktype,
    &sp_peer_socktype,
};

const struct sp_socktype *sp_socktype_find(int domain, int protocol)
{
    for (size_t i = 0; i < sizeof socktypes / sizeof socktypes[0]; i++)
        if (socktypes[i]->domain == domain && socktypes[i]->protocol == protocol)
            return socktypes[i];
    return NULL;
}

const struct sp_socktype *sp_socktype_named(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof socktypes / sizeof socktypes[0]; i++) {
        const struct sp_socktype *t = socktypes[i];
        if (t->domain == AF_SP && strlen(t->name) == len && strncasecmp(t->name, name, len) == 0)
            return t;
    }
    return NULL;
}
