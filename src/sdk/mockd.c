/* mockd.c — eddy-mockd: a stand-in Kafka cluster on librdkafka's mock cluster (rdkafka_mock.h),
 * for developing and testing the SDK, the services and the CLI without eddyd, and for the
 * cluster behaviours eddyd cannot show (it does not replicate): partition leaders that move, a
 * broker that goes away, a group coordinator that moves, injected request errors.
 *
 *   eddy-mockd [--brokers N] [--groups G1,G2] [--data-dir DIR] [--listen ADDR]
 *
 * Same command line and ready line as eddyd ("listening on 127.0.0.1:PORT[,127.0.0.1:PORT…]" on
 * stderr; --data-dir and --listen are accepted and ignored: the ports are the mock's own and data
 * is in memory only). Topics get replication factor min(3, N). Control channel: one command a
 * line on stdin, one answer a line on stdout ("ok …" or "error: …"); `help` lists them. SIGUSR1
 * takes every broker down, SIGUSR2 brings them back (single-broker outage tests); SIGTERM stops.
 * Part of src/sdk (a tool beside libeddy; it links only librdkafka, jansson and zlib). */
#include <errno.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define MAX_BROKERS 16
#define MAX_GROUPS 64
#define MAX_ARGS 16

static volatile sig_atomic_t g_stop, g_down, g_up;

static void on_sig(int s)
{
    if (s == SIGUSR1)
        g_down = 1;
    else if (s == SIGUSR2)
        g_up = 1;
    else
        g_stop = 1;
}

static const char k_usage[] =
    "usage: eddy-mockd [--brokers N] [--topics T[:P],...] [--groups G1,G2,...]\n"
    "                  [--data-dir DIR] [--listen ADDR]\n"
    "  A Kafka-protocol cluster of N brokers (default 1) on librdkafka's mock cluster, in\n"
    "  memory. Topics are auto-created (4 partitions unless a client asks otherwise) with\n"
    "  replication factor min(3, N); --topics creates topics at start (P partitions, default\n"
    "  4), as an operator would on a real cluster. --groups names consumer groups whose coordinator moves\n"
    "  with `down` (the mock cannot list groups). --data-dir and --listen are accepted for\n"
    "  eddyd compatibility and ignored. Control commands on stdin, answers on stdout:\n";

static const char k_commands[] =
    "  create TOPIC PARTITIONS             create a topic (replication factor min(3, N))\n"
    "  state                               brokers, partitions (leader, replicas), groups (JSON)\n"
    "  leader TOPIC PARTITION BROKER       move a partition's leader (-1: no leader)\n"
    "  rotate [TOPIC]                      move every partition's leader to its next live replica\n"
    "  elect                               move leaders back to their preferred (first) replica\n"
    "  down BROKER                         take a broker down; its partitions and group\n"
    "                                      coordinators fail over to live replicas/brokers\n"
    "  up BROKER                           bring a broker back (leaders stay where they are)\n"
    "  coordinator GROUP BROKER            move a consumer group's coordinator\n"
    "  group GROUP                         remember a group (its coordinator follows `down`)\n"
    "  error API COUNT ERR [ERR...]        the next COUNT requests of API (any broker) fail with\n"
    "                                      ERR (a Kafka error name such as\n"
    "                                      NOT_LEADER_OR_FOLLOWER, NOT_ENOUGH_REPLICAS,\n"
    "                                      COORDINATOR_NOT_AVAILABLE, or a number; _TRANSPORT\n"
    "                                      closes the connection); several ERRs cycle\n"
    "  broker-error BROKER API COUNT ERR [RTT_MS]  the same on one broker, answer delayed\n"
    "  pending BROKER API                  broker-errors still queued (not yet answered)\n"
    "  clear API                           drop errors still queued for API\n"
    "  rtt BROKER MS                       delay every answer of a broker (batches in flight)\n"
    "  help | quit\n";

struct mockd {
    rd_kafka_t *rk; /* owns the mock cluster */
    rd_kafka_mock_cluster_t *mc;
    rd_kafka_t *obs; /* a client of the cluster: metadata for failover and `state` */
    int nbrokers;
    int up[MAX_BROKERS + 1];
    int ports[MAX_BROKERS + 1];
    char *groups[MAX_GROUPS];
    int coord[MAX_GROUPS]; /* explicit coordinator, or 0: the mock's hash */
    int ngroups;
};

