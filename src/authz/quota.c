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

#include "authz/file.h"
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

static void write_rows(FILE *f, void *arg)
{
    const quota_store *q = arg;
    for (size_t i = 0; i < q->n; i++) {
        const qent *e = &q->ents[i];
        if (!e->name)
            fputs("%default", f);
        else
            authz_put_enc(f, e->name, "._:@-");
        for (int k = 0; k < QUOTA_NKINDS; k++)
            if (e->v[k] >= 0) fprintf(f, " %s=%.17g", quota_key_names[k], e->v[k]);
        fputc('\n', f);
    }
}

int quota_store_save(quota_store *q)
{
    return authz_file_write(q->path, "eddy-quotas 1", write_rows, q);
}

static int load(quota_store *q, char **err)
{
    int lineno = 0, rc;
    char *text = authz_file_read(q->path, err, &rc);
    if (!text) return rc;
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
            if (!authz_dec_inplace(name)) rc = -1;
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
