/* authz/quota — quota values, their file and the throttle accounting (quota.h).
 *
 * The file (<data dir>/__quotas, rewritten whole and atomically on every change):
 *
 *   eddy-quotas 1\n
 *   <name|%default> <key>=<value> ...\n      one line per user entity, values in %.17g
 *
 * A name is percent-encoded (bytes outside [A-Za-z0-9._:@-] as %XX), so "%default" (whose '%' is
 * not followed by two hex digits) cannot be a user's encoded name. */
#include "authz/quota.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

/* The bucket holds this many seconds of quota: a short burst passes unthrottled, and a measured
 * rate over a few seconds stays close to the quota. */
#define BURST_S 0.2

const char *const quota_key_names[QUOTA_NKINDS] = {"producer_byte_rate", "consumer_byte_rate",
                                                   "request_percentage"};

typedef struct qent {
    char *name; /* NULL = default */
    double v[QUOTA_NKINDS];
} qent;

typedef struct qusage {
    char *user;
    double level[QUOTA_NKINDS];
    int64_t last_ms[QUOTA_NKINDS];
    bool started[QUOTA_NKINDS];
} qusage;

struct quota_store {
    char *path;
    qent *ents;
    size_t n;
    qusage *use;
    size_t nuse;
};

int quota_key_parse(const char *key)
{
    for (int i = 0; i < QUOTA_NKINDS; i++)
        if (key && strcmp(key, quota_key_names[i]) == 0) return i;
    return -1;
}

static bool same_name(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static qent *ent_find(const quota_store *q, const char *name, bool create)
{
    for (size_t i = 0; i < q->n; i++)
        if (same_name(q->ents[i].name, name)) return &q->ents[i];
    if (!create) return NULL;
    quota_store *m = (quota_store *)q;
    m->ents = xrealloc(m->ents, (m->n + 1) * sizeof *m->ents);
    qent *e = &m->ents[m->n++];
    e->name = name ? xstrdup(name) : NULL;
    for (int k = 0; k < QUOTA_NKINDS; k++) e->v[k] = -1;
    return e;
}

static bool ent_empty(const qent *e)
{
    for (int k = 0; k < QUOTA_NKINDS; k++)
        if (e->v[k] >= 0) return false;
    return true;
}

void quota_store_set(quota_store *q, const char *name, int kind, double value, bool remove)
{
    if (kind < 0 || kind >= QUOTA_NKINDS) return;
    qent *e = ent_find(q, name, !remove);
    if (!e) return;
    e->v[kind] = remove ? -1 : value;
    if (ent_empty(e)) {
        free(e->name);
        *e = q->ents[--q->n];
    }
}

static int hexv(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int quota_store_save(quota_store *q)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return -errno;
    fputs("eddy-quotas 1\n", f);
    for (size_t i = 0; i < q->n; i++) {
        const qent *e = &q->ents[i];
        if (!e->name) {
            fputs("%default", f);
        } else {
            for (const unsigned char *p = (const unsigned char *)e->name; *p; p++) {
                if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                    (*p >= '0' && *p <= '9') || strchr("._:@-", *p))
                    fputc(*p, f);
                else
                    fprintf(f, "%%%02X", *p);
            }
        }
        for (int k = 0; k < QUOTA_NKINDS; k++)
            if (e->v[k] >= 0) fprintf(f, " %s=%.17g", quota_key_names[k], e->v[k]);
        fputc('\n', f);
    }
    fclose(f);
    int rc = write_file_atomic(q->path, buf, len);
    free(buf);
    return rc;
}

