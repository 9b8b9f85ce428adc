/* The command-line parser of nanocat: a table of options, each with the
   masks that say what it provides, what it conflicts with and what it
   needs. It reproduces the parser of nanomsg 1.1.5's nanocat (its help text
   byte for byte, long-option abbreviations, `--opt=value`, clustered short
   options, option names taken from argv[0] for nn_push and friends, exit
   status 1 for usage errors and 2 for an unreadable --file), except that
   every error is one line on stderr. */
#ifndef NANOCAT_OPTIONS_H
#define NANOCAT_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

enum cli_type {
    CLI_HELP,        /* print the help to stdout, exit 0 */
    CLI_INCREMENT,   /* int += 1 */
    CLI_DECREMENT,   /* int -= 1 */
    CLI_SET_ENUM,    /* int = *(const int *) pointer */
    CLI_ENUM,        /* int = the value of the named item of pointer's table */
    CLI_STRING,      /* const char * = the argument */
    CLI_BLOB,        /* struct cli_blob = the argument's bytes */
    CLI_FLOAT,       /* float = strtof(argument), whole argument */
    CLI_LIST_APPEND, /* struct cli_list += the argument */
    CLI_LIST_APPEND_FMT, /* struct cli_list += printf(pointer, argument) */
    CLI_READ_FILE,   /* struct cli_blob = the contents of the file (or stdin for "-") */
};

struct cli_enum {
    const char *name;
    int value;
};

struct cli_list {
    char **items;
    int num;
};

struct cli_blob {
    char *data; /* NULL until given */
    size_t length;
    bool owned; /* allocated by the parser */
};

struct cli_option {
    const char *longname;  /* NULL ends the table */
    char shortname;        /* 0: none */
    const char *arg0name;  /* the option is implied when argv[0]'s base name is this */
    enum cli_type type;
    size_t offset;         /* of the value in the target struct */
    const void *pointer;   /* CLI_SET_ENUM: the value; CLI_ENUM: the table; _FMT: the format */
    unsigned long mask_set;       /* what giving the option provides */
    unsigned long conflicts_mask; /* an option given earlier that provides these is an error */
    unsigned long requires_mask;  /* some option given must provide one of these */
    const char *group;
    const char *metavar;
    const char *description;
    /* Options nanomsg's nanocat does not have: not in the usage line, and a
       long-option abbreviation considers them only when it matches none of
       nanocat's own, so every abbreviation that worked there still means the
       same option. */
    bool extension;
};

struct cli {
    const char *short_description;
    const struct cli_option *options;
    unsigned long required_options; /* each bit: one option providing it is required */
};

/* Parses argv into target (which holds the defaults). Exits on --help (0),
   on a usage error (1) and on a --file that cannot be read (2), with one
   line on stderr. */
void cli_parse(const struct cli *cli, void *target, int argc, char **argv);

/* Frees what cli_parse allocated in target. */
void cli_free(const struct cli *cli, void *target);

#endif
