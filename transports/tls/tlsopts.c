/* The NN_TLS option set. */
#include "tls/tlsopts.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <nanomsg/tls.h>

static void tls_opts_init(void *opts)
{
    struct sp_tlsopts *o = opts;
    memset(o, 0, sizeof *o);
    o->verify = -1;
}

static void tls_opts_term(void *opts)
{
    struct sp_tlsopts *o = opts;
    for (int i = 0; i < SP_TLS_NSTR; i++)
        free(o->str[i]);
    tls_opts_init(o);
}

static int tls_opts_copy(void *to, const void *from)
{
    struct sp_tlsopts *dst = to;
    const struct sp_tlsopts *src = from;
    tls_opts_init(dst);
    dst->verify = src->verify;
    for (int i = 0; i < SP_TLS_NSTR; i++) {
        if (src->str[i] && !(dst->str[i] = strdup(src->str[i]))) {
            tls_opts_term(dst);
            return -ENOMEM;
        }
    }
    return 0;
}

static int str_slot(int option)
{
    switch (option) {
    case NN_TLS_CA_FILE: return SP_TLS_CA_FILE;
    case NN_TLS_CA_PEM: return SP_TLS_CA_PEM;
    case NN_TLS_CERT_FILE: return SP_TLS_CERT_FILE;
    case NN_TLS_CERT_PEM: return SP_TLS_CERT_PEM;
    case NN_TLS_KEY_FILE: return SP_TLS_KEY_FILE;
    case NN_TLS_KEY_PEM: return SP_TLS_KEY_PEM;
    case NN_TLS_KEY_PASSWORD: return SP_TLS_KEY_PASSWORD;
    case NN_TLS_SERVER_NAME: return SP_TLS_SERVER_NAME;
    default: return -1;
    }
}

static int tls_opts_set(void *opts, int option, const void *val, size_t len)
{
    struct sp_tlsopts *o = opts;
    if (option == NN_TLS_VERIFY)
        return sp_opt_int(val, len, NN_TLS_VERIFY_NONE, NN_TLS_VERIFY_REQUIRED, &o->verify);
    int slot = str_slot(option);
    if (slot < 0)
        return -ENOPROTOOPT;
    /* A value with a NUL inside is cut there (PEM text and paths have none). */
    const char *nul = len ? memchr(val, 0, len) : NULL;
    if (nul)
        len = (size_t) (nul - (const char *) val);
    char *copy = NULL;
    if (len) {
        if (len > 16 * 1024 * 1024)
            return -EINVAL;
        copy = malloc(len + 1);
        if (!copy)
            return -ENOMEM;
        memcpy(copy, val, len);
        copy[len] = 0;
    }
    free(o->str[slot]);
    o->str[slot] = copy;
    return 0;
}

static int tls_opts_get(const void *opts, int option, void *val, size_t *len)
{
    const struct sp_tlsopts *o = opts;
    if (option == NN_TLS_VERIFY)
        return sp_opt_put_int(val, len, o->verify);
    int slot = str_slot(option);
    if (slot < 0)
        return -ENOPROTOOPT;
    if (slot == SP_TLS_KEY_PASSWORD || slot == SP_TLS_KEY_PEM)
        return -ENOPROTOOPT; /* secrets are write-only */
    const char *s = o->str[slot] ? o->str[slot] : "";
    size_t n = strlen(s);
    memcpy(val, s, *len < n ? *len : n);
    *len = n;
    return 0;
}

const struct sp_optset sp_tls_optset = {
    .level = NN_TLS,
    .size = sizeof(struct sp_tlsopts),
    .init = tls_opts_init,
    .term = tls_opts_term,
    .copy = tls_opts_copy,
    .set = tls_opts_set,
    .get = tls_opts_get,
};
