/* Storage of the NN_TLS options. */
#include "core/tlsopts.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <nanomsg/tls.h>

void sp_tlsopts_init(struct sp_tlsopts *o)
{
    memset(o, 0, sizeof *o);
    o->verify = -1;
}

void sp_tlsopts_term(struct sp_tlsopts *o)
{
    for (int i = 0; i < SP_TLS_NSTR; i++)
        free(o->str[i]);
    sp_tlsopts_init(o);
}

int sp_tlsopts_copy(struct sp_tlsopts *dst, const struct sp_tlsopts *src)
{
    sp_tlsopts_init(dst);
    dst->verify = src->verify;
    for (int i = 0; i < SP_TLS_NSTR; i++) {
        if (src->str[i] && !(dst->str[i] = strdup(src->str[i]))) {
            sp_tlsopts_term(dst);
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

int sp_tlsopts_set(struct sp_tlsopts *o, int option, const void *val, size_t len)
{
    if (option == NN_TLS_VERIFY) {
        int v;
        if (len != sizeof v)
            return -EINVAL;
        memcpy(&v, val, sizeof v);
        if (v != NN_TLS_VERIFY_NONE && v != NN_TLS_VERIFY_OPTIONAL && v != NN_TLS_VERIFY_REQUIRED)
            return -EINVAL;
        o->verify = v;
        return 0;
    }
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

int sp_tlsopts_get(const struct sp_tlsopts *o, int option, void *val, size_t *len)
{
    if (option == NN_TLS_VERIFY) {
        int v = o->verify;
        memcpy(val, &v, *len < sizeof v ? *len : sizeof v);
        *len = sizeof v;
        return 0;
    }
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
