/* eddyd_launch — start/stop a real eddyd for the C group tests, following the integration
 * harness conventions: `eddyd --data-dir DIR --listen 127.0.0.1:0 --set
 * group.initial.rebalance.delay.ms=0`, ready line "listening on 127.0.0.1:PORT" on stderr
 * (captured into DIR/../eddyd-N.log). The binary comes from $EDDYD.
 */
#ifndef EDDY_TESTS_EDDYD_LAUNCH_H
#define EDDY_TESTS_EDDYD_LAUNCH_H

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct eddyd_proc {
    pid_t pid;
    int port;
    char log[512];
} eddyd_proc;

/* extra: one more "key=value" setting or NULL */
static int eddyd_start(const char *data_dir, int n, const char *extra, eddyd_proc *p)
{
    const char *bin = getenv("EDDYD");
    if (!bin) {
        fprintf(stderr, "EDDYD is not set\n");
        return -1;
    }
    snprintf(p->log, sizeof p->log, "%s.eddyd-%d.log", data_dir, n);
    p->pid = fork();
    if (p->pid < 0) return -1;
    if (p->pid == 0) {
        int fd = open(p->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) dup2(fd, 2);
        if (extra)
            execl(bin, "eddyd", "--data-dir", data_dir, "--listen", "127.0.0.1:0", "--http", "off",
                  "--set", "group.initial.rebalance.delay.ms=0", "--set", extra, (char *)NULL);
        else
            execl(bin, "eddyd", "--data-dir", data_dir, "--listen", "127.0.0.1:0", "--http", "off",
                  "--set", "group.initial.rebalance.delay.ms=0", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 300; i++) { /* up to 30 s */
        FILE *f = fopen(p->log, "r");
        if (f) {
            char line[1024];
            while (fgets(line, sizeof line, f)) {
                const char *s = strstr(line, "listening on 127.0.0.1:");
                if (s && !(s - line >= 5 && !strncmp(s - 5, "http ", 5))) {
                    p->port = atoi(s + strlen("listening on 127.0.0.1:"));
                    fclose(f);
                    return 0;
                }
            }
            fclose(f);
        }
        int st;
        if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
            fprintf(stderr, "eddyd exited during start-up; see %s\n", p->log);
            return -1;
        }
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    kill(p->pid, SIGKILL);
    return -1;
}

static int eddyd_stop(eddyd_proc *p, int sig)
{
    int st = 0;
    kill(p->pid, sig);
    waitpid(p->pid, &st, 0);
    return st;
}

#endif
