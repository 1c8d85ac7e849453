/* debezium.c — PostgreSQL text output → Debezium JSON values and row images (see debezium.h).
 * The text comes from a session with DateStyle=ISO, TimeZone=UTC, IntervalStyle=iso_8601,
 * extra_float_digits=3 and bytea_output=hex (eddy-cdc sets them on both of its connections). */
#include "cdc/debezium.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/util.h"

/* Type oids from pg_type.dat. */
enum {
    T_BOOL = 16,
    T_BYTEA = 17,
    T_CHAR = 18,
    T_NAME = 19,
    T_INT8 = 20,
    T_INT2 = 21,
    T_INT4 = 23,
    T_TEXT = 25,
    T_OID = 26,
    T_JSON = 114,
    T_XML = 142,
    T_FLOAT4 = 700,
    T_FLOAT8 = 701,
    T_MONEY = 790,
    T_BPCHAR = 1042,
    T_VARCHAR = 1043,
    T_DATE = 1082,
    T_TIME = 1083,
    T_TIMESTAMP = 1114,
    T_TIMESTAMPTZ = 1184,
    T_INTERVAL = 1186,
    T_TIMETZ = 1266,
    T_BIT = 1560,
    T_NUMERIC = 1700,
    T_UUID = 2950,
    T_JSONB = 3802,
};

/* Array type oid → element type oid. */
static const struct {
    uint32_t arr, elem;
} array_types[] = {
    {1000, T_BOOL},        {1001, T_BYTEA},    {1002, T_CHAR},   {1003, T_NAME},
    {1005, T_INT2},        {1007, T_INT4},     {1009, T_TEXT},   {1014, T_BPCHAR},
    {1015, T_VARCHAR},     {1016, T_INT8},     {1021, T_FLOAT4}, {1022, T_FLOAT8},
    {1028, T_OID},         {1182, T_DATE},     {1183, T_TIME},   {1115, T_TIMESTAMP},
    {1185, T_TIMESTAMPTZ}, {1187, T_INTERVAL}, {1270, T_TIMETZ}, {1231, T_NUMERIC},
    {2951, T_UUID},        {199, T_JSON},      {3807, T_JSONB},  {791, T_MONEY},
    {143, T_XML},
};

int64_t dbz_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static json_t *text_value(const char *s, size_t n)
{
    return json_stringn_nocheck(s, n);
}

/* Strict integer parse of the whole string. */
static int parse_i64(const char *s, long long *out)
{
    if (!*s) return -1;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end) return -1;
    *out = v;
    return 0;
}

/* ---- numeric -------------------------------------------------------------------------- */

/* "-123.4500" → base64 of the unscaled value (-1234500) as a minimal big-endian two's
 * complement (java.math.BigInteger.toByteArray) and its scale. NULL if not a plain decimal. */
static char *decimal_b64(const char *s, int *scale_out)
{
    bool neg = false;
    if (*s == '-' || *s == '+') neg = *s++ == '-';
    size_t n = strlen(s);
    if (n == 0 || n > 200000) return NULL;
    /* magnitude in base 256, little-endian while building */
    size_t cap = n / 2 + 2, used = 1;
    uint8_t *mag = xcalloc(cap, 1);
    int scale = 0, digits = 0;
    bool point = false;
    for (const char *p = s; *p; p++) {
        if (*p == '.' && !point) {
            point = true;
            continue;
        }
        if (!isdigit((unsigned char)*p)) {
            free(mag);
            return NULL;
        }
        digits++;
        if (point) scale++;
        unsigned carry = (unsigned)(*p - '0');
        for (size_t i = 0; i < used; i++) {
            unsigned v = mag[i] * 10u + carry;
            mag[i] = (uint8_t)v;
            carry = v >> 8;
        }
        if (carry) mag[used++] = (uint8_t)carry;
    }
    if (!digits) {
        free(mag);
        return NULL;
    }
    while (used > 1 && mag[used - 1] == 0) used--;
    bool zero = used == 1 && mag[0] == 0;
    if (neg && !zero) { /* two's complement: invert and add one */
        unsigned carry = 1;
        for (size_t i = 0; i < used; i++) {
            unsigned v = (uint8_t)~mag[i] + carry;
            mag[i] = (uint8_t)v;
            carry = v >> 8;
        }
        /* minimal form: need the sign bit set */
        if (!(mag[used - 1] & 0x80)) mag[used++] = 0xff;
        while (used > 1 && mag[used - 1] == 0xff && (mag[used - 2] & 0x80)) used--;
    } else if (mag[used - 1] & 0x80) {
        mag[used++] = 0;
    }
    uint8_t *be = xmalloc(used);
    for (size_t i = 0; i < used; i++) be[i] = mag[used - 1 - i];
    char *out = b64_encode_alloc(be, used, false);
    free(be);
    free(mag);
    *scale_out = scale;
    return out;
}

