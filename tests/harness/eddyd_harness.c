/* eddyd_harness — start/stop/kill/restart a real eddyd for the C integration tests.
 * See eddyd_harness.h for the conventions (shared with eddyd.sh / eddyd.py / eddyd.js).
 */
#include "eddyd_harness.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EH_MAX_LIVE 8
static eh_broker *live[EH_MAX_LIVE];
static int atexit_done;

int64_t eh_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void eh_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {}
}

static void kill_live(void)
{
    for (int i = 0; i < EH_MAX_LIVE; i++)
        if (live[i] && live[i]->pid > 0) eh_kill(live[i]);
}

static void track(eh_broker *b)
{
    if (!atexit_done) {
        atexit(kill_live);
        atexit_done = 1;
    }
    for (int i = 0; i < EH_MAX_LIVE; i++)
        if (live[i] == b) return;
    for (int i = 0; i < EH_MAX_LIVE; i++)
        if (!live[i]) {
            live[i] = b;
            return;
        }
}

static const char *eddyd_bin(void)
{
    static char path[1024];
    const char *e = getenv("EDDYD");
    if (e && access(e, X_OK) == 0) return e;
    const char *bd = getenv("EDDY_BUILD_DIR");
    if (bd) {
        snprintf(path, sizeof path, "%s/src/eddyd/eddyd", bd);
        if (access(path, X_OK) == 0) return path;
    }
    fprintf(stderr, "harness: eddyd not found (EDDYD=%s, EDDY_BUILD_DIR=%s)\n", e ? e : "(unset)",
            bd ? bd : "(unset)");
    return NULL;
}

/* The port from the first "listening on 127.0.0.1:PORT" line that is not the HTTP one. */
static int ready_port(const char *log)
{
    FILE *f = fopen(log, "r");
    if (!f) return 0;
    char line[4096];
    int port = 0;
    static const char pat[] = "listening on 127.0.0.1:";
    while (!port && fgets(line, sizeof line, f)) {
        for (char *s = strstr(line, pat); s; s = strstr(s + 1, pat)) {
            if (s - line >= 5 && !strncmp(s - 5, "http ", 5)) continue;
            port = atoi(s + strlen(pat));
            break;
        }
    }
    fclose(f);
    return port;
}

static int launch(eh_broker *b)
{
    const char *bin = eddyd_bin();
    if (!bin) return -1;
    b->nstart++;
    snprintf(b->log, sizeof b->log, "%s/eddyd-%d.log", b->tmp, b->nstart);
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", b->port);
    char *argv[8 + 2 * EH_MAX_SETS];
    int n = 0;
    argv[n++] = (char *)bin;
    argv[n++] = "--data-dir";
    argv[n++] = b->data;
    argv[n++] = "--listen";
    argv[n++] = listen;
    argv[n++] = "--http"; /* none unless a --set http.listeners asks (8081 would collide) */
    argv[n++] = "off";
    for (int i = 0; i < b->nsets; i++) {
        argv[n++] = "--set";
        argv[n++] = b->sets[i];
    }
    argv[n] = NULL;

    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(126);
        int fd = open(b->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int nul = open("/dev/null", O_RDONLY);
        if (fd < 0 || nul < 0) _exit(127);
        dup2(nul, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(bin, argv);
        _exit(127);
    }
    b->pid = pid;
    track(b);
    int64_t deadline = eh_now_ms() + 60000;
    while (eh_now_ms() < deadline) {
        int port = ready_port(b->log);
        if (port) {
            if (b->port && port != b->port) {
                fprintf(stderr, "harness: eddyd restarted on port %d, asked for %d\n", port,
                        b->port);
                eh_kill(b);
                return -1;
            }
            b->port = port;
            snprintf(b->bootstrap, sizeof b->bootstrap, "127.0.0.1:%d", port);
            return 0;
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            b->pid = 0;
            fprintf(stderr, "harness: eddyd exited during start-up (%s %d)\n",
                    WIFEXITED(st) ? "status" : "signal",
                    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
            eh_log_tail(b, 40);
            return -1;
        }
        eh_sleep_ms(20);
    }
    fprintf(stderr, "harness: eddyd printed no ready line within 60 s\n");
    eh_log_tail(b, 40);
    eh_kill(b);
    return -1;
}

int eh_start(eh_broker *b, const char *const *sets)
{
    memset(b, 0, sizeof *b);
    const char *td = getenv("TMPDIR");
    snprintf(b->tmp, sizeof b->tmp, "%s/eddy-it-XXXXXX", td && *td ? td : "/tmp");
    if (!mkdtemp(b->tmp)) {
        perror("harness: mkdtemp");
        return -1;
    }
    snprintf(b->data, sizeof b->data, "%s/data", b->tmp);
    for (int i = 0; sets && sets[i] && i < EH_MAX_SETS; i++) b->sets[b->nsets++] = strdup(sets[i]);
    return launch(b);
}

int eh_restart(eh_broker *b)
{
    if (b->pid > 0 && eh_stop(b, 30) != 0) return -1;
    return launch(b);
}

int eh_stop(eh_broker *b, int timeout_s)
{
    if (b->pid <= 0) return 0;
    kill(b->pid, SIGTERM);
    int64_t deadline = eh_now_ms() + (int64_t)timeout_s * 1000;
    int st;
    for (;;) {
        pid_t r = waitpid(b->pid, &st, WNOHANG);
        if (r == b->pid) break;
        if (r < 0 && errno != EINTR) {
            b->pid = 0;
            return -1;
        }
        if (eh_now_ms() >= deadline) {
            fprintf(stderr, "harness: eddyd did not exit within %d s of SIGTERM\n", timeout_s);
            eh_kill(b);
            return -1;
        }
        eh_sleep_ms(20);
    }
    b->pid = 0;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
    fprintf(stderr, "harness: eddyd ended with %s %d after SIGTERM (expected exit 0)\n",
            WIFEXITED(st) ? "status" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    eh_log_tail(b, 40);
    return -1;
}

void eh_kill(eh_broker *b)
{
    if (b->pid <= 0) return;
    kill(b->pid, SIGKILL);
    while (waitpid(b->pid, NULL, 0) < 0 && errno == EINTR) {}
    b->pid = 0;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void eh_cleanup(eh_broker *b)
{
    eh_kill(b);
    for (int i = 0; i < EH_MAX_LIVE; i++)
        if (live[i] == b) live[i] = NULL;
    const char *keep = getenv("EDDY_IT_KEEP");
    if (b->tmp[0] && !(keep && !strcmp(keep, "1"))) nftw(b->tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    for (int i = 0; i < b->nsets; i++) free(b->sets[i]);
    b->nsets = 0;
}

void eh_log_tail(const eh_broker *b, int lines)
{
    FILE *f = fopen(b->log, "r");
    if (!f) return;
    /* Two passes: count, then print the tail. */
    char buf[4096];
    int total = 0;
    while (fgets(buf, sizeof buf, f)) total++;
    rewind(f);
    fprintf(stderr, "---- eddyd log tail (%s) ----\n", b->log);
    for (int i = 0; fgets(buf, sizeof buf, f); i++)
        if (i >= total - lines) fputs(buf, stderr);
    fprintf(stderr, "----\n");
    fclose(f);
}
