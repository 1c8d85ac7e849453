/* dlqrule.c — the rules of dead-letter redrive shared by libeddy and eddyd's admin API
 * (dlqrule.h): reading a dead letter's wrapper, the outcome decision, the headers left out,
 * the marker's key and value, the filter language. Part of src/sdkschema. */
#include "dlqrule.h"

#include <ctype.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void *xmalloc_(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) abort();
    return p;
}

static char *xstrdup_(const char *s)
{
    if (!s) return NULL;
    size_t n = strlen(s);
    char *p = xmalloc_(n + 1);
    memcpy(p, s, n + 1);
    return p;
}

const char *dlqr_outcome_name(int o)
{
    switch (o) {
    case DLQR_MOVED: return "moved";
    case DLQR_WOULD_MOVE: return "would_move";
    case DLQR_LOOP_GUARD: return "loop_guard";
    case DLQR_ALREADY: return "already_redriven";
    default: return "filtered_out";
    }
}

dlqr_outcome dlqr_decide(int matches, int marked, int redrive_count, int max_redrives, int dry_run)
{
    if (!matches) return DLQR_FILTERED;
    if (marked) return DLQR_ALREADY;
    if (redrive_count >= (max_redrives > 0 ? max_redrives : DLQR_MAX_DEFAULT))
        return DLQR_LOOP_GUARD;
    return dry_run ? DLQR_WOULD_MOVE : DLQR_MOVED;
}

int dlqr_strip_header(const char *name, size_t len)
{
    size_t rl = strlen(DLQR_REDRIVE_COUNT_HEADER);
    if (len >= 6 && !memcmp(name, "x-dlq-", 6)) return 1;
    return len == rl && !memcmp(name, DLQR_REDRIVE_COUNT_HEADER, rl);
}

int dlqr_redrive_count(const void *v, size_t len)
{
    const char *s = v;
    if (!s || len == 0 || len > 9) return 0;
    int n = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i])) return 0;
        n = n * 10 + (s[i] - '0');
    }
    return n;
}

/* ---- base64 -------------------------------------------------------------------------------- */
static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *dlqr_b64_encode(const unsigned char *p, size_t n)
{
    char *out = xmalloc_((n + 2) / 3 * 4 + 1), *o = out;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n) v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n) v |= p[i + 2];
        *o++ = B64[v >> 18 & 63];
        *o++ = B64[v >> 12 & 63];
        *o++ = i + 1 < n ? B64[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? B64[v & 63] : '=';
    }
    *o = 0;
    return out;
}

static int b64_val(char c)
{
    const char *q = c ? strchr(B64, c) : NULL;
    return q ? (int)(q - B64) : -1;
}

/* Decodes s (length n): malloc'd bytes, or NULL when s is not padded base64. */
static unsigned char *b64_decode(const char *s, size_t n, size_t *outlen)
{
    if (n % 4) return NULL;
    unsigned char *out = xmalloc_(n / 4 * 3 + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i += 4) {
        int last = i + 4 == n;
        int pad = last ? (s[n - 1] == '=') + (s[n - 2] == '=') : 0;
        uint32_t v = 0;
        for (int j = 0; j < 4; j++) {
            int d = j >= 4 - pad ? 0 : b64_val(s[i + j]);
            if (d < 0) {
                free(out);
                return NULL;
            }
            v = v << 6 | (uint32_t)d;
        }
        out[k++] = (unsigned char)(v >> 16);
        if (pad < 2) out[k++] = (unsigned char)(v >> 8 & 255);
        if (pad < 1) out[k++] = (unsigned char)(v & 255);
    }
    *outlen = k;
    return out;
}

/* ---- the wrapper --------------------------------------------------------------------------- */
static char *jdup(const json_t *o, const char *k)
{
    return xstrdup_(json_string_value(json_object_get(o, k)));
}