/* ---- names -------------------------------------------------------------------------------- */
static const struct {
    const char *name;
    int key;
} k_apis[] = {
    {"Produce", 0},          {"Fetch", 1},
    {"ListOffsets", 2},      {"Metadata", 3},
    {"OffsetCommit", 8},     {"OffsetFetch", 9},
    {"FindCoordinator", 10}, {"JoinGroup", 11},
    {"Heartbeat", 12},       {"LeaveGroup", 13},
    {"SyncGroup", 14},       {"ApiVersions", 18},
    {"InitProducerId", 22},  {"AddPartitionsToTxn", 24},
    {"EndTxn", 26},
};

static int api_key(const char *s)
{
    for (size_t i = 0; i < sizeof k_apis / sizeof k_apis[0]; i++)
        if (!strcasecmp(s, k_apis[i].name)) return k_apis[i].key;
    char *end;
    long v = strtol(s, &end, 10);
    return (*s && !*end && v >= 0 && v < 100) ? (int)v : -1;
}

/* Kafka error name (librdkafka's names, plus the names newer Kafka versions use), or number. */
static int err_code(const char *s, rd_kafka_resp_err_t *out)
{
    static const struct {
        const char *alias;
        rd_kafka_resp_err_t err;
    } aliases[] = {
        {"NOT_LEADER_OR_FOLLOWER", RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION},
        {"COORDINATOR_NOT_AVAILABLE", RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE},
        {"NOT_COORDINATOR", RD_KAFKA_RESP_ERR_NOT_COORDINATOR},
        {"TRANSPORT", RD_KAFKA_RESP_ERR__TRANSPORT},
    };
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (!strcasecmp(s, aliases[i].alias)) {
            *out = aliases[i].err;
            return 0;
        }
    const struct rd_kafka_err_desc *d;
    size_t n;
    rd_kafka_get_err_descs(&d, &n);
    for (size_t i = 0; i < n; i++)
        if (d[i].name && !strcasecmp(s, d[i].name)) {
            *out = d[i].code;
            return 0;
        }
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < -200 || v > 200) return -1;
    *out = (rd_kafka_resp_err_t)v;
    return 0;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

/* ---- cluster view ------------------------------------------------------------------------- */
static const struct rd_kafka_metadata *metadata(struct mockd *m, char *err, size_t errlen)
{
    /* A request may go to a broker that was just taken down (the client has not seen its
     * connection close yet) and time out: ask again, another broker answers. */
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (int i = 0; i < 5; i++) {
        const struct rd_kafka_metadata *md = NULL;
        e = rd_kafka_metadata(m->obs, 1, NULL, &md, 2000);
        if (!e) return md;
    }
    snprintf(err, errlen, "metadata: %s", rd_kafka_err2str(e));
    return NULL;
}

static int group_find(struct mockd *m, const char *g)
{
    for (int i = 0; i < m->ngroups; i++)
        if (!strcmp(m->groups[i], g)) return i;
    return -1;
}

static int group_add(struct mockd *m, const char *g)
{
    int i = group_find(m, g);
    if (i >= 0 || m->ngroups == MAX_GROUPS) return i;
    m->groups[m->ngroups] = strdup(g);
    m->coord[m->ngroups] = 0;
    return m->ngroups++;
}

/* The coordinator the mock answers with: an explicit one, else crc32(group) over the brokers
 * in id order (rd_kafka_mock_cluster_get_coord). */
static int group_coord(struct mockd *m, int i)
{
    if (m->coord[i]) return m->coord[i];
    uLong h = crc32(0L, (const Bytef *)m->groups[i], (uInt)strlen(m->groups[i]));
    return (int)(h % (uLong)m->nbrokers) + 1;
}

static int next_live(struct mockd *m, const struct rd_kafka_metadata_partition *p, int after)
{
    int start = 0;
    for (int r = 0; r < p->replica_cnt; r++)
        if (p->replicas[r] == after) start = r + 1;
    for (int k = 0; k < p->replica_cnt; k++) {
        int b = p->replicas[(start + k) % p->replica_cnt];
        if (b != after && b >= 1 && b <= m->nbrokers && m->up[b]) return b;
    }
    return -1;
}

