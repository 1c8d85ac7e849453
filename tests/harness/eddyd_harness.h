/* eddyd_harness — integration-test launcher for C tests (every test area).
 *
 * Starts a real eddyd with `--data-dir <fresh temp dir> --listen 127.0.0.1:0 [--set k=v ...]`,
 * waits for the ready line "listening on 127.0.0.1:PORT" (eddyd's stdout/stderr go to a log
 * file in the temp dir), stops it with SIGTERM (exit status 0 required) or kills it with
 * SIGKILL, and restarts it on the same data dir and port. Same conventions as eddyd.sh,
 * eddyd.py and eddyd.js. Binary: $EDDYD, else $EDDY_BUILD_DIR/src/eddyd/eddyd; a missing
 * binary is a test failure. eddyd gets PR_SET_PDEATHSIG=SIGKILL and an atexit hook kills it,
 * so no broker outlives its test.
 */
#ifndef EDDY_TESTS_EDDYD_HARNESS_H
#define EDDY_TESTS_EDDYD_HARNESS_H

#include <stdint.h>
#include <sys/types.h>

#define EH_MAX_SETS 32

typedef struct eh_broker {
    pid_t pid; /* 0 when not running */
    int port;  /* 0 until the first start */
    int nstart;
    int nsets;
    char *sets[EH_MAX_SETS];
    char tmp[256]; /* temp dir: data/ and eddyd-N.log */
    char data[300];
    char log[320];
    char bootstrap[64]; /* "127.0.0.1:PORT" */
} eh_broker;

/* First start. `sets` is a NULL-terminated list of "key=value" (or NULL). 0 or -1. */
int eh_start(eh_broker *b, const char *const *sets);
/* Start again on the same data dir and port (the broker must be stopped or killed). */
int eh_restart(eh_broker *b);
/* SIGTERM; 0 if eddyd exited with status 0 within `timeout_s`, else -1 (and it is killed). */
int eh_stop(eh_broker *b, int timeout_s);
/* SIGKILL and reap. */
void eh_kill(eh_broker *b);
/* Kill if running and remove the temp dir (kept when EDDY_IT_KEEP=1). */
void eh_cleanup(eh_broker *b);
/* Print the last lines of the current log to stderr. */
void eh_log_tail(const eh_broker *b, int lines);

int64_t eh_now_ms(void);
void eh_sleep_ms(int ms);

#endif
