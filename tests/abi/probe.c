/* Prints every constant, macro result, struct layout and function prototype of
   the 11 public nanomsg headers as "name=value" lines. The abi-headers test
   builds it once against our include/ and once against Debian's
   /usr/include/nanomsg and diffs the two outputs line by line. */

/* The headers are included by explicit path so that no include search order
   can make both builds read the same copy. Quoted includes are resolved
   relative to this file's directory first, so "../../include" is our tree. */
#if defined(PROBE_DEBIAN)
#include "/usr/include/nanomsg/nn.h"

#include "/usr/include/nanomsg/bus.h"
#include "/usr/include/nanomsg/inproc.h"
#include "/usr/include/nanomsg/ipc.h"
#include "/usr/include/nanomsg/pair.h"
#include "/usr/include/nanomsg/pipeline.h"
#include "/usr/include/nanomsg/pubsub.h"
#include "/usr/include/nanomsg/reqrep.h"
#include "/usr/include/nanomsg/survey.h"
#include "/usr/include/nanomsg/tcp.h"
#include "/usr/include/nanomsg/ws.h"
#define PROBE_VARIANT "debian"
#else
#include "../../include/nanomsg/nn.h"

#include "../../include/nanomsg/bus.h"
#include "../../include/nanomsg/inproc.h"
#include "../../include/nanomsg/ipc.h"
#include "../../include/nanomsg/pair.h"
#include "../../include/nanomsg/pipeline.h"
#include "../../include/nanomsg/pubsub.h"
#include "../../include/nanomsg/reqrep.h"
#include "../../include/nanomsg/survey.h"
#include "../../include/nanomsg/tcp.h"
#include "../../include/nanomsg/ws.h"
#define PROBE_VARIANT "ours"
#endif

#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The C type of an expression, so that e.g. NN_MSG stays a size_t. */
#define TYPE_NAME(x)                                                           \
    _Generic((x), int: "int", unsigned int: "unsigned int", long: "long",     \
             unsigned long: "unsigned long", long long: "long long",           \
             unsigned long long: "unsigned long long", short: "short",         \
             unsigned short: "unsigned short", default: "other")

/* A constant: its value (as a wide signed and unsigned integer, which also
   pins the sign) and its type. */
#define VALUE(m)                                                               \
    printf("%s=%lld/%llu type=%s\n", #m, (long long) (m),                      \
           (unsigned long long) (m), TYPE_NAME(m))

#define STR_(x) #x
#define STR(x) STR_(x)

/* A function-like macro: its token expansion, whitespace normalised by the
   preprocessor. */
#define EXPANSION(name, call) printf("%s expands to: %s\n", name, STR(call))

