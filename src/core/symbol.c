/* The symbol table behind nn_symbol and nn_symbol_info: every public constant
   with its name, value, namespace, type and unit. Bindings (nnpy, bmv2,
   node-nanomsg) look constants up here by name, so the 121 entries, their
   order and their values are exactly those of libnanomsg 1.1.5. */

/* The library is compiled with -fvisibility=hidden and a linker version script
   cannot re-export hidden symbols, so the public functions must be declared
   default-visible. nn.h leaves NN_EXPORT to us when it is already defined. */
#if !defined(NN_EXPORT) && defined(__GNUC__)
#define NN_EXPORT extern __attribute__((visibility("default")))
#endif

#include <errno.h>
#include <string.h>

#include <nanomsg/nn.h>

#include <nanomsg/bus.h>
#include <nanomsg/inproc.h>
#include <nanomsg/ipc.h>
#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>
#include <nanomsg/survey.h>
#include <nanomsg/tcp.h>
#include <nanomsg/ws.h>

/* One entry: the value is the macro's expansion, the name its spelling. The
   macro name must be written directly as the argument: passed through another
   macro it would arrive already expanded and #sym would give "-1" or "98". */
#define SYM(sym, nspace, typ, unt)                                             \
    {                                                                          \
        .value = (sym), .name = #sym, .ns = (nspace), .type = (typ),           \
        .unit = (unt)                                                          \
    }

/* A plain constant: no option type, no unit. */
#define CONST(sym, nspace)                                                     \
    {                                                                          \
        .value = (sym), .name = #sym, .ns = (nspace), .type = NN_TYPE_NONE,    \
        .unit = NN_UNIT_NONE                                                   \
    }

