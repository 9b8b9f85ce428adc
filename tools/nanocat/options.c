/* nanocat's command-line parser: nanomsg 1.1.5's rules and help layout,
   with one-line errors. Every error exits here, so callers see only
   complete, consistent option values. */
#define _POSIX_C_SOURCE 200809L

#include "options.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ctx {
    const struct cli *def;
    const struct cli_option *options;
    void *target;
    char **argv;
    unsigned long requires;
    unsigned long mask;     /* what the options given so far provide */
    int args_left;
    char **arg;
    char *data;             /* the argument being parsed (moves along a short-option cluster) */
    const char **usage;     /* per option: how it was last given, NULL if not */
};

static void oom(void)
{
    fputs("nanocat: out of memory while parsing the command line\n", stderr);
    exit(1);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom();
    return p;
}

static bool has_arg(const struct cli_option *o)
{
    switch (o->type) {
    case CLI_HELP:
    case CLI_INCREMENT:
    case CLI_DECREMENT:
    case CLI_SET_ENUM:
        return false;
    default:
        return true;
    }
}

static void *field(struct ctx *c, const struct cli_option *o)
{
    return (char *) c->target + o->offset;
}

/* ---- help (byte for byte what nanocat 1.1.5 prints) ---- */

static void print_usage(struct ctx *c, FILE *out)
{
    const struct cli_option *o;
    bool first = true;
    fprintf(out, "    %s ", c->argv[0]);
    for (o = c->options; o->longname; o++) {
        if (o->extension || !(o->mask_set & c->requires))
            continue;
        fprintf(out, first ? "{--%s" : "|--%s", o->longname);
        first = false;
    }
    if (!first)
        fputs("} ", out);
    first = true;
    for (o = c->options; o->longname; o++) {
        if (o->extension || (o->mask_set & c->requires) || !o->shortname || has_arg(o))
            continue;
        fprintf(out, first ? "[-%c" : "%c", o->shortname);
        first = false;
    }
    if (!first)
        fputs("] ", out);
    for (o = c->options; o->longname; o++) {
        if (o->extension || (o->mask_set & c->requires) || !o->shortname || !has_arg(o) || !o->metavar)
            continue;
        fprintf(out, "[-%c %s] ", o->shortname, o->metavar);
    }
    fputs("[options] \n", out);
}

/* Prints str up to the last blank at or before width (or all of it if it
   is shorter, or has no blank there) and returns the rest. */
static const char *print_line(FILE *out, const char *str, size_t width)
{
    if (strlen(str) < width) {
        fputs(str, out);
        return "";
    }
    for (size_t i = width; i > 1; i--) {
        if (str[i] == ' ' || (str[i] >= '\t' && str[i] <= '\r')) {
            fprintf(out, "%.*s", (int) i, str);
            return str + i + 1;
        }
    }
    fputs(str, out);
    return "";
}

static void print_help(struct ctx *c, FILE *out)
{
    const char *group = NULL;
    fputs("Usage:\n", out);
    print_usage(c, out);
    fprintf(out, "\n%s\n", c->def->short_description);
    for (const struct cli_option *o = c->options; o->longname; o++) {
        if (!group || strcmp(group, o->group) != 0) {
            fprintf(out, "\n%s:\n", o->group);
            group = o->group;
        }
        size_t len = 3 + strlen(o->longname);
        fprintf(out, " --%s", o->longname);
        if (o->shortname) {
            fprintf(out, ",-%c", o->shortname);
            len += 3;
        }
        if (has_arg(o)) {
            const char *mv = o->metavar ? o->metavar : "ARG";
            fprintf(out, " %s", mv);
            len += strlen(mv) + 1;
        }
        const char *rest = o->description;
        if (len < 23) {
            fprintf(out, "%*s", (int) (24 - len), "");
            rest = print_line(out, rest, 80 - 24);
        }
        while (*rest) {
            fputs("\n                        ", out);
            rest = print_line(out, rest, 80 - 24);
        }
        fputs("\n", out);
    }
}

/* ---- errors: one line each ---- */

/* How option i was given: "--connect", "--conn[ect]" for an abbreviation,
   "--format=hex", "-l (--connect-local)", or "nn_push (executable)". */
