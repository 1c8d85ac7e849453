/* topics — eddyd's topic registry: topics and partitions on top of storage/plog, topic
 * configs (validated Kafka keys over the broker defaults), persistence, waiters for appends,
 * housekeeping (retention, compaction).
 *
 * On disk (under data_dir):
 *   <fsname>-<partition>/         one plog per partition (see storage/plog.h)
 *   __topics/<fsname>.meta        written atomically (via <fsname>.meta.tmp), text:
 *        name=<topic>\n  id=<32 hex digits>\n  partitions=<n>\n  internal=<0|1>\n
 *        config.<key>=<value>\n ...
 * <fsname> is the topic name itself when it has at most FSNAME_PLAIN_MAX characters. A longer
 * name (Kafka allows 249) would not fit NAME_MAX (255) as "<name>.meta.tmp", so it is stored as
 * its first FSNAME_PREFIX characters, '~' and 16 hex digits of a 64-bit FNV-1a hash of the whole
 * name; '~' is not legal in a topic name, so a hashed fsname never equals a plain one. The real
 * name is the meta file's name= line (older meta files have none: the file name is the name).
 * A topic exists iff its .meta exists: create writes the meta first, delete removes it first,
 * so a crash in between leaves only partition directories, which topics_load logs and ignores
 * (and topic_create wipes before reuse).
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/core.h"
#include "common/log.h"
#include "common/util.h"

#define MAX_PARTITIONS_PER_TOPIC 10000

/* ------------------------------------------------------------------ names ---- */

bool topic_name_valid(const char *name, size_t len)
{
    if (!name || len == 0 || len > 249) return false;
    if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static bool parse_i64(const char *v, int64_t lo, int64_t hi, int64_t *out)
{
    if (!v || !*v) return false;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || *end || x < lo || x > hi) return false;
    *out = x;
    return true;
}

/* Topic configs: tconfig.c. */

/* ------------------------------------------------------------------ paths, meta ---- */

void topic_id_hex(const uint8_t id[16], char out[33])
{
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hx[id[i] >> 4];
        out[2 * i + 1] = hx[id[i] & 15];
    }
    out[32] = 0;
}

static int unhex(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

#define FSNAME_PLAIN_MAX 200
#define FSNAME_PREFIX 180
#define FSNAME_MAX FSNAME_PLAIN_MAX /* the longest fsname: plain names; hashed ones are 197 */
_Static_assert(FSNAME_PREFIX + 1 + 16 <= FSNAME_MAX, "a hashed fsname must fit FSNAME_MAX");

/* The name a topic has on disk (see the file comment); out holds FSNAME_MAX + 1 bytes. */
static void topic_fsname(const char *name, char out[FSNAME_MAX + 1])
{
    size_t n = strlen(name);
    if (n <= FSNAME_PLAIN_MAX) {
        memcpy(out, name, n + 1);
        return;
    }
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)name[i];
        h *= 0x100000001b3ULL;
    }
    memcpy(out, name, FSNAME_PREFIX);
    snprintf(out + FSNAME_PREFIX, FSNAME_MAX + 1 - FSNAME_PREFIX, "~%016" PRIx64, h);
}

static char *meta_dir(broker *b)
{
    return xasprintf("%s/__topics", b->data_dir);
}
static char *meta_path(broker *b, const char *name)
{
    char fs[FSNAME_MAX + 1];
    topic_fsname(name, fs);
    return xasprintf("%s/__topics/%s.meta", b->data_dir, fs);
}
static char *part_dir(broker *b, const char *name, int32_t i)
{
    char fs[FSNAME_MAX + 1];
    topic_fsname(name, fs);
    return xasprintf("%s/%s-%d", b->data_dir, fs, i);
}

