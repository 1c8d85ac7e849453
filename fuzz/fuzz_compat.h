/* fuzz_compat.h — the body of the two compatibility fuzz targets (fuzz_avro_compat.c,
 * fuzz_jsonschema_compat.c), which differ only in FUZZ_SCHEMA_TYPE.
 *
 * Input layout: byte 0 selects the level (modulo 7); the rest holds two schema texts separated
 * by the first NUL byte (no NUL: the same text twice).
 * Oracle: no crash, leak or out-of-bounds access (ASan/UBSan); checking against one previous
 * version, FULL is compatible exactly when BACKWARD and FORWARD both are, and the *_TRANSITIVE
 * levels agree with their plain forms; a check says the same twice; a reason is given for every
 * incompatibility; a valid schema can read itself unless the comparison ran out of budget. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "registry/compat.h"

static bool check(int level, const schema_src *news, const schema_src *old, bool *has_reasons)
{
    json_t *reasons = json_array();
    int v = 1;
    bool ok = compat_check(FUZZ_SCHEMA_TYPE, level, news, old, &v, 1, reasons);
    *has_reasons = json_array_size(reasons) > 0;
    json_decref(reasons);
    return ok;
}

static bool budget_only(const schema_src *s)
{
    json_t *reasons = json_array();
    bool ok = schema_can_read(FUZZ_SCHEMA_TYPE, s, s, "new", "old", reasons);
    char *d = json_dumps(reasons, JSON_COMPACT);
    bool budget = ok || (d && strstr(d, "TOO_COMPLEX"));
    free(d);
    json_decref(reasons);
    return budget;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    char *buf = malloc(size);
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = 0;
    const char *a = buf, *b = buf;
    size_t alen = strlen(buf);
    if (alen < size - 1) b = buf + alen + 1;
    schema_src news = {a, NULL, 0}, old = {b, NULL, 0};
    int level = data[0] % 7;
    bool r1, r2, rb, rf;
    bool ok = check(level, &news, &old, &r1);
    if (check(level, &news, &old, &r2) != ok || r1 != r2) abort();
    if (!ok && !r1) abort(); /* incompatible without a reason */
    bool back = check(CL_BACKWARD, &news, &old, &rb);
    bool fwd = check(CL_FORWARD, &news, &old, &rf);
    if (check(CL_FULL, &news, &old, &r1) != (back && fwd)) abort();
    if (check(CL_BACKWARD_TRANSITIVE, &news, &old, &r1) != back) abort();
    if (check(CL_FORWARD_TRANSITIVE, &news, &old, &r1) != fwd) abort();
    if (check(CL_FULL_TRANSITIVE, &news, &old, &r1) != (back && fwd)) abort();
    if (!check(CL_NONE, &news, &old, &r1)) abort();
    char err[256];
    char *norm = schema_normalize(FUZZ_SCHEMA_TYPE, &news, err, sizeof err);
    if (norm) {
        schema_src n = {norm, NULL, 0};
        if (!budget_only(&n)) abort(); /* a valid schema reads itself */
        free(norm);
    }
    free(buf);
    return 0;
}
