/* log — timestamped single-line log records on stderr. */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static enum log_level g_level = LOG_INFO;

void log_set_level(enum log_level lvl)
{
    g_level = lvl;
}
enum log_level log_get_level(void)
{
    return g_level;
}

int log_parse_level(const char *s)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (strcasecmp(s, names[i]) == 0) return i;
    return -1;
}

void log_msg(enum log_level lvl, const char *module, const char *fmt, ...)
{
    if (lvl < g_level) return;
    static const char *tags[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char line[2048];
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s [%s] ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, tags[lvl], module);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof line) vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    size_t len = strnlen(line, sizeof line - 2);
    line[len++] = '\n';
    fwrite(line, 1, len, stderr);
}

int log_rl_allow(log_rl *rl, int *suppressed)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long long now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    *suppressed = 0;
    if (now - rl->window_start_ms >= LOG_RL_WINDOW_MS) {
        rl->window_start_ms = now;
        rl->count = 0;
    }
    if (rl->count >= LOG_RL_BURST) {
        rl->suppressed++;
        return 0;
    }
    rl->count++;
    *suppressed = rl->suppressed;
    rl->suppressed = 0;
    return 1;
}