static int meta_write(broker *b, btopic *t)
{
    char *dir = meta_dir(b);
    int rc = mkdir_p(dir, 0755);
    free(dir);
    if (rc < 0) return rc;
    char hex[33];
    topic_id_hex(t->id, hex);
    wbuf w;
    wbuf_init(&w, 0);
    char *head = xasprintf("name=%s\nid=%s\npartitions=%d\ninternal=%d\n", t->name, hex, t->nparts,
                           t->internal ? 1 : 0);
    wbuf_put(&w, head, strlen(head));
    free(head);
    const char *p = t->cfg.overrides ? t->cfg.overrides : "";
    while (*p) {
        size_t n = strcspn(p, "\n");
        if (n) {
            wbuf_put(&w, "config.", 7);
            wbuf_put(&w, p, n);
            wbuf_put(&w, "\n", 1);
        }
        p += n;
        if (*p == '\n') p++;
    }
    char *path = meta_path(b, t->name);
    rc = write_file_atomic(path, w.data, w.len);
    if (rc < 0) LOGE("topics", "cannot write %s: %s", path, strerror(-rc));
    free(path);
    wbuf_free(&w);
    return rc;
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) == 0) nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* ------------------------------------------------------------------ registry ---- */

btopic *topic_findn(broker *b, const char *name, size_t len)
{
    if (!name) return NULL;
    for (int i = 0; i < b->ntopics; i++) {
        btopic *t = b->topics[i];
        if (strlen(t->name) == len && !memcmp(t->name, name, len)) return t;
    }
    return NULL;
}

btopic *topic_find(broker *b, const char *name)
{
    return name ? topic_findn(b, name, strlen(name)) : NULL;
}

btopic *topic_find_id(broker *b, const uint8_t id[16])
{
    static const uint8_t zero[16];
    if (!memcmp(id, zero, 16)) return NULL;
    for (int i = 0; i < b->ntopics; i++)
        if (!memcmp(b->topics[i]->id, id, 16)) return b->topics[i];
    return NULL;
}

int topic_count(broker *b)
{
    return b->ntopics;
}
btopic *topic_at(broker *b, int i)
{
    return (i >= 0 && i < b->ntopics) ? b->topics[i] : NULL;
}

static void registry_add(broker *b, btopic *t)
{
    if (b->ntopics == b->atopics) {
        b->atopics = b->atopics ? b->atopics * 2 : 16;
        b->topics = xrealloc(b->topics, (size_t)b->atopics * sizeof *b->topics);
    }
    b->topics[b->ntopics++] = t;
}

static void registry_remove(broker *b, btopic *t)
{
    for (int i = 0; i < b->ntopics; i++)
        if (b->topics[i] == t) {
            memmove(&b->topics[i], &b->topics[i + 1],
                    (size_t)(b->ntopics - i - 1) * sizeof *b->topics);
            b->ntopics--;
            return;
        }
}

static bpart *part_new(btopic *t, int32_t i)
{
    bpart *p = xcalloc(1, sizeof *p);
    p->topic = t;
    p->index = i;
    p->waiters.next = p->waiters.prev = &p->waiters;
    return p;
}

/* Opens partitions [from, to) of t. wipe: remove leftovers of an older topic first. */
static int open_parts(broker *b, btopic *t, int32_t from, int32_t to, bool wipe)
{
    bpart **np = xrealloc(t->parts, (size_t)to * sizeof *np);
    t->parts = np;
    for (int32_t i = from; i < to; i++) {
        char *dir = part_dir(b, t->name, i);
        if (wipe) rm_rf(dir);
        bpart *p = part_new(t, i);
        int rc = plog_open(dir, &t->cfg.log, &p->log);
        if (rc < 0) {
            LOGE("topics", "cannot open partition %s: %s", dir, strerror(-rc));
            free(dir);
            free(p);
            t->nparts = i;
            return rc;
        }
        free(dir);
        producers_rebuild(p);
        ptxn_rebuild(p);
        t->parts[i] = p;
        t->nparts = i + 1;
    }
    return 0;
}

static void wake_all(bpart *p)
{
    /* detach each waiter before calling it: the callback may free it */
    while (p->waiters.next != &p->waiters) {
        bwaiter *w = p->waiters.next;
        part_unwait(w);
        w->wake(w, p);
    }
}

static void part_free(broker *b, bpart *p, bool remove)
{
    if (!p) return;
    wake_all(p);
    if (p->log) {
        if (b->flusher) flusher_forget(b->flusher, p->log);
        if (remove)
            plog_delete(p->log);
        else
            plog_close(p->log);
    }
    producers_free(p);
    ptxn_free(p);
    free(p);
}

static void topic_free(btopic *t)
{
    free(t->parts);
    free(t->name);
    free(t->cfg.overrides);
    free(t);
}