static json_t *numeric_value(const char *s, size_t len, int32_t typmod, enum dbz_decimal dm,
                             int fixed_scale)
{
    if (dm == DBZ_DECIMAL_STRING) return text_value(s, len);
    if (!strcmp(s, "NaN") || strstr(s, "Infinity")) {
        if (dm == DBZ_DECIMAL_DOUBLE) return json_string(s);
        return json_null();
    }
    if (dm == DBZ_DECIMAL_DOUBLE) {
        char *end;
        double d = strtod(s, &end);
        return *end ? text_value(s, len) : json_real(d);
    }
    int scale = 0;
    char *b64 = decimal_b64(s, &scale);
    if (!b64) return text_value(s, len);
    json_t *v;
    if (fixed_scale >= 0 || typmod >= 4) {
        v = json_string(b64);
    } else { /* io.debezium.data.VariableScaleDecimal */
        v = json_pack("{s:i,s:s}", "scale", scale, "value", b64);
    }
    free(b64);
    return v;
}

/* "$1,234.56", "-$1.00", "($1.00)" → "1234.56" / "-1.00" */
static json_t *money_value(const char *s, size_t len, enum dbz_decimal dm)
{
    char buf[64];
    size_t o = 0;
    bool neg = false;
    for (size_t i = 0; i < len && o + 2 < sizeof(buf); i++) {
        char c = s[i];
        if (c == '-' || c == '(')
            neg = true;
        else if (isdigit((unsigned char)c) || c == '.')
            buf[o++] = c;
    }
    if (o == 0 || o + 2 >= sizeof(buf)) return text_value(s, len);
    buf[o] = 0;
    char num[80];
    snprintf(num, sizeof(num), "%s%s", neg ? "-" : "", buf);
    return numeric_value(num, strlen(num), -1, dm, 2);
}

/* ---- dates and times ------------------------------------------------------------------- */

typedef struct ts_parts {
    int64_t y;
    unsigned mo, d, h, mi, s;
    int64_t us; /* fraction in µs */
    long long frac_ns;
    bool has_tz;
    int tz_sec; /* offset east of UTC */
} ts_parts;

/* Parses "HH:MM:SS[.ffffff][±HH[:MM[:SS]]]" at *pp. */
static int parse_time(const char **pp, ts_parts *t)
{
    const char *p = *pp;
    int used = 0;
    if (sscanf(p, "%2u:%2u:%2u%n", &t->h, &t->mi, &t->s, &used) != 3) return -1;
    p += used;
    if (t->h > 24 || t->mi > 59 || t->s > 60) return -1;
    t->us = 0;
    t->frac_ns = 0;
    if (*p == '.') {
        p++;
        int n = 0;
        long long ns = 0;
        while (isdigit((unsigned char)*p)) {
            if (n < 9) ns = ns * 10 + (*p - '0');
            n++;
            p++;
        }
        if (!n) return -1;
        for (int i = n; i < 9; i++) ns *= 10;
        t->frac_ns = ns;
        t->us = ns / 1000;
    }
    if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        unsigned hh = 0, mm = 0, ss = 0;
        p++;
        if (sscanf(p, "%2u%n", &hh, &used) != 1) return -1;
        p += used;
        if (*p == ':') {
            if (sscanf(p + 1, "%2u%n", &mm, &used) != 1) return -1;
            p += 1 + used;
        }
        if (*p == ':') {
            if (sscanf(p + 1, "%2u%n", &ss, &used) != 1) return -1;
            p += 1 + used;
        }
        t->has_tz = true;
        t->tz_sec = sign * (int)(hh * 3600 + mm * 60 + ss);
    }
    *pp = p;
    return 0;
}

/* "YYYY-MM-DD[ BC]" at *pp */
static int parse_date(const char **pp, ts_parts *t)
{
    const char *p = *pp;
    char *end;
    errno = 0;
    long long y = strtoll(p, &end, 10);
    if (errno || end == p || y < 0 || y > 5874897 || *end != '-') return -1; /* PG's range */
    p = end + 1;
    unsigned mo, d;
    int used = 0;
    if (sscanf(p, "%2u-%2u%n", &mo, &d, &used) != 2 || mo < 1 || mo > 12 || d < 1 || d > 31)
        return -1;
    t->y = y;
    t->mo = mo;
    t->d = d;
    *pp = p + used;
    return 0;
}