static int64_t jint(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

void dlqr_letter_parse(dlqr_letter *l, const void *payload, size_t len)
{
    memset(l, 0, sizeof *l);
    l->source_partition = -1;
    l->source_offset = -1;
    l->attempt_count = -1;
    json_t *w = payload ? json_loadb(payload, len, 0, NULL) : NULL;
    const json_t *orig = json_is_object(w) ? json_object_get(w, "originalEvent") : NULL;
    if (!orig) { /* not a wrapper: the record is its own original */
        if (payload) {
            l->value = xmalloc_(len + 1);
            memcpy(l->value, payload, len);
            l->value_len = len;
            l->has_value = 1;
        }
        l->value_exact = 1;
        json_decref(w);
        return;
    }
    l->wrapped = 1;
    l->source_topic = jdup(w, "sourceTopic");
    l->reason = jdup(w, "reason");
    l->error = jdup(w, "error");
    l->service = jdup(w, "service");
    l->failed_at = jdup(w, "failedAt");
    int64_t a = jint(w, "attemptCount");
    l->attempt_count = a >= 0 && a <= INT32_MAX ? (int)a : -1;
    int64_t p = jint(w, "sourcePartition");
    l->source_partition = p >= 0 && p <= INT32_MAX ? (int32_t)p : -1;
    l->source_offset = jint(w, "sourceOffset");
    const json_t *jb = json_object_get(w, "originalValueBase64");
    const char *b = json_string_value(jb);
    size_t n = 0;
    unsigned char *raw = b ? b64_decode(b, strlen(b), &n) : NULL;
    if (raw) {
        l->value = raw;
        l->value_len = n;
        l->has_value = 1;
        l->value_exact = 1;
    } else if (json_is_null(jb)) { /* the failed record had no value */
        l->value_exact = 1;
    } else if (json_is_string(orig)) {
        /* kept before the exact bytes were: a string is the value itself (it was not JSON) */
        n = json_string_length(orig);
        l->value = xmalloc_(n + 1);
        memcpy(l->value, json_string_value(orig), n);
        l->value_len = n;
        l->has_value = 1;
    } else if (!json_is_null(orig)) { /* an object or array: its compact JSON */
        char *v = json_dumps(orig, JSON_COMPACT | JSON_ENCODE_ANY);
        if (v) {
            l->value = (unsigned char *)v;
            l->value_len = strlen(v);
            l->has_value = 1;
        }
    }
    json_decref(w);
}

void dlqr_letter_free(dlqr_letter *l)
{
    free(l->source_topic);
    free(l->reason);
    free(l->error);
    free(l->service);
    free(l->failed_at);
    free(l->value);
    memset(l, 0, sizeof *l);
}

static char *xstrndup_(const void *s, size_t n)
{
    char *p = xmalloc_(n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

void dlqr_letter_defaults(dlqr_letter *l, const char *dlq_topic, const void *reason,
                          size_t reason_len, const void *error, size_t error_len)
{
    if (!l->reason && reason) l->reason = xstrndup_(reason, reason_len);
    if (!l->error && error) l->error = xstrndup_(error, error_len);
    size_t n = dlq_topic ? strlen(dlq_topic) : 0;
    if (!l->source_topic && n > 4 && !strcmp(dlq_topic + n - 4, ".dlq"))
        l->source_topic = xstrndup_(dlq_topic, n - 4);
}

/* ---- markers ------------------------------------------------------------------------------- */
void dlqr_marker_key(int32_t dlq_partition, int64_t dlq_offset, char out[48])
{
    snprintf(out, 48, "%" PRId32 ":%" PRId64, dlq_partition, dlq_offset);
}

void dlqr_marker_id(int32_t dlq_partition, int64_t dlq_offset, int64_t dlq_ts, char out[80])
{
    snprintf(out, 80, "%" PRId32 ":%" PRId64 "@%" PRId64, dlq_partition, dlq_offset, dlq_ts);
}

char *dlqr_marker_value(const char *dlq_topic, int32_t dlq_partition, int64_t dlq_offset,
                        int64_t dlq_ts, const char *to, int32_t to_partition, int64_t to_offset,
                        int redrive_count, const char *redriven_at)
{
    json_t *mv =
        json_pack("{s:s,s:i,s:I,s:I,s:s,s:i,s:I,s:i,s:s}", "dlqTopic", dlq_topic, "dlqPartition",
                  (int)dlq_partition, "dlqOffset", (json_int_t)dlq_offset, "dlqTimestamp",
                  (json_int_t)dlq_ts, "to", to, "toPartition", (int)to_partition, "toOffset",
                  (json_int_t)to_offset, "redriveCount", redrive_count, "redrivenAt", redriven_at);
    char *val = mv ? json_dumps(mv, JSON_COMPACT) : NULL;
    json_decref(mv);
    if (!val) abort();
    return val;
}

int dlqr_marker_read(const void *key, size_t klen, const void *val, size_t vlen, char out[80])
{
    if (val) {
        json_t *v = json_loadb(val, vlen, 0, NULL);
        int64_t p = jint(v, "dlqPartition"), o = jint(v, "dlqOffset"), t = jint(v, "dlqTimestamp");
        json_decref(v);
        if (p < 0 || p > INT32_MAX || o < 0) return 0;
        dlqr_marker_id((int32_t)p, o, t, out);
        return 1;
    }
    if (!key || klen == 0 || klen > 40) return 0;
    snprintf(out, 80, "%.*s@", (int)klen, (const char *)key);
    return 2;
}

/* ---- filter -------------------------------------------------------------------------------- */
typedef enum { F_ERROR, F_REASON, F_SERVICE, F_TOPIC, F_KEY, F_PARTITION, F_OFFSET, F_TIME } fkind;

typedef struct fexpr {
    fkind kind;
    char *text;
    int64_t lo, hi; /* inclusive */
} fexpr;

struct dlqr_filter {
    fexpr *x;
    int n;
};

dlqr_filter *dlqr_filter_new(void)
{
    dlqr_filter *f = xmalloc_(sizeof *f);
    memset(f, 0, sizeof *f);
    return f;
}

void dlqr_filter_free(dlqr_filter *f)
{
    if (!f) return;
    for (int i = 0; i < f->n; i++) free(f->x[i].text);
    free(f->x);
    free(f);
}

/* A decimal number of exactly n digits at s. */
static int digits(const char *s, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) return -1;
        *v = *v * 10 + (s[i] - '0');
    }
    return 0;
}

int dlqr_parse_rfc3339(const char *s, int64_t *wall_ms)
{
    int Y, M, D, h, mi, sec, ms = 0;
    if (!s || strlen(s) < 20) return -1;
    if (digits(s, 4, &Y) || s[4] != '-' || digits(s + 5, 2, &M) || s[7] != '-' ||
        digits(s + 8, 2, &D) || !strchr("Tt ", s[10]) || digits(s + 11, 2, &h) || s[13] != ':' ||
        digits(s + 14, 2, &mi) || s[16] != ':' || digits(s + 17, 2, &sec))
        return -1;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || mi > 59 || sec > 60) return -1;
    const char *p = s + 19;
    if (*p == '.') {
        int n = 0;
        for (p++; isdigit((unsigned char)*p); p++, n++)
            if (n < 3) ms = ms * 10 + (*p - '0');
        if (n == 0) return -1;
        for (; n < 3; n++) ms *= 10;
    }
    int off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return -1;
        off = (oh * 60 + om) * (*p == '+' ? 1 : -1);
        p += 6;
    } else {
        return -1;
    }
    if (*p) return -1;
    struct tm tm = {.tm_year = Y - 1900,
                    .tm_mon = M - 1,
                    .tm_mday = D,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = sec};
    if (wall_ms) *wall_ms = ((int64_t)timegm(&tm) - (int64_t)off * 60) * 1000 + ms;
    return 0;
}

