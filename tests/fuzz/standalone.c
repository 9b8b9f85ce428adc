/* A main() for fuzz targets when they are not built with libFuzzer: the
   'fuzz' test suite runs every target this way (also under ASan+UBSan).

   usage: fuzz-<target> CORPUS_DIR [N [SECONDS]]

   Runs the target once on every file in CORPUS_DIR (sorted by name), then on
   N inputs (default 20000) from a fixed-seed PRNG: mutations of the corpus
   files (bit flips, interesting bytes and 64-bit lengths, inserts, deletes,
   splices) and plain random bytes. The sequence is the same on every run,
   so a failure reproduces; FUZZ_DUMP=<file> writes each input there before
   running it, leaving the crashing one behind. SECONDS (default 30) stops
   early on a slow machine, with a note, rather than hitting the test timeout.
   A target reports a bug by crashing (abort, sanitizer report). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fuzz.h"

#define FUZZ_MAX_INPUT (256 * 1024)

struct input {
    uint8_t *data;
    size_t len;
};

static struct input *seeds;
static size_t nseeds;

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static size_t rnd_below(size_t n)
{
    return n ? (size_t) (rnd() % n) : 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void run(const uint8_t *data, size_t len)
{
    const char *dump = getenv("FUZZ_DUMP");
    if (dump && *dump) {
        FILE *f = fopen(dump, "wb");
        if (f) {
            fwrite(data, 1, len, f);
            fclose(f);
        }
    }
    /* A private copy of exactly len bytes, so ASan sees any over-read. */
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) {
        perror("malloc");
        exit(2);
    }
    memcpy(copy, data, len);
    LLVMFuzzerTestOneInput(copy, len);
    free(copy);
}

static int load_corpus(const char *dir)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    if (n < 0) {
        perror(dir);
        return -1;
    }
    seeds = calloc((size_t) n + 1, sizeof *seeds);
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        struct stat st;
        if (names[i]->d_name[0] == '.' || stat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
            st.st_size > FUZZ_MAX_INPUT) {
            free(names[i]);
            continue;
        }
        FILE *f = fopen(path, "rb");
        if (!f) {
            perror(path);
            return -1;
        }
        struct input *in = &seeds[nseeds];
        in->len = (size_t) st.st_size;
        in->data = malloc(in->len ? in->len : 1);
        if (in->len && fread(in->data, 1, in->len, f) != in->len) {
            perror(path);
            fclose(f);
            return -1;
        }
        fclose(f);
        nseeds++;
        free(names[i]);
    }
    free(names);
    return 0;
}

/* ---- mutations on a buffer of capacity FUZZ_MAX_INPUT ---- */

static const uint64_t interesting64[] = {
    0, 1, 2, 7, 8, 9, 100, 255, 256, 16383, 16384, 16385, 65535, 65536, 65537,
    1024 * 1024, 1024 * 1024 + 1, 0x7fffffffull, 0xffffffffull, 1ull << 32,
    (1ull << 62) - 1, 1ull << 63, UINT64_MAX - 1, UINT64_MAX,
};

static const uint8_t interesting8[] = {0, 1, 2, 8, 9, 0x10, 0x11, 0x3f, 0x40, 0x7f, 0x80, 0xef, 0xf0, 0xfe, 0xff};

static size_t insert(uint8_t *buf, size_t len, size_t at, const uint8_t *p, size_t n)
{
    if (len + n > FUZZ_MAX_INPUT)
        n = FUZZ_MAX_INPUT - len;
    memmove(buf + at + n, buf + at, len - at);
    memcpy(buf + at, p, n);
    return len + n;
}

