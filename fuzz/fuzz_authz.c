/* fuzz_authz — the authorizer's file parsers (src/authz/acl.c, quota.c): the ACL file and the
 * client-quota file a crash or an operator may leave damaged.
 *
 * Input: file bytes; the first byte picks the parser (even: ACLs, odd: quotas) and is dropped.
 * Oracle: no crash, no out-of-bounds read, no leak (ASan/UBSan); a file that loads answers
 * decisions and writes itself back identically loadable (the same count after a reload). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "authz/acl.h"
#include "authz/quota.h"
#include "common/util.h"

static char g_path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    if (!g_path[0]) snprintf(g_path, sizeof g_path, "/tmp/fuzz_authz.%d", (int)getpid());
    if (write_file_atomic(g_path, data + 1, size - 1) < 0) return 0;
    char *err = NULL;
    if (data[0] % 2 == 0) {
        acl_store *s = acl_store_open(g_path, "User:admin", false, &err);
        if (s) {
            size_t n = acl_store_count(s);
            (void)acl_authorize(s, "User:alice", "10.0.0.1", ACL_RES_TOPIC, "pay.x", ACL_OP_WRITE);
            (void)acl_authorize_any(s, "User:alice", "1.2.3.4", ACL_RES_TOPIC, ACL_OP_WRITE);
            acl_filter any = {ACL_RES_ANY, ACL_PAT_ANY, ACL_OP_ANY, ACL_PERM_ANY, NULL, NULL, NULL};
            if (acl_store_find(s, &any, NULL, NULL) != n) abort();
            /* writing back: delete nothing, add an existing binding (no change) */
            acl_store_close(s);
            s = acl_store_open(g_path, NULL, false, &err);
            if (!s || acl_store_count(s) != n) abort();
            acl_store_close(s);
        }
    } else {
        quota_store *q = quota_store_open(g_path, &err);
        if (q) {
            (void)quota_limit(q, "alice", QUOTA_PRODUCE);
            (void)quota_record(q, "alice b", QUOTA_FETCH, 100, 1);
            if (quota_store_save(q) < 0) abort();
            quota_store_close(q);
            q = quota_store_open(g_path, &err);
            if (!q) abort();
            quota_store_close(q);
        }
    }
    free(err);
    unlink(g_path);
    return 0;
}
