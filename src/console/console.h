/* console — eddyd's web console and its JSON admin API on the HTTP port (docs/admin-api.md):
 *   /api/v1/cluster/overview   broker health, uptime, per-topic size and throughput (last hour)
 *   /api/v1/topics[/T[/messages|/configs]]   list, detail, create, delete (confirm), browse
 *   /api/v1/groups[/G[/reset]]  members, assignments, committed offsets, lag, offset reset
 *   /api/v1/trace?correlation_id=X   the events of one correlation id across topics
 *   /api/v1/trace/recent        the newest correlation ids (the overview links their traces)
 *   /api/v1/dlq                 dead-letter topics (*.dlq) and their latest dead letters
 *   /  and /console/...         the page (HTML/CSS/JS embedded in the binary, assets.c)
 * Sits above broker, group and the registry, below eddyd (whose main starts it). Everything
 * runs on the broker's loop thread; offset resets are answered once their records are durable
 * (console_on_flush, a broker flush hook).
 */
#ifndef EDDY_CONSOLE_CONSOLE_H
#define EDDY_CONSOLE_CONSOLE_H

#include "broker/broker.h"
#include "http/http.h"

typedef struct console console;

/* Routes /api/v1/ and / on http and starts the throughput sampler (every 10 s, one hour kept).
 * version is shown on the overview. */
console *console_start(broker *b, http_server *http, const char *version);
/* Answers what is still pending (503) and frees everything; before http_server_stop. */
void console_stop(console *c);
/* The broker's flush hook: answers offset resets whose records became durable. */
void console_on_flush(broker *b);

/* The embedded assets (assets.c, generated from src/console/assets/ at build time). */
typedef struct console_asset {
    const char *path; /* "/index.html", "/app.js", ... */
    const char *content_type;
    const unsigned char *data;
    unsigned long len;
} console_asset;
extern const console_asset console_assets[];
extern const int console_asset_count;

#endif