int topic_create(broker *b, const char *name, int32_t nparts, const char *configs, bool internal,
                 btopic **out)
{
    if (out) *out = NULL;
    if (!name || !topic_name_valid(name, strlen(name))) return KERR_INVALID_TOPIC_EXCEPTION;
    if (topic_find(b, name)) return KERR_TOPIC_ALREADY_EXISTS;
    if (strlen(name) > FSNAME_PLAIN_MAX) {
        /* two long names with one prefix and one 64-bit hash would share directories */
        char fs[FSNAME_MAX + 1], other[FSNAME_MAX + 1];
        topic_fsname(name, fs);
        for (int i = 0; i < b->ntopics; i++) {
            topic_fsname(b->topics[i]->name, other);
            if (!strcmp(fs, other)) {
                LOGW("topics", "create %s: its directory name %s is taken by topic %s", name, fs,
                     b->topics[i]->name);
                return KERR_INVALID_TOPIC_EXCEPTION;
            }
        }
    }
    if (nparts <= 0 || nparts > MAX_PARTITIONS_PER_TOPIC) return KERR_INVALID_PARTITIONS;
    btopic *t = xcalloc(1, sizeof *t);
    char err[256];
    int rc = tconf_build(&b->cfg, configs, &t->cfg, err, sizeof err);
    if (rc) {
        LOGW("topics", "create %s: %s", name, err);
        free(t);
        return rc;
    }
    t->name = xstrdup(name);
    t->internal = internal;
    rand_bytes(t->id, 16);
    t->id[6] = (uint8_t)((t->id[6] & 0x0f) | 0x40);
    t->id[8] = (uint8_t)((t->id[8] & 0x3f) | 0x80);
    t->nparts = nparts;
    if (meta_write(b, t) < 0) {
        topic_free(t);
        return KERR_KAFKA_STORAGE_ERROR;
    }
    t->nparts = 0;
    if (open_parts(b, t, 0, nparts, true) < 0) {
        for (int32_t i = 0; i < t->nparts; i++) part_free(b, t->parts[i], true);
        char *mp = meta_path(b, name);
        unlink(mp);
        free(mp);
        topic_free(t);
        return KERR_KAFKA_STORAGE_ERROR;
    }
    registry_add(b, t);
    LOGI("topics", "topic %s created: %d partition%s%s%s", name, nparts, nparts == 1 ? "" : "s",
         internal ? " (internal)" : "", configs && *configs ? ", with config overrides" : "");
    if (out) *out = t;
    return 0;
}

btopic *topic_internal(broker *b, const char *name, const char *configs)
{
    btopic *t = topic_find(b, name);
    if (t) return t;
    int rc = topic_create(b, name, 1, configs, true, &t);
    if (rc != 0 || !t) {
        LOGE("topics", "cannot create %s: error %d", name, rc);
        return NULL;
    }
    return t;
}

btopic *topic_auto_create(broker *b, const char *name, size_t len)
{
    btopic *t = topic_findn(b, name, len);
    if (t) return t;
    if (!b->cfg.auto_create_topics || !topic_name_valid(name, len)) return NULL;
    char *n = xstrndup(name, len);
    int rc =
        topic_create(b, n, b->cfg.num_partitions > 0 ? b->cfg.num_partitions : 1, NULL, false, &t);
    if (rc) LOGW("topics", "auto-create of %s failed (error %d)", n, rc);
    free(n);
    return rc ? NULL : t;
}

int topic_delete(broker *b, btopic *t)
{
    char *mp = meta_path(b, t->name);
    int rc = unlink(mp);
    if (rc < 0 && errno != ENOENT) {
        LOGE("topics", "cannot remove %s: %s", mp, strerror(errno));
        free(mp);
        return KERR_KAFKA_STORAGE_ERROR;
    }
    free(mp);
    char *dir = meta_dir(b);
    fsync_dir(dir);
    free(dir);
    registry_remove(b, t);
    for (int32_t i = 0; i < t->nparts; i++) part_free(b, t->parts[i], true);
    fsync_dir(b->data_dir);
    LOGI("topics", "topic %s deleted (%d partitions)", t->name, t->nparts);
    topic_free(t);
    return 0;
}

