/* driver — runs a libFuzzer target (LLVMFuzzerTestOneInput) without libFuzzer, so every fuzz
 * target also runs in `make test` under gcc's ASan+UBSan build: first every seed as it is, then
 * random mutations of the seeds (bit flips, byte sets, inserts, deletes, duplicated ranges,
 * splices of two seeds, truncations) for a bounded time. A crash aborts the process (the
 * sanitizers or the target's own oracle); the input that caused it is written first to
 * $FUZZ_CRASH_DIR (default .) as crash-<target>-<n>.
 *
 * usage: fuzz_<name> [-t SECONDS] [-s RNG_SEED] SEED_FILE_OR_DIR...
 * `make fuzz` builds the same targets with libFuzzer (coverage-guided) for long runs instead. */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct seed {
    uint8_t *p;
    size_t n;
} seed;

static seed *g_seeds;
static size_t g_nseeds, g_aseeds;
static const uint8_t *g_cur;
static size_t g_curn;
static const char *g_name = "fuzz";
static uint64_t g_rng = 0x5eedf00dull;

static uint64_t rnd(void)
{
    uint64_t z = (g_rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static size_t rndn(size_t n)
{
    return n ? (size_t)(rnd() % n) : 0;
}

/* Writes the input being run when the process dies (signal handler: only async-safe calls). */
static void dump_current(int sig)
{
    const char *dir = getenv("FUZZ_CRASH_DIR");
    char path[512];
    snprintf(path, sizeof path, "%s/crash-%s-%d", dir ? dir : ".", g_name, (int)getpid());
    FILE *f = fopen(path, "wb");
    if (f) {
        if (g_curn) fwrite(g_cur, 1, g_curn, f);
        fclose(f);
        fprintf(stderr, "fuzz: input written to %s\n", path);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static void add_seed(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return;
    seed s = {NULL, 0};
    size_t a = 0;
    uint8_t buf[65536];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, f)) > 0) {
        if (s.n + k > a) {
            a = (s.n + k) * 2;
            s.p = realloc(s.p, a);
        }
        memcpy(s.p + s.n, buf, k);
        s.n += k;
    }
    fclose(f);
    if (g_nseeds == g_aseeds) {
        g_aseeds = g_aseeds ? g_aseeds * 2 : 64;
        g_seeds = realloc(g_seeds, g_aseeds * sizeof *g_seeds);
    }
    g_seeds[g_nseeds++] = s;
}

static void add_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "fuzz: %s: no such seed file or directory\n", path);
        exit(2);
    }
    if (!S_ISDIR(st.st_mode)) {
        add_seed(path);
        return;
    }
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        add_path(p);
    }
    if (d) closedir(d);
}

static void run(const uint8_t *p, size_t n)
{
    /* a private copy so the target sees exactly n bytes (ASan catches any read past them) */
    uint8_t *c = malloc(n ? n : 1);
    if (n) memcpy(c, p, n);
    g_cur = c;
    g_curn = n;
    LLVMFuzzerTestOneInput(c, n);
    free(c);
    g_curn = 0;
}

/* One mutated input from a random seed, into *buf (realloc()ed). Returns its length. */
static size_t mutate(uint8_t **buf, size_t *cap)
{
    const seed *s = &g_seeds[rndn(g_nseeds)];
    size_t n = s->n;
    if (*cap < n + 4096) {
        *cap = n + 4096;
        *buf = realloc(*buf, *cap);
    }
    uint8_t *b = *buf;
    if (n) memcpy(b, s->p, n);
    int ops = 1 + (int)rndn(6);
    for (int i = 0; i < ops; i++) {
        size_t room = *cap - n;
        switch (rndn(8)) {
        case 0: /* flip a bit */
            if (n) b[rndn(n)] ^= (uint8_t)(1u << rndn(8));
            break;
        case 1: { /* set a byte to an interesting value */
            static const uint8_t v[] = {0, 1, 0x7f, 0x80, 0xff, '"', '{', '[', ':', ',', '\\'};
            if (n) b[rndn(n)] = v[rndn(sizeof v)];
            break;
        }
        case 2: { /* insert random bytes */
            size_t k = 1 + rndn(16), at = rndn(n + 1);
            if (k > room) break;
            memmove(b + at + k, b + at, n - at);
            for (size_t j = 0; j < k; j++) b[at + j] = (uint8_t)rnd();
            n += k;
            break;
        }
        case 3: { /* delete a range */
            if (!n) break;
            size_t at = rndn(n), k = 1 + rndn(n - at);
            memmove(b + at, b + at + k, n - at - k);
            n -= k;
            break;
        }
        case 4: { /* duplicate a range */
            if (!n) break;
            size_t at = rndn(n), k = 1 + rndn((n - at < 64 ? n - at : 64));
            if (k > room) break;
            size_t to = rndn(n + 1);
            for (size_t j = n; j > to; j--) b[j - 1 + k] = b[j - 1]; /* open a gap of k */
            memmove(b + to, b + (at < to ? at : at + k), k);
            n += k;
            break;
        }
        case 5: { /* splice the tail of another seed */
            const seed *o = &g_seeds[rndn(g_nseeds)];
            size_t at = rndn(n + 1), from = rndn(o->n + 1), k = o->n - from;
            if (k > *cap - at) k = *cap - at;
            memcpy(b + at, o->p + from, k);
            n = at + k;
            break;
        }
        case 6: /* truncate */ n = rndn(n + 1); break;
        default: /* change a 32-bit big-endian length-like value */
            if (n >= 4) {
                size_t at = rndn(n - 3);
                uint32_t v = (uint32_t)rnd() >> rndn(32);
                b[at] = (uint8_t)(v >> 24);
                b[at + 1] = (uint8_t)(v >> 16);
                b[at + 2] = (uint8_t)(v >> 8);
                b[at + 3] = (uint8_t)v;
            }
        }
    }
    return n;
}

int main(int argc, char **argv)
{
    double secs = 2;
    const char *slash = strrchr(argv[0], '/');
    g_name = slash ? slash + 1 : argv[0];
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc)
            secs = atof(argv[++i]);
        else if (!strcmp(argv[i], "-s") && i + 1 < argc)
            g_rng = strtoull(argv[++i], NULL, 0);
        else {
            fprintf(stderr, "usage: %s [-t SECONDS] [-s RNG_SEED] SEED_FILE_OR_DIR...\n", g_name);
            return 2;
        }
    }
    for (; i < argc; i++) add_path(argv[i]);
    if (g_nseeds == 0) add_seed("/dev/null"), g_seeds[0].n = 0;
    signal(SIGABRT, dump_current);
    signal(SIGSEGV, dump_current);
    signal(SIGBUS, dump_current);
    for (size_t k = 0; k < g_nseeds; k++) run(g_seeds[k].p, g_seeds[k].n);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint8_t *buf = NULL;
    size_t cap = 0;
    unsigned long runs = 0;
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9 >= secs) break;
        for (int k = 0; k < 64; k++, runs++) {
            size_t n = mutate(&buf, &cap);
            run(buf, n);
        }
    }
    free(buf);
    printf("%s: %zu seeds, %lu mutated inputs, no failure\n", g_name, g_nseeds, runs);
    return 0;
}
