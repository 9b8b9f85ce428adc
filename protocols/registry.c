/* Every socket type the library knows. Adding a protocol is a line here. */
#include <stddef.h>

#include "protocol.h"

extern const struct sp_socktype sp_pair_socktype, sp_xpair_socktype;
extern const struct sp_socktype sp_push_socktype, sp_xpush_socktype;
extern const struct sp_socktype sp_pull_socktype, sp_xpull_socktype;

static const struct sp_socktype *const socktypes[] = {
    &sp_pair_socktype, &sp_xpair_socktype,
    &sp_push_socktype, &sp_xpush_socktype,
    &sp_pull_socktype, &sp_xpull_socktype,
};

const struct sp_socktype *sp_socktype_find(int domain, int protocol)
{
    for (size_t i = 0; i < sizeof socktypes / sizeof socktypes[0]; i++)
        if (socktypes[i]->domain == domain && socktypes[i]->protocol == protocol)
            return socktypes[i];
    return NULL;
}
