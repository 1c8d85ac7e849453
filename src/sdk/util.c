/* util.c — libeddy's small private helpers: allocation that aborts on OOM, clocks, logging,
 * UUIDs, RFC 3339 time and W3C trace context (public helpers eddy_uuid_*, eddy_time_*,
 * eddy_trace_*). Part of src/sdk (libeddy). */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "eddy_version.h"
#include "internal.h"
#include "sdkschema/dlqrule.h"

static void oom(void)
{
    fputs("libeddy: out of memory\n", stderr);
    abort();
}

void *sdk_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) oom();
    return p;
}

void *sdk_xcalloc(size_t n, size_t m)
{
    void *p = calloc(n ? n : 1, m ? m : 1);
    if (!p) oom();
    return p;
}

void *sdk_xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p) oom();
    return p;
}

char *sdk_xstrdup(const char *s)
{
    return sdk_xstrndup(s, strlen(s));
}

char *sdk_xstrndup(const char *s, size_t n)
{
    char *p = sdk_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

char *sdk_xvasprintf(const char *fmt, va_list ap)
{
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) oom();
    return s;
}

char *sdk_xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = sdk_xvasprintf(fmt, ap);
    va_end(ap);
    return s;
}

int64_t sdk_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t sdk_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void sdk_sleep_ms(int ms)
{
    if (ms <= 0) return;
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
}

void sdk_log(const char *svc, const char *fmt, ...)
{
    char ts[32];
    eddy_time_rfc3339(sdk_wall_ms(), ts);
    va_list ap;
    va_start(ap, fmt);
    char *msg = sdk_xvasprintf(fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s %s: %s\n", ts, svc ? svc : "eddy", msg);
    free(msg);
}

/* Random bytes from a per-thread pool refilled 512 bytes at a time: a UUID or trace id per
 * event no longer costs a getrandom system call each (three per published event). A fork
 * empties the forking thread's pool in the child (the only thread there), so parent and child
 * never hand out the same bytes. */
static _Thread_local unsigned char g_pool[512];
static _Thread_local size_t g_pool_left;
static pthread_once_t g_pool_once = PTHREAD_ONCE_INIT;

static void pool_forget(void)
{
    explicit_bzero(g_pool, sizeof g_pool);
    g_pool_left = 0;
}

static void pool_init(void)
{
    pthread_atfork(NULL, NULL, pool_forget);
}

static void rnd_direct(unsigned char *b, size_t n)
{
    while (n) {
        ssize_t r = getrandom(b, n, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            for (size_t i = 0; i < n; i++) b[i] = (unsigned char)rand();
            return;
        }
        b += r;
        n -= (size_t)r;
    }
}

static void rnd(void *p, size_t n)
{
    unsigned char *b = p;
    pthread_once(&g_pool_once, pool_init);
    if (n > sizeof g_pool / 4) {
        rnd_direct(b, n);
        return;
    }
    if (g_pool_left < n) {
        rnd_direct(g_pool, sizeof g_pool);
        g_pool_left = sizeof g_pool;
    }
    unsigned char *src = g_pool + sizeof g_pool - g_pool_left;
    memcpy(b, src, n);
    explicit_bzero(src, n); /* handed out once */
    g_pool_left -= n;
}

static void hex(const unsigned char *b, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[2 * n] = 0;
}

/* sets the version nibble and RFC 9562's variant, and writes the 8-4-4-4-12 form */
static void uuid_format(unsigned char b[16], int version, char out[37])
{
    b[6] = (unsigned char)((b[6] & 0x0f) | (version << 4));
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    char h[33];
    hex(b, 16, h);
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
}

void eddy_uuid_generate(char out[37])
{
    unsigned char b[16];
    rnd(b, sizeof b);
    uuid_format(b, 4, out);
}

/* RFC 9562 version 7: 48 bits of Unix milliseconds, then random bits. Event ids use it: ids of
 * events written close in time sort close together, so the unique indexes on event_id in the
 * outbox and the event store grow at one edge instead of dirtying a random B-tree leaf per
 * event (one stream's appends on SQLite: ~13,500 -> ~27,000 events/s, bench_es). Not for
 * names that take a prefix of the id: its first 12 hex digits are the clock. */
void sdk_uuid_v7(char out[37])
{
    unsigned char b[16];
    rnd(b, sizeof b);
    uint64_t ms = (uint64_t)sdk_wall_ms();
    for (int i = 0; i < 6; i++) b[i] = (unsigned char)(ms >> (40 - 8 * i));
    uuid_format(b, 7, out);
}

void eddy_uuid_v7(char out[37])
{
    sdk_uuid_v7(out);
}

int eddy_uuid_valid(const char *s)
{
    if (!s || strlen(s) != 36) return 0;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') return 0;
        } else if (!isxdigit((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

void eddy_time_rfc3339(int64_t wall_ms, char out[32])
{
    time_t t = (time_t)(wall_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char tmp[96];
    snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (tm.tm_year + 1900) % 10000,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(wall_ms % 1000));
    memcpy(out, tmp, 31);
    out[31] = 0;
}

/* RFC 3339 date-time: YYYY-MM-DD[Tt ]HH:MM:SS[.frac](Z|z|±HH:MM); one parser for libeddy and
 * the broker's redrive (sdkschema/dlqrule.c). */
int eddy_time_parse_rfc3339(const char *s, int64_t *wall_ms)
{
    return dlqr_parse_rfc3339(s, wall_ms) == 0 ? 0 : EDDY_ERR_PERMANENT;
}

void eddy_trace_new(char out[56])
{
    unsigned char b[24];
    rnd(b, sizeof b);
    char tid[33], sid[17];
    hex(b, 16, tid);
    hex(b + 16, 8, sid);
    snprintf(out, 56, "00-%s-%s-01", tid, sid);
}

int eddy_trace_valid(const char *tp)
{
    if (!tp || strlen(tp) != 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-') return 0;
    for (int i = 0; i < 55; i++) {
        if (i == 2 || i == 35 || i == 52) continue;
        if (!isxdigit((unsigned char)tp[i]) || isupper((unsigned char)tp[i])) return 0;
    }
    if (!strncmp(tp + 3, "00000000000000000000000000000000", 32)) return 0;
    if (!strncmp(tp + 36, "0000000000000000", 16)) return 0;
    return 1;
}

int eddy_trace_child(const char *parent, char out[56])
{
    if (!eddy_trace_valid(parent)) {
        eddy_trace_new(out);
        return EDDY_ERR_PERMANENT;
    }
    unsigned char b[8];
    rnd(b, sizeof b);
    char sid[17];
    hex(b, 8, sid);
    snprintf(out, 56, "00-%.32s-%s-%.2s", parent + 3, sid, parent + 53);
    return 0;
}

int sdk_fault_armed(const char *point, const char *service)
{
    const char *f = getenv("EDDY_FAULT");
    if (!f || !*f) return 0;
    size_t n = strlen(point);
    if (strncmp(f, point, n)) return 0;
    if (f[n] == 0) return 1;
    if (f[n] != ':') return 0;
    return service && !strcmp(f + n + 1, service);
}

const char *eddy_version(void)
{
    return EDDY_VERSION_FULL;
}
