/* codec_field_check — compiled (never linked) by the codec_field_* ctests to prove that request
 * fields are checked when the program is built: with FIELD a generated constant this file
 * compiles; with a misspelt constant or a field name as a string it must not. */
#include <stdint.h>

#include "proto/kmsg.h"

int64_t acks_of(const kmsg *m);
int64_t acks_of(const kmsg *m)
{
    return k_int(m, FIELD);
}
