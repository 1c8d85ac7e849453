/* envelope.c — the Eddy event envelope (eddy.h): creation, validation of the mandatory fields,
 * JSON encoding/decoding and the Kafka headers that carry the same facts (CloudEvents Kafka
 * binding names where they fit). Part of src/sdk (libeddy). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void eddy_event_set(char **field, const char *value)
{
    free(*field);
    *field = value ? sdk_xstrdup(value) : NULL;
}

eddy_event *eddy_event_new(const char *type, const char *version, const char *source,
                           json_t *payload)
{
    eddy_event *ev = sdk_xcalloc(1, sizeof *ev);
    char id[37], corr[37], ts[32];
    sdk_uuid_v7(id);
    eddy_uuid_generate(corr);
    eddy_time_rfc3339(sdk_wall_ms(), ts);
    ev->event_type = sdk_xstrdup(type ? type : "");
    ev->version = sdk_xstrdup(version ? version : "1.0");
    ev->source = sdk_xstrdup(source ? source : "");
    ev->event_id = sdk_xstrdup(id);
    ev->timestamp = sdk_xstrdup(ts);
    ev->correlation_id = sdk_xstrdup(corr);
    ev->causation_id = sdk_xstrdup(corr);
    ev->payload = payload ? payload : json_object();
    ev->partition = -1;
    ev->offset = -1;
    return ev;
}

void eddy_event_free(eddy_event *ev)
{
    if (!ev) return;
    free(ev->event_type);
    free(ev->version);
    free(ev->event_id);
    free(ev->timestamp);
    free(ev->correlation_id);
    free(ev->causation_id);
    free(ev->source);
    free(ev->traceparent);
    free(ev->key);
    free(ev->topic);
    json_decref(ev->payload);
    free(ev);
}

static int version_ok(const char *v)
{
    /* MAJOR or MAJOR.MINOR (digits), as the guide's "1.0". */
    const char *p = v;
    if (!*p) return 0;
    while (*p >= '0' && *p <= '9') p++;
    if (p == v) return 0;
    if (*p == 0) return 1;
    if (*p++ != '.') return 0;
    const char *q = p;
    while (*p >= '0' && *p <= '9') p++;
    return p > q && *p == 0;
}

static int name_ok(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    return n > 0 && n <= max;
}

static int fields_validate(const eddy_event *ev, const char **reason, int payload)
{
    const char *r = NULL;
    if (!ev)
        r = "no event";
    else if (!name_ok(ev->event_type, 200))
        r = "missing or invalid eventType";
    else if (!ev->version || !version_ok(ev->version))
        r = "missing or invalid version";
    else if (!eddy_uuid_valid(ev->event_id))
        r = "missing or invalid eventId (UUID)";
    else if (!ev->timestamp || eddy_time_parse_rfc3339(ev->timestamp, NULL))
        r = "missing or invalid timestamp (RFC 3339)";
    else if (!name_ok(ev->correlation_id, 200))
        r = "missing or invalid correlationId";
    else if (!name_ok(ev->causation_id, 200))
        r = "missing or invalid causationId";
    else if (!name_ok(ev->source, 200))
        r = "missing or invalid source";
    else if (payload && !json_is_object(ev->payload))
        r = "missing or invalid payload (object)";
    else if (ev->traceparent && !eddy_trace_valid(ev->traceparent))
        r = "invalid traceparent";
    if (reason) *reason = r;
    return r ? EDDY_ERR_PERMANENT : 0;
}

int eddy_event_validate(const eddy_event *ev, const char **reason)
{
    return fields_validate(ev, reason, 1);
}

/* The envelope's fields before "payload" (eddy_event_to_json writes them first), without
 * parsing the payload: plain strings only (no escapes), copied into scratch, which the
 * returned event's pointers point into. Anything else (escapes, other value types, a missing
 * or invalid field, no object payload, scratch too small) returns -1: parse it fully. */
