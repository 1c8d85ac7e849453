/* recover — finishing or discarding a compaction that a crash interrupted, before plog.c lists a
 * partition's segments. compact.c writes <base>.log.cleaned, renames it to <base>.log.swap, then
 * over <base>.log; this finds the leftovers of either step. Below both plog.c and compact.c.
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "storage/plog_int.h"

static bool swap_name(const char *name, const char *ext, char base[21])
{
    size_t n = strlen(name), e = strlen(ext);
    if (n != 20 + e || strcmp(name + 20, ext) != 0) return false;
    for (int i = 0; i < 20; i++)
        if (name[i] < '0' || name[i] > '9') return false;
    memcpy(base, name, 20);
    base[20] = 0;
    return true;
}

void plog_compact_recover_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    bool changed = false;
    while ((e = readdir(d))) {
        char base[21];
        if (swap_name(e->d_name, ".log.cleaned", base)) {
            char *p = xasprintf("%s/%s", dir, e->d_name);
            LOGW("storage", "%s: unfinished compaction output discarded", p);
            unlink(p);
            free(p);
            changed = true;
        } else if (swap_name(e->d_name, ".log.swap", base)) {
            char *p = xasprintf("%s/%s", dir, e->d_name);
            char *lp = xasprintf("%s/%s.log", dir, base);
            char *ip = xasprintf("%s/%s.index", dir, base);
            char *tp = xasprintf("%s/%s.timeindex", dir, base);
            unlink(ip);
            unlink(tp);
            if (rename(p, lp) < 0)
                LOGE("storage", "%s: cannot complete compaction swap: %s", p, strerror(errno));
            else
                LOGW("storage", "%s: completed an interrupted compaction swap", lp);
            free(p);
            free(lp);
            free(ip);
            free(tp);
            changed = true;
        }
    }
    closedir(d);
    if (changed) fsync_dir(dir);
}
