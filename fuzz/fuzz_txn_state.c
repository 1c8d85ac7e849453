/* fuzz_txn_state — the __transaction_state record decoder (src/txn/coord.c: txn_decode and the
 * replay that applies a record to the coordinator's table). Input: int16 key length | key |
 * one flag byte (0 = tombstone) | value. Every input that decodes is re-encoded and must decode
 * to the same transaction. */
#include <stdint.h>
#include <string.h>

#include "txn/txn_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3) return 0;
    size_t klen = ((size_t)data[0] << 8) | data[1];
    if (klen > size - 3) klen = size - 3;
    const uint8_t *key = data + 2;
    const uint8_t *rest = key + klen;
    size_t left = size - 2 - klen;
    bool tomb = left > 0 && rest[0] == 0;
    const uint8_t *val = left > 1 ? rest + 1 : NULL;
    size_t vlen = left > 1 ? left - 1 : 0;
    txn_coord tc;
    memset(&tc, 0, sizeof tc);
    /* a record first, then the same id again (update path), then its tombstone */
    if (txn_replay(&tc, key, klen, tomb ? NULL : (val ? val : (const uint8_t *)""), vlen) == 0 &&
        tc.n == 1) {
        txn *t = tc.v[0];
        wbuf k2, v2;
        wbuf_init(&k2, 0);
        wbuf_init(&v2, 0);
        txn_encode(t, &k2, &v2);
        txn_rec x;
        if (txn_decode(k2.data, k2.len, v2.data, v2.len, &x) != 0 || x.pid != t->pid ||
            x.epoch != t->epoch || x.nparts != t->nparts)
            __builtin_trap();
        txn_replay(&tc, k2.data, k2.len, v2.data, v2.len);
        txn_replay(&tc, k2.data, k2.len, NULL, 0);
        wbuf_free(&k2);
        wbuf_free(&v2);
    }
    txn_table_free(&tc);
    return 0;
}
