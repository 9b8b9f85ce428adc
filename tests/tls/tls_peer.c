/* tls_peer: "our side" of the TLS and WebSocket interop tests. It is the
   interop driver (tests/interop/sp_peer.c, compiled unchanged) linked with
   -Wl,--wrap=nn_bind,--wrap=nn_connect: before each endpoint is added, the
   wrappers below set the NN_TLS options (and NN_IPV4ONLY, NN_WS_MSG_TYPE)
   named by environment variables. So the driver's options, output and exit
   codes stay those of sp_peer (see its --help), and only public API is used.

     TLS_PEER_CA_FILE      NN_TLS_CA_FILE
     TLS_PEER_CERT_FILE    NN_TLS_CERT_FILE
     TLS_PEER_KEY_FILE     NN_TLS_KEY_FILE
     TLS_PEER_VERIFY       none | optional | required  (NN_TLS_VERIFY)
     TLS_PEER_SERVER_NAME  NN_TLS_SERVER_NAME
     TLS_PEER_IPV4ONLY     0 | 1  (NN_IPV4ONLY)
     TLS_PEER_WS_TEXT      1: NN_WS_MSG_TYPE = NN_WS_MSG_TYPE_TEXT

   A failing option exits with status 1 and a message, as sp_peer does. */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nanomsg/nn.h>
#include <nanomsg/tls.h>
#include <nanomsg/ws.h>

int __real_nn_bind(int s, const char *addr);
int __real_nn_connect(int s, const char *addr);
int __wrap_nn_bind(int s, const char *addr);
int __wrap_nn_connect(int s, const char *addr);

static void set_opt(int s, int level, int option, const void *val, size_t len, const char *what)
{
    if (nn_setsockopt(s, level, option, val, len) != 0) {
        fprintf(stderr, "tls_peer: setting %s: %s\n", what, nn_strerror(nn_errno()));
        exit(1);
    }
}

static void set_str(int s, int option, const char *var)
{
    const char *v = getenv(var);
    if (v && *v)
        set_opt(s, NN_TLS, option, v, strlen(v), var);
}

static void configure(int s)
{
    set_str(s, NN_TLS_CA_FILE, "TLS_PEER_CA_FILE");
    set_str(s, NN_TLS_CERT_FILE, "TLS_PEER_CERT_FILE");
    set_str(s, NN_TLS_KEY_FILE, "TLS_PEER_KEY_FILE");
    set_str(s, NN_TLS_SERVER_NAME, "TLS_PEER_SERVER_NAME");
    const char *v = getenv("TLS_PEER_VERIFY");
    if (v && *v) {
        int mode = strcmp(v, "none") == 0       ? NN_TLS_VERIFY_NONE
                   : strcmp(v, "optional") == 0 ? NN_TLS_VERIFY_OPTIONAL
                   : strcmp(v, "required") == 0 ? NN_TLS_VERIFY_REQUIRED
                                                : -1;
        if (mode < 0) {
            fprintf(stderr, "tls_peer: TLS_PEER_VERIFY must be none, optional or required\n");
            exit(2);
        }
        set_opt(s, NN_TLS, NN_TLS_VERIFY, &mode, sizeof mode, "TLS_PEER_VERIFY");
    }
    v = getenv("TLS_PEER_IPV4ONLY");
    if (v && *v) {
        int on = atoi(v);
        set_opt(s, NN_SOL_SOCKET, NN_IPV4ONLY, &on, sizeof on, "TLS_PEER_IPV4ONLY");
    }
    v = getenv("TLS_PEER_WS_TEXT");
    if (v && strcmp(v, "1") == 0) {
        int type = NN_WS_MSG_TYPE_TEXT;
        set_opt(s, NN_WS, NN_WS_MSG_TYPE, &type, sizeof type, "TLS_PEER_WS_TEXT");
    }
}

int __wrap_nn_bind(int s, const char *addr)
{
    configure(s);
    return __real_nn_bind(s, addr);
}

int __wrap_nn_connect(int s, const char *addr)
{
    configure(s);
    return __real_nn_connect(s, addr);
}
