/* Every transport the library knows: the list, and what the core asks of it
   as a whole. Adding a transport adds its declaration and its line to the
   list (README.md, "Adding a transport"). */
#include <string.h>

#include "protocol.h"
#include "sp_config.h"
#include "transport.h"
#include "utils/err.h"

extern const struct sp_transport sp_inproc_transport;
extern const struct sp_transport sp_ipc_transport;
extern const struct sp_transport sp_tcp_transport;
#if SP_HAVE_MBEDTLS
extern const struct sp_transport sp_ws_transport;
extern const struct sp_transport sp_wss_transport;
extern const struct sp_transport sp_tls_transport;
#endif
#if SP_HAVE_PGM
extern const struct sp_transport sp_pgm_transport;
extern const struct sp_transport sp_epgm_transport;
#endif

static const struct sp_transport *const transports[] = {
    &sp_inproc_transport,
    &sp_ipc_transport,
    &sp_tcp_transport,
#if SP_HAVE_MBEDTLS
    &sp_ws_transport,
    &sp_wss_transport,
    &sp_tls_transport,
#endif
#if SP_HAVE_PGM
    &sp_pgm_transport,
    &sp_epgm_transport,
#endif
};

#define NTRANSPORTS (sizeof transports / sizeof transports[0])

const struct sp_transport *sp_transport_find(const char *scheme, size_t len)
{
    for (size_t i = 0; i < NTRANSPORTS; i++)
        if (strlen(transports[i]->scheme) == len && memcmp(transports[i]->scheme, scheme, len) == 0)
            return transports[i];
    return NULL;
}

bool sp_transport_carries(const struct sp_transport *tp, const struct sp_socktype *type)
{
    if (!tp->protocols)
        return true;
    for (const int *p = tp->protocols; *p; p++)
        if (*p == type->protocol)
            return true;
    return false;
}

const struct sp_optset *sp_optset_find(int level)
{
    /* The set of a level is its owner's: the transport whose id it is
       (several transports may share one, as ws and wss share NN_WS). */
    for (size_t i = 0; i < NTRANSPORTS; i++) {
        const struct sp_transport *tp = transports[i];
        if (tp->id == level && tp->optsets && tp->optsets[0] && tp->optsets[0]->level == level)
            return tp->optsets[0];
    }
    return NULL;
}

int sp_transports_init(void)
{
    for (size_t i = 0; i < NTRANSPORTS; i++) {
        int rc = transports[i]->init ? transports[i]->init() : 0;
        if (rc != 0) {
            while (i-- > 0)
                if (transports[i]->term)
                    transports[i]->term();
            return rc;
        }
    }
    return 0;
}

void sp_transports_term(void)
{
    for (size_t i = NTRANSPORTS; i-- > 0;)
        if (transports[i]->term)
            transports[i]->term();
}