static const struct nn_symbol_properties symbols[] = {
    CONST(NN_NS_NAMESPACE, NN_NS_NAMESPACE),
    CONST(NN_NS_VERSION, NN_NS_NAMESPACE),
    CONST(NN_NS_DOMAIN, NN_NS_NAMESPACE),
    CONST(NN_NS_TRANSPORT, NN_NS_NAMESPACE),
    CONST(NN_NS_PROTOCOL, NN_NS_NAMESPACE),
    CONST(NN_NS_OPTION_LEVEL, NN_NS_NAMESPACE),
    CONST(NN_NS_SOCKET_OPTION, NN_NS_NAMESPACE),
    CONST(NN_NS_TRANSPORT_OPTION, NN_NS_NAMESPACE),
    CONST(NN_NS_OPTION_TYPE, NN_NS_NAMESPACE),
    CONST(NN_NS_OPTION_UNIT, NN_NS_NAMESPACE),
    CONST(NN_NS_FLAG, NN_NS_NAMESPACE),
    CONST(NN_NS_ERROR, NN_NS_NAMESPACE),
    CONST(NN_NS_LIMIT, NN_NS_NAMESPACE),
    CONST(NN_NS_EVENT, NN_NS_NAMESPACE),
    CONST(NN_NS_STATISTIC, NN_NS_NAMESPACE),

    CONST(NN_TYPE_NONE, NN_NS_OPTION_TYPE),
    CONST(NN_TYPE_INT, NN_NS_OPTION_TYPE),
    CONST(NN_TYPE_STR, NN_NS_OPTION_TYPE),

    /* libnanomsg lists COUNTER before MESSAGES although its value is higher. */
    CONST(NN_UNIT_NONE, NN_NS_OPTION_UNIT),
    CONST(NN_UNIT_BYTES, NN_NS_OPTION_UNIT),
    CONST(NN_UNIT_MILLISECONDS, NN_NS_OPTION_UNIT),
    CONST(NN_UNIT_PRIORITY, NN_NS_OPTION_UNIT),
    CONST(NN_UNIT_BOOLEAN, NN_NS_OPTION_UNIT),
    CONST(NN_UNIT_COUNTER, NN_NS_OPTION_UNIT),
    CONST(NN_UNIT_MESSAGES, NN_NS_OPTION_UNIT),

    CONST(NN_VERSION_CURRENT, NN_NS_VERSION),
    CONST(NN_VERSION_REVISION, NN_NS_VERSION),
    CONST(NN_VERSION_AGE, NN_NS_VERSION),

    CONST(AF_SP, NN_NS_DOMAIN),
    CONST(AF_SP_RAW, NN_NS_DOMAIN),

    CONST(NN_INPROC, NN_NS_TRANSPORT),
    CONST(NN_IPC, NN_NS_TRANSPORT),
    CONST(NN_TCP, NN_NS_TRANSPORT),
    CONST(NN_WS, NN_NS_TRANSPORT),

    /* REP before REQ, as in libnanomsg. */
    CONST(NN_PAIR, NN_NS_PROTOCOL),
    CONST(NN_PUB, NN_NS_PROTOCOL),
    CONST(NN_SUB, NN_NS_PROTOCOL),
    CONST(NN_REP, NN_NS_PROTOCOL),
    CONST(NN_REQ, NN_NS_PROTOCOL),
    CONST(NN_PUSH, NN_NS_PROTOCOL),
    CONST(NN_PULL, NN_NS_PROTOCOL),
    CONST(NN_SURVEYOR, NN_NS_PROTOCOL),
    CONST(NN_RESPONDENT, NN_NS_PROTOCOL),
    CONST(NN_BUS, NN_NS_PROTOCOL),

    CONST(NN_SOCKADDR_MAX, NN_NS_LIMIT),

    CONST(NN_SOL_SOCKET, NN_NS_OPTION_LEVEL),

    SYM(NN_LINGER, NN_NS_SOCKET_OPTION, NN_TYPE_INT, NN_UNIT_MILLISECONDS),
    SYM(NN_SNDBUF, NN_NS_SOCKET_OPTION, NN_TYPE_INT, NN_UNIT_BYTES),
    SYM(NN_RCVBUF, NN_NS_SOCKET_OPTION, NN_TYPE_INT, NN_UNIT_BYTES),
    SYM(NN_RCVMAXSIZE, NN_NS_SOCKET_OPTION, NN_TYPE_INT, NN_UNIT_BYTES),
    SYM(NN_SNDTIMEO, NN_NS_SOCKET_OPTION, NN_TYPE_INT, NN_UNIT_MILLISECONDS),
    SYM(NN_RCVTIMEO, NN_NS_SOCKET_OPTION, NN_TYPE_INT, NN_UNIT_MILLISECONDS),
    SYM(NN_RECONNECT_IVL, NN_NS_SOCKET_OPTION, NN_TYPE_INT,
        NN_UNIT_MILLISECONDS),
    SYM(NN_RECONNECT_IVL_MAX, NN_NS_SOCKET_OPTION, NN_TYPE_INT,
        NN_UNIT_MILLISECONDS),
    SYM(NN_SNDPRIO, NN_NS_SOCKET_OPTION, NN_TYPE_INT, NN_UNIT_PRIORITY),
    SYM(NN_RCVPRIO, NN_NS_SOCKET_OPTION, NN_TYPE_INT, NN_UNIT_PRIORITY),
    SYM(NN_SNDFD, NN_NS_SOCKET_OPTION, NN_TYPE_INT, NN_UNIT_NONE),
    SYM(NN_RCVFD, NN_NS_SOCKET_OPTION, NN_TYPE_INT, NN_UNIT_NONE),
    SYM(NN_DOMAIN, NN_NS_SOCKET_OPTION, NN_TYPE_INT, NN_UNIT_NONE),
    SYM(NN_PROTOCOL, NN_NS_SOCKET_OPTION, NN_TYPE_INT, NN_UNIT_NONE),
    SYM(NN_IPV4ONLY, NN_NS_SOCKET_OPTION, NN_TYPE_INT, NN_UNIT_BOOLEAN),
    SYM(NN_SOCKET_NAME, NN_NS_SOCKET_OPTION, NN_TYPE_STR, NN_UNIT_NONE),
    SYM(NN_MAXTTL, NN_NS_SOCKET_OPTION, NN_TYPE_INT, NN_UNIT_NONE),

    /* Protocol-level options are filed under the transport-option namespace
       in libnanomsg; kept that way because bindings read it. */
    SYM(NN_SUB_SUBSCRIBE, NN_NS_TRANSPORT_OPTION, NN_TYPE_STR, NN_UNIT_NONE),
    SYM(NN_SUB_UNSUBSCRIBE, NN_NS_TRANSPORT_OPTION, NN_TYPE_STR, NN_UNIT_NONE),
    SYM(NN_REQ_RESEND_IVL, NN_NS_TRANSPORT_OPTION, NN_TYPE_INT,
        NN_UNIT_MILLISECONDS),
    SYM(NN_SURVEYOR_DEADLINE, NN_NS_TRANSPORT_OPTION, NN_TYPE_INT,
        NN_UNIT_MILLISECONDS),
    SYM(NN_TCP_NODELAY, NN_NS_TRANSPORT_OPTION, NN_TYPE_INT, NN_UNIT_BOOLEAN),
    SYM(NN_WS_MSG_TYPE, NN_NS_TRANSPORT_OPTION, NN_TYPE_INT, NN_UNIT_NONE),

    CONST(NN_DONTWAIT, NN_NS_FLAG),
    CONST(NN_WS_MSG_TYPE_TEXT, NN_NS_FLAG),
    CONST(NN_WS_MSG_TYPE_BINARY, NN_NS_FLAG),

    CONST(NN_POLLIN, NN_NS_EVENT),
    CONST(NN_POLLOUT, NN_NS_EVENT),

    /* Platform errno values (ETERM and EFSM come from nn.h). */
    CONST(EADDRINUSE, NN_NS_ERROR),
    CONST(EADDRNOTAVAIL, NN_NS_ERROR),
    CONST(EAFNOSUPPORT, NN_NS_ERROR),
    CONST(EAGAIN, NN_NS_ERROR),
    CONST(EBADF, NN_NS_ERROR),
    CONST(ECONNREFUSED, NN_NS_ERROR),
    CONST(EFAULT, NN_NS_ERROR),
    CONST(EFSM, NN_NS_ERROR),
    CONST(EINPROGRESS, NN_NS_ERROR),
    CONST(EINTR, NN_NS_ERROR),
    CONST(EINVAL, NN_NS_ERROR),
    CONST(EMFILE, NN_NS_ERROR),
    CONST(ENAMETOOLONG, NN_NS_ERROR),
    CONST(ENETDOWN, NN_NS_ERROR),
    CONST(ENOBUFS, NN_NS_ERROR),
    CONST(ENODEV, NN_NS_ERROR),
    CONST(ENOMEM, NN_NS_ERROR),
    CONST(ENOPROTOOPT, NN_NS_ERROR),
    CONST(ENOTSOCK, NN_NS_ERROR),
    CONST(ENOTSUP, NN_NS_ERROR),
    CONST(EPROTO, NN_NS_ERROR),
    CONST(EPROTONOSUPPORT, NN_NS_ERROR),
    CONST(ETERM, NN_NS_ERROR),
    CONST(ETIMEDOUT, NN_NS_ERROR),
    CONST(EACCES, NN_NS_ERROR),
    CONST(ECONNABORTED, NN_NS_ERROR),
    CONST(ECONNRESET, NN_NS_ERROR),
    CONST(EHOSTUNREACH, NN_NS_ERROR),
    CONST(EMSGSIZE, NN_NS_ERROR),
    CONST(ENETRESET, NN_NS_ERROR),
    CONST(ENETUNREACH, NN_NS_ERROR),
    CONST(ENOTCONN, NN_NS_ERROR),

    /* Statistics, in libnanomsg's order (not sorted by value). */
    SYM(NN_STAT_ESTABLISHED_CONNECTIONS, NN_NS_STATISTIC, NN_TYPE_INT,
        NN_UNIT_COUNTER),
    SYM(NN_STAT_ACCEPTED_CONNECTIONS, NN_NS_STATISTIC, NN_TYPE_INT,
        NN_UNIT_COUNTER),
    SYM(NN_STAT_DROPPED_CONNECTIONS, NN_NS_STATISTIC, NN_TYPE_INT,
        NN_UNIT_COUNTER),
    SYM(NN_STAT_BROKEN_CONNECTIONS, NN_NS_STATISTIC, NN_TYPE_INT,
        NN_UNIT_COUNTER),
    SYM(NN_STAT_CONNECT_ERRORS, NN_NS_STATISTIC, NN_TYPE_INT, NN_UNIT_COUNTER),
    SYM(NN_STAT_BIND_ERRORS, NN_NS_STATISTIC, NN_TYPE_INT, NN_UNIT_COUNTER),
    SYM(NN_STAT_ACCEPT_ERRORS, NN_NS_STATISTIC, NN_TYPE_INT, NN_UNIT_COUNTER),
    SYM(NN_STAT_MESSAGES_SENT, NN_NS_STATISTIC, NN_TYPE_INT, NN_UNIT_MESSAGES),
    SYM(NN_STAT_MESSAGES_RECEIVED, NN_NS_STATISTIC, NN_TYPE_INT,
        NN_UNIT_MESSAGES),
    SYM(NN_STAT_BYTES_SENT, NN_NS_STATISTIC, NN_TYPE_INT, NN_UNIT_BYTES),
    SYM(NN_STAT_BYTES_RECEIVED, NN_NS_STATISTIC, NN_TYPE_INT, NN_UNIT_BYTES),
    SYM(NN_STAT_CURRENT_CONNECTIONS, NN_NS_STATISTIC, NN_TYPE_INT,
        NN_UNIT_NONE),
    SYM(NN_STAT_INPROGRESS_CONNECTIONS, NN_NS_STATISTIC, NN_TYPE_INT,
        NN_UNIT_NONE),
    SYM(NN_STAT_CURRENT_SND_PRIORITY, NN_NS_STATISTIC, NN_TYPE_INT,
        NN_UNIT_PRIORITY),
    SYM(NN_STAT_CURRENT_EP_ERRORS, NN_NS_STATISTIC, NN_TYPE_INT,
        NN_UNIT_NONE),
};

#define SYMBOL_COUNT ((int) (sizeof symbols / sizeof symbols[0]))

_Static_assert(SYMBOL_COUNT == 121, "libnanomsg 1.1.5 has 121 symbols");

const char *nn_symbol(int i, int *value)
{
    if (i < 0 || i >= SYMBOL_COUNT) {
        errno = EINVAL;
        return NULL;
    }
    if (value != NULL)
        *value = symbols[i].value;
    return symbols[i].name;
}

int nn_symbol_info(int i, struct nn_symbol_properties *buf, int buflen)
{
    /* libnanomsg passes a negative buflen to memcpy as a huge size; we copy
       nothing instead. errno is left alone, as in libnanomsg. */
    if (i < 0 || i >= SYMBOL_COUNT || buflen <= 0)
        return 0;
    if (buflen > (int) sizeof(struct nn_symbol_properties))
        buflen = (int) sizeof(struct nn_symbol_properties);
    memcpy(buf, &symbols[i], (size_t) buflen);
    return buflen;
}
