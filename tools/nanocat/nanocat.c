/* nanocat: send and receive messages on a nanomsg socket from the command
   line. It behaves as the nanocat of nanomsg 1.1.5 does — the same options,
   output formats, timing and exit statuses, so that scripts cannot tell them
   apart — and adds TLS options spelled as NNG's nngcat spells them. It uses
   only the public API, from the nanomsg headers.

   Exit statuses: 0 done (a receive timed out, a REQ got its reply, a
   one-shot send went out), 1 usage error, 2 --file unreadable, 3 a library
   call failed (an address nn_bind or nn_connect refuses, a send timeout). */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nanomsg/nn.h>
#include <nanomsg/bus.h>
#include <nanomsg/pair.h>
#include <nanomsg/pipeline.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>
#include <nanomsg/survey.h>
#include <nanomsg/tls.h>

#include "options.h"

enum echo_format { ECHO_NONE, ECHO_RAW, ECHO_ASCII, ECHO_QUOTED, ECHO_MSGPACK, ECHO_HEX };

struct options {
    int verbose; /* accepted, as in nanocat 1.1.5, and unused */
    int socket_type;
    struct cli_list bind_addresses;
    struct cli_list connect_addresses;
    float send_timeout; /* seconds; < 0: none */
    float recv_timeout;
    struct cli_list subscriptions;
    const char *socket_name;
    float send_delay;
    float send_interval; /* < 0: send once */
    struct cli_blob data_to_send;
    int echo_format;
    /* TLS, as nngcat names them */
    const char *tls_ca_file;
    const char *tls_cert_file;
    const char *tls_key_file;
    int tls_insecure;
    const char *tls_server_name;
};

/* The masks that tie the options together (what provides, conflicts, needs). */
#define M_SOCK 1ul
#define M_WRITEABLE 2ul
#define M_READABLE 4ul
#define M_SOCK_SUB 8ul
#define M_DATA 16ul
#define M_ENDPOINT 32ul
#define M_CERT 64ul
#define M_SOCK_WRITEABLE (M_SOCK | M_WRITEABLE)
#define M_SOCK_READABLE (M_SOCK | M_READABLE)
#define M_SOCK_READWRITE (M_SOCK_WRITEABLE | M_SOCK_READABLE)

static const int t_push = NN_PUSH, t_pull = NN_PULL, t_pub = NN_PUB, t_sub = NN_SUB, t_req = NN_REQ,
                 t_rep = NN_REP, t_surveyor = NN_SURVEYOR, t_respondent = NN_RESPONDENT, t_bus = NN_BUS,
                 t_pair = NN_PAIR;
static const int e_raw = ECHO_RAW, e_ascii = ECHO_ASCII, e_quoted = ECHO_QUOTED, e_msgpack = ECHO_MSGPACK,
                 e_hex = ECHO_HEX;

static const struct cli_enum echo_formats[] = {
    {"no", ECHO_NONE},         {"raw", ECHO_RAW},         {"ascii", ECHO_ASCII}, {"quoted", ECHO_QUOTED},
    {"msgpack", ECHO_MSGPACK}, {"hex", ECHO_HEX},         {NULL, 0},
};

#define OFF(f) offsetof(struct options, f)
#define SOCKTYPE(name, value, provides, requires, desc)                                                  \
    {name, 0, "nn_" name, CLI_SET_ENUM, OFF(socket_type), &value, provides, M_SOCK, requires,             \
     "Socket Types", NULL, desc, false}