static void option_name(struct ctx *c, int i, char *buf, size_t size)
{
    const struct cli_option *o = &c->options[i];
    const char *u = c->usage[i];
    if (u == c->argv[0]) {
        snprintf(buf, size, "%s (executable)", u);
    } else if (*u == '-') {
        size_t len = strcspn(u, "=");
        if (len != strlen(o->longname) + 2)
            snprintf(buf, size, "%.*s[%s]", (int) len, u, o->longname + (len - 2));
        else
            snprintf(buf, size, "%s", u);
    } else {
        snprintf(buf, size, "-%c (--%s)", *u, o->longname);
    }
}

/* "--data (-D), --file (-F)": the options that provide any bit of mask. */
static void options_providing(struct ctx *c, unsigned long mask, bool extensions, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = 0;
    for (const struct cli_option *o = c->options; o->longname && n < size; o++) {
        if (!(o->mask_set & mask) || (o->extension && !extensions))
            continue;
        int k = o->shortname ? snprintf(buf + n, size - n, "%s--%s (-%c)", n ? ", " : "", o->longname, o->shortname)
                             : snprintf(buf + n, size - n, "%s--%s", n ? ", " : "", o->longname);
        if (k < 0)
            break;
        n += (size_t) k;
    }
}

static void die(struct ctx *c, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", c->argv[0]);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static void option_error(struct ctx *c, int i, const char *message)
{
    char name[256];
    option_name(c, i, name, sizeof name);
    die(c, "Option %s %s", name, message);
}

static void invalid_enum_value(struct ctx *c, int i, const char *arg)
{
    char name[256], list[512] = "";
    size_t n = 0;
    for (const struct cli_enum *e = c->options[i].pointer; e->name && n < sizeof list; e++) {
        int k = snprintf(list + n, sizeof list - n, "%s%s", n ? ", " : "", e->name);
        if (k < 0)
            break;
        n += (size_t) k;
    }
    option_name(c, i, name, sizeof name);
    die(c, "Invalid value ``%s'' for %s. Options are: %s", arg, name, list);
}

static void option_conflict(struct ctx *c, int i)
{
    char name[256], others[1024] = "";
    size_t n = 0;
    option_name(c, i, name, sizeof name);
    for (int j = 0; c->options[j].longname && n < sizeof others; j++) {
        if (j == i || !c->usage[j] || !(c->options[j].mask_set & c->options[i].conflicts_mask))
            continue;
        char other[256];
        option_name(c, j, other, sizeof other);
        int k = snprintf(others + n, sizeof others - n, "%s%s", n ? ", " : "", other);
        if (k < 0)
            break;
        n += (size_t) k;
    }
    if (!n)
        die(c, "Option %s conflicts with the following options: %s (given twice)", name, name);
    die(c, "Option %s conflicts with the following options: %s", name, others);
}

/* ---- processing one option ---- */

static void list_append(struct cli_list *l, char *s)
{
    char **items = realloc(l->items, sizeof *items * (size_t) (l->num + 1));
    if (!items)
        oom();
    items[l->num++] = s;
    l->items = items;
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d)
        oom();
    return d;
}

static void read_file(struct ctx *c, const struct cli_option *o, const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f) {
        fprintf(stderr, "Error opening file ``%s'': %s\n", path, strerror(errno));
        exit(2);
    }
    size_t cap = 4096, len = 0;
    char *data = xmalloc(cap);
    for (;;) {
        len += fread(data + len, 1, cap - len, f);
        if (feof(f) || ferror(f))
            break;
        if (cap - len < 1024) {
            cap = cap < (1u << 20) ? cap * 2 : cap + (1u << 20);
            char *bigger = realloc(data, cap);
            if (!bigger)
                oom();
            data = bigger;
        }
    }
    if (ferror(f)) {
        /* nanocat 1.1.5 loops for ever on a directory; say why instead. */
        fprintf(stderr, "Error reading file ``%s'': %s\n", path, strerror(errno));
        exit(2);
    }
    if (f != stdin)
        fclose(f);
    struct cli_blob *b = field(c, o);
    if (b->owned)
        free(b->data);
    /* An empty file is an empty message (nanocat 1.1.5 failed an assertion). */
    *b = (struct cli_blob){data, len, true};
}