/* A non-negative decimal integer filling s[0..n). */
static int parse_i64(const char *s, size_t n, int64_t *out)
{
    if (n == 0 || n > 18) return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int parse_time(const char *s, size_t n, int64_t *out)
{
    if (parse_i64(s, n, out) == 0) return 0;
    char buf[64];
    if (n >= sizeof buf) return -1;
    memcpy(buf, s, n);
    buf[n] = 0;
    return dlqr_parse_rfc3339(buf, out);
}

/* "A..B", "A..", "..B" or "N" into [lo, hi]. */
static int parse_range(const char *s, int is_time, int64_t *lo, int64_t *hi)
{
    int (*num)(const char *, size_t, int64_t *) = is_time ? parse_time : parse_i64;
    const char *dots = strstr(s, "..");
    *lo = INT64_MIN;
    *hi = INT64_MAX;
    if (!dots) {
        if (num(s, strlen(s), lo) != 0) return -1;
        *hi = *lo;
        return 0;
    }
    size_t a = (size_t)(dots - s), b = strlen(dots + 2);
    if ((a == 0 && b == 0) || (a && num(s, a, lo) != 0) || (b && num(dots + 2, b, hi) != 0))
        return -1;
    return *lo <= *hi ? 0 : -1;
}

#define FIELDS "(error, reason, service, topic, key, partition, offset, time)"

int dlqr_filter_add(dlqr_filter *f, const char *expr, char *err, size_t errlen)
{
    static const struct {
        const char *name;
        fkind kind;
    } names[] = {{"error", F_ERROR},   {"reason", F_REASON}, {"service", F_SERVICE},
                 {"topic", F_TOPIC},   {"key", F_KEY},       {"partition", F_PARTITION},
                 {"offset", F_OFFSET}, {"time", F_TIME}};
    const char *eq = expr ? strchr(expr, '=') : NULL;
    if (!eq) {
        snprintf(err, errlen, "malformed filter '%.200s': expected NAME=VALUE " FIELDS,
                 expr ? expr : "");
        return -1;
    }
    size_t nl = (size_t)(eq - expr);
    const char *val = eq + 1;
    int k = -1;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i].name) == nl && !strncmp(names[i].name, expr, nl)) k = (int)i;
    if (k < 0) {
        snprintf(err, errlen, "malformed filter '%.200s': unknown field '%.*s' " FIELDS, expr,
                 (int)(nl > 64 ? 64 : nl), expr);
        return -1;
    }
    fexpr x = {names[k].kind, NULL, 0, 0};
    switch (x.kind) {
    case F_PARTITION:
        if (parse_i64(val, strlen(val), &x.lo) != 0 || x.lo > INT32_MAX) {
            snprintf(err, errlen, "malformed filter '%.200s': partition wants a number", expr);
            return -1;
        }
        x.hi = x.lo;
        break;
    case F_OFFSET:
    case F_TIME:
        if (parse_range(val, x.kind == F_TIME, &x.lo, &x.hi) != 0) {
            snprintf(err, errlen, "malformed filter '%.200s': %s wants N, A..B, A.. or ..B%s", expr,
                     x.kind == F_TIME ? "time" : "offset",
                     x.kind == F_TIME ? " (RFC 3339 or epoch milliseconds)" : "");
            return -1;
        }
        break;
    default:
        if (!*val && x.kind != F_KEY) {
            snprintf(err, errlen, "malformed filter '%.200s': empty value", expr);
            return -1;
        }
        x.text = xstrdup_(val);
    }
    fexpr *nx = realloc(f->x, sizeof *f->x * (size_t)(f->n + 1));
    if (!nx) abort();
    f->x = nx;
    f->x[f->n++] = x;
    return 0;
}

static int has(const char *hay, const char *needle)
{
    return hay && strstr(hay, needle);
}

int dlqr_filter_match(const dlqr_filter *f, const dlqr_fields *d)
{
    for (int i = 0; f && i < f->n; i++) {
        const fexpr *x = &f->x[i];
        int ok;
        switch (x->kind) {
        case F_ERROR: ok = has(d->error, x->text); break;
        case F_REASON: ok = has(d->reason, x->text); break;
        case F_SERVICE: ok = d->service && !strcmp(d->service, x->text); break;
        case F_TOPIC: ok = d->source_topic && !strcmp(d->source_topic, x->text); break;
        case F_KEY:
            ok = d->key && d->key_len == strlen(x->text) && !memcmp(d->key, x->text, d->key_len);
            break;
        case F_PARTITION: ok = d->source_partition == x->lo; break;
        case F_OFFSET:
            ok = d->source_offset >= 0 && d->source_offset >= x->lo && d->source_offset <= x->hi;
            break;
        default: ok = d->dlq_timestamp_ms >= x->lo && d->dlq_timestamp_ms <= x->hi; break;
        }
        if (!ok) return 0;
    }
    return 1;
}