static int set_leader_raw(struct mockd *m, const char *topic, int part, int broker, char *err,
                          size_t errlen)
{
    rd_kafka_resp_err_t e = rd_kafka_mock_partition_set_leader(m->mc, topic, part, broker);
    if (e) {
        snprintf(err, errlen, "%s/%d: %s", topic, part, rd_kafka_err2str(e));
        return -1;
    }
    return 0;
}

static int set_leader(struct mockd *m, const char *topic, int part, int broker, char *err,
                      size_t errlen)
{
    /* the mock would create a missing topic: refuse instead */
    const struct rd_kafka_metadata *md = metadata(m, err, errlen);
    if (!md) return -1;
    int known = 0;
    for (int t = 0; t < md->topic_cnt; t++)
        if (!strcmp(md->topics[t].topic, topic)) known = part < md->topics[t].partition_cnt;
    rd_kafka_metadata_destroy(md);
    if (!known) {
        snprintf(err, errlen, "no partition %s/%d", topic, part);
        return -1;
    }
    return set_leader_raw(m, topic, part, broker, err, errlen);
}

enum move { MOVE_AWAY, MOVE_ROTATE, MOVE_PREFERRED };

/* Moves leaders: AWAY from broker `b` (failover), ROTATE to the next live replica, or back to
 * the PREFERRED replica. Returns partitions moved, or -1 with err set. */
static int move_leaders(struct mockd *m, enum move how, int b, const char *only_topic,
                        const struct rd_kafka_metadata *md0, char *err, size_t errlen)
{
    const struct rd_kafka_metadata *md = md0 ? md0 : metadata(m, err, errlen);
    if (!md) return -1;
    int moved = 0;
    for (int t = 0; t < md->topic_cnt; t++) {
        const struct rd_kafka_metadata_topic *tp = &md->topics[t];
        if (only_topic && strcmp(only_topic, tp->topic)) continue;
        for (int i = 0; i < tp->partition_cnt; i++) {
            const struct rd_kafka_metadata_partition *p = &tp->partitions[i];
            int to;
            if (how == MOVE_AWAY) {
                if (p->leader != b) continue;
                to = next_live(m, p, b);
            } else if (how == MOVE_ROTATE) {
                to = next_live(m, p, p->leader);
                if (to < 0) continue;
            } else {
                if (p->replica_cnt == 0 || p->leader == p->replicas[0]) continue;
                to = p->replicas[0];
                if (!m->up[to]) continue;
            }
            if (set_leader_raw(m, tp->topic, p->id, to, err, errlen)) {
                if (!md0) rd_kafka_metadata_destroy(md);
                return -1;
            }
            moved++;
        }
    }
    if (!md0) rd_kafka_metadata_destroy(md);
    return moved;
}

static void state_json(struct mockd *m, char *err, size_t errlen, FILE *out)
{
    const struct rd_kafka_metadata *md = metadata(m, err, errlen);
    if (!md) {
        fprintf(out, "error: %s\n", err);
        return;
    }
    json_t *o = json_object(), *brokers = json_array(), *topics = json_array(),
           *groups = json_object();
    for (int b = 1; b <= m->nbrokers; b++)
        json_array_append_new(brokers, json_pack("{s:i,s:s,s:i,s:b}", "id", b, "host", "127.0.0.1",
                                                 "port", m->ports[b], "up", m->up[b]));
    for (int t = 0; t < md->topic_cnt; t++) {
        const struct rd_kafka_metadata_topic *tp = &md->topics[t];
        json_t *parts = json_array();
        for (int i = 0; i < tp->partition_cnt; i++) {
            const struct rd_kafka_metadata_partition *p = &tp->partitions[i];
            json_t *reps = json_array();
            for (int r = 0; r < p->replica_cnt; r++)
                json_array_append_new(reps, json_integer(p->replicas[r]));
            json_array_append_new(parts, json_pack("{s:i,s:i,s:o}", "partition", p->id, "leader",
                                                   p->leader, "replicas", reps));
        }
        json_array_append_new(topics,
                              json_pack("{s:s,s:o}", "topic", tp->topic, "partitions", parts));
    }
    for (int i = 0; i < m->ngroups; i++)
        json_object_set_new(groups, m->groups[i], json_integer(group_coord(m, i)));
    json_object_set_new(o, "brokers", brokers);
    json_object_set_new(o, "topics", topics);
    json_object_set_new(o, "groups", groups);
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    fprintf(out, "ok %s\n", s);
    free(s);
    json_decref(o);
    rd_kafka_metadata_destroy(md);
}