static void process(struct ctx *c, int i, char *arg)
{
    const struct cli_option *o = &c->options[i];
    if (c->mask & o->conflicts_mask)
        option_conflict(c, i);
    c->mask |= o->mask_set;
    char *end;
    switch (o->type) {
    case CLI_HELP:
        print_help(c, stdout);
        exit(0);
    case CLI_INCREMENT:
        *(int *) field(c, o) += 1;
        return;
    case CLI_DECREMENT:
        *(int *) field(c, o) -= 1;
        return;
    case CLI_SET_ENUM:
        *(int *) field(c, o) = *(const int *) o->pointer;
        return;
    case CLI_ENUM:
        for (const struct cli_enum *e = o->pointer; e->name; e++) {
            if (strcmp(e->name, arg) == 0) {
                *(int *) field(c, o) = e->value;
                return;
            }
        }
        invalid_enum_value(c, i, arg);
        return;
    case CLI_STRING:
        *(const char **) field(c, o) = arg;
        return;
    case CLI_BLOB: {
        struct cli_blob *b = field(c, o);
        if (b->owned)
            free(b->data);
        *b = (struct cli_blob){arg, strlen(arg), false};
        return;
    }
    case CLI_FLOAT: {
        float v = strtof(arg, &end);
        if (end == arg || *end)
            option_error(c, i, "requires float point argument");
        *(float *) field(c, o) = v;
        return;
    }
    case CLI_LIST_APPEND:
        list_append(field(c, o), xstrdup(arg));
        return;
    case CLI_LIST_APPEND_FMT: {
        /* The formats are "ipc://%s" and "tcp://127.0.0.1:%s": a prefix and
           the argument (the argument itself is never a format). */
        const char *fmt = o->pointer;
        size_t pre = strcspn(fmt, "%"), len = strlen(arg);
        char *s = xmalloc(pre + len + 1);
        memcpy(s, fmt, pre);
        memcpy(s + pre, arg, len + 1);
        list_append(field(c, o), s);
        return;
    }
    case CLI_READ_FILE:
        read_file(c, o, arg);
        return;
    }
}

/* ---- the command line ---- */

static bool next_arg(struct ctx *c)
{
    if (!c->args_left)
        return false;
    c->args_left--;
    c->arg++;
    c->data = *c->arg;
    return true;
}

/* The option named by the long option in c->data ("--name" or
   "--name=value"): an exact name, or else the only name it abbreviates.
   Abbreviations are matched against nanocat's own options first. Returns
   the index, or -1 (unknown) or -2 (ambiguous, *first is set). */
static int find_long(struct ctx *c, size_t len, bool extension, int *first)
{
    const char *name = c->data + 2;
    int found = -1, count = 0;
    for (int i = 0; c->options[i].longname; i++) {
        const struct cli_option *o = &c->options[i];
        if (o->extension != extension || strncmp(o->longname, name, len) != 0)
            continue;
        if (o->longname[len] == 0)
            return i;
        if (count++ == 0)
            *first = i;
        found = i;
    }
    return count > 1 ? -2 : found;
}

static void parse_long(struct ctx *c)
{
    const char *name = c->data + 2;
    size_t len = strcspn(name, "=");
    int first = -1, i = -1;
    /* An exact name first (of either kind), then abbreviations of nanocat's
       own options, then of ours. */
    for (int j = 0; c->options[j].longname && i < 0; j++) {
        if (strlen(c->options[j].longname) == len && strncmp(c->options[j].longname, name, len) == 0)
            i = j;
    }
    if (i < 0 && len > 0) {
        i = find_long(c, len, false, &first);
        if (i == -1)
            i = find_long(c, len, true, &first);
    }
    if (i == -2) {
        char list[1024] = "";
        size_t n = 0;
        bool ext = c->options[first].extension;
        for (const struct cli_option *o = c->options; o->longname && n < sizeof list; o++) {
            if (o->extension != ext || strncmp(o->longname, name, len) != 0)
                continue;
            int k = snprintf(list + n, sizeof list - n, "%s--%s", n ? ", " : "", o->longname);
            if (k < 0)
                break;
            n += (size_t) k;
        }
        die(c, "Ambiguous option ``%s'': %s", c->data, list);
    }
    if (i < 0)
        die(c, "Unknown option ``%s''", c->data);
    const struct cli_option *o = &c->options[i];
    c->usage[i] = c->data;
    if (name[len] == '=') {
        if (!has_arg(o))
            option_error(c, i, "does not accept argument");
        process(c, i, (char *) name + len + 1);
    } else if (!has_arg(o)) {
        process(c, i, NULL);
    } else if (next_arg(c)) {
        process(c, i, c->data);
    } else {
        option_error(c, i, "requires an argument");
    }
}

