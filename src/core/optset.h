/* Transport options as the core keeps them without knowing what they mean.
   A transport describes the options of one level (NN_TCP, NN_WS, NN_TLS...)
   as an option set: a block of its own layout with functions that give its
   defaults, validate and store a value, read one back, copy and free it.
   The socket keeps one block per level it was given options for, created
   on the first nn_setsockopt at that level (a socket that never sets one
   keeps none), and each endpoint takes a copy of the blocks its transport
   uses at nn_bind/nn_connect (see ep.h). Values may be ints, strings or
   blobs: set and get see the caller's bytes. A level whose options are all
   ints describes them with a table instead (sp_intopt): the core then does
   the rest. */
#ifndef SP_OPTSET_H
#define SP_OPTSET_H

#include <stddef.h>

/* One int option of a table-described set: its default, and the range
   nn_setsockopt accepts (EINVAL outside it). A size other than sizeof(int)
   is EINVAL for any option of the set, an unknown one included, as
   libnanomsg checks it first. */
struct sp_intopt {
    int option;
    int def;
    int min;
    int max;
};

struct sp_optset {
    int level;   /* the option level, the id of the transport that owns it */
    size_t size; /* bytes of one block */
    /* Fills an uninitialised block with the defaults. */
    void (*init)(void *opts);
    /* Frees what the block owns (strings); NULL when it owns nothing. */
    void (*term)(void *opts);
    /* Deep copy into an uninitialised block: 0 or -ENOMEM (dst then owns
       nothing). NULL: the block is plain data, copied byte for byte. */
    int (*copy)(void *dst, const void *src);
    /* nn_setsockopt at this level: 0, -ENOPROTOOPT (no such option),
       -EINVAL (a bad size or value: the block is unchanged) or -ENOMEM. */
    int (*set)(void *opts, int option, const void *val, size_t len);
    /* nn_getsockopt: copies at most *len bytes of the value to val and sets
       *len to its full size. 0, or -ENOPROTOOPT (no such option, or one that
       cannot be read back). */
    int (*get)(const void *opts, int option, void *val, size_t *len);
    /* Instead of the functions above (all NULL): int options only, whose
       block is an int array in the table's order (SP_INTOPTSET). */
    const struct sp_intopt *ints;
    size_t nints;
};

/* The option set of level lvl made of the int options in table (an array
   of struct sp_intopt): the block holds table[i]'s value at index i. */
#define SP_INTOPTSET(lvl, table)                                                        \
    {                                                                                   \
        .level = (lvl), .size = sizeof(int) * (sizeof(table) / sizeof((table)[0])),    \
        .ints = (table), .nints = sizeof(table) / sizeof((table)[0])                    \
    }

/* One socket's blocks. Empty until an option is set; owned by the socket
   and guarded by its lock. */
struct sp_optstore {
    struct sp_optslot *slots;
    int n;
};

void sp_optstore_init(struct sp_optstore *st);
void sp_optstore_term(struct sp_optstore *st);

/* nn_setsockopt at set's level: creates the block with its defaults if the
   socket has none yet. The set's errno values, or -ENOMEM. */
int sp_optstore_set(struct sp_optstore *st, const struct sp_optset *set, int option, const void *val, size_t len);

/* nn_getsockopt at set's level: the defaults when nothing was set. The
   set's errno values, or -ENOMEM. */
int sp_optstore_get(const struct sp_optstore *st, const struct sp_optset *set, int option, void *val, size_t *len);

/* Copies the socket's block of set's level (the defaults when nothing was
   set) into dst, set->size uninitialised bytes that the caller then owns
   (set->term frees what it holds). 0 or -ENOMEM. */
int sp_optstore_copy(const struct sp_optstore *st, const struct sp_optset *set, void *dst);

/* For set and get: an int option's value, the caller's len bytes, which
   must be sizeof(int), within [min, max]: 0 with *out set, or -EINVAL
   (*out unchanged). */
int sp_opt_int(const void *val, size_t len, int min, int max, int *out);

/* Gives an int back as libnanomsg does: min(*len, sizeof(int)) bytes of it,
   and *len = sizeof(int). Returns 0. */
int sp_opt_put_int(void *val, size_t *len, int v);

/* An allocated copy as sp_optstore_copy makes it, or NULL (ENOMEM); freed
   with sp_optset_free. */
void *sp_optset_dup(const struct sp_optstore *st, const struct sp_optset *set);
void sp_optset_free(const struct sp_optset *set, void *opts);

#endif