static const struct cli_option option_table[] = {
    {"verbose", 'v', NULL, CLI_INCREMENT, OFF(verbose), NULL, 0, 0, 0, "Generic", NULL,
     "Increase verbosity of the nanocat", false},
    {"silent", 'q', NULL, CLI_DECREMENT, OFF(verbose), NULL, 0, 0, 0, "Generic", NULL,
     "Decrease verbosity of the nanocat", false},
    {"help", 'h', NULL, CLI_HELP, 0, NULL, 0, 0, 0, "Generic", NULL, "This help text", false},

    SOCKTYPE("push", t_push, M_SOCK_WRITEABLE, M_DATA, "Use NN_PUSH socket type"),
    SOCKTYPE("pull", t_pull, M_SOCK_READABLE, 0, "Use NN_PULL socket type"),
    SOCKTYPE("pub", t_pub, M_SOCK_WRITEABLE, M_DATA, "Use NN_PUB socket type"),
    SOCKTYPE("sub", t_sub, M_SOCK_READABLE | M_SOCK_SUB, 0, "Use NN_SUB socket type"),
    SOCKTYPE("req", t_req, M_SOCK_READWRITE, M_DATA, "Use NN_REQ socket type"),
    SOCKTYPE("rep", t_rep, M_SOCK_READWRITE, 0, "Use NN_REP socket type"),
    SOCKTYPE("surveyor", t_surveyor, M_SOCK_READWRITE, M_DATA, "Use NN_SURVEYOR socket type"),
    SOCKTYPE("respondent", t_respondent, M_SOCK_READWRITE, 0, "Use NN_RESPONDENT socket type"),
    SOCKTYPE("bus", t_bus, M_SOCK_READWRITE, 0, "Use NN_BUS socket type"),
    SOCKTYPE("pair", t_pair, M_SOCK_READWRITE, 0, "Use NN_PAIR socket type"),

    {"bind", 0, NULL, CLI_LIST_APPEND, OFF(bind_addresses), NULL, M_ENDPOINT, 0, 0, "Socket Options", "ADDR",
     "Bind socket to the address ADDR", false},
    {"connect", 0, NULL, CLI_LIST_APPEND, OFF(connect_addresses), NULL, M_ENDPOINT, 0, 0, "Socket Options",
     "ADDR", "Connect socket to the address ADDR", false},
    {"bind-ipc", 'X', NULL, CLI_LIST_APPEND_FMT, OFF(bind_addresses), "ipc://%s", M_ENDPOINT, 0, 0,
     "Socket Options", "PATH", "Bind socket to the ipc address \"ipc://PATH\".", false},
    {"connect-ipc", 'x', NULL, CLI_LIST_APPEND_FMT, OFF(connect_addresses), "ipc://%s", M_ENDPOINT, 0, 0,
     "Socket Options", "PATH", "Connect socket to the ipc address \"ipc://PATH\".", false},
    {"bind-local", 'L', NULL, CLI_LIST_APPEND_FMT, OFF(bind_addresses), "tcp://127.0.0.1:%s", M_ENDPOINT, 0, 0,
     "Socket Options", "PORT", "Bind socket to the tcp address \"tcp://127.0.0.1:PORT\".", false},
    {"connect-local", 'l', NULL, CLI_LIST_APPEND_FMT, OFF(connect_addresses), "tcp://127.0.0.1:%s", M_ENDPOINT,
     0, 0, "Socket Options", "PORT", "Connect socket to the tcp address \"tcp://127.0.0.1:PORT\".", false},
    {"recv-timeout", 0, NULL, CLI_FLOAT, OFF(recv_timeout), NULL, 0, 0, M_READABLE, "Socket Options", "SEC",
     "Set timeout for receiving a message", false},
    {"send-timeout", 0, NULL, CLI_FLOAT, OFF(send_timeout), NULL, 0, 0, M_WRITEABLE, "Socket Options", "SEC",
     "Set timeout for sending a message", false},
    {"socket-name", 0, NULL, CLI_STRING, OFF(socket_name), NULL, 0, 0, 0, "Socket Options", "NAME",
     "Name of the socket for statistics", false},

    {"subscribe", 0, NULL, CLI_LIST_APPEND, OFF(subscriptions), NULL, 0, 0, M_SOCK_SUB, "SUB Socket Options",
     "PREFIX",
     "Subscribe to the prefix PREFIX. Note: socket will be subscribed to everything (empty prefix) if no "
     "prefixes are specified on the command-line.",
     false},

    {"format", 0, NULL, CLI_ENUM, OFF(echo_format), echo_formats, 0, 0, M_READABLE, "Input Options", "FORMAT",
     "Use echo format FORMAT (same as the options below)", false},
    {"raw", 0, NULL, CLI_SET_ENUM, OFF(echo_format), &e_raw, 0, 0, M_READABLE, "Input Options", NULL,
     "Dump message as is (Note: no delimiters are printed)", false},
    {"ascii", 'A', NULL, CLI_SET_ENUM, OFF(echo_format), &e_ascii, 0, 0, M_READABLE, "Input Options", NULL,
     "Print ASCII part of message delimited by newline. All non-ascii characters replaced by dot.", false},
    {"quoted", 'Q', NULL, CLI_SET_ENUM, OFF(echo_format), &e_quoted, 0, 0, M_READABLE, "Input Options", NULL,
     "Print each message on separate line in double quotes with C-like character escaping", false},
    {"msgpack", 0, NULL, CLI_SET_ENUM, OFF(echo_format), &e_msgpack, 0, 0, M_READABLE, "Input Options", NULL,
     "Print each message as msgpacked string (raw type). This is useful for programmatic parsing.", false},
    {"hex", 0, NULL, CLI_SET_ENUM, OFF(echo_format), &e_hex, 0, 0, M_READABLE, "Input Options", NULL,
     "Print each message on separate line in double quotes with hex values", false},

    {"interval", 'i', NULL, CLI_FLOAT, OFF(send_interval), NULL, 0, 0, M_WRITEABLE, "Output Options", "SEC",
     "Send message (or request) every SEC seconds", false},
    {"delay", 'd', NULL, CLI_FLOAT, OFF(send_delay), NULL, 0, 0, 0, "Output Options", "SEC",
     "Wait for SEC seconds before sending message (useful for one-shot PUB sockets)", false},
    {"data", 'D', NULL, CLI_BLOB, OFF(data_to_send), NULL, M_DATA, M_DATA, M_WRITEABLE, "Output Options", "DATA",
     "Send DATA to the socket and quit for PUB, PUSH, PAIR, BUS socket. Use DATA to reply for REP or  "
     "RESPONDENT socket. Send DATA as request for REQ or SURVEYOR socket.",
     false},
    {"file", 'F', NULL, CLI_READ_FILE, OFF(data_to_send), NULL, M_DATA, M_DATA, M_WRITEABLE, "Output Options",
     "PATH", "Same as --data but get data from file PATH", false},

    {"cacert", 0, NULL, CLI_STRING, OFF(tls_ca_file), NULL, 0, 0, 0, "TLS Options (tls+tcp:// and wss://)",
     "FILE", "Trust the CA certificates in FILE (PEM) instead of the system's", true},
    {"cert", 'E', NULL, CLI_STRING, OFF(tls_cert_file), NULL, M_CERT, 0, 0, "TLS Options (tls+tcp:// and wss://)",
     "FILE", "Own certificate (chain), PEM; required to bind", true},
    {"key", 0, NULL, CLI_STRING, OFF(tls_key_file), NULL, 0, 0, M_CERT, "TLS Options (tls+tcp:// and wss://)",
     "FILE", "Private key of --cert, PEM (default: read it from the --cert file)", true},
    {"insecure", 'k', NULL, CLI_INCREMENT, OFF(tls_insecure), NULL, 0, 0, 0,
     "TLS Options (tls+tcp:// and wss://)", NULL, "Do not verify the peer's certificate", true},
    {"tls-server-name", 0, NULL, CLI_STRING, OFF(tls_server_name), NULL, 0, 0, 0,
     "TLS Options (tls+tcp:// and wss://)", "NAME",
     "Name the server's certificate must carry (default: the host of the address)", true},

    {NULL, 0, NULL, 0, 0, NULL, 0, 0, 0, NULL, NULL, NULL, false},
};