static bool ends_bc(const char **pp)
{
    if (!strcmp(*pp, " BC")) {
        *pp += 3;
        return true;
    }
    return false;
}

static json_t *date_value(const char *s, size_t len)
{
    ts_parts t = {0};
    const char *p = s;
    if (parse_date(&p, &t)) return text_value(s, len);
    if (ends_bc(&p)) t.y = 1 - t.y;
    if (*p) return text_value(s, len);
    return json_integer(dbz_days_from_civil(t.y, t.mo, t.d));
}

/* Epoch µs of a timestamp (minus the zone offset when it has one), or -1 on bad text. */
static int timestamp_parse(const char *s, ts_parts *t, int64_t *epoch_us)
{
    const char *p = s;
    memset(t, 0, sizeof(*t));
    if (parse_date(&p, t) || *p++ != ' ' || parse_time(&p, t)) return -1;
    if (ends_bc(&p)) t->y = 1 - t->y;
    if (*p) return -1;
    if (t->y > 294276) return -1; /* past PostgreSQL's timestamp range */
    int64_t days = dbz_days_from_civil(t->y, t->mo, t->d);
    int64_t secs = days * 86400 + t->h * 3600 + t->mi * 60 + t->s - (t->has_tz ? t->tz_sec : 0);
    *epoch_us = secs * 1000000 + t->us;
    return 0;
}

/* ISO-8601 fraction as java.time prints it: no fraction when zero, else the nanoseconds with
 * trailing zeros removed. */
static void put_fraction(char *out, size_t n, long long ns)
{
    if (!ns) {
        out[0] = 0;
        return;
    }
    char d[24];
    snprintf(d, sizeof(d), "%09lld", ns % 1000000000LL);
    int l = 9;
    while (l > 0 && d[l - 1] == '0') l--;
    if (n < 11) {
        out[0] = 0;
        return;
    }
    out[0] = '.';
    memcpy(out + 1, d, (size_t)l);
    out[l + 1] = 0;
}

static json_t *timestamptz_value(const char *s, size_t len)
{
    if (!strcmp(s, "infinity") || !strcmp(s, "-infinity")) return text_value(s, len);
    ts_parts t;
    int64_t us;
    if (timestamp_parse(s, &t, &us)) return text_value(s, len);
    int64_t secs = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
    int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    int64_t sod = secs - days * 86400;
    int64_t y;
    unsigned mo, d;
    civil_from_days(days, &y, &mo, &d);
    char frac[16], out[80];
    put_fraction(frac, sizeof(frac), t.frac_ns);
    if (y >= 0 && y <= 9999)
        snprintf(out, sizeof(out), "%04lld-%02u-%02uT%02u:%02u:%02u%sZ", (long long)y, mo, d,
                 (unsigned)(sod / 3600), (unsigned)(sod / 60 % 60), (unsigned)(sod % 60), frac);
    else
        snprintf(out, sizeof(out), "%+05lld-%02u-%02uT%02u:%02u:%02u%sZ", (long long)y, mo, d,
                 (unsigned)(sod / 3600), (unsigned)(sod / 60 % 60), (unsigned)(sod % 60), frac);
    return json_string(out);
}

/* Debezium's PostgreSQL connector maps ±infinity timestamps to these epoch values. */
#define DBZ_TS_POS_INF 9223372036825200000LL
#define DBZ_TS_NEG_INF (-9223372036832400000LL)

static json_t *timestamp_value(const char *s, size_t len, int32_t typmod)
{
    bool millis = typmod >= 0 && typmod <= 3;
    if (!strcmp(s, "infinity")) return json_integer(DBZ_TS_POS_INF);
    if (!strcmp(s, "-infinity")) return json_integer(DBZ_TS_NEG_INF);
    ts_parts t;
    int64_t us;
    if (timestamp_parse(s, &t, &us) || t.has_tz) return text_value(s, len);
    if (millis) return json_integer(us >= 0 ? us / 1000 : -((-us + 999) / 1000));
    return json_integer(us);
}