static int load(quota_store *q, char **err)
{
    size_t len;
    char *text = read_file_all(q->path, &len);
    if (!text) {
        if (errno == ENOENT) return 0;
        *err = xasprintf("%s: %s", q->path, strerror(errno));
        return -1;
    }
    int lineno = 0, rc = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line && rc == 0;
         line = strtok_r(NULL, "\n", &save)) {
        if (++lineno == 1) {
            if (strcmp(line, "eddy-quotas 1") != 0) {
                *err = xasprintf("%s: not a quota file", q->path);
                rc = -1;
            }
            continue;
        }
        char *s2 = NULL, *tok = strtok_r(line, " ", &s2);
        if (!tok) continue;
        char *name = NULL;
        if (strcmp(tok, "%default") != 0) {
            name = xstrdup(tok);
            char *o = name;
            for (char *p = tok; *p; p++) {
                int h, l;
                if (*p == '%' && (h = hexv(p[1])) >= 0 && (l = hexv(p[2])) >= 0 && (h || l)) {
                    *o++ = (char)(h * 16 + l);
                    p += 2;
                } else if (*p == '%') {
                    rc = -1;
                    break;
                } else {
                    *o++ = *p;
                }
            }
            *o = 0;
        }
        for (char *kv = strtok_r(NULL, " ", &s2); kv && rc == 0; kv = strtok_r(NULL, " ", &s2)) {
            char *eq = strchr(kv, '=');
            char *end = NULL;
            if (!eq) {
                rc = -1;
                break;
            }
            *eq = 0;
            int k = quota_key_parse(kv);
            double v = strtod(eq + 1, &end);
            if (k < 0 || !end || *end || !(v >= 0) || isinf(v)) {
                rc = -1;
                break;
            }
            quota_store_set(q, name, k, v, false);
        }
        if (rc < 0) *err = xasprintf("%s:%d: bad quota line", q->path, lineno);
        free(name);
    }
    free(text);
    return rc;
}

quota_store *quota_store_open(const char *path, char **err)
{
    quota_store *q = xcalloc(1, sizeof *q);
    q->path = xstrdup(path);
    if (load(q, err) < 0) {
        quota_store_close(q);
        return NULL;
    }
    return q;
}

void quota_store_close(quota_store *q)
{
    if (!q) return;
    for (size_t i = 0; i < q->n; i++) free(q->ents[i].name);
    for (size_t i = 0; i < q->nuse; i++) free(q->use[i].user);
    free(q->ents);
    free(q->use);
    free(q->path);
    free(q);
}

void quota_store_each(const quota_store *q, quota_visit_fn fn, void *arg)
{
    for (size_t i = 0; i < q->n; i++) {
        quota_entity e = {q->ents[i].name, {0}};
        memcpy(e.v, q->ents[i].v, sizeof e.v);
        fn(&e, arg);
    }
}

bool quota_store_empty(const quota_store *q)
{
    return q->n == 0;
}

double quota_limit(const quota_store *q, const char *user, int kind)
{
    if (kind < 0 || kind >= QUOTA_NKINDS) return -1;
    const qent *e = user ? ent_find(q, user, false) : NULL;
    if (e && e->v[kind] >= 0) return e->v[kind];
    e = ent_find(q, NULL, false);
    return e ? e->v[kind] : -1;
}

static qusage *usage_of(quota_store *q, const char *user)
{
    for (size_t i = 0; i < q->nuse; i++)
        if (strcmp(q->use[i].user, user) == 0) return &q->use[i];
    q->use = xrealloc(q->use, (q->nuse + 1) * sizeof *q->use);
    qusage *u = &q->use[q->nuse++];
    memset(u, 0, sizeof *u);
    u->user = xstrdup(user);
    return u;
}

int32_t quota_record(quota_store *q, const char *user, int kind, double amount, int64_t now_ms)
{
    if (kind < 0 || kind >= QUOTA_NKINDS || !user) return 0;
    double limit = quota_limit(q, user, kind);
    if (limit < 0) return 0;
    /* request_percentage: percent of one thread's time, i.e. limit/100 seconds per second; the
     * amount is microseconds, so the rate in µs per second is limit * 10000 */
    double rate = kind == QUOTA_REQUEST ? limit * 10000.0 : limit;
    if (rate <= 0) return 30000; /* a zero quota: the longest throttle Kafka uses by default */
    qusage *u = usage_of(q, user);
    if (!u->started[kind]) {
        u->started[kind] = true;
        u->level[kind] = rate * BURST_S;
        u->last_ms[kind] = now_ms;
    }
    int64_t dt = now_ms - u->last_ms[kind];
    if (dt > 0) {
        u->level[kind] += rate * (double)dt / 1000.0;
        if (u->level[kind] > rate * BURST_S) u->level[kind] = rate * BURST_S;
        u->last_ms[kind] = now_ms;
    }
    u->level[kind] -= amount;
    if (u->level[kind] >= 0) return 0;
    double ms = -u->level[kind] / rate * 1000.0;
    if (ms > 30000) ms = 30000;
    return (int32_t)ceil(ms);
}