static int create_topic(struct mockd *m, const char *spec, char *err, size_t errlen)
{
    char name[256];
    int parts = 4;
    const char *colon = strchr(spec, ':');
    size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
    if (n == 0 || n >= sizeof name || (colon && parse_int(colon + 1, 1, 10000, &parts))) {
        snprintf(err, errlen, "bad topic '%s' (NAME[:PARTITIONS])", spec);
        return -1;
    }
    memcpy(name, spec, n);
    name[n] = 0;
    rd_kafka_resp_err_t e =
        rd_kafka_mock_topic_create(m->mc, name, parts, m->nbrokers < 3 ? m->nbrokers : 3);
    if (e) {
        snprintf(err, errlen, "create %.100s: %s", name, rd_kafka_err2str(e));
        return -1;
    }
    return 0;
}

static int broker_arg(struct mockd *m, const char *s)
{
    int b;
    return parse_int(s, 1, m->nbrokers, &b) ? -1 : b;
}

static int set_coord(struct mockd *m, int gi, int b, char *err, size_t errlen)
{
    rd_kafka_resp_err_t e = rd_kafka_mock_coordinator_set(m->mc, "group", m->groups[gi], b);
    if (e) {
        snprintf(err, errlen, "coordinator of %s: %s", m->groups[gi], rd_kafka_err2str(e));
        return -1;
    }
    m->coord[gi] = b;
    return 0;
}

static int broker_down(struct mockd *m, int b, char *msg, size_t msglen)
{
    char err[256];
    if (!m->up[b]) {
        snprintf(msg, msglen, "broker %d is already down", b);
        return 0;
    }
    /* who leads what, asked before the broker goes (it may be the one the client asks) */
    const struct rd_kafka_metadata *md = metadata(m, err, sizeof err);
    if (!md) {
        snprintf(msg, msglen, "error: down %d: %s", b, err);
        return -1;
    }
    rd_kafka_resp_err_t e = rd_kafka_mock_broker_set_down(m->mc, b);
    if (e) {
        rd_kafka_metadata_destroy(md);
        snprintf(msg, msglen, "error: down %d: %s", b, rd_kafka_err2str(e));
        return -1;
    }
    m->up[b] = 0;
    /* What a controller does when a broker's session ends: elect leaders among the live
     * replicas, and move the coordinators it hosted. With no broker left there is nobody to
     * ask nor to move to: leaders stay (offline partitions, as with unclean election off). */
    int live = 0;
    for (int i = 1; i <= m->nbrokers; i++) live += m->up[i];
    int moved = live ? move_leaders(m, MOVE_AWAY, b, NULL, md, err, sizeof err) : 0;
    rd_kafka_metadata_destroy(md);
    if (moved < 0) {
        snprintf(msg, msglen, "error: broker %d down, but %s", b, err);
        return -1;
    }
    int gmoved = 0;
    for (int i = 0; i < m->ngroups && live; i++) {
        if (group_coord(m, i) != b) continue;
        int to = b;
        for (int k = 1; k < m->nbrokers && to == b; k++) {
            int c = (b - 1 + k) % m->nbrokers + 1;
            if (m->up[c]) to = c;
        }
        if (to == b) continue;
        if (set_coord(m, i, to, err, sizeof err)) {
            snprintf(msg, msglen, "error: broker %d down, but %s", b, err);
            return -1;
        }
        gmoved++;
    }
    snprintf(msg, msglen, "broker %d down; %d leaders and %d coordinators moved", b, moved, gmoved);
    return 0;
}

static int broker_up(struct mockd *m, int b, char *msg, size_t msglen)
{
    if (m->up[b]) {
        snprintf(msg, msglen, "broker %d is already up", b);
        return 0;
    }
    rd_kafka_resp_err_t e = rd_kafka_mock_broker_set_up(m->mc, b);
    if (e) {
        snprintf(msg, msglen, "error: up %d: %s", b, rd_kafka_err2str(e));
        return -1;
    }
    m->up[b] = 1;
    snprintf(msg, msglen, "broker %d up", b);
    return 0;
}