static json_t *time_value(const char *s, size_t len, int32_t typmod, bool tz)
{
    ts_parts t = {0};
    const char *p = s;
    if (parse_time(&p, &t) || *p || t.has_tz != tz) return text_value(s, len);
    int64_t sod = t.h * 3600 + t.mi * 60 + t.s;
    if (!tz) {
        int64_t us = sod * 1000000 + t.us;
        if (typmod >= 0 && typmod <= 3) return json_integer(us / 1000);
        return json_integer(us);
    }
    sod = ((sod - t.tz_sec) % 86400 + 86400) % 86400;
    char frac[16], out[48];
    put_fraction(frac, sizeof(frac), t.frac_ns);
    snprintf(out, sizeof(out), "%02u:%02u:%02u%sZ", (unsigned)(sod / 3600),
             (unsigned)(sod / 60 % 60), (unsigned)(sod % 60), frac);
    return json_string(out);
}

/* ISO-8601 interval ("P1Y2M3DT4H5M6.5S", parts may be negative) → µs with Debezium's
 * MicroDuration arithmetic (30.4375-day months). */
static json_t *interval_value(const char *s, size_t len)
{
    const char *p = s;
    if (*p++ != 'P') return text_value(s, len);
    double y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
    bool in_time = false, any = false;
    while (*p) {
        if (*p == 'T') {
            in_time = true;
            p++;
            continue;
        }
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno || !isfinite(v)) return text_value(s, len);
        p = end;
        switch (*p) {
        case 'Y': y = v; break;
        case 'M':
            if (in_time)
                mi = v;
            else
                mo = v;
            break;
        case 'W': d += v * 7; break;
        case 'D': d += v; break;
        case 'H': h = v; break;
        case 'S': sec = v; break;
        default: return text_value(s, len);
        }
        any = true;
        p++;
    }
    if (!any && strcmp(s, "PT0S")) return text_value(s, len);
    double days = (y * 12 + mo) * (365.25 / 12.0) + d;
    double us = ((days * 24 + h) * 60 + mi) * 60 * 1e6 + sec * 1e6;
    if (!(us < 9.2e18 && us > -9.2e18)) return text_value(s, len);
    return json_integer((json_int_t)llround(us));
}

static json_t *bytea_value(const char *s, size_t len)
{
    if (len < 2 || s[0] != '\\' || s[1] != 'x' || (len - 2) % 2) return text_value(s, len);
    size_t n = (len - 2) / 2;
    uint8_t *b = xmalloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) {
        char h[3] = {s[2 + 2 * i], s[3 + 2 * i], 0};
        char *end;
        if (!isxdigit((unsigned char)h[0]) || !isxdigit((unsigned char)h[1])) {
            free(b);
            return text_value(s, len);
        }
        b[i] = (uint8_t)strtoul(h, &end, 16);
    }
    char *e = b64_encode_alloc(b, n, false);
    json_t *v = json_string(e);
    free(e);
    free(b);
    return v;
}

static json_t *float_value(const char *s, size_t len)
{
    char *end;
    double d = strtod(s, &end);
    if (*end || !*s) return text_value(s, len);
    if (!isfinite(d)) return text_value(s, len); /* "NaN", "Infinity", "-Infinity" */
    return json_real(d);
}

/* ---- arrays ---------------------------------------------------------------------------- */

#define ARRAY_MAX_DEPTH 6

/* Parses one "{...}" level at *pp into a JSON array of elem-typed values. */
static json_t *array_parse(const char **pp, const char *end, uint32_t elem, int32_t typmod,
                           enum dbz_decimal dm, int depth)
{
    const char *p = *pp;
    if (p >= end || *p != '{' || depth > ARRAY_MAX_DEPTH) return NULL;
    p++;
    json_t *arr = json_array();
    char *tok = xmalloc((size_t)(end - p) + 1);
    if (p < end && *p == '}') {
        *pp = p + 1;
        free(tok);
        return arr;
    }
    for (;;) {
        if (p >= end) goto bad;
        if (*p == '{') {
            json_t *sub = array_parse(&p, end, elem, typmod, dm, depth + 1);
            if (!sub) goto bad;
            json_array_append_new(arr, sub);
        } else {
            size_t n = 0;
            bool quoted = false;
            if (*p == '"') {
                quoted = true;
                p++;
                while (p < end && *p != '"') {
                    if (*p == '\\') p++;
                    if (p >= end) goto bad;
                    tok[n++] = *p++;
                }
                if (p >= end) goto bad;
                p++;
            } else {
                while (p < end && *p != ',' && *p != '}') tok[n++] = *p++;
            }
            tok[n] = 0;
            if (!quoted && !strcmp(tok, "NULL"))
                json_array_append_new(arr, json_null());
            else
                json_array_append_new(arr, dbz_value(elem, typmod, tok, n, dm));
        }
        if (p >= end) goto bad;
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == '}') {
            p++;
            break;
        }
        goto bad;
    }
    free(tok);
    *pp = p;
    return arr;
