/* fuzz_avro_schema — the Avro schema parser with references (src/registry/avro.c): what a
 * register runs on the worker to validate and normalise a schema whose named types come from
 * referenced schemas.
 *
 * Input layout: NUL-separated texts; the last is the schema, the ones before it its references
 * (in order, named r0, r1, ...).
 * Oracle: no crash, leak or out-of-bounds access (ASan/UBSan); a schema that normalises
 * normalises to itself again with the same references, its canonical form is a fixed point, and
 * it can read itself (unless the comparison ran out of budget: TOO_COMPLEX). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "registry/compat.h"

#define MAX_REFS 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    memcpy(buf, data, size);
    buf[size] = 0;
    const char *texts[MAX_REFS + 1];
    int n = 0;
    for (char *p = buf; n <= MAX_REFS;) {
        texts[n++] = p;
        size_t l = strlen(p);
        if (p + l >= buf + size) break;
        p += l + 1;
    }
    schema_ref_text refs[MAX_REFS];
    char names[MAX_REFS][16];
    for (int i = 0; i < n - 1; i++) {
        snprintf(names[i], sizeof names[i], "r%d", i);
        refs[i] = (schema_ref_text){names[i], texts[i]};
    }
    schema_src s = {texts[n - 1], refs, n - 1};
    char err[512];
    char *norm = schema_normalize(STYPE_AVRO, &s, err, sizeof err);
    if (norm) {
        schema_src again = {norm, refs, n - 1};
        char *norm2 = schema_normalize(STYPE_AVRO, &again, err, sizeof err);
        if (!norm2 || strcmp(norm, norm2)) abort();
        char *c1 = schema_canonical(STYPE_AVRO, norm);
        char *c2 = c1 ? schema_canonical(STYPE_AVRO, c1) : NULL;
        if (!c1 || !c2 || strcmp(c1, c2)) abort();
        json_t *reasons = json_array();
        bool ok = schema_can_read(STYPE_AVRO, &again, &again, "new", "old", reasons);
        char *d = json_dumps(reasons, JSON_COMPACT);
        if (!ok && !(d && strstr(d, "TOO_COMPLEX"))) abort();
        free(d);
        json_decref(reasons);
        free(norm2);
        free(c1);
        free(c2);
        free(norm);
    }
    free(buf);
    return 0;
}