#define SIZE(t) printf("sizeof(%s)=%zu alignof=%zu\n", #t, sizeof(t), alignof(t))
#define MEMBER(t, m)                                                           \
    printf("%s.%s offset=%zu size=%zu type=%s\n", #t, #m, offsetof(t, m),     \
           sizeof(((t *) 0)->m), member_type_##m)

/* Checks a public prototype without referencing the symbol: the controlling
   expression of _Generic is not evaluated, so nothing is linked. */
#define PROTO(fn, type)                                                        \
    printf("prototype %s: %s\n", #fn,                                          \
           _Generic(&fn, type: #type, default: "MISMATCH"))

/* Member types, spelled out, compared by _Generic on a member expression. */
#define MTYPE(t, m, type) _Generic(((t *) 0)->m, type: #type, default: "MISMATCH")

static void print_constants(void)
{
    /* nn.h: version */
    VALUE(NN_VERSION_CURRENT);
    VALUE(NN_VERSION_REVISION);
    VALUE(NN_VERSION_AGE);

    /* nn.h: errors (native ones and the POSIX ones nn.h would define) */
    VALUE(NN_HAUSNUMERO);
    VALUE(ENOTSUP);
    VALUE(EPROTONOSUPPORT);
    VALUE(ENOBUFS);
    VALUE(ENETDOWN);
    VALUE(EADDRINUSE);
    VALUE(EADDRNOTAVAIL);
    VALUE(ECONNREFUSED);
    VALUE(EINPROGRESS);
    VALUE(ENOTSOCK);
    VALUE(EAFNOSUPPORT);
    VALUE(EPROTO);
    VALUE(EAGAIN);
    VALUE(EBADF);
    VALUE(EINVAL);
    VALUE(EMFILE);
    VALUE(EFAULT);
    VALUE(EACCES);
    VALUE(EACCESS);
    VALUE(ENETRESET);
    VALUE(ENETUNREACH);
    VALUE(EHOSTUNREACH);
    VALUE(ENOTCONN);
    VALUE(EMSGSIZE);
    VALUE(ETIMEDOUT);
    VALUE(ECONNABORTED);
    VALUE(ECONNRESET);
    VALUE(ENOPROTOOPT);
    VALUE(EISCONN);
    VALUE(ESOCKTNOSUPPORT);
    VALUE(ETERM);
    VALUE(EFSM);
    /* Errors that are in the symbol table but not defined by nn.h. */
    VALUE(EINTR);
    VALUE(ENAMETOOLONG);
    VALUE(ENODEV);
    VALUE(ENOMEM);
#if defined(NN_EISCONN_DEFINED)
    printf("NN_EISCONN_DEFINED defined\n");
#else
    printf("NN_EISCONN_DEFINED not defined\n");
#endif

    /* nn.h: symbol namespaces, types, units */
    VALUE(NN_NS_NAMESPACE);
    VALUE(NN_NS_VERSION);
    VALUE(NN_NS_DOMAIN);
    VALUE(NN_NS_TRANSPORT);
    VALUE(NN_NS_PROTOCOL);
    VALUE(NN_NS_OPTION_LEVEL);
    VALUE(NN_NS_SOCKET_OPTION);
    VALUE(NN_NS_TRANSPORT_OPTION);
    VALUE(NN_NS_OPTION_TYPE);
    VALUE(NN_NS_OPTION_UNIT);
    VALUE(NN_NS_FLAG);
    VALUE(NN_NS_ERROR);
    VALUE(NN_NS_LIMIT);
    VALUE(NN_NS_EVENT);
    VALUE(NN_NS_STATISTIC);
    VALUE(NN_TYPE_NONE);
    VALUE(NN_TYPE_INT);
    VALUE(NN_TYPE_STR);
    VALUE(NN_UNIT_NONE);
    VALUE(NN_UNIT_BYTES);
    VALUE(NN_UNIT_MILLISECONDS);
    VALUE(NN_UNIT_PRIORITY);
    VALUE(NN_UNIT_BOOLEAN);
    VALUE(NN_UNIT_MESSAGES);
    VALUE(NN_UNIT_COUNTER);

    /* nn.h: messages, control messages */
    VALUE(NN_MSG);
    VALUE(NN_CMSG_ALIGN_(0));
    VALUE(NN_CMSG_ALIGN_(1));
    VALUE(NN_CMSG_ALIGN_(8));
    VALUE(NN_CMSG_ALIGN_(9));
    VALUE(NN_CMSG_SPACE(0));
    VALUE(NN_CMSG_SPACE(1));
    VALUE(NN_CMSG_SPACE(8));
    VALUE(NN_CMSG_SPACE(9));
    VALUE(NN_CMSG_LEN(0));
    VALUE(NN_CMSG_LEN(1));
    VALUE(NN_CMSG_LEN(8));
    VALUE(NN_CMSG_LEN(9));
    {
        _Alignas(struct nn_cmsghdr) unsigned char buf[64];
        unsigned char *data = NN_CMSG_DATA(buf);
        printf("NN_CMSG_DATA offset=%td type=%s\n", data - buf,
               _Generic(NN_CMSG_DATA(buf), unsigned char *: "unsigned char *",
                        default: "MISMATCH"));
    }
    EXPANSION("NN_CMSG_FIRSTHDR(mhdr)", NN_CMSG_FIRSTHDR(mhdr));
    EXPANSION("NN_CMSG_NXTHDR(mhdr, cmsg)", NN_CMSG_NXTHDR(mhdr, cmsg));
    EXPANSION("NN_CMSG_DATA(cmsg)", NN_CMSG_DATA(cmsg));
    EXPANSION("NN_CMSG_SPACE(len)", NN_CMSG_SPACE(len));
    EXPANSION("NN_CMSG_LEN(len)", NN_CMSG_LEN(len));
    EXPANSION("NN_CMSG_ALIGN_(len)", NN_CMSG_ALIGN_(len));

    /* nn.h: domains, addresses, options, flags */
    VALUE(AF_SP);
    VALUE(AF_SP_RAW);
    VALUE(NN_SOCKADDR_MAX);
    VALUE(NN_SOL_SOCKET);
    VALUE(NN_LINGER);
    VALUE(NN_SNDBUF);
    VALUE(NN_RCVBUF);
    VALUE(NN_SNDTIMEO);
    VALUE(NN_RCVTIMEO);
    VALUE(NN_RECONNECT_IVL);
    VALUE(NN_RECONNECT_IVL_MAX);
    VALUE(NN_SNDPRIO);
    VALUE(NN_RCVPRIO);
    VALUE(NN_SNDFD);
    VALUE(NN_RCVFD);
    VALUE(NN_DOMAIN);
    VALUE(NN_PROTOCOL);
    VALUE(NN_IPV4ONLY);
    VALUE(NN_SOCKET_NAME);
    VALUE(NN_RCVMAXSIZE);
    VALUE(NN_MAXTTL);
    VALUE(NN_DONTWAIT);
    VALUE(PROTO_SP);
    VALUE(SP_HDR);
    VALUE(NN_POLLIN);
    VALUE(NN_POLLOUT);

    /* nn.h: statistics */
    VALUE(NN_STAT_ESTABLISHED_CONNECTIONS);
    VALUE(NN_STAT_ACCEPTED_CONNECTIONS);
    VALUE(NN_STAT_DROPPED_CONNECTIONS);
    VALUE(NN_STAT_BROKEN_CONNECTIONS);
    VALUE(NN_STAT_CONNECT_ERRORS);
    VALUE(NN_STAT_BIND_ERRORS);
    VALUE(NN_STAT_ACCEPT_ERRORS);
    VALUE(NN_STAT_CURRENT_CONNECTIONS);
    VALUE(NN_STAT_INPROGRESS_CONNECTIONS);
    VALUE(NN_STAT_CURRENT_EP_ERRORS);
    VALUE(NN_STAT_MESSAGES_SENT);
    VALUE(NN_STAT_MESSAGES_RECEIVED);
    VALUE(NN_STAT_BYTES_SENT);
    VALUE(NN_STAT_BYTES_RECEIVED);
    VALUE(NN_STAT_CURRENT_SND_PRIORITY);

    /* protocol headers */
    VALUE(NN_PROTO_PAIR);
    VALUE(NN_PAIR);
    VALUE(NN_PROTO_PUBSUB);
    VALUE(NN_PUB);
    VALUE(NN_SUB);
    VALUE(NN_SUB_SUBSCRIBE);
    VALUE(NN_SUB_UNSUBSCRIBE);
    VALUE(NN_PROTO_REQREP);
    VALUE(NN_REQ);
    VALUE(NN_REP);
    VALUE(NN_REQ_RESEND_IVL);
    VALUE(NN_PROTO_PIPELINE);
    VALUE(NN_PUSH);
    VALUE(NN_PULL);
    VALUE(NN_PROTO_SURVEY);
    VALUE(NN_SURVEYOR);
    VALUE(NN_RESPONDENT);
    VALUE(NN_SURVEYOR_DEADLINE);
    VALUE(NN_PROTO_BUS);
    VALUE(NN_BUS);

    /* transport headers */
    VALUE(NN_INPROC);
    VALUE(NN_IPC);
    VALUE(NN_IPC_SEC_ATTR);
    VALUE(NN_IPC_OUTBUFSZ);
    VALUE(NN_IPC_INBUFSZ);
    VALUE(NN_TCP);
    VALUE(NN_TCP_NODELAY);
    VALUE(NN_WS);
    VALUE(NN_WS_MSG_TYPE);
    VALUE(NN_WS_MSG_TYPE_TEXT);
    VALUE(NN_WS_MSG_TYPE_BINARY);
}

static void print_layouts(void)
{
    const char *member_type_iov_base = MTYPE(struct nn_iovec, iov_base, void *);
    const char *member_type_iov_len = MTYPE(struct nn_iovec, iov_len, size_t);
    SIZE(struct nn_iovec);
    MEMBER(struct nn_iovec, iov_base);
    MEMBER(struct nn_iovec, iov_len);

    const char *member_type_msg_iov =
        MTYPE(struct nn_msghdr, msg_iov, struct nn_iovec *);
    const char *member_type_msg_iovlen =
        MTYPE(struct nn_msghdr, msg_iovlen, int);
    const char *member_type_msg_control =
        MTYPE(struct nn_msghdr, msg_control, void *);
    const char *member_type_msg_controllen =
        MTYPE(struct nn_msghdr, msg_controllen, size_t);
    SIZE(struct nn_msghdr);
    MEMBER(struct nn_msghdr, msg_iov);
    MEMBER(struct nn_msghdr, msg_iovlen);
    MEMBER(struct nn_msghdr, msg_control);
    MEMBER(struct nn_msghdr, msg_controllen);

    const char *member_type_cmsg_len =
        MTYPE(struct nn_cmsghdr, cmsg_len, size_t);
    const char *member_type_cmsg_level =
        MTYPE(struct nn_cmsghdr, cmsg_level, int);
    const char *member_type_cmsg_type =
        MTYPE(struct nn_cmsghdr, cmsg_type, int);
    SIZE(struct nn_cmsghdr);
    MEMBER(struct nn_cmsghdr, cmsg_len);
    MEMBER(struct nn_cmsghdr, cmsg_level);
    MEMBER(struct nn_cmsghdr, cmsg_type);

    const char *member_type_fd = MTYPE(struct nn_pollfd, fd, int);
    const char *member_type_events = MTYPE(struct nn_pollfd, events, short);
    const char *member_type_revents = MTYPE(struct nn_pollfd, revents, short);
    SIZE(struct nn_pollfd);
    MEMBER(struct nn_pollfd, fd);
    MEMBER(struct nn_pollfd, events);
    MEMBER(struct nn_pollfd, revents);

    const char *member_type_value =
        MTYPE(struct nn_symbol_properties, value, int);
    const char *member_type_name =
        MTYPE(struct nn_symbol_properties, name, const char *);
    const char *member_type_ns = MTYPE(struct nn_symbol_properties, ns, int);
    const char *member_type_type =
        MTYPE(struct nn_symbol_properties, type, int);
    const char *member_type_unit =
        MTYPE(struct nn_symbol_properties, unit, int);
    SIZE(struct nn_symbol_properties);
    MEMBER(struct nn_symbol_properties, value);
    MEMBER(struct nn_symbol_properties, name);
    MEMBER(struct nn_symbol_properties, ns);
    MEMBER(struct nn_symbol_properties, type);
    MEMBER(struct nn_symbol_properties, unit);

    /* The vestigial reqrep.h union, reachable both as a tag and a typedef. */
    const char *member_type_i = MTYPE(union nn_req_handle, i, int);
    const char *member_type_ptr = MTYPE(union nn_req_handle, ptr, void *);
    SIZE(union nn_req_handle);
    SIZE(nn_req_handle);
    MEMBER(union nn_req_handle, i);
    MEMBER(union nn_req_handle, ptr);
    printf("nn_req_handle is union nn_req_handle: %s\n",
           _Generic((nn_req_handle *) 0, union nn_req_handle *: "yes",
                    default: "no"));
}

static void print_prototypes(void)
{
    PROTO(nn_errno, int (*)(void));
    PROTO(nn_strerror, const char *(*) (int));
    PROTO(nn_symbol, const char *(*) (int, int *));
    PROTO(nn_symbol_info,
          int (*)(int, struct nn_symbol_properties *, int));
    PROTO(nn_term, void (*)(void));
    PROTO(nn_allocmsg, void *(*) (size_t, int));
    PROTO(nn_reallocmsg, void *(*) (void *, size_t));
    PROTO(nn_freemsg, int (*)(void *));
    PROTO(nn_cmsg_nxthdr_,
          struct nn_cmsghdr *(*) (const struct nn_msghdr *,
                                  const struct nn_cmsghdr *));
    PROTO(nn_socket, int (*)(int, int));
    PROTO(nn_close, int (*)(int));
    PROTO(nn_setsockopt, int (*)(int, int, int, const void *, size_t));
    PROTO(nn_getsockopt, int (*)(int, int, int, void *, size_t *));
    PROTO(nn_bind, int (*)(int, const char *));
    PROTO(nn_connect, int (*)(int, const char *));
    PROTO(nn_shutdown, int (*)(int, int));
    PROTO(nn_send, int (*)(int, const void *, size_t, int));
    PROTO(nn_recv, int (*)(int, void *, size_t, int));
    PROTO(nn_sendmsg, int (*)(int, const struct nn_msghdr *, int));
    PROTO(nn_recvmsg, int (*)(int, struct nn_msghdr *, int));
    PROTO(nn_poll, int (*)(struct nn_pollfd *, int, int));
    PROTO(nn_device, int (*)(int, int));
    PROTO(nn_get_statistic, uint64_t (*)(int, int));
}

int main(int argc, char **argv)
{
    /* --variant tells which headers were compiled in; it is not part of the
       compared output. */
    if (argc > 1 && strcmp(argv[1], "--variant") == 0) {
        printf("%s\n", PROBE_VARIANT);
        return 0;
    }
    print_constants();
    print_layouts();
    print_prototypes();
    return 0;
}
