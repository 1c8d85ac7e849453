/* principal — super.users and ssl.principal.mapping.rules (see principal.h).
 *
 * Rules use POSIX extended regular expressions (regcomp REG_EXTENDED), matched against the whole
 * subject as Kafka does; Java-only syntax such as lazy quantifiers (".*?") is not available:
 * write "[^,]*" instead.
 */
#include "security/principal.h"

#include <ctype.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

static bool entry_eq(const char *p, size_t n, const char *principal)
{
    while (n && isspace((unsigned char)*p)) p++, n--;
    while (n && isspace((unsigned char)p[n - 1])) n--;
    return n > 0 && strlen(principal) == n && !memcmp(p, principal, n);
}

bool principal_is_super_user(const char *list, const char *principal)
{
    if (!list || !principal) return false;
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ";,");
        if (entry_eq(p, n, principal)) return true;
        p += n;
        if (*p) p++;
    }
    return false;
}

int principal_check_list(const char *list, char *err, size_t errlen)
{
    const char *p = list ? list : "";
    while (*p) {
        size_t n = strcspn(p, ";,");
        const char *colon = memchr(p, ':', n);
        bool blank = true;
        for (size_t i = 0; i < n; i++)
            if (!isspace((unsigned char)p[i])) blank = false;
        if (!blank && (!colon || colon == p || (size_t)(colon - p) + 1 >= n)) {
            snprintf(err, errlen, "super.users: \"%.*s\" is not Type:name (e.g. User:admin)",
                     (int)n, p);
            return -1;
        }
        p += n;
        if (*p) p++;
    }
    return 0;
}

/* One parsed rule. */
typedef struct rule {
    bool is_default;
    char *re, *repl;
    char kase; /* 0, 'L' or 'U' */
} rule;

/* Reads one "/"-delimited part (backslash escapes '/'); returns the end or NULL. */
static const char *read_part(const char *p, char **out)
{
    size_t cap = strlen(p) + 1, o = 0;
    char *s = xmalloc(cap);
    for (; *p && *p != '/'; p++) {
        if (*p == '\\' && p[1] == '/') p++;
        s[o++] = *p;
    }
    s[o] = 0;
    if (*p != '/') {
        free(s);
        return NULL;
    }
    *out = s;
    return p + 1;
}

/* Parses the next rule at *pp; returns 1 with r filled, 0 at the end, -1 on bad syntax. */
static int next_rule(const char **pp, rule *r)
{
    const char *p = *pp;
    memset(r, 0, sizeof *r);
    while (*p && (isspace((unsigned char)*p) || *p == ',')) p++;
    if (!*p) return 0;
    if (!strncmp(p, "DEFAULT", 7)) {
        r->is_default = true;
        p += 7;
    } else if (!strncmp(p, "RULE:", 5)) {
        p = read_part(p + 5, &r->re);
        if (p) p = read_part(p, &r->repl);
        if (!p) {
            free(r->re);
            return -1;
        }
        if (*p == 'L' || *p == 'U') r->kase = *p++;
    } else {
        return -1;
    }
    while (*p && isspace((unsigned char)*p)) p++;
    if (*p && *p != ',') {
        free(r->re);
        free(r->repl);
        return -1;
    }
    *pp = p;
    return 1;
}

int principal_check_rules(const char *rules, char *err, size_t errlen)
{
    const char *p = rules ? rules : "";
    rule r;
    int rc;
    while ((rc = next_rule(&p, &r)) == 1) {
        if (!r.is_default) {
            regex_t re;
            int e = regcomp(&re, r.re, REG_EXTENDED);
            if (e != 0) {
                char m[128];
                regerror(e, &re, m, sizeof m);
                snprintf(err, errlen, "ssl.principal.mapping.rules: bad regex \"%s\": %s", r.re, m);
                free(r.re);
                free(r.repl);
                return -1;
            }
            regfree(&re);
        }
        free(r.re);
        free(r.repl);
    }
    if (rc < 0) {
        snprintf(err, errlen,
                 "ssl.principal.mapping.rules: expected DEFAULT or RULE:regex/replacement/[LU], "
                 "comma-separated");
        return -1;
    }
    return 0;
}

static int apply(const rule *r, const char *subject, char *out, size_t outlen)
{
    if (r->is_default) {
        if (strlen(subject) >= outlen) return -1;
        snprintf(out, outlen, "%s", subject);
        return 1;
    }
    regex_t re;
    if (regcomp(&re, r->re, REG_EXTENDED) != 0) return -1;
    regmatch_t m[10];
    size_t sl = strlen(subject);
    int hit = regexec(&re, subject, 10, m, 0) == 0 && m[0].rm_so == 0 && (size_t)m[0].rm_eo == sl;
    int rc = 0;
    if (hit) {
        size_t o = 0;
        for (const char *q = r->repl; *q; q++) {
            if (*q == '$' && q[1] >= '0' && q[1] <= '9') {
                int g = q[1] - '0';
                q++;
                if (m[g].rm_so < 0) continue;
                size_t n = (size_t)(m[g].rm_eo - m[g].rm_so);
                if (o + n + 1 > outlen) {
                    rc = -1;
                    break;
                }
                memcpy(out + o, subject + m[g].rm_so, n);
                o += n;
            } else {
                if (o + 2 > outlen) {
                    rc = -1;
                    break;
                }
                out[o++] = *q;
            }
        }
        if (rc == 0) {
            out[o] = 0;
            for (size_t i = 0; i < o; i++)
                if (r->kase == 'L')
                    out[i] = (char)tolower((unsigned char)out[i]);
                else if (r->kase == 'U')
                    out[i] = (char)toupper((unsigned char)out[i]);
            rc = o > 0 ? 1 : 0;
        }
    }
    regfree(&re);
    return rc;
}

int principal_map_subject(const char *rules, const char *subject, char *out, size_t outlen)
{
    const char *p = rules && rules[0] ? rules : "DEFAULT";
    rule r;
    int rc;
    while ((rc = next_rule(&p, &r)) == 1) {
        int a = apply(&r, subject, out, outlen);
        free(r.re);
        free(r.repl);
        if (a != 0) return a > 0 ? 0 : -1;
    }
    return -1;
}
