/* broker.c — the embedded broker for tests and small deployments (eddy.h): starts eddyd as a
 * child process on a loopback port with a temp data dir, waits for its ready line ("listening
 * on 127.0.0.1:PORT" on stderr, captured in DATA/../eddyd.log), stops it with SIGTERM and can
 * restart it on the same port and data. EDDY_BROKER=mock runs eddy-mockd (librdkafka's mock
 * cluster) instead. Part of src/sdk (libeddy). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

struct eddy_broker {
    char *bin;
    char *data_dir;
    char *tmp_root; /* made by us: removed at free */
    char *log;
    int port;
    pid_t pid;
    int mock;
    char bootstrap[64];
};

static char *find_bin(const char *path, int *mock)
{
    const char *kind = getenv("EDDY_BROKER");
    *mock = kind && !strcmp(kind, "mock");
    if (path && *path) return sdk_xstrdup(path);
    if (*mock) {
        const char *m = getenv("EDDY_MOCKD");
        if (m && *m) return sdk_xstrdup(m);
        return sdk_xstrdup("eddy-mockd");
    }
    const char *e = getenv("EDDYD");
    if (e && *e) return sdk_xstrdup(e);
    const char *b = getenv("EDDY_BUILD_DIR");
    if (b) {
        char *p = sdk_xasprintf("%s/src/eddyd/eddyd", b);
        if (access(p, X_OK) == 0) return p;
        free(p);
    }
    return sdk_xstrdup("eddyd");
}

static int spawn(eddy_broker *b)
{
    char listen_on[64];
    snprintf(listen_on, sizeof listen_on, "127.0.0.1:%d", b->port);
    pid_t pid = fork();
    if (pid < 0) return -errno;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(b->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 2);
            dup2(fd, 1);
        }
        int nul = open("/dev/null", O_RDONLY); /* eddy-mockd reads commands on stdin */
        if (nul >= 0) dup2(nul, 0);
        if (b->mock)
            execlp(b->bin, b->bin, "--data-dir", b->data_dir, "--listen", listen_on, (char *)NULL);
        else /* no HTTP port: eddyd's default 8081 would collide between embedded brokers */
            execlp(b->bin, b->bin, "--data-dir", b->data_dir, "--listen", listen_on, "--http",
                   "off", (char *)NULL);
        _exit(127);
    }
    b->pid = pid;
    /* Wait for the ready line written after our start (the log is appended to). */
    struct stat st;
    off_t from = 0;
    (void)st;
    for (int i = 0; i < 600; i++) { /* 60 s */
        FILE *f = fopen(b->log, "r");
        if (f) {
            char line[1024];
            int found = 0;
            while (fgets(line, sizeof line, f)) {
                const char *s = strstr(line, "listening on 127.0.0.1:");
                if (s && !(s - line >= 5 && !strncmp(s - 5, "http ", 5))) {
                    int port = atoi(s + strlen("listening on 127.0.0.1:"));
                    if (port > 0 && (b->port == 0 || port == b->port)) {
                        b->port = port;
                        found = 1;
                    }
                }
            }
            from = ftell(f);
            fclose(f);
            if (found) {
                snprintf(b->bootstrap, sizeof b->bootstrap, "127.0.0.1:%d", b->port);
                /* truncate, so a restart waits for a fresh line */
                int fd = open(b->log, O_WRONLY | O_TRUNC);
                if (fd >= 0) close(fd);
                (void)from;
                return 0;
            }
        }
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            b->pid = 0;
            sdk_log("broker", "%s exited during start-up; see %s", b->bin, b->log);
            return EDDY_ERR_IO;
        }
        sdk_sleep_ms(100);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    b->pid = 0;
    return EDDY_ERR_IO;
}

int eddy_broker_start(const char *path, const char *data_dir, int port, eddy_broker **out)
{
    *out = NULL;
    eddy_broker *b = sdk_xcalloc(1, sizeof *b);
    b->bin = find_bin(path, &b->mock);
    b->port = port;
    if (data_dir) {
        b->data_dir = sdk_xstrdup(data_dir);
        mkdir(data_dir, 0755);
        b->log = sdk_xasprintf("%s.log", data_dir);
    } else {
        const char *t = getenv("TMPDIR");
        char *tmpl = sdk_xasprintf("%s/eddy-broker-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(tmpl)) {
            free(tmpl);
            eddy_broker_free(b);
            return -errno;
        }
        b->tmp_root = tmpl;
        b->data_dir = sdk_xasprintf("%s/data", tmpl);
        mkdir(b->data_dir, 0755);
        b->log = sdk_xasprintf("%s/eddyd.log", tmpl);
    }
    int rc = spawn(b);
    if (rc < 0) {
        eddy_broker_free(b);
        return rc;
    }
    *out = b;
    return 0;
}

const char *eddy_broker_bootstrap(const eddy_broker *b)
{
    return b->bootstrap;
}

int eddy_broker_port(const eddy_broker *b)
{
    return b->port;
}

int eddy_broker_pid(const eddy_broker *b)
{
    return b->pid;
}

static int stop_with(eddy_broker *b, int sig)
{
    if (!b->pid) return 0;
    kill(b->pid, sig);
    int status = 0;
    for (int i = 0; i < 150; i++) {
        if (waitpid(b->pid, &status, WNOHANG) == b->pid) {
            b->pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : (sig == SIGKILL ? 0 : -1);
        }
        sdk_sleep_ms(100);
    }
    kill(b->pid, SIGKILL);
    waitpid(b->pid, &status, 0);
    b->pid = 0;
    return -1;
}

int eddy_broker_stop(eddy_broker *b)
{
    return stop_with(b, SIGTERM);
}

int eddy_broker_kill(eddy_broker *b)
{
    return stop_with(b, SIGKILL);
}

int eddy_broker_restart(eddy_broker *b)
{
    if (b->pid) eddy_broker_stop(b);
    int rc = EDDY_ERR_IO;
    for (int i = 0; i < 20 && rc < 0; i++) { /* the port may linger a moment */
        rc = spawn(b);
        if (rc < 0) sdk_sleep_ms(250);
    }
    return rc;
}

static void rm_rf(const char *p)
{
    pid_t pid = fork();
    if (pid == 0) {
        execlp("rm", "rm", "-rf", p, (char *)NULL);
        _exit(127);
    }
    if (pid > 0) waitpid(pid, NULL, 0);
}

void eddy_broker_free(eddy_broker *b)
{
    if (!b) return;
    if (b->pid) eddy_broker_stop(b);
    if (b->tmp_root) rm_rf(b->tmp_root);
    free(b->tmp_root);
    free(b->bin);
    free(b->data_dir);
    free(b->log);
    free(b);
}
