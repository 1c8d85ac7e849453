/* creds — the SCRAM credential store (see creds.h for the file format and guarantees). */
#include "security/creds.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/base64.h"
#include "common/log.h"
#include "common/util.h"

#define HEADER "# eddy scram credentials v1\n"

typedef struct centry {
    char *user;
    scram_cred c;
} centry;

static centry *g_ent;
static int g_n, g_a;
static char *g_path;

bool creds_user_valid(const char *user, size_t len)
{
    if (len == 0 || len > 255) return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)user[i] < 0x20 || user[i] == 0x7f) return false;
    return true;
}

static int find_idx(const char *user, int mech)
{
    for (int i = 0; i < g_n; i++)
        if (g_ent[i].c.mech == mech && !strcmp(g_ent[i].user, user)) return i;
    return -1;
}

const scram_cred *creds_find(const char *user, int mech)
{
    int i = find_idx(user, mech);
    return i >= 0 ? &g_ent[i].c : NULL;
}

int creds_count(void)
{
    return g_n;
}

const char *creds_at(int i, const scram_cred **c)
{
    if (i < 0 || i >= g_n) return NULL;
    if (c) *c = &g_ent[i].c;
    return g_ent[i].user;
}

static int cmp_ent(const void *a, const void *b)
{
    const centry *x = a, *y = b;
    int r = strcmp(x->user, y->user);
    return r ? r : x->c.mech - y->c.mech;
}

static void put_escaped(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p == '%' || *p >= 0x7f)
            fprintf(f, "%%%02X", *p);
        else
            fputc(*p, f);
}

static int unescape(const char *s, char *out, size_t outlen)
{
    size_t o = 0;
    for (; *s; s++) {
        unsigned v = (unsigned char)*s;
        if (*s == '%') {
            if (sscanf(s + 1, "%2x", &v) != 1 || !s[1] || !s[2]) return -1;
            s += 2;
        }
        if (o + 1 >= outlen) return -1;
        out[o++] = (char)v;
    }
    out[o] = 0;
    return 0;
}

/* Writes the whole store to a temporary file and renames it over the store. */
static int persist(void)
{
    if (!g_path) return -EINVAL;
    char *tmp = xasprintf("%s.tmp", g_path);
    int rc = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        rc = -errno;
        if (fd >= 0) close(fd);
        goto out;
    }
    fputs(HEADER, f);
    for (int i = 0; i < g_n; i++) {
        const scram_cred *c = &g_ent[i].c;
        char salt[SCRAM_MAX_SALT * 2], sk[SCRAM_MAX_KEY * 2], vk[SCRAM_MAX_KEY * 2];
        b64_encode(c->salt, c->salt_len, salt, false);
        b64_encode(c->stored_key, scram_key_len(c->mech), sk, false);
        b64_encode(c->server_key, scram_key_len(c->mech), vk, false);
        fprintf(f, "%s %d %s %s %s ", scram_mech_name(c->mech), (int)c->iterations, salt, sk, vk);
        put_escaped(f, g_ent[i].user);
        fputc('\n', f);
    }
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) rc = -errno;
    if (fclose(f) != 0 && rc == 0) rc = -errno;
    if (rc == 0 && rename(tmp, g_path) != 0) rc = -errno;
    if (rc == 0) fsync_dir_of(g_path);
out:
    if (rc < 0) {
        LOGE("security", "cannot write %s: %s", g_path, strerror(-rc));
        unlink(tmp);
    }
    free(tmp);
    return rc;
}

static int parse_line(char *line, int lineno, char *err, size_t errlen)
{
    char mech[32], salt[200], sk[200], vk[200], user[800];
    int iter;
    if (sscanf(line, "%31s %d %199s %199s %199s %799s", mech, &iter, salt, sk, vk, user) != 6) {
        snprintf(err, errlen, "%s:%d: malformed line", g_path, lineno);
        return -1;
    }
    scram_cred c;
    memset(&c, 0, sizeof c);
    c.mech = scram_mech_parse(mech, strlen(mech));
    c.iterations = iter;
    char name[256];
    uint8_t kb[sizeof salt];
    long sl = b64_decode(salt, strlen(salt), kb);
    if (!c.mech || iter < 1 || sl < 0 || sl > SCRAM_MAX_SALT ||
        unescape(user, name, sizeof name) < 0 || !creds_user_valid(name, strlen(name))) {
        snprintf(err, errlen, "%s:%d: malformed credential", g_path, lineno);
        return -1;
    }
    memcpy(c.salt, kb, (size_t)sl);
    c.salt_len = (size_t)sl;
    long a = b64_decode(sk, strlen(sk), kb);
    if (a != (long)scram_key_len(c.mech)) goto bad;
    memcpy(c.stored_key, kb, (size_t)a);
    a = b64_decode(vk, strlen(vk), kb);
    if (a != (long)scram_key_len(c.mech)) goto bad;
    memcpy(c.server_key, kb, (size_t)a);
    if (find_idx(name, c.mech) >= 0) goto bad;
    if (g_n == g_a) {
        g_a = g_a ? g_a * 2 : 8;
        g_ent = xrealloc(g_ent, (size_t)g_a * sizeof *g_ent);
    }
    g_ent[g_n].user = xstrdup(name);
    g_ent[g_n].c = c;
    g_n++;
    return 0;
bad:
    snprintf(err, errlen, "%s:%d: malformed credential", g_path, lineno);
    return -1;
}

