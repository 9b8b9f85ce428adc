/* The helpers protocol.h declares for every protocol. */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "core/optset.h"
#include "core/pipe.h"
#include "protocol.h"

void sp_proto_drop_input(struct sp_pipe *pipe)
{
    struct sp_msg m;
    int rc;
    do {
        rc = sp_pipe_recv(pipe, &m);
        if (rc >= 0)
            sp_msg_term(&m);
    } while (rc == 0);
}

int sp_proto_set_ms(int *dst, const void *val, size_t len)
{
    return sp_opt_int(val, len, 0, INT_MAX, dst);
}

int sp_proto_get_ms(int v, void *val, size_t *len)
{
    if (*len < sizeof v)
        return -EINVAL;
    memcpy(val, &v, sizeof v);
    *len = sizeof v;
    return 0;
}
