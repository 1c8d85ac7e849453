/* authz/file — the text-file helpers shared by the ACL and quota files (file.h). */
#include "authz/file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

void authz_put_enc(FILE *f, const char *s, const char *punct)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            strchr(punct, *p))
            fputc(*p, f);
        else
            fprintf(f, "%%%02X", *p);
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

bool authz_dec_inplace(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (*p == '%') {
            int h = hexval(p[1]), l = h < 0 ? -1 : hexval(p[2]);
            if (h < 0 || l < 0 || (h == 0 && l == 0)) return false;
            *o++ = (char)(h * 16 + l);
            p += 2;
        } else {
            *o++ = *p;
        }
    }
    *o = 0;
    return true;
}

int authz_file_write(const char *path, const char *header, void (*rows)(FILE *f, void *arg),
                     void *arg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return -errno;
    fprintf(f, "%s\n", header);
    rows(f, arg);
    fclose(f);
    int rc = write_file_atomic(path, buf, len);
    free(buf);
    return rc;
}

char *authz_file_read(const char *path, char **err, int *rc)
{
    size_t len;
    char *text = read_file_all(path, &len);
    *rc = 0;
    if (!text && errno != ENOENT) {
        *err = xasprintf("%s: %s", path, strerror(errno));
        *rc = -1;
    }
    return text;
}