int topic_add_partitions(broker *b, btopic *t, int32_t new_total)
{
    if (new_total <= t->nparts || new_total > MAX_PARTITIONS_PER_TOPIC)
        return KERR_INVALID_PARTITIONS;
    int32_t old = t->nparts;
    t->nparts = new_total;
    int rc = meta_write(b, t);
    t->nparts = old;
    if (rc < 0) return KERR_KAFKA_STORAGE_ERROR;
    if (open_parts(b, t, old, new_total, true) < 0) {
        /* keep what opened; the meta is rewritten to match */
        meta_write(b, t);
        return KERR_KAFKA_STORAGE_ERROR;
    }
    LOGI("topics", "topic %s: partitions %d -> %d", t->name, old, new_total);
    return 0;
}

int topic_replace_configs(broker *b, btopic *t, const char *overrides, char *err, size_t errlen)
{
    topic_config nc;
    int rc = tconf_build(&b->cfg, overrides, &nc, err, errlen);
    if (rc) return rc;
    topic_config old = t->cfg;
    t->cfg = nc;
    if (meta_write(b, t) < 0) {
        free(t->cfg.overrides);
        t->cfg = old;
        if (err && errlen) snprintf(err, errlen, "cannot persist the topic configuration");
        return KERR_KAFKA_STORAGE_ERROR;
    }
    free(old.overrides);
    for (int32_t i = 0; i < t->nparts; i++) plog_set_config(t->parts[i]->log, &t->cfg.log);
    LOGI("topics", "topic %s: configuration changed", t->name);
    return 0;
}

int topic_set_config(broker *b, btopic *t, const char *key, const char *value)
{
    if (value) {
        topic_config tmp;
        tconf_defaults(&b->cfg, &tmp);
        if (tconf_apply(&tmp, key, value)) return KERR_INVALID_CONFIG;
    }
    char *ov = tconf_override_set(t->cfg.overrides, key, value);
    int rc = topic_replace_configs(b, t, ov, NULL, 0);
    free(ov);
    return rc;
}

/* ------------------------------------------------------------------ partitions ---- */

int part_append_records(broker *b, btopic *t, int32_t part, const batch_rec *recs, int n,
                        int64_t now_ms, int64_t *base_offset, size_t *stored_len)
{
    size_t len = 0;
    uint8_t *batch = batch_build(recs, n, now_ms, &len);
    int c = t->cfg.compression;
    if (c > 0) { /* compression.type: stored as the topic says */
        uint8_t *z = NULL;
        size_t zlen = 0;
        int lvl = c == BATCH_CODEC_GZIP  ? t->cfg.gzip_level
                  : c == BATCH_CODEC_LZ4 ? t->cfg.lz4_level
                                         : t->cfg.zstd_level;
        if (batch_recompress(batch, len, c, lvl, BATCH_INFLATE_MAX, &z, &zlen) == BATCH_OK) {
            free(batch);
            batch = z;
            len = zlen;
        }
    }
    if (stored_len) *stored_len = len;
    int rc = (int64_t)len <= t->cfg.max_message_bytes
                 ? part_append(b, t->parts[part], batch, len, base_offset)
                 : KERR_MESSAGE_TOO_LARGE;
    free(batch);
    return rc;
}

int part_append(broker *b, bpart *p, uint8_t *batch, size_t len, int64_t *base_offset)
{
    (void)b;
    int64_t base = -1;
    int rc = plog_append(p->log, batch, len, &base);
    if (rc < 0) {
        LOGE("topics", "append to %s-%d failed: %s", p->topic->name, p->index, strerror(-rc));
        return KERR_KAFKA_STORAGE_ERROR;
    }
    if (base_offset) *base_offset = base;
    if (len >= BATCH_HEADER_SIZE) {
        uint32_t cnt = ((uint32_t)batch[57] << 24) | ((uint32_t)batch[58] << 16) |
                       ((uint32_t)batch[59] << 8) | batch[60];
        p->records_in += cnt;
    }
    p->bytes_in += len;
    /* waiters flag themselves and finish later; they don't unlink during this walk */
    for (bwaiter *w = p->waiters.next, *next; w != &p->waiters; w = next) {
        next = w->next;
        w->wake(w, p);
    }
    return 0;
}

