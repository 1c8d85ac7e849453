/* log — one line per notable event, to stderr: "2026-11-26T21:50:01.123Z INFO  [module] msg". */
#ifndef EDDY_COMMON_LOG_H
#define EDDY_COMMON_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);
/* Parses "debug|info|warn|error"; returns -1 if unknown. */
int log_parse_level(const char *s);
void log_msg(enum log_level lvl, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Rate limiting for lines a peer can cause (bad frames, refused connections): at most
 * LOG_RL_BURST lines per call site every LOG_RL_WINDOW_MS; the first line after a quiet spell
 * says how many were suppressed. One static state per call site (the macro's). */
#define LOG_RL_BURST 10
#define LOG_RL_WINDOW_MS 10000
typedef struct log_rl {
    long long window_start_ms;
    int count;
    int suppressed;
} log_rl;
/* 1 if the line may be written; *suppressed = lines dropped since the last one written. */
int log_rl_allow(log_rl *rl, int *suppressed);
#define LOG_RL(lvl, mod, ...)                                                                      \
    do {                                                                                           \
        static log_rl rl_;                                                                         \
        int sup_;                                                                                  \
        if (log_rl_allow(&rl_, &sup_)) {                                                           \
            if (sup_) log_msg(lvl, mod, "(%d similar lines suppressed)", sup_);                    \
            log_msg(lvl, mod, __VA_ARGS__);                                                        \
        }                                                                                          \
    } while (0)
#define LOGW_RL(mod, ...) LOG_RL(LOG_WARN, mod, __VA_ARGS__)
#define LOGI_RL(mod, ...) LOG_RL(LOG_INFO, mod, __VA_ARGS__)

#define LOGD(mod, ...) log_msg(LOG_DEBUG, mod, __VA_ARGS__)
#define LOGI(mod, ...) log_msg(LOG_INFO, mod, __VA_ARGS__)
#define LOGW(mod, ...) log_msg(LOG_WARN, mod, __VA_ARGS__)
#define LOGE(mod, ...) log_msg(LOG_ERROR, mod, __VA_ARGS__)

#endif
