/* Prints everything a program can learn from nn_symbol, nn_symbol_info and
   nn_strerror, in a stable text form. The abi-symtab test links it once against
   our libnanomsg and once against Debian's and diffs the two outputs. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <nanomsg/nn.h>

int main(void)
{
    struct nn_symbol_properties sym;
    int count = 0;

    printf("sizeof(struct nn_symbol_properties)=%zu\n", sizeof sym);

    /* Walk the table the way bindings do: until nn_symbol_info returns 0. */
    for (int i = 0;; i++) {
        memset(&sym, 0, sizeof sym);
        int rc = nn_symbol_info(i, &sym, (int) sizeof sym);
        if (rc == 0)
            break;
        int value = -12345;
        const char *name = nn_symbol(i, &value);
        printf("%d rc=%d name=%s value=%d ns=%d type=%d unit=%d"
               " nn_symbol=%s/%d\n",
               i, rc, sym.name ? sym.name : "(null)", sym.value, sym.ns,
               sym.type, sym.unit, name ? name : "(null)", value);
        count++;
    }
    printf("count=%d\n", count);

    /* Bounds behaviour of both functions. */
    int value = -12345;
    errno = 0;
    const char *name = nn_symbol(-1, &value);
    printf("nn_symbol(-1)=%s errno=%d value=%d\n", name ? name : "(null)",
           errno, value);
    errno = 0;
    name = nn_symbol(count, &value);
    printf("nn_symbol(count)=%s errno=%d value=%d\n", name ? name : "(null)",
           errno, value);
    errno = 0;
    name = nn_symbol(0, NULL);
    printf("nn_symbol(0,NULL)=%s errno=%d\n", name ? name : "(null)", errno);
    errno = 0;
    printf("nn_symbol_info(-1)=%d errno=%d\n",
           nn_symbol_info(-1, &sym, (int) sizeof sym), errno);
    errno = 0;
    printf("nn_symbol_info(count)=%d errno=%d\n",
           nn_symbol_info(count, &sym, (int) sizeof sym), errno);

    /* A short buffer gets a truncated copy and the truncated count; bytes
       past buflen stay as they were. */
    for (int buflen = 0; buflen <= 12; buflen += 4) {
        _Alignas(struct nn_symbol_properties) unsigned char raw[sizeof sym];
        memset(raw, 0xAB, sizeof raw);
        int rc = nn_symbol_info(6, (struct nn_symbol_properties *) raw, buflen);
        printf("nn_symbol_info(6, buflen %d)=%d bytes:", buflen, rc);
        for (int b = 0; b < 8; b++)
            printf(" %02x", raw[b]);
        printf(" ... %02x\n", raw[12]);
    }

    /* nn_strerror for every error in the table, plus a few outside it. */
    for (int i = 0; i < count; i++) {
        nn_symbol_info(i, &sym, (int) sizeof sym);
        if (sym.ns != NN_NS_ERROR)
            continue;
        printf("strerror %s=%d: %s\n", sym.name, sym.value,
               nn_strerror(sym.value));
    }
    int extra[] = {0, -1, EISCONN, ESOCKTNOSUPPORT, NN_HAUSNUMERO,
                   NN_HAUSNUMERO + 55, 100000};
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
        printf("strerror %d: %s\n", extra[i], nn_strerror(extra[i]));

    errno = EMSGSIZE;
    printf("nn_errno()=%d\n", nn_errno());
    return 0;
}