int sdk_envelope_fields(const char *js, char *scratch, size_t cap, eddy_event *ev)
{
    memset(ev, 0, sizeof *ev);
    static const char *const names[] = {"eventType",     "version",     "eventId", "timestamp",
                                        "correlationId", "causationId", "source",  "traceparent"};
    char **slot[] = {&ev->event_type,     &ev->version,      &ev->event_id, &ev->timestamp,
                     &ev->correlation_id, &ev->causation_id, &ev->source,   &ev->traceparent};
    size_t used = 0;
    const char *p = js;
#define WS()                                                                                       \
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') p++
    WS();
    if (*p++ != '{') return -1;
    for (;;) {
        WS();
        if (*p++ != '"') return -1;
        const char *k = p;
        while (*p && *p != '"' && *p != '\\') p++;
        if (*p != '"') return -1;
        size_t kl = (size_t)(p - k);
        p++;
        WS();
        if (*p++ != ':') return -1;
        WS();
        if (kl == 7 && !memcmp(k, "payload", 7)) {
            if (*p != '{') return -1;
            break;
        }
        if (*p++ != '"') return -1;
        const char *v = p;
        while ((unsigned char)*p >= 0x20 && *p != '"' && *p != '\\') p++;
        if (*p != '"') return -1;
        size_t vl = (size_t)(p - v);
        p++;
        for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
            if (strlen(names[i]) != kl || memcmp(names[i], k, kl)) continue;
            if (*slot[i] || used + vl + 1 > cap) return -1; /* duplicate, or no room */
            memcpy(scratch + used, v, vl);
            scratch[used + vl] = 0;
            *slot[i] = scratch + used;
            used += vl + 1;
        }
        WS();
        if (*p++ != ',') return -1;
    }
#undef WS
    return fields_validate(ev, NULL, 0) ? -1 : 0;
}

char *eddy_event_to_json(const eddy_event *ev)
{
    json_t *o = json_object();
    json_object_set_new(o, "eventType", json_string(ev->event_type ? ev->event_type : ""));
    json_object_set_new(o, "version", json_string(ev->version ? ev->version : ""));
    json_object_set_new(o, "eventId", json_string(ev->event_id ? ev->event_id : ""));
    json_object_set_new(o, "timestamp", json_string(ev->timestamp ? ev->timestamp : ""));
    json_object_set_new(o, "correlationId",
                        json_string(ev->correlation_id ? ev->correlation_id : ""));
    json_object_set_new(o, "causationId", json_string(ev->causation_id ? ev->causation_id : ""));
    json_object_set_new(o, "source", json_string(ev->source ? ev->source : ""));
    if (ev->traceparent) json_object_set_new(o, "traceparent", json_string(ev->traceparent));
    json_object_set(o, "payload", ev->payload ? ev->payload : json_null());
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!s) abort();
    return s;
}

static char *take_str(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? sdk_xstrdup(json_string_value(v)) : NULL;
}

int eddy_event_from_json(const char *buf, size_t len, eddy_event **out, char **reason)
{
    *out = NULL;
    if (reason) *reason = NULL;
    json_error_t err;
    json_t *o = buf ? json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err) : NULL;
    if (!o) {
        if (reason) *reason = sdk_xasprintf("not JSON: %s", buf ? err.text : "empty message");
        return EDDY_ERR_PERMANENT;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        if (reason) *reason = sdk_xstrdup("not a JSON object");
        return EDDY_ERR_PERMANENT;
    }
    eddy_event *ev = sdk_xcalloc(1, sizeof *ev);
    ev->partition = -1;
    ev->offset = -1;
    ev->event_type = take_str(o, "eventType");
    ev->version = take_str(o, "version");
    ev->event_id = take_str(o, "eventId");
    ev->timestamp = take_str(o, "timestamp");
    ev->correlation_id = take_str(o, "correlationId");
    ev->causation_id = take_str(o, "causationId");
    ev->source = take_str(o, "source");
    ev->traceparent = take_str(o, "traceparent");
    ev->payload = json_incref(json_object_get(o, "payload"));
    json_decref(o);
    const char *r;
    if (eddy_event_validate(ev, &r)) {
        if (reason) *reason = sdk_xstrdup(r);
        eddy_event_free(ev);
        return EDDY_ERR_PERMANENT;
    }
    *out = ev;
    return 0;
}

static void hadd(rd_kafka_headers_t *h, const char *k, const char *v)
{
    if (v) rd_kafka_header_add(h, k, -1, v, -1);
}

rd_kafka_headers_t *sdk_event_headers(const eddy_event *ev)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(12);
    hadd(h, "ce_specversion", "1.0");
    hadd(h, "ce_id", ev->event_id);
    hadd(h, "ce_type", ev->event_type);
    hadd(h, "ce_source", ev->source);
    hadd(h, "ce_time", ev->timestamp);
    hadd(h, "content-type", "application/json");
    hadd(h, "x-correlation-id", ev->correlation_id);
    hadd(h, "x-causation-id", ev->causation_id);
    hadd(h, "x-event-type", ev->event_type);
    hadd(h, "x-event-version", ev->version);
    hadd(h, "traceparent", ev->traceparent);
    return h;
}

char *sdk_msg_header(const rd_kafka_message_t *m, const char *name)
{
    rd_kafka_headers_t *h = NULL;
    if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR || !h) return NULL;
    const void *v;
    size_t n;
    if (rd_kafka_header_get_last(h, name, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR || !v) return NULL;
    return sdk_xstrndup(v, n);
}