/* Runs one command line; writes one answer line to out. */
static void command(struct mockd *m, char *line, FILE *out)
{
    char *argv[MAX_ARGS];
    int argc = 0;
    for (char *tok = strtok(line, " \t\r\n"); tok && argc < MAX_ARGS; tok = strtok(NULL, " \t\r\n"))
        argv[argc++] = tok;
    if (argc == 0) return;
    char msg[512] = "", err[256] = "";
    const char *cmd = argv[0];
    int b;
    if (!strcmp(cmd, "help")) {
        /* one answer line per command: the list goes out as "# " comment lines first */
        for (const char *p = k_commands; *p;) {
            size_t n = strcspn(p, "\n");
            fprintf(out, "# %.*s\n", (int)n, p);
            p += n + (p[n] == '\n');
        }
        fputs("ok\n", out);
    } else if (!strcmp(cmd, "quit")) {
        g_stop = 1;
        fputs("ok stopping\n", out);
    } else if (!strcmp(cmd, "create") && argc == 3) {
        char spec[300];
        snprintf(spec, sizeof spec, "%s:%s", argv[1], argv[2]);
        if (create_topic(m, spec, err, sizeof err))
            fprintf(out, "error: %s\n", err);
        else
            fprintf(out, "ok created %s\n", argv[1]);
    } else if (!strcmp(cmd, "state") && argc == 1) {
        state_json(m, err, sizeof err, out);
    } else if (!strcmp(cmd, "leader") && argc == 4) {
        int part;
        if (parse_int(argv[2], 0, 1 << 20, &part) ||
            (strcmp(argv[3], "-1") && (b = broker_arg(m, argv[3])) < 0))
            fprintf(out, "error: usage: leader TOPIC PARTITION BROKER (1..%d or -1)\n",
                    m->nbrokers);
        else if (!strcmp(argv[3], "-1") ? set_leader(m, argv[1], part, -1, err, sizeof err)
                                        : set_leader(m, argv[1], part, b, err, sizeof err))
            fprintf(out, "error: %s\n", err);
        else
            fprintf(out, "ok %s/%d leader %s\n", argv[1], part, argv[3]);
    } else if ((!strcmp(cmd, "rotate") && argc <= 2) || (!strcmp(cmd, "elect") && argc == 1)) {
        int n = move_leaders(m, cmd[0] == 'r' ? MOVE_ROTATE : MOVE_PREFERRED, 0,
                             argc == 2 ? argv[1] : NULL, NULL, err, sizeof err);
        if (n < 0)
            fprintf(out, "error: %s\n", err);
        else
            fprintf(out, "ok %d leaders moved\n", n);
    } else if ((!strcmp(cmd, "down") || !strcmp(cmd, "up")) && argc == 2) {
        if ((b = broker_arg(m, argv[1])) < 0) {
            fprintf(out, "error: no broker '%s' (1..%d)\n", argv[1], m->nbrokers);
            return;
        }
        int rc =
            cmd[0] == 'd' ? broker_down(m, b, msg, sizeof msg) : broker_up(m, b, msg, sizeof msg);
        fprintf(out, rc ? "%s\n" : "ok %s\n", msg);
        fprintf(stderr, "eddy-mockd: %s\n", msg);
    } else if (!strcmp(cmd, "coordinator") && argc == 3) {
        int gi = group_add(m, argv[1]);
        if ((b = broker_arg(m, argv[2])) < 0)
            fprintf(out, "error: no broker '%s' (1..%d)\n", argv[2], m->nbrokers);
        else if (gi < 0)
            fprintf(out, "error: too many groups (%d)\n", MAX_GROUPS);
        else if (set_coord(m, gi, b, err, sizeof err))
            fprintf(out, "error: %s\n", err);
        else
            fprintf(out, "ok coordinator of %s is broker %d\n", argv[1], b);
    } else if (!strcmp(cmd, "group") && argc == 2) {
        int gi = group_add(m, argv[1]);
        if (gi < 0)
            fprintf(out, "error: too many groups (%d)\n", MAX_GROUPS);
        else
            fprintf(out, "ok coordinator of %s is broker %d\n", argv[1], group_coord(m, gi));
    } else if (!strcmp(cmd, "error") && argc >= 4) {
        int api = api_key(argv[1]), cnt;
        rd_kafka_resp_err_t errs[MAX_ARGS];
        int nerr = 0, bad = api < 0 || parse_int(argv[2], 1, 100000, &cnt);
        for (int i = 3; i < argc && !bad; i++) bad = err_code(argv[i], &errs[nerr++]) != 0;
        if (bad) {
            fprintf(out, "error: usage: error API COUNT ERR [ERR...] (unknown API or error?)\n");
            return;
        }
        rd_kafka_resp_err_t *all = calloc((size_t)cnt, sizeof *all);
        for (int i = 0; i < cnt; i++) all[i] = errs[i % nerr];
        rd_kafka_mock_push_request_errors_array(m->mc, (int16_t)api, (size_t)cnt, all);
        free(all);
        fprintf(out, "ok next %d %s requests fail\n", cnt, argv[1]);
    } else if (!strcmp(cmd, "broker-error") && (argc == 5 || argc == 6)) {
        int api = api_key(argv[2]), cnt, rtt = 0;
        rd_kafka_resp_err_t e;
        if ((b = broker_arg(m, argv[1])) < 0 || api < 0 || parse_int(argv[3], 1, 100000, &cnt) ||
            err_code(argv[4], &e) || (argc == 6 && parse_int(argv[5], 0, 600000, &rtt))) {
            fprintf(out, "error: usage: broker-error BROKER API COUNT ERR [RTT_MS]\n");
            return;
        }
        rd_kafka_resp_err_t r = RD_KAFKA_RESP_ERR_NO_ERROR;
        for (int i = 0; i < cnt && !r; i++)
            r = rd_kafka_mock_broker_push_request_error_rtts(m->mc, b, (int16_t)api, 1, e, rtt);
        if (r)
            fprintf(out, "error: %s\n", rd_kafka_err2str(r));
        else
            fprintf(out, "ok next %d %s requests to broker %d fail\n", cnt, argv[2], b);
    } else if (!strcmp(cmd, "pending") && argc == 3) {
        int api = api_key(argv[2]);
        size_t cnt = 0;
        if ((b = broker_arg(m, argv[1])) < 0 || api < 0)
            fprintf(out, "error: usage: pending BROKER API\n");
        else if (rd_kafka_mock_broker_error_stack_cnt(m->mc, b, (int16_t)api, &cnt))
            fprintf(out, "error: pending %d\n", b);
        else
            fprintf(out, "ok %zu\n", cnt);
    } else if (!strcmp(cmd, "clear") && argc == 2) {
        int api = api_key(argv[1]);
        if (api < 0) {
            fprintf(out, "error: unknown API '%s'\n", argv[1]);
            return;
        }
        rd_kafka_mock_clear_request_errors(m->mc, (int16_t)api);
        fprintf(out, "ok\n");
    } else if (!strcmp(cmd, "rtt") && argc == 3) {
        int ms;
        if ((b = broker_arg(m, argv[1])) < 0 || parse_int(argv[2], 0, 600000, &ms))
            fprintf(out, "error: usage: rtt BROKER MS\n");
        else if (rd_kafka_mock_broker_set_rtt(m->mc, b, ms))
            fprintf(out, "error: rtt %d\n", b);
        else
            fprintf(out, "ok broker %d answers after %d ms\n", b, ms);
    } else {
        fprintf(out, "error: unknown command or wrong arguments: '%s' (try help)\n", cmd);
    }
}

