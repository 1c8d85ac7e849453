/* bcommon — helpers shared by the bench load generators (bench/bench_*.c): clocks, CPU
 * seconds of a process or thread from /proc, latency samples and percentiles, `--key value`
 * arguments, and one-line JSON results that bench/report.py aggregates. Not part of eddyd. */
#ifndef EDDY_BENCH_BCOMMON_H
#define EDDY_BENCH_BCOMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

int64_t now_ns(void); /* CLOCK_MONOTONIC */
void sleep_until_ns(int64_t t);

/* utime+stime of a process (/proc/PID/stat) or of one thread (/proc/PID/task/TID/stat), in
 * seconds; -1 if unreadable. */
double proc_cpu_s(pid_t pid);
double thread_cpu_s(pid_t pid, pid_t tid);
long proc_rss_kib(pid_t pid); /* VmRSS, -1 if unreadable */

/* Latency samples in nanoseconds. */
typedef struct lat {
    int64_t *v;
    size_t n, cap;
} lat;
void lat_add(lat *l, int64_t ns);
void lat_sort(lat *l);
double lat_pct_ms(const lat *l, double pct); /* needs lat_sort; 0 when empty */

/* Arguments: argv holds `--key value` pairs after the mode word. */
void args_init(int argc, char **argv, int first);
const char *arg_str(const char *key, const char *dflt);
long long arg_ll(const char *key, long long dflt);
double arg_dbl(const char *key, double dflt);
int arg_flag(const char *key); /* `--key` given with value "1" or without value */

/* One JSON object on stdout, one line: json_begin(); json_num("x", 1); ...; json_end(). */
void json_begin(void);
void json_num(const char *key, double v);
void json_str(const char *key, const char *v);
void json_end(void);

/* Payload bytes that do not compress well (no compression is configured, but be honest). */
void fill_payload(uint8_t *p, size_t n, uint64_t seed);

_Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void note(const char *fmt, ...) __attribute__((format(printf, 1, 2))); /* stderr */

#endif
