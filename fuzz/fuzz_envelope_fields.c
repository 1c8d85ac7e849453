/* fuzz_envelope_fields — the relay's fast reading of an outbox envelope's header fields
 * (sdk_envelope_fields, src/sdk/envelope.c): any input must be answered without reading past
 * its end, and whenever both the fast path and the full parse (eddy_event_from_json) accept it
 * they must agree on every field. */
#include <eddy/eddy.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int sdk_envelope_fields(const char *json, char *scratch, size_t cap, eddy_event *ev);

static int same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    memcpy(buf, data, size);
    buf[size] = 0;
    char scratch[2048];
    eddy_event fast;
    int f = sdk_envelope_fields(buf, scratch, sizeof scratch, &fast);
    eddy_event *full = NULL;
    char *why = NULL;
    int g = eddy_event_from_json(buf, strlen(buf), &full, &why);
    if (f == 0 && g == 0) {
        if (!same(fast.event_type, full->event_type) || !same(fast.version, full->version) ||
            !same(fast.event_id, full->event_id) || !same(fast.timestamp, full->timestamp) ||
            !same(fast.correlation_id, full->correlation_id) ||
            !same(fast.causation_id, full->causation_id) || !same(fast.source, full->source) ||
            !same(fast.traceparent, full->traceparent))
            abort();
    }
    eddy_event_free(full);
    free(why);
    free(buf);
    return 0;
}