bad:
    free(tok);
    json_decref(arr);
    return NULL;
}

static json_t *array_value(uint32_t elem, const char *s, size_t len, enum dbz_decimal dm)
{
    const char *p = s, *end = s + len;
    /* optional dimension decoration "[1:3]={...}" */
    if (*p == '[') {
        const char *eq = memchr(p, '=', len);
        if (!eq) return text_value(s, len);
        p = eq + 1;
    }
    json_t *a = array_parse(&p, end, elem, -1, dm, 0);
    if (!a || p != end) {
        json_decref(a);
        return text_value(s, len);
    }
    return a;
}

/* ---- dispatch -------------------------------------------------------------------------- */

json_t *dbz_value(uint32_t typoid, int32_t typmod, const char *text, size_t len,
                  enum dbz_decimal dm)
{
    /* NUL-terminated copy so the parsers can use the C library */
    char stackbuf[128];
    char *s = len < sizeof(stackbuf) ? stackbuf : xmalloc(len + 1);
    memcpy(s, text, len);
    s[len] = 0;
    json_t *v = NULL;
    long long i;
    if (strlen(s) != len) { /* an embedded NUL: not any type's text form */
        v = text_value(text, len);
        goto out;
    }
    switch (typoid) {
    case T_BOOL:
        if (!strcmp(s, "t"))
            v = json_true();
        else if (!strcmp(s, "f"))
            v = json_false();
        break;
    case T_INT2:
    case T_INT4:
    case T_INT8:
    case T_OID:
        if (!parse_i64(s, &i)) v = json_integer(i);
        break;
    case T_FLOAT4:
    case T_FLOAT8: v = float_value(s, len); break;
    case T_NUMERIC: v = numeric_value(s, len, typmod, dm, -1); break;
    case T_MONEY: v = money_value(s, len, dm); break;
    case T_DATE: v = date_value(s, len); break;
    case T_TIME: v = time_value(s, len, typmod, false); break;
    case T_TIMETZ: v = time_value(s, len, typmod, true); break;
    case T_TIMESTAMP: v = timestamp_value(s, len, typmod); break;
    case T_TIMESTAMPTZ: v = timestamptz_value(s, len); break;
    case T_INTERVAL: v = interval_value(s, len); break;
    case T_BYTEA: v = bytea_value(s, len); break;
    case T_BIT:
        if (typmod == 1 && (!strcmp(s, "0") || !strcmp(s, "1"))) v = json_boolean(s[0] == '1');
        break;
    default:
        for (size_t k = 0; k < ARRAY_LEN(array_types); k++)
            if (array_types[k].arr == typoid) {
                v = array_value(array_types[k].elem, s, len, dm);
                break;
            }
        break;
    }
    if (!v) v = text_value(text, len);
out:
    if (s != stackbuf) free(s);
    return v;
}

json_t *dbz_row(const dbz_rel *rel, const pgo_tuple *t, const pgo_tuple *fallback,
                enum dbz_decimal dm)
{
    if (!t) return NULL;
    json_t *o = json_object();
    for (int i = 0; i < rel->ncols; i++) {
        const dbz_col *c = &rel->cols[i];
        const pgo_value *v = i < t->ncols ? &t->cols[i] : NULL;
        if (v && v->kind == 'u' && fallback && i < fallback->ncols && fallback->cols[i].kind != 'u')
            v = &fallback->cols[i];
        json_t *j;
        if (!v || v->kind == 'n')
            j = json_null();
        else if (v->kind == 'u')
            j = json_string(DBZ_UNAVAILABLE);
        else
            j = dbz_value(c->typoid, c->typmod, v->data, v->len, dm);
        json_object_set_new_nocheck(o, c->name, j);
    }
    return o;
}

json_t *dbz_key(const dbz_rel *rel, const pgo_tuple *t, enum dbz_decimal dm)
{
    json_t *o = NULL;
    for (int i = 0; i < rel->ncols; i++) {
        const dbz_col *c = &rel->cols[i];
        if (!c->pk) continue;
        if (!o) o = json_object();
        const pgo_value *v = t && i < t->ncols ? &t->cols[i] : NULL;
        json_t *j = (!v || v->kind != 't') ? json_null()
                                           : dbz_value(c->typoid, c->typmod, v->data, v->len, dm);
        json_object_set_new_nocheck(o, c->name, j);
    }
    return o;
}