int creds_open(const char *data_dir, char *err, size_t errlen)
{
    creds_close();
    g_path = xasprintf("%s/__scram_credentials", data_dir);
    FILE *f = fopen(g_path, "r");
    if (!f) {
        if (errno == ENOENT) return 0;
        snprintf(err, errlen, "%s: %s", g_path, strerror(errno));
        return -1;
    }
    char line[2048];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n') continue;
        if (parse_line(line, lineno, err, errlen) < 0) {
            rc = -1;
            break;
        }
    }
    fclose(f);
    if (rc == 0) qsort(g_ent, (size_t)g_n, sizeof *g_ent, cmp_ent);
    return rc;
}

void creds_close(void)
{
    for (int i = 0; i < g_n; i++) free(g_ent[i].user);
    free(g_ent);
    g_ent = NULL;
    g_n = g_a = 0;
    free(g_path);
    g_path = NULL;
}

int creds_upsert(const char *user, const scram_cred *c)
{
    int i = find_idx(user, c->mech);
    centry old = {0};
    bool had = i >= 0;
    if (had) {
        old = g_ent[i];
        g_ent[i].c = *c;
    } else {
        if (g_n == g_a) {
            g_a = g_a ? g_a * 2 : 8;
            g_ent = xrealloc(g_ent, (size_t)g_a * sizeof *g_ent);
        }
        g_ent[g_n].user = xstrdup(user);
        g_ent[g_n].c = *c;
        g_n++;
    }
    int rc = persist();
    if (rc < 0) { /* keep memory as the file is */
        if (had) {
            g_ent[find_idx(user, c->mech)].c = old.c;
        } else {
            int j = find_idx(user, c->mech);
            free(g_ent[j].user);
            g_ent[j] = g_ent[--g_n];
        }
    }
    qsort(g_ent, (size_t)g_n, sizeof *g_ent, cmp_ent);
    return rc;
}

int creds_delete(const char *user, int mech)
{
    int i = find_idx(user, mech);
    if (i < 0) return -ENOENT;
    centry e = g_ent[i];
    memmove(&g_ent[i], &g_ent[i + 1], (size_t)(g_n - i - 1) * sizeof *g_ent);
    g_n--;
    int rc = persist();
    if (rc < 0) {
        g_ent[g_n++] = e;
        qsort(g_ent, (size_t)g_n, sizeof *g_ent, cmp_ent);
        return rc;
    }
    free(e.user);
    return 0;
}

int scram_verify_password(const char *user, const char *password)
{
    if (!user || !password) return 0;
    const scram_cred *c = creds_find(user, SCRAM_SHA_512);
    if (!c) c = creds_find(user, SCRAM_SHA_256);
    if (!c) return 0;
    return scram_cred_check_password(c, password, strlen(password)) ? 1 : 0;
}

int creds_bootstrap(const char *spec, char *err, size_t errlen)
{
    const char *colon = strchr(spec, ':');
    if (!colon || colon == spec || !colon[1]) {
        snprintf(err, errlen, "EDDY_BOOTSTRAP_USER must be name:password");
        return -1;
    }
    size_t ul = (size_t)(colon - spec);
    if (!creds_user_valid(spec, ul)) {
        snprintf(err, errlen, "EDDY_BOOTSTRAP_USER: invalid user name");
        return -1;
    }
    char *user = xstrndup(spec, ul);
    const char *pw = colon + 1;
    int rc = 0;
    bool made = false;
    for (int mech = SCRAM_SHA_256; mech <= SCRAM_SHA_512; mech++) {
        if (creds_find(user, mech)) continue;
        scram_cred c;
        if (scram_cred_make(mech, pw, strlen(pw), NULL, 0, SCRAM_MIN_ITERATIONS, &c) < 0 ||
            creds_upsert(user, &c) < 0) {
            snprintf(err, errlen, "EDDY_BOOTSTRAP_USER: cannot store the credentials");
            rc = -1;
            break;
        }
        made = true;
    }
    if (made) LOGI("security", "bootstrap user %s created (SCRAM-SHA-256, SCRAM-SHA-512)", user);
    free(user);
    return rc;
}
