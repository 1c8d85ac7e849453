/* seterr.h — the one error-message helper of src/sdkschema (schema.c, jsonschema.c): writes a
 * formatted reason into the caller's err buffer, when it passed one. Internal to src/sdkschema.
 */
#ifndef EDDY_SDKSCHEMA_SETERR_H
#define EDDY_SDKSCHEMA_SETERR_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

static inline void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

#endif
