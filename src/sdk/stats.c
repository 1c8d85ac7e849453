/* stats.c — the SDK's per-stage distributions (outbox age, relay batch size, inbox commit time,
 * inbox batch size): a fixed-bucket histogram plus the most recent SDK_DIST_RES samples for
 * P50/P95/P99, in the Prometheus text format. No allocation when observing; callers hold the
 * lock that guards the distribution. Part of src/sdk (libeddy). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

const double SDK_SECONDS_BOUNDS[SDK_DIST_NB] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                0.1,    0.25,  0.5,    1,     2.5,  5,     10};
const double SDK_COUNT_BOUNDS[SDK_DIST_NB] = {1,   2,   5,    10,   20,   50,    100,
                                              200, 500, 1000, 2000, 5000, 10000, 20000};

void sdk_dist_init(sdk_dist *d, const double *bounds)
{
    memset(d, 0, sizeof *d);
    d->bounds = bounds;
}

void sdk_dist_observe(sdk_dist *d, double v)
{
    int i = 0;
    while (i < SDK_DIST_NB && v > d->bounds[i]) i++;
    d->buckets[i]++;
    d->count++;
    d->sum += v;
    d->res[d->rpos] = (float)v;
    d->rpos = (d->rpos + 1) % SDK_DIST_RES;
    if (d->nres < SDK_DIST_RES) d->nres++;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

void sdk_dist_quantiles(const sdk_dist *d, const double *q, int nq, double *out)
{
    float tmp[SDK_DIST_RES];
    for (int k = 0; k < nq; k++) out[k] = 0;
    if (!d->nres) return;
    memcpy(tmp, d->res, d->nres * sizeof(float));
    qsort(tmp, d->nres, sizeof(float), cmp_float);
    for (int k = 0; k < nq; k++) out[k] = tmp[(uint32_t)(q[k] * (d->nres - 1) + 0.5)];
}

char *sdk_dist_text(const sdk_dist *d, const char *name, const char *help, const char *labels)
{
    size_t cap = 8192, n = 0;
    char *b = sdk_xmalloc(cap);
#define OUT(...) n += (size_t)snprintf(b + n, n < cap ? cap - n : 0, __VA_ARGS__)
    OUT("# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (int j = 0; j <= SDK_DIST_NB; j++) {
        cum += d->buckets[j];
        if (j < SDK_DIST_NB)
            OUT("%s_bucket{%s,le=\"%g\"} %llu\n", name, labels, d->bounds[j],
                (unsigned long long)cum);
        else
            OUT("%s_bucket{%s,le=\"+Inf\"} %llu\n", name, labels, (unsigned long long)cum);
    }
    OUT("%s_sum{%s} %.6f\n%s_count{%s} %llu\n", name, labels, d->sum, name, labels,
        (unsigned long long)d->count);
    static const double q[] = {0.5, 0.95, 0.99};
    double v[3];
    sdk_dist_quantiles(d, q, 3, v);
    /* the recent window as a Prometheus summary (quantiles, with the window's sum and count) */
    double rsum = 0;
    for (uint32_t i = 0; i < d->nres; i++) rsum += d->res[i];
    OUT("# HELP %s_recent P50/P95/P99 over the last %d observations\n"
        "# TYPE %s_recent summary\n",
        name, SDK_DIST_RES, name);
    for (int k = 0; k < 3; k++)
        OUT("%s_recent{%s,quantile=\"%g\"} %.6f\n", name, labels, q[k], v[k]);
    OUT("%s_recent_sum{%s} %.6f\n%s_recent_count{%s} %u\n", name, labels, rsum, name, labels,
        d->nres);
    OUT("# HELP %s_mean mean of every observation\n# TYPE %s_mean gauge\n%s_mean{%s} %.6f\n", name,
        name, name, labels, d->count ? d->sum / (double)d->count : 0.0);
#undef OUT
    if (n >= cap) { /* 8 KiB holds it unless the labels are huge: say so rather than cut */
        free(b);
        return sdk_xasprintf("# %s: labels too long\n", name);
    }
    return b;
}
