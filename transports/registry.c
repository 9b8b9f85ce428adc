/* Every transport the library knows. Adding a transport is a line here. */
#include <string.h>

#include "sp_config.h"
#include "transport.h"

extern const struct sp_transport sp_inproc_transport;
extern const struct sp_transport sp_ipc_transport;
extern const struct sp_transport sp_tcp_transport;
#if SP_HAVE_MBEDTLS
extern const struct sp_transport sp_ws_transport;
extern const struct sp_transport sp_wss_transport;
extern const struct sp_transport sp_tls_transport;
#endif
void sp_tcpdial_term(void);

static const struct sp_transport *const transports[] = {
    &sp_inproc_transport,
    &sp_ipc_transport,
    &sp_tcp_transport,
#if SP_HAVE_MBEDTLS
    &sp_ws_transport,
    &sp_wss_transport,
    &sp_tls_transport,
#endif
};

const struct sp_transport *sp_transport_find(const char *scheme, size_t len)
{
    for (size_t i = 0; i < sizeof transports / sizeof transports[0]; i++)
        if (strlen(transports[i]->scheme) == len && memcmp(transports[i]->scheme, scheme, len) == 0)
            return transports[i];
    return NULL;
}

void sp_transports_term(void)
{
    sp_tcpdial_term();
}
