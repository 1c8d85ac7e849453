/* console_int — what api.c (routes, overview, topics, groups), browse.c (messages, trace,
 * dead letters: the parts that read the log) and reply.c (answers, query parameters, offsets by
 * time: below both) share. */
#ifndef EDDY_CONSOLE_CONSOLE_INT_H
#define EDDY_CONSOLE_CONSOLE_INT_H

#include <jansson.h>
#include <stdint.h>

#include "console/console.h"
#include "storage/batch.h"

/* reply.c */
/* Answers resp with JSON (takes the reference of o). */
void con_json(http_response *resp, int status, json_t *o);
/* Answers resp with {"error_code": code, "message": ...}; the HTTP status is code / 100. */
void con_error(http_response *resp, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Parses a non-negative/any decimal integer query parameter; 0 = absent, 1 = ok, -1 = bad. */
int con_query_i64(const http_request *req, const char *name, int64_t *out);

/* First offset of p whose record timestamp is >= ts, or the high watermark. */
int64_t con_offset_for_time(bpart *p, int64_t ts);

/* browse.c */
/* Calls fn for the records of p in [from, to) within *budget bytes read: 1 when fn stopped it
 * (returned non-zero), 2 when the budget ran out first, 0 at `to`. */
typedef int (*con_rec_fn)(bpart *p, const batch_record *rec, void *arg);
int con_scan_part(bpart *p, int64_t from, int64_t to, con_rec_fn fn, void *arg, int64_t *budget);
void con_messages(broker *b, btopic *t, const http_request *req, http_response *resp);
void con_trace(broker *b, const http_request *req, http_response *resp);
/* The newest correlation ids (x-correlation-id of each partition's newest records). */
void con_trace_recent(broker *b, const http_request *req, http_response *resp);
void con_dlq(broker *b, const http_request *req, http_response *resp);

/* redrive.c: POST /api/v1/dlq/<dlq topic>/redrive; its durable waits move on at every flush */
void con_redrive(broker *b, btopic *dlq, const http_request *req, http_response *resp);
void con_redrive_on_flush(broker *b);
void con_redrive_stop(void); /* answers the redrives still waiting (503) */

#endif