/* ---- main --------------------------------------------------------------------------------- */
static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk, (void)level, (void)fac, (void)buf;
}

int main(int argc, char **argv)
{
    struct mockd m;
    memset(&m, 0, sizeof m);
    m.nbrokers = 1;
    const char *groups = NULL, *topics = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(k_usage, stdout);
            fputs(k_commands, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--brokers") && i + 1 < argc) {
            if (parse_int(argv[++i], 1, MAX_BROKERS, &m.nbrokers)) {
                fprintf(stderr, "eddy-mockd: --brokers: 1..%d\n", MAX_BROKERS);
                return 2;
            }
        } else if (!strcmp(argv[i], "--topics") && i + 1 < argc) {
            topics = argv[++i];
        } else if (!strcmp(argv[i], "--groups") && i + 1 < argc) {
            groups = argv[++i];
        } else if ((!strcmp(argv[i], "--data-dir") || !strcmp(argv[i], "--listen")) &&
                   i + 1 < argc) {
            i++;
        } else if (!strcmp(argv[i], "--set") && i + 1 < argc) {
            i++; /* eddyd settings: nothing to set on a mock */
        } else {
            fprintf(stderr, "eddy-mockd: unknown argument '%s'\n%s", argv[i], k_usage);
            return 2;
        }
    }
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "log_level", "2", err, sizeof err);
    m.rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    if (!m.rk) {
        fprintf(stderr, "eddy-mockd: %s\n", err);
        return 1;
    }
    m.mc = rd_kafka_mock_cluster_new(m.rk, m.nbrokers);
    if (!m.mc) {
        fprintf(stderr, "eddy-mockd: cannot create the mock cluster\n");
        rd_kafka_destroy(m.rk);
        return 1;
    }
    const char *bootstraps = rd_kafka_mock_cluster_bootstraps(m.mc);
    const char *p = bootstraps;
    for (int b = 1; b <= m.nbrokers && p; b++) {
        m.up[b] = 1;
        const char *colon = strchr(p, ':');
        m.ports[b] = colon ? atoi(colon + 1) : 0;
        p = strchr(p, ',');
        if (p) p++;
    }
    c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", bootstraps, err, sizeof err);
    rd_kafka_conf_set(c, "reconnect.backoff.max.ms", "500", err, sizeof err);
    rd_kafka_conf_set_log_cb(c, quiet_log);
    m.obs = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    if (!m.obs) {
        fprintf(stderr, "eddy-mockd: %s\n", err);
        rd_kafka_mock_cluster_destroy(m.mc);
        rd_kafka_destroy(m.rk);
        return 1;
    }
    if (topics) {
        char *t = strdup(topics), *save = NULL;
        for (char *tok = strtok_r(t, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
            if (create_topic(&m, tok, err, sizeof err)) {
                fprintf(stderr, "eddy-mockd: %s\n", err);
                free(t);
                rd_kafka_destroy(m.obs);
                rd_kafka_mock_cluster_destroy(m.mc);
                rd_kafka_destroy(m.rk);
                return 2;
            }
        free(t);
    }
    if (groups) {
        char *g = strdup(groups), *save = NULL;
        for (char *tok = strtok_r(g, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
            group_add(&m, tok);
        free(g);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sig;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    fprintf(stderr, "eddy-mockd: %d broker(s), replication factor %d\n", m.nbrokers,
            m.nbrokers < 3 ? m.nbrokers : 3);
    fprintf(stderr, "eddy-mockd: listening on %s\n", bootstraps);
    fflush(stderr);

    char line[4096];
    size_t len = 0;
    int stdin_open = 1, discarding = 0;
    while (!g_stop) {
        if (g_down || g_up) {
            int down = g_down;
            g_down = g_up = 0;
            for (int b = 1; b <= m.nbrokers; b++) {
                if (down)
                    rd_kafka_mock_broker_set_down(m.mc, b);
                else
                    rd_kafka_mock_broker_set_up(m.mc, b);
                m.up[b] = !down;
            }
            fprintf(stderr, "eddy-mockd: every broker %s\n", down ? "down" : "up");
        }
        struct pollfd pfd = {.fd = 0, .events = POLLIN};
        int n = stdin_open ? poll(&pfd, 1, 50) : (usleep(50000), 0);
        if (n <= 0) continue;
        ssize_t r = read(0, line + len, sizeof line - 1 - len);
        if (r <= 0) {
            if (r < 0 && errno == EINTR) continue;
            stdin_open = 0; /* no controller (stdin closed or /dev/null): keep serving */
            continue;
        }
        for (ssize_t i = 0; i < r; i++)
            if (!line[len + (size_t)i]) line[len + (size_t)i] = ' '; /* NUL: not a terminator */
        len += (size_t)r;
        line[len] = 0;
        char *nl;
        while ((nl = strchr(line, '\n'))) {
            *nl = 0;
            if (!discarding) command(&m, line, stdout);
            discarding = 0;
            fflush(stdout);
            size_t used = (size_t)(nl + 1 - line);
            memmove(line, nl + 1, len - used + 1);
            len -= used;
        }
        if (len == sizeof line - 1) {
            if (!discarding)
                fprintf(stdout, "error: command line too long (max %zu bytes)\n", sizeof line - 2);
            fflush(stdout);
            discarding = 1; /* the rest of this line too, up to its newline */
            len = 0;
        }
    }
    rd_kafka_destroy(m.obs);
    rd_kafka_mock_cluster_destroy(m.mc);
    rd_kafka_destroy(m.rk);
    for (int i = 0; i < m.ngroups; i++) free(m.groups[i]);
    fprintf(stderr, "eddy-mockd: stopped\n");
    return 0;
}
