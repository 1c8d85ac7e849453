/* bcommon — see bcommon.h. */
#include "bcommon.h"

#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void sleep_until_ns(int64_t t)
{
    struct timespec ts = {.tv_sec = t / 1000000000LL, .tv_nsec = t % 1000000000LL};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {}
}

static double stat_cpu(const char *path)
{
    char buf[1024];
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    /* The command name is in parentheses and may hold spaces: fields start after the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    p++;
    unsigned long long ut = 0, st = 0;
    /* after ')': state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
     * utime(14) stime(15) */
    if (sscanf(p, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

double proc_cpu_s(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    return stat_cpu(path);
}

double thread_cpu_s(pid_t pid, pid_t tid)
{
    char path[96];
    snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)pid, (int)tid);
    return stat_cpu(path);
}

long proc_rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long kib = -1;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "VmRSS:", 6)) {
            kib = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kib;
}

void lat_add(lat *l, int64_t ns)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 65536;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        if (!l->v) abort();
    }
    l->v[l->n++] = ns;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

void lat_sort(lat *l)
{
    if (l->n) qsort(l->v, l->n, sizeof *l->v, cmp_i64);
}

double lat_pct_ms(const lat *l, double pct)
{
    if (!l->n) return 0;
    size_t i = (size_t)(pct / 100.0 * (double)(l->n - 1) + 0.5);
    if (i >= l->n) i = l->n - 1;
    return (double)l->v[i] / 1e6;
}

static int g_argc, g_first;
static char **g_argv;

/* Every load generator (librdkafka, hiredis, libnats clients alike) keeps the memory it frees
 * for reuse. glibc's default hands large blocks (a Fetch response, an XREAD reply: several MiB)
 * back to the kernel on free and maps fresh ones for the next, and on this machine a fresh
 * page costs a host fault (perf-notes.md): the clients' receive copies ran at a third of their
 * speed and their CPU time swung by 50% between runs. This is client-side tuning any user
 * can apply; it is the same for every server measured. */
static void keep_freed_memory(void)
{
    mallopt(M_MMAP_THRESHOLD, 32 << 20); /* glibc's maximum: 4 MiB x sizeof(long) */
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

void args_init(int argc, char **argv, int first)
{
    keep_freed_memory();
    g_argc = argc;
    g_argv = argv;
    g_first = first;
    for (int i = first; i < argc; i++)
        if (strncmp(argv[i], "--", 2))
            die("unexpected argument '%s'", argv[i]);
        else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2))
            i++;
}

static const char *find_arg(const char *key, int *present)
{
    *present = 0;
    for (int i = g_first; i < g_argc; i++) {
        if (strncmp(g_argv[i], "--", 2)) continue;
        if (!strcmp(g_argv[i] + 2, key)) {
            *present = 1;
            if (i + 1 < g_argc && strncmp(g_argv[i + 1], "--", 2)) return g_argv[i + 1];
            return NULL;
        }
    }
    return NULL;
}

const char *arg_str(const char *key, const char *dflt)
{
    int present;
    const char *v = find_arg(key, &present);
    return v ? v : dflt;
}

long long arg_ll(const char *key, long long dflt)
{
    const char *v = arg_str(key, NULL);
    if (!v) return dflt;
    char *end;
    long long x = strtoll(v, &end, 10);
    if (*end) die("--%s: not an integer: %s", key, v);
    return x;
}

double arg_dbl(const char *key, double dflt)
{
    const char *v = arg_str(key, NULL);
    if (!v) return dflt;
    char *end;
    double x = strtod(v, &end);
    if (*end) die("--%s: not a number: %s", key, v);
    return x;
}

int arg_flag(const char *key)
{
    int present;
    const char *v = find_arg(key, &present);
    return present && (!v || !strcmp(v, "1") || !strcmp(v, "true"));
}

static int g_json_n;

void json_begin(void)
{
    g_json_n = 0;
    fputc('{', stdout);
}

void json_num(const char *key, double v)
{
    if (v != v) v = -1; /* NaN never reaches the report */
    printf("%s\"%s\":%.10g", g_json_n++ ? "," : "", key, v);
}

void json_str(const char *key, const char *v)
{
    printf("%s\"%s\":\"", g_json_n++ ? "," : "", key);
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\') putchar('\\');
        if ((unsigned char)*p < 0x20) continue;
        putchar(*p);
    }
    putchar('"');
}

void json_end(void)
{
    fputs("}\n", stdout);
    fflush(stdout);
}

void fill_payload(uint8_t *p, size_t n, uint64_t seed)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (uint8_t)x;
    }
}

void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

void note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
