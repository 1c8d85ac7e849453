/* enospc_shim — an LD_PRELOAD fault injector for the soak test (tests/soak): a full disk
 * without root. While the file named by $EDDY_SOAK_ENOSPC exists, pwrite() to a regular file
 * first writes half of what it was asked (a torn write, as a filling disk gives) and then fails
 * with ENOSPC on the next call of the same thread; writes to sockets and pipes are untouched.
 * When the file is removed, writes succeed again: the disk "has room" once more.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);

static __thread int torn; /* this thread's last call wrote half: the next one fails */

static int disk_full(int fd)
{
    const char *flag = getenv("EDDY_SOAK_ENOSPC");
    struct stat st;
    if (!flag || !*flag || access(flag, F_OK) != 0) return 0;
    return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

static ssize_t shim_pwrite(pwrite_fn real, int fd, const void *buf, size_t n, off_t off)
{
    if (!disk_full(fd)) {
        torn = 0;
        return real(fd, buf, n, off);
    }
    if (!torn && n > 1) {
        torn = 1;
        return real(fd, buf, n / 2, off);
    }
    torn = 0;
    errno = ENOSPC;
    return -1;
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    static pwrite_fn real;
    if (!real) real = (pwrite_fn)dlsym(RTLD_NEXT, "pwrite");
    return shim_pwrite(real, fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    static pwrite_fn real;
    if (!real) real = (pwrite_fn)dlsym(RTLD_NEXT, "pwrite64");
    return shim_pwrite(real, fd, buf, n, off);
}
