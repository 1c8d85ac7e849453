/* authz/file — what the ACL file (acl.c) and the quota file (quota.c) have in common: a
 * line-per-entry text file under a version header, rewritten whole and atomically, whose names
 * are percent-encoded so a space or a newline cannot split a line. Internal to src/authz. */
#ifndef EDDY_AUTHZ_FILE_H
#define EDDY_AUTHZ_FILE_H

#include <stdbool.h>
#include <stdio.h>

/* Writes s with every byte outside [A-Za-z0-9] and `punct` as %XX. */
void authz_put_enc(FILE *f, const char *s, const char *punct);
/* Decodes a percent-encoded token in place. false on a bad escape or a NUL byte (%00). */
bool authz_dec_inplace(char *s);

/* Rewrites path whole and atomically: the line `header`, then what rows writes. 0 or -errno. */
int authz_file_write(const char *path, const char *header, void (*rows)(FILE *f, void *arg),
                     void *arg);
/* The file's text (malloc'ed, NUL-terminated), or NULL: *rc 0 when there is none yet, else -1
 * with *err set ("path: reason", malloc'ed). */
char *authz_file_read(const char *path, char **err, int *rc);

#endif
