/* dispatch — the API table of eddyd: the rows registered by eddyd's main (each module's table
 * through dispatch_register), lookup by key, and the ApiVersions answer generated from the same
 * rows, so what is advertised cannot drift from what is implemented. Below server.c: it knows no
 * connections (the ApiVersions handler itself is in api_versions.c).
 */
#include <stdlib.h>
#include <string.h>

#include "broker/broker.h"
#include "common/log.h"

static const bhandler *g_by_key[KAPI_MAX_KEY + 1];

void dispatch_register(const bhandler_table table)
{
    for (int key = 0; key <= KAPI_MAX_KEY; key++) {
        const bhandler *t = &table[key];
        if (!t->fn) continue;
        const kapi *a = kapi_get((int16_t)key);
        if (!a) {
            LOGE("dispatch", "BUG: handler for API key %d that the codec does not know", key);
            abort();
        }
        if (t->min_version < a->min_version || t->max_version > a->max_version) {
            LOGE("dispatch", "BUG: %s advertised v%d-v%d beyond the codec's v%d-v%d", a->name,
                 t->min_version, t->max_version, a->min_version, a->max_version);
            abort();
        }
        if (g_by_key[key]) {
            LOGE("dispatch", "BUG: two handlers for %s", a->name);
            abort();
        }
        g_by_key[key] = t;
    }
}

const bhandler *dispatch_find(int16_t key)
{
    if (key < 0 || key > KAPI_MAX_KEY) return NULL;
    return g_by_key[key];
}

void dispatch_fill_api_versions(kmsg *resp, int16_t version)
{
    (void)version;
    int n = 0;
    for (int k = 0; k <= KAPI_MAX_KEY; k++)
        if (g_by_key[k]) n++;
    kmsg *items = k_new_items(resp, ApiVersionsResponse_ApiKeys, n);
    (void)items;
    int i = 0;
    for (int k = 0; k <= KAPI_MAX_KEY; k++) {
        if (!g_by_key[k]) continue;
        kmsg *it = k_item(resp, ApiVersionsResponse_ApiKeys, i++);
        k_set_int(it, ApiVersion_ApiKey, k);
        k_set_int(it, ApiVersion_MinVersion, g_by_key[k]->min_version);
        k_set_int(it, ApiVersion_MaxVersion, g_by_key[k]->max_version);
    }
    k_set_int(resp, ApiVersionsResponse_ErrorCode, 0);
    k_set_int(resp, ApiVersionsResponse_ThrottleTimeMs, 0);
}
