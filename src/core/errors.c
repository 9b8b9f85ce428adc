/* The error half of the public API: nn_errno and nn_strerror. nn_strerror
   knows the two nanomsg-native codes (ETERM, EFSM) and hands everything else
   to the C library, with the same strings as libnanomsg 1.1.5 on POSIX. */

/* See symbol.c: hidden-by-default build, so the public API is made visible. */
#if !defined(NN_EXPORT) && defined(__GNUC__)
#define NN_EXPORT extern __attribute__((visibility("default")))
#endif

#include <errno.h>
#include <string.h>

#include <nanomsg/nn.h>

int nn_errno(void)
{
    return errno;
}

const char *nn_strerror(int errnum)
{
    switch (errnum) {
    case ETERM:
        return "Nanomsg library was terminated";
    case EFSM:
        return "Operation cannot be performed in this state";
    default:
        return strerror(errnum);
    }
}