static size_t mutate_once(uint8_t *buf, size_t len)
{
    size_t at = rnd_below(len + 1);
    switch (rnd_below(13)) {
    case 0: /* flip a bit */
        if (len)
            buf[rnd_below(len)] ^= (uint8_t) (1u << rnd_below(8));
        return len;
    case 1: /* an interesting byte */
        if (len)
            buf[rnd_below(len)] = interesting8[rnd_below(sizeof interesting8)];
        return len;
    case 2: /* a random byte */
        if (len)
            buf[rnd_below(len)] = (uint8_t) rnd();
        return len;
    case 3: { /* a big-endian 64-bit length, as frame headers carry them */
        uint64_t v = rnd_below(4) ? interesting64[rnd_below(sizeof interesting64 / 8)] : rnd_below(300);
        uint8_t b[8];
        for (int i = 7; i >= 0; i--, v >>= 8)
            b[i] = (uint8_t) v;
        if (rnd_below(2) && len >= 8) {
            memcpy(buf + rnd_below(len - 7), b, 8);
            return len;
        }
        return insert(buf, len, at, b, 8);
    }
    case 4: { /* a native size_t, as cmsg_len and SP_HDR lengths are */
        size_t v = rnd_below(4) ? (size_t) interesting64[rnd_below(sizeof interesting64 / 8)] : rnd_below(64);
        if (rnd_below(2) && len >= sizeof v) {
            memcpy(buf + (rnd_below(len - sizeof v + 1) & ~(sizeof v - 1)), &v, sizeof v);
            return len;
        }
        return insert(buf, len, at & ~(sizeof v - 1), (const uint8_t *) &v, sizeof v);
    }
    case 5: { /* insert random bytes */
        uint8_t b[64];
        size_t n = 1 + rnd_below(sizeof b);
        for (size_t i = 0; i < n; i++)
            b[i] = (uint8_t) rnd();
        return insert(buf, len, at, b, n);
    }
    case 6: { /* delete a range */
        if (!len)
            return len;
        size_t from = rnd_below(len);
        size_t n = 1 + rnd_below(len - from);
        if (n > 256 && rnd_below(2))
            n = 1 + rnd_below(256);
        memmove(buf + from, buf + from + n, len - from - n);
        return len - n;
    }
    case 7: { /* duplicate a range (repeats frames) */
        if (!len)
            return len;
        size_t from = rnd_below(len);
        size_t n = 1 + rnd_below(len - from);
        uint8_t *tmp = malloc(n);
        memcpy(tmp, buf + from, n);
        len = insert(buf, len, at, tmp, n);
        free(tmp);
        return len;
    }
    case 8: { /* splice in part of another seed */
        if (!nseeds)
            return len;
        const struct input *s = &seeds[rnd_below(nseeds)];
        if (!s->len)
            return len;
        size_t from = rnd_below(s->len);
        size_t n = 1 + rnd_below(s->len - from);
        return insert(buf, len, at, s->data + from, n);
    }
    case 9:
    case 10: { /* a whole stream frame: [0x01 for IPC][u64 BE length][payload] */
        uint8_t f[9 + 600];
        size_t hl = rnd_below(2) ? 9 : 8;
        size_t plen = rnd_below(8) ? rnd_below(300) : 300 + rnd_below(300);
        f[0] = 1;
        uint64_t v = plen;
        for (size_t i = hl; i > hl - 8; i--, v >>= 8)
            f[i - 1] = (uint8_t) v;
        for (size_t i = 0; i < plen; i++)
            f[hl + i] = (uint8_t) rnd();
        return insert(buf, len, at, f, hl + plen);
    }
    case 11: /* truncate */
        return rnd_below(len + 1);
    default: { /* append a long run (big frames need payload) */
        size_t n = rnd_below(4) ? rnd_below(2048) : rnd_below(80000);
        if (len + n > FUZZ_MAX_INPUT)
            n = FUZZ_MAX_INPUT - len;
        memset(buf + len, (int) rnd_below(256), n);
        return len + n;
    }
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR [N [SECONDS]]\n", argv[0]);
        return 2;
    }
    long n = argc > 2 ? strtol(argv[2], NULL, 10) : 20000;
    double budget = argc > 3 ? strtod(argv[3], NULL) : 30.0;
    if (load_corpus(argv[1]) != 0)
        return 2;
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    double start = now_s();
    for (size_t i = 0; i < nseeds; i++)
        run(seeds[i].data, seeds[i].len);

    uint8_t *buf = malloc(FUZZ_MAX_INPUT);
    if (!buf)
        return 2;
    long done = 0;
    for (; done < n; done++) {
        if ((done & 255) == 0 && now_s() - start > budget) {
            printf("note: time budget of %.0f s used up after %ld of %ld inputs\n", budget, done, n);
            break;
        }
        size_t len;
        unsigned pick = (unsigned) rnd_below(10);
        if (fuzz_generate && pick < 4) {
            len = fuzz_generate(buf, FUZZ_MAX_INPUT, rnd);
            if (rnd_below(2)) /* and now and then a slightly broken one */
                len = mutate_once(buf, len);
        } else if (nseeds && pick < 9) {
            const struct input *s = &seeds[rnd_below(nseeds)];
            memcpy(buf, s->data, s->len);
            len = s->len;
            size_t k = 1 + rnd_below(8);
            for (size_t j = 0; j < k; j++)
                len = mutate_once(buf, len);
        } else {
            len = rnd_below(4) ? rnd_below(64) : rnd_below(4096);
            for (size_t j = 0; j < len; j++)
                buf[j] = (uint8_t) rnd();
        }
        run(buf, len);
    }
    printf("%zu corpus files and %ld generated inputs in %.1f s: no crash\n", nseeds, done,
           now_s() - start);
    free(buf);
    for (size_t i = 0; i < nseeds; i++)
        free(seeds[i].data);
    free(seeds);
    return 0;
}
