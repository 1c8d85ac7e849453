/* util — allocation that aborts on out-of-memory, small helpers shared by every module. */
#ifndef EDDY_COMMON_UTIL_H
#define EDDY_COMMON_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* True if the n bytes at p hold a NUL or another control character (< 0x20 or 0x7f): such a
 * name would be cut short as a C string or forge log lines, so every name is refused with it. */
bool has_ctl_chars(const void *p, size_t n);

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* Wall clock in milliseconds since the epoch; monotonic clock in ms / µs / ns. */
int64_t now_wall_ms(void);
int64_t now_mono_ms(void);
int64_t now_mono_us(void);
int64_t now_mono_ns(void);
/* RFC 3339 date-time YYYY-MM-DD(T|t| )HH:MM:SS[.frac](Z|z|+HH:MM|-HH:MM) → ms since the epoch
 * (fraction cut to ms): 0, or -1 when s is not one. */
int time_parse_rfc3339(const char *s, int64_t *ms);

/* Random bytes from getrandom(2) (falls back to /dev/urandom). */
void rand_bytes(void *p, size_t n);
/* Random version-4 UUID written as 36 chars + NUL into out[37]. */
void uuid_v4_str(char out[37]);

/* fsync of the directory holding path (after create/rename). Returns 0 or -errno. */
int fsync_dir_of(const char *path);
int fsync_dir(const char *dir);
/* mkdir -p. Returns 0 or -errno. */
int mkdir_p(const char *path, unsigned mode);
/* Writes a whole small file atomically (tmp + fsync + rename + dir fsync). 0 or -errno. */
int write_file_atomic(const char *path, const void *data, size_t len);
/* Reads a whole small file (NUL-terminated, *len without the NUL). NULL + errno on failure. */
char *read_file_all(const char *path, size_t *len);

/* For "did you mean": the candidate of names[0..n) closest to word (edit distance, case
 * insensitive, adjacent swaps count as one), or NULL when none is close enough to be a likely
 * misspelling (more than a third of the word's length away, at most 3). */
const char *closest_name(const char *word, const char *const *names, size_t n);

#endif
