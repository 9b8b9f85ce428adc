/* The throw-away certificates of the tls suite: mkcerts.sh makes a CA, server
   and client certificates (and an expired one, a rogue self-signed one...) at
   test time, in the test's temporary directory; no private key is committed.
   Only the tls suite uses them. */
#ifndef CERTS_H
#define CERTS_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

static char tls_certdir[512];

/* Makes the test certificates (see mkcerts.sh) once; returns their folder. */
static inline const char *tls_certs(void)
{
    if (!tls_certdir[0]) {
        const char *src = getenv("NANOSP_SOURCE_DIR");
        char cmd[2048];
        snprintf(tls_certdir, sizeof tls_certdir, "%s/certs", tu_tmpdir());
        snprintf(cmd, sizeof cmd, "mkdir -p '%s' && '%s/tests/tls/mkcerts.sh' '%s'", tls_certdir,
                 src ? src : ".", tls_certdir);
        if (system(cmd) != 0) {
            fprintf(stderr, "could not make the test certificates: %s\n", cmd);
            exit(1);
        }
    }
    return tls_certdir;
}

/* The path of a certificate file (name as in mkcerts.sh), in a static buffer
   of four that rotate, so that a few can be used in one call. */
static inline const char *tls_cert(const char *name)
{
    static char bufs[4][600];
    static int next;
    char *b = bufs[next++ & 3];
    snprintf(b, sizeof bufs[0], "%s/%s", tls_certs(), name);
    return b;
}

/* Is openssl there to make certificates? */
static inline bool tls_have_openssl(void)
{
    return system("command -v openssl >/dev/null 2>&1") == 0;
}

#endif
