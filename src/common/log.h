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

#define LOGD(mod, ...) log_msg(LOG_DEBUG, mod, __VA_ARGS__)
#define LOGI(mod, ...) log_msg(LOG_INFO, mod, __VA_ARGS__)
#define LOGW(mod, ...) log_msg(LOG_WARN, mod, __VA_ARGS__)
#define LOGE(mod, ...) log_msg(LOG_ERROR, mod, __VA_ARGS__)

#endif