static const struct cli commandline = {
    "A command-line interface to nanomsg",
    option_table,
    M_SOCK | M_ENDPOINT,
};

/* ---- time: what nanocat 1.1.5 computes, without its undefined behaviour ---- */

/* (int) f as x86-64 computes it: out of range (and NaN) gives INT_MIN. */
static int to_int(float f)
{
    if (!(f > (float) INT_MIN - 1.0f && f < (float) INT_MAX))
        return INT_MIN;
    return (int) f;
}

/* The seconds of an option as milliseconds: (int)(sec * 1000). */
static int sec_to_ms(float sec)
{
    return to_int(sec * 1000.0f);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t) (ms / 1000), (long) (ms % 1000) * 1000000};
    while (ms > 0 && nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ---- failures of library calls: one line, exit status 3 ---- */

static void fail(const char *what)
{
    fprintf(stderr, "%s: %s\n", what, nn_strerror(nn_errno()));
    exit(3);
}

static bool is_tls(const char *addr)
{
    return strncmp(addr, "tls+tcp://", 10) == 0 || strncmp(addr, "wss://", 6) == 0;
}

/* nn_bind/nn_connect refused addr: say which address and, for the usual
   mistakes, what an address looks like. */
static void fail_endpoint(const struct options *o, bool bind, const char *addr)
{
    int err = nn_errno();
    const char *hint = "";
    const char *sep = strstr(addr, "://");
    switch (err) {
    case EINVAL:
        if (bind && is_tls(addr) && !o->tls_cert_file && !getenv("NN_TLS_CERT_FILE"))
            hint = " (binding a TLS address needs --cert and --key)";
        else if (sep && is_tls(addr))
            hint = " (check the address, and the --cacert, --cert and --key files: NN_PRINT_ERRORS=1 says why)";
        else
            hint = " (addresses look like tcp://HOST:PORT, ipc://PATH, ws://HOST:PORT/PATH, inproc://NAME)";
        break;
    case EPROTONOSUPPORT:
        hint = " (unknown transport; nanocat knows inproc, ipc, tcp, ws, tls+tcp and wss)";
        break;
    case ENODEV:
        hint = " (bind to a numeric address or *, not to a host name)";
        break;
    }
    fprintf(stderr, "Can't %s to ``%s'': %s%s\n", bind ? "bind" : "connect", addr, nn_strerror(err), hint);
    exit(3);
}

static void set_opt(int sock, int level, int option, const void *val, size_t len, const char *what)
{
    if (nn_setsockopt(sock, level, option, val, len) != 0)
        fail(what);
}

static void set_recv_timeout(int sock, int ms)
{
    set_opt(sock, NN_SOL_SOCKET, NN_RCVTIMEO, &ms, sizeof ms, "Can't set recv timeout");
}

static int create_socket(const struct options *o)
{
    int sock = nn_socket(AF_SP, o->socket_type);
    if (sock < 0)
        fail("Can't create socket");
    if (o->send_timeout >= 0) {
        int ms = sec_to_ms(o->send_timeout);
        set_opt(sock, NN_SOL_SOCKET, NN_SNDTIMEO, &ms, sizeof ms, "Can't set send timeout");
    }
    /* nanocat 1.1.5 truncates this one to whole seconds (--recv-timeout 1.5
       waits 1 s, 0.5 does not wait), except between the sends of -i. */
    if (o->recv_timeout >= 0)
        set_recv_timeout(sock, (int) ((unsigned) to_int(o->recv_timeout) * 1000u));
    if (o->socket_name)
        set_opt(sock, NN_SOL_SOCKET, NN_SOCKET_NAME, o->socket_name, strlen(o->socket_name),
                "Can't set socket name");
    if (o->socket_type == NN_SUB) {
        if (o->subscriptions.num == 0)
            set_opt(sock, NN_SUB, NN_SUB_SUBSCRIBE, "", 0, "Can't subscribe");
        for (int i = 0; i < o->subscriptions.num; i++)
            set_opt(sock, NN_SUB, NN_SUB_SUBSCRIBE, o->subscriptions.items[i], strlen(o->subscriptions.items[i]),
                    "Can't subscribe");
    }
    return sock;
}

static void set_tls_file(int sock, int option, const char *path, const char *what)
{
    /* The library reads the file at nn_bind/nn_connect and can only say
       EINVAL then: name a missing file now. */
    if (access(path, R_OK) != 0) {
        fprintf(stderr, "nanocat: Can't read the %s file ``%s'': %s\n", what, path, strerror(errno));
        exit(1);
    }
    char msg[64];
    snprintf(msg, sizeof msg, "Can't set the %s file", what);
    set_opt(sock, NN_TLS, option, path, strlen(path), msg);
}

static void configure_tls(int sock, const struct options *o)
{
    if (o->tls_ca_file)
        set_tls_file(sock, NN_TLS_CA_FILE, o->tls_ca_file, "--cacert");
    if (o->tls_cert_file) {
        set_tls_file(sock, NN_TLS_CERT_FILE, o->tls_cert_file, "--cert");
        set_tls_file(sock, NN_TLS_KEY_FILE, o->tls_key_file ? o->tls_key_file : o->tls_cert_file, "--key");
    }
    if (o->tls_insecure) {
        int none = NN_TLS_VERIFY_NONE;
        set_opt(sock, NN_TLS, NN_TLS_VERIFY, &none, sizeof none, "Can't set --insecure");
    }
    if (o->tls_server_name)
        set_opt(sock, NN_TLS, NN_TLS_SERVER_NAME, o->tls_server_name, strlen(o->tls_server_name),
                "Can't set the TLS server name");
}

static void connect_socket(const struct options *o, int sock)
{
    for (int i = 0; i < o->bind_addresses.num; i++) {
        if (nn_bind(sock, o->bind_addresses.items[i]) < 0)
            fail_endpoint(o, true, o->bind_addresses.items[i]);
    }
    for (int i = 0; i < o->connect_addresses.num; i++) {
        if (nn_connect(sock, o->connect_addresses.items[i]) < 0)
            fail_endpoint(o, false, o->connect_addresses.items[i]);
    }
}

/* ---- output ---- */

static bool printable(unsigned char c)
{
    return c >= 0x20 && c < 0x7f; /* isprint() in the C locale */
}

static void print_message(const struct options *o, const unsigned char *buf, size_t len)
{
    switch (o->echo_format) {
    case ECHO_NONE:
        return;
    case ECHO_RAW:
        fwrite(buf, 1, len, stdout);
        break;
    case ECHO_ASCII:
        for (size_t i = 0; i < len; i++)
            putchar(printable(buf[i]) ? buf[i] : '.');
        putchar('\n');
        break;
    case ECHO_QUOTED:
        putchar('"');
        for (size_t i = 0; i < len; i++) {
            switch (buf[i]) {
            case '\n':
                fputs("\\n", stdout);
                break;
            case '\r':
                fputs("\\r", stdout);
                break;
            case '\\':
            case '"':
                putchar('\\');
                putchar(buf[i]);
                break;
            default:
                if (printable(buf[i]))
                    putchar(buf[i]);
                else
                    printf("\\x%02x", buf[i]);
            }
        }
        fputs("\"\n", stdout);
        break;
    case ECHO_MSGPACK:
        /* bin 8 / bin 16 / bin 32 header, then the bytes */
        if (len < 256) {
            putchar(0xc4);
            putchar((int) len);
        } else if (len < 65536) {
            putchar(0xc5);
            putchar((int) (len >> 8));
            putchar((int) (len & 0xff));
        } else {
            putchar(0xc6);
            putchar((int) ((len >> 24) & 0xff));
            putchar((int) ((len >> 16) & 0xff));
            putchar((int) ((len >> 8) & 0xff));
            putchar((int) (len & 0xff));
        }
        fwrite(buf, 1, len, stdout);
        break;
    case ECHO_HEX:
        putchar('"');
        for (size_t i = 0; i < len; i++)
            printf("\\x%02x", buf[i]);
        fputs("\"\n", stdout);
        break;
    }
    fflush(stdout);
}

/* ---- the loops of nanocat 1.1.5 ---- */

static void send_data(const struct options *o, int sock)
{
    int rc = nn_send(sock, o->data_to_send.data, o->data_to_send.length, 0);
    if (rc < 0 && nn_errno() == EAGAIN)
        fprintf(stderr, "Message not sent (EAGAIN)\n");
    else if (rc < 0)
        fail("Can't send");
}

static void send_loop(const struct options *o, int sock)
{
    int interval = sec_to_ms(o->send_interval);
    for (;;) {
        uint64_t start = now_ms();
        send_data(o, sock);
        if (interval < 0)
            return;
        sleep_ms((int64_t) (start + (uint64_t) interval) - (int64_t) now_ms());
    }
}

/* Receives and prints until a receive times out (or REQ/SURVEYOR has
   nothing more to wait for). */
static void recv_loop(const struct options *o, int sock)
{
    for (;;) {
        void *buf;
        int rc = nn_recv(sock, &buf, NN_MSG, 0);
        if (rc < 0) {
            int err = nn_errno();
            if (err == EAGAIN)
                continue;
            if (err == ETIMEDOUT || err == EFSM)
                return;
            fail("Can't recv");
        }
        print_message(o, buf, (size_t) rc);
        nn_freemsg(buf);
    }
}

/* Sends, then receives until the next send is due (-i), or for ever when
   there is no -i. --recv-timeout bounds each wait between two sends. */
static void rw_loop(const struct options *o, int sock)
{
    int64_t interval = sec_to_ms(o->send_interval);
    int64_t recv_timeout = sec_to_ms(o->recv_timeout);
    for (;;) {
        uint64_t start = now_ms();
        send_data(o, sock);
        if (o->send_interval < 0) {
            recv_loop(o, sock);
            return;
        }
        for (;;) {
            int64_t left = (int64_t) start + interval - (int64_t) now_ms();
            if (left <= 0)
                break;
            if (recv_timeout >= 0 && left > recv_timeout)
                left = recv_timeout;
            set_recv_timeout(sock, (int) left);
            void *buf;
            int rc = nn_recv(sock, &buf, NN_MSG, 0);
            if (rc < 0) {
                int err = nn_errno();
                if (err == EAGAIN)
                    continue;
                if (err == ETIMEDOUT || err == EFSM) {
                    sleep_ms((int64_t) start + interval - (int64_t) now_ms());
                    continue;
                }
                fail("Can't recv");
            }
            print_message(o, buf, (size_t) rc);
            nn_freemsg(buf);
        }
    }
}

/* REP and RESPONDENT with data: answer every request with it. */
static void resp_loop(const struct options *o, int sock)
{
    for (;;) {
        void *buf;
        int rc = nn_recv(sock, &buf, NN_MSG, 0);
        if (rc < 0 && nn_errno() == EAGAIN)
            continue;
        if (rc < 0)
            fail("Can't recv"); /* a --recv-timeout ends here, with status 3 */
        print_message(o, buf, (size_t) rc);
        nn_freemsg(buf);
        send_data(o, sock);
    }
}

int main(int argc, char **argv)
{
    struct options o = {
        .send_timeout = -1.0f,
        .recv_timeout = -1.0f,
        .send_interval = -1.0f,
        .echo_format = ECHO_NONE,
    };
    cli_parse(&commandline, &o, argc, argv);
    /* nanocat 1.1.5 aborts on a negative delay (nn_sleep asserts). */
    int delay = sec_to_ms(o.send_delay);
    if (delay < 0) {
        fprintf(stderr, "%s: Option --delay requires a delay of 0 seconds or more\n", argv[0]);
        return 1;
    }
    int sock = create_socket(&o);
    configure_tls(sock, &o);
    connect_socket(&o, sock);
    sleep_ms(delay);
    switch (o.socket_type) {
    case NN_PUB:
    case NN_PUSH:
        send_loop(&o, sock);
        break;
    case NN_SUB:
    case NN_PULL:
        recv_loop(&o, sock);
        break;
    case NN_BUS:
    case NN_PAIR:
        if (o.data_to_send.data)
            rw_loop(&o, sock);
        else
            recv_loop(&o, sock);
        break;
    case NN_SURVEYOR:
    case NN_REQ:
        rw_loop(&o, sock);
        break;
    case NN_REP:
    case NN_RESPONDENT:
        if (o.data_to_send.data)
            resp_loop(&o, sock);
        else
            recv_loop(&o, sock);
        break;
    }
    nn_close(sock);
    cli_free(&commandline, &o);
    return 0;
}
