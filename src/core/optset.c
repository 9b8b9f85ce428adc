/* The per-socket store of transport option blocks: a short array, one slot
   per level the socket was given options for (a handful at most). */
#include "core/optset.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct sp_optslot {
    const struct sp_optset *set;
    void *opts;
};

void sp_optstore_init(struct sp_optstore *st)
{
    st->slots = NULL;
    st->n = 0;
}

void sp_optstore_term(struct sp_optstore *st)
{
    for (int i = 0; i < st->n; i++)
        sp_optset_free(st->slots[i].set, st->slots[i].opts);
    free(st->slots);
    sp_optstore_init(st);
}

static void *find(const struct sp_optstore *st, const struct sp_optset *set)
{
    for (int i = 0; i < st->n; i++)
        if (st->slots[i].set == set)
            return st->slots[i].opts;
    return NULL;
}

/* The table-described sets' functions. */
static void opts_init(const struct sp_optset *set, void *opts)
{
    if (!set->ints) {
        set->init(opts);
        return;
    }
    for (size_t i = 0; i < set->nints; i++)
        ((int *) opts)[i] = set->ints[i].def;
}

static int opts_set(const struct sp_optset *set, void *opts, int option, const void *val, size_t len)
{
    if (!set->ints)
        return set->set(opts, option, val, len);
    /* libnanomsg checks the size before it looks the option up. */
    if (len != sizeof(int))
        return -EINVAL;
    for (size_t i = 0; i < set->nints; i++) {
        const struct sp_intopt *o = &set->ints[i];
        if (o->option == option)
            return sp_opt_int(val, len, o->min, o->max, &((int *) opts)[i]);
    }
    return -ENOPROTOOPT;
}

static int opts_get(const struct sp_optset *set, const void *opts, int option, void *val, size_t *len)
{
    if (!set->ints)
        return set->get(opts, option, val, len);
    for (size_t i = 0; i < set->nints; i++)
        if (set->ints[i].option == option)
            return sp_opt_put_int(val, len, ((const int *) opts)[i]);
    return -ENOPROTOOPT;
}

static int copy_into(const struct sp_optset *set, void *dst, const void *src)
{
    if (!set->copy) {
        memcpy(dst, src, set->size);
        return 0;
    }
    return set->copy(dst, src);
}

void sp_optset_free(const struct sp_optset *set, void *opts)
{
    if (!opts)
        return;
    if (set->term)
        set->term(opts);
    free(opts);
}

int sp_optstore_set(struct sp_optstore *st, const struct sp_optset *set, int option, const void *val, size_t len)
{
    void *opts = find(st, set);
    if (opts)
        return opts_set(set, opts, option, val, len);
    /* The first option at this level: a block with the defaults, kept only
       if the value was taken (a refused one leaves the socket as it was). */
    struct sp_optslot *slots = realloc(st->slots, (size_t) (st->n + 1) * sizeof *slots);
    if (!slots)
        return -ENOMEM;
    st->slots = slots;
    if (!(opts = malloc(set->size)))
        return -ENOMEM;
    opts_init(set, opts);
    int rc = opts_set(set, opts, option, val, len);
    if (rc != 0) {
        sp_optset_free(set, opts);
        return rc;
    }
    st->slots[st->n].set = set;
    st->slots[st->n].opts = opts;
    st->n++;
    return 0;
}

int sp_optstore_get(const struct sp_optstore *st, const struct sp_optset *set, int option, void *val, size_t *len)
{
    const void *opts = find(st, set);
    if (opts)
        return opts_get(set, opts, option, val, len);
    /* Nothing set: read the defaults without keeping them. */
    void *defaults = malloc(set->size);
    if (!defaults)
        return -ENOMEM;
    opts_init(set, defaults);
    int rc = opts_get(set, defaults, option, val, len);
    sp_optset_free(set, defaults);
    return rc;
}

int sp_optstore_copy(const struct sp_optstore *st, const struct sp_optset *set, void *dst)
{
    const void *opts = find(st, set);
    if (opts)
        return copy_into(set, dst, opts);
    opts_init(set, dst);
    return 0;
}

int sp_opt_int(const void *val, size_t len, int min, int max, int *out)
{
    int v;
    if (len != sizeof v)
        return -EINVAL;
    memcpy(&v, val, sizeof v);
    if (v < min || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

int sp_opt_put_int(void *val, size_t *len, int v)
{
    memcpy(val, &v, *len < sizeof v ? *len : sizeof v);
    *len = sizeof v;
    return 0;
}

void *sp_optset_dup(const struct sp_optstore *st, const struct sp_optset *set)
{
    void *opts = malloc(set->size);
    if (opts && sp_optstore_copy(st, set, opts) != 0) {
        free(opts);
        opts = NULL;
    }
    return opts;
}
