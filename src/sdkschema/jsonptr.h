/* jsonptr — the JSON Pointer of a local `$ref` ("#/definitions/x", RFC 6901 with the URI
 * fragment's %XX escapes), resolved inside the document it belongs to. One resolver for
 * libeddy's JSON Schema validator (jsonschema.c) and the registry's compatibility check, so a
 * reference that one follows the other follows too. Not part of libeddy's ABI (hidden). */
#ifndef EDDY_SDKSCHEMA_JSONPTR_H
#define EDDY_SDKSCHEMA_JSONPTR_H

#include <jansson.h>

/* The value ref points at inside root ("#" = root itself), or NULL: not a local reference, a
 * malformed escape, a token over 255 bytes, a missing member or index. */
__attribute__((visibility("hidden"))) const json_t *sch_json_pointer(const json_t *root,
                                                                     const char *ref);

#endif