/* One short option at c->data; advances c->data past what it used. */
static void parse_short(struct ctx *c)
{
    for (int i = 0; c->options[i].longname; i++) {
        const struct cli_option *o = &c->options[i];
        if (!o->shortname || o->shortname != *c->data)
            continue;
        c->usage[i] = c->data;
        if (!has_arg(o)) {
            process(c, i, NULL);
            c->data++;
        } else if (c->data[1]) {
            process(c, i, c->data + 1);
            c->data = "";
        } else if (next_arg(c)) {
            process(c, i, c->data);
            c->data = "";
        } else {
            option_error(c, i, "requires an argument");
        }
        return;
    }
    die(c, "Unknown option ``-%c''", *c->data);
}

static void parse_arg(struct ctx *c)
{
    if (c->data[0] != '-')
        die(c, "Unexpected argument ``%s''", c->data);
    if (c->data[1] == '-') {
        /* nanocat 1.1.5 skips a "--" and parses what follows as options. */
        if (c->data[2])
            parse_long(c);
        return;
    }
    c->data++;
    while (*c->data)
        parse_short(c);
}

static void parse_arg0(struct ctx *c)
{
    const char *slash = strrchr(c->argv[0], '/');
    const char *base = slash ? slash + 1 : c->argv[0];
    for (int i = 0; c->options[i].longname; i++) {
        if (c->options[i].arg0name && strcmp(base, c->options[i].arg0name) == 0) {
            c->usage[i] = c->argv[0];
            process(c, i, NULL);
        }
    }
}

static void check_requires(struct ctx *c)
{
    char list[2048];
    for (int i = 0; c->options[i].longname; i++) {
        unsigned long need = c->options[i].requires_mask;
        if (!c->usage[i] || !need || (need & c->mask) == need)
            continue;
        char name[256];
        option_name(c, i, name, sizeof name);
        options_providing(c, need, true, list, sizeof list);
        die(c, "Option %s requires at least one of the following options: %s", name, list);
    }
    unsigned long missing = c->requires & ~c->mask;
    if (!missing)
        return;
    /* One list per missing requirement (a socket type; an address). */
    char all[4096] = "";
    size_t n = 0;
    for (unsigned long bit = 1; bit && n < sizeof all; bit <<= 1) {
        if (!(missing & bit))
            continue;
        options_providing(c, bit, false, list, sizeof list);
        int k = snprintf(all + n, sizeof all - n, "%s%s", n ? "; and one of: " : "", list);
        if (k < 0)
            break;
        n += (size_t) k;
    }
    die(c, "At least one of the following required: %s", all);
}

void cli_parse(const struct cli *cli, void *target, int argc, char **argv)
{
    struct ctx c = {.def = cli, .options = cli->options, .target = target, .argv = argv,
                    .requires = cli->required_options, .args_left = argc - 1, .arg = argv};
    int n = 0;
    while (cli->options[n].longname)
        n++;
    c.usage = calloc((size_t) n, sizeof *c.usage);
    if (!c.usage)
        oom();
    parse_arg0(&c);
    while (next_arg(&c))
        parse_arg(&c);
    check_requires(&c);
    free(c.usage);
}

void cli_free(const struct cli *cli, void *target)
{
    for (const struct cli_option *o = cli->options; o->longname; o++) {
        void *f = (char *) target + o->offset;
        if (o->type == CLI_LIST_APPEND || o->type == CLI_LIST_APPEND_FMT) {
            /* Options may share a list (--bind and -X): the first frees it. */
            struct cli_list *l = f;
            for (int i = 0; i < l->num; i++)
                free(l->items[i]);
            free(l->items);
            *l = (struct cli_list){0};
        } else if (o->type == CLI_READ_FILE || o->type == CLI_BLOB) {
            struct cli_blob *b = f;
            if (b->owned)
                free(b->data);
            *b = (struct cli_blob){0};
        }
    }
}