void part_wait(bpart *p, bwaiter *w)
{
    if (w->part) part_unwait(w);
    w->part = p;
    w->prev = p->waiters.prev;
    w->next = &p->waiters;
    p->waiters.prev->next = w;
    p->waiters.prev = w;
}

void part_unwait(bwaiter *w)
{
    if (!w->part) return;
    w->prev->next = w->next;
    w->next->prev = w->prev;
    w->prev = w->next = NULL;
    w->part = NULL;
}

int64_t part_hwm(const bpart *p)
{
    return plog_end_offset(p->log);
}

/* ------------------------------------------------------------------ load / close ---- */

static btopic *meta_load(broker *b, const char *stem, const char *path)
{
    size_t len;
    char *s = read_file_all(path, &len);
    if (!s) {
        LOGW("topics", "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    btopic *t = xcalloc(1, sizeof *t);
    t->name = NULL;
    bool have_id = false;
    int32_t nparts = -1;
    char *ov = xstrdup("");
    for (char *line = s; *line;) {
        size_t n = strcspn(line, "\n");
        char save = line[n];
        line[n] = 0;
        if (!strncmp(line, "name=", 5) && !t->name) {
            t->name = xstrdup(line + 5);
        } else if (!strncmp(line, "id=", 3) && strlen(line + 3) == 32) {
            have_id = true;
            for (int i = 0; i < 16; i++) {
                int hi = unhex(line[3 + 2 * i]), lo = unhex(line[4 + 2 * i]);
                if (hi < 0 || lo < 0)
                    have_id = false;
                else
                    t->id[i] = (uint8_t)(hi << 4 | lo);
            }
        } else if (!strncmp(line, "partitions=", 11)) {
            int64_t x;
            if (parse_i64(line + 11, 1, MAX_PARTITIONS_PER_TOPIC, &x)) nparts = (int32_t)x;
        } else if (!strncmp(line, "internal=", 9)) {
            t->internal = line[9] == '1';
        } else if (!strncmp(line, "config.", 7)) {
            char *eq = strchr(line + 7, '=');
            if (eq) {
                *eq = 0;
                char *nov = tconf_override_set(ov, line + 7, eq + 1);
                free(ov);
                ov = nov;
            }
        }
        line[n] = save;
        line += n;
        if (*line) line++;
    }
    free(s);
    char err[256];
    if (!t->name) t->name = xstrdup(stem); /* written before name= existed: stem is the name */
    char fs[FSNAME_MAX + 1] = "";
    bool name_ok = topic_name_valid(t->name, strlen(t->name)) && !topic_find(b, t->name);
    if (name_ok) topic_fsname(t->name, fs);
    if (!name_ok || strcmp(fs, stem) != 0) {
        LOGW("topics",
             "ignoring %s: topic name \"%.260s\" does not match the file name or is "
             "taken",
             path, t->name);
        free(ov);
        free(t->name);
        free(t);
        return NULL;
    }
    if (!have_id || nparts < 1 || tconf_build(&b->cfg, ov, &t->cfg, err, sizeof err) != 0) {
        LOGW("topics", "ignoring damaged topic metadata %s", path);
        free(ov);
        free(t->name);
        free(t);
        return NULL;
    }
    free(ov);
    t->nparts = nparts;
    return t;
}

/* Does data_dir entry `d` look like "<topic>-<n>" for a known topic? */
static bool is_known_part_dir(broker *b, const char *d)
{
    const char *dash = strrchr(d, '-');
    if (!dash || dash == d || !dash[1]) return false;
    for (const char *q = dash + 1; *q; q++)
        if (*q < '0' || *q > '9') return false;
    btopic *t = NULL;
    char fs[FSNAME_MAX + 1];
    for (int k = 0; k < b->ntopics && !t; k++) {
        topic_fsname(b->topics[k]->name, fs);
        if (strlen(fs) == (size_t)(dash - d) && !memcmp(fs, d, (size_t)(dash - d)))
            t = b->topics[k];
    }
    if (!t) return false;
    long i = strtol(dash + 1, NULL, 10);
    return i >= 0 && i < t->nparts;
}

int topics_load(broker *b)
{
    producers_load(b);
    char *md = meta_dir(b);
    mkdir_p(md, 0755);
    DIR *dh = opendir(md);
    int loaded = 0, rc = 0;
    if (dh) {
        struct dirent *de;
        while ((de = readdir(dh))) {
            size_t n = strlen(de->d_name);
            if (n <= 5 || strcmp(de->d_name + n - 5, ".meta") != 0) continue;
            char *name = xstrndup(de->d_name, n - 5); /* the fsname; meta_load checks it */
            char *path = xasprintf("%s/%s", md, de->d_name);
            btopic *t = meta_load(b, name, path);
            free(path);
            if (t) {
                int32_t want = t->nparts;
                t->nparts = 0;
                if (open_parts(b, t, 0, want, false) < 0) {
                    for (int32_t i = 0; i < t->nparts; i++) part_free(b, t->parts[i], false);
                    topic_free(t);
                    rc = -1;
                } else {
                    registry_add(b, t);
                    loaded++;
                }
            }
            free(name);
        }
        closedir(dh);
    }
    free(md);
    if (rc < 0) return rc;
    /* report leftovers (partition dirs of deleted topics, foreign files) */
    dh = opendir(b->data_dir);
    if (dh) {
        struct dirent *de;
        while ((de = readdir(dh))) {
            if (de->d_name[0] == '.' || !strcmp(de->d_name, "__topics")) continue;
            char *p = xasprintf("%s/%s", b->data_dir, de->d_name);
            struct stat st;
            if (stat(p, &st) == 0 && S_ISDIR(st.st_mode) && !is_known_part_dir(b, de->d_name))
                LOGW("topics", "ignoring directory %s (no such topic/partition)", p);
            free(p);
        }
        closedir(dh);
    }
    LOGI("topics", "loaded %d topic%s from %s", loaded, loaded == 1 ? "" : "s", b->data_dir);
    return 0;
}

void topics_close(broker *b)
{
    for (int i = 0; i < b->ntopics; i++) {
        btopic *t = b->topics[i];
        for (int32_t j = 0; j < t->nparts; j++) part_free(b, t->parts[j], false);
        topic_free(t);
    }
    free(b->topics);
    b->topics = NULL;
    b->ntopics = b->atopics = 0;
}

void topics_scrub(broker *b, int64_t budget)
{
    /* round robin over every partition of every topic; a partition whose pass ends hands the
     * rest of the budget to the next one; one full round = one pass */
    int visited = 0, total = 0;
    for (int i = 0; i < b->ntopics; i++) total += b->topics[i]->nparts;
    while (budget > 0 && total > 0 && visited <= total) {
        if (b->scrub_topic >= b->ntopics) {
            b->scrub_topic = 0;
            b->scrub_part = 0;
            b->scrub_passes++;
        }
        btopic *t = b->topics[b->scrub_topic];
        if (b->scrub_part >= t->nparts) {
            b->scrub_topic++;
            b->scrub_part = 0;
            continue;
        }
        plog_scrub_stats st;
        if (plog_scrub(t->parts[b->scrub_part]->log, budget, &st) < 0) st.pass_done = true;
        b->scrub_bytes += (uint64_t)st.bytes;
        b->scrub_bad_batches += (uint64_t)st.new_bad;
        budget -= st.bytes > 0 ? st.bytes : 1;
        if (st.pass_done) {
            b->scrub_part++;
            visited++;
        }
    }
}

void topics_housekeeping(broker *b)
{
    int64_t now = now_wall_ms();
    for (int i = 0; i < b->ntopics; i++) {
        btopic *t = b->topics[i];
        for (int32_t j = 0; j < t->nparts; j++) {
            plog *l = t->parts[j]->log;
            int n = plog_enforce_retention(l, now);
            if (n > 0)
                LOGI("topics", "%s-%d: retention removed %d segment%s (log start now %" PRId64 ")",
                     t->name, j, n, n == 1 ? "" : "s", plog_start_offset(l));
            if (t->cfg.log.cleanup_policy & PLOG_CLEANUP_COMPACT) {
                int c = plog_compact(l, now);
                if (c > 0)
                    LOGI("topics", "%s-%d: compaction rewrote %d segment%s", t->name, j, c,
                         c == 1 ? "" : "s");
                else if (c < 0)
                    LOGW("topics", "%s-%d: compaction failed: %s", t->name, j, strerror(-c));
            }
        }
    }
}
