/* eddy-bench-sys — the machine's limits and the process plumbing bench/run.sh needs, with no
 * client library:
 *   fsyncbw  --dir D --mib N        sequential 1 MiB writes, fdatasync after each (MB/s)
 *   fsynclat --dir D --count N      one 4 KiB append + fdatasync on a growing file (latency)
 *   tcpbw    --seconds S [--cc C]   one loopback TCP stream, 1 MiB writes (MB/s); C = the
 *                                   sender's congestion control (default: the system's)
 *   start    --log F [--ready-text T] [--port P] -- CMD ARGS...
 *            starts a server, waits for its ready line and a successful connect; prints its pid,
 *            port and the time from exec to accepting connections
 *   conns    --port P --count N --server-pid PID
 *            opens N connections, sends one Kafka ApiVersions v0 on each, reads the answers and
 *            reports the server's RSS while they are all open
 *   freeport                        prints a free loopback port
 * Every mode prints one JSON line. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bcommon.h"

#define MIB (1024 * 1024)

static int connect_port(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

static int mode_fsyncbw(void)
{
    const char *dir = arg_str("dir", "/tmp");
    long long mib = arg_ll("mib", 1024);
    char path[4096];
    snprintf(path, sizeof path, "%s/fsyncbw.%d", dir, (int)getpid());
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) die("open %s: %s", path, strerror(errno));
    uint8_t *buf = aligned_alloc(4096, MIB);
    if (!buf) abort();
    fill_payload(buf, MIB, 7);
    int64_t t0 = now_ns();
    for (long long i = 0; i < mib; i++) {
        if (write(fd, buf, MIB) != MIB) die("write: %s", strerror(errno));
        if (fdatasync(fd) < 0) die("fdatasync: %s", strerror(errno));
    }
    double s = (double)(now_ns() - t0) / 1e9;
    close(fd);
    unlink(path);
    free(buf);
    json_begin();
    json_str("mode", "fsyncbw");
    json_num("mib", (double)mib);
    json_num("seconds", s);
    json_num("mb_s", (double)mib * MIB / 1e6 / s);
    json_end();
    return 0;
}

static int mode_fsynclat(void)
{
    const char *dir = arg_str("dir", "/tmp");
    long long count = arg_ll("count", 2000);
    char path[4096];
    snprintf(path, sizeof path, "%s/fsynclat.%d", dir, (int)getpid());
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) die("open %s: %s", path, strerror(errno));
    uint8_t buf[4096];
    fill_payload(buf, sizeof buf, 9);
    lat l = {0};
    for (long long i = 0; i < count; i++) {
        int64_t t = now_ns();
        if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf) die("write: %s", strerror(errno));
        if (fdatasync(fd) < 0) die("fdatasync: %s", strerror(errno));
        lat_add(&l, now_ns() - t);
    }
    close(fd);
    unlink(path);
    lat_sort(&l);
    json_begin();
    json_str("mode", "fsynclat");
    json_num("count", (double)count);
    json_num("p50_ms", lat_pct_ms(&l, 50));
    json_num("p99_ms", lat_pct_ms(&l, 99));
    json_num("p999_ms", lat_pct_ms(&l, 99.9));
    json_end();
    return 0;
}

typedef struct tcp_rx {
    int lfd;
    long long bytes;
    int64_t t_first, t_last;
} tcp_rx;

static void *tcp_reader(void *arg)
{
    tcp_rx *rx = arg;
    int fd = accept(rx->lfd, NULL, NULL);
    if (fd < 0) die("accept: %s", strerror(errno));
    uint8_t *buf = malloc(MIB);
    if (!buf) abort();
    for (;;) {
        ssize_t n = read(fd, buf, MIB);
        if (n <= 0) break;
        if (!rx->bytes) rx->t_first = now_ns();
        rx->bytes += n;
    }
    rx->t_last = now_ns();
    close(fd);
    free(buf);
    return NULL;
}

static int mode_tcpbw(void)
{
    double secs = arg_dbl("seconds", 3);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 1) < 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &al) < 0)
        die("listen: %s", strerror(errno));
    tcp_rx rx = {.lfd = lfd};
    pthread_t th;
    pthread_create(&th, NULL, tcp_reader, &rx);
    int fd = connect_port(ntohs(a.sin_port));
    if (fd < 0) die("connect: %s", strerror(-fd));
    /* --cc NAME: the sender's congestion control (what eddyd picks for loopback peers);
     * without it the system default */
    const char *cc = arg_str("cc", "");
    if (*cc && setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, cc, (socklen_t)strlen(cc)) < 0)
        die("TCP_CONGESTION %s: %s", cc, strerror(errno));
    char used[32] = "?";
    socklen_t ul = sizeof used;
    getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, used, &ul);
    used[sizeof used - 1] = 0;
    uint8_t *buf = malloc(MIB);
    if (!buf) abort();
    fill_payload(buf, MIB, 3);
    int64_t end = now_ns() + (int64_t)(secs * 1e9);
    while (now_ns() < end) {
        size_t off = 0;
        while (off < MIB) {
            ssize_t n = write(fd, buf + off, MIB - off);
            if (n <= 0) die("write: %s", strerror(errno));
            off += (size_t)n;
        }
    }
    close(fd);
    pthread_join(th, NULL);
    close(lfd);
    free(buf);
    double s = (double)(rx.t_last - rx.t_first) / 1e9;
    json_begin();
    json_str("mode", "tcpbw");
    json_str("cc", used);
    json_num("seconds", s);
    json_num("mb_s", (double)rx.bytes / 1e6 / s);
    json_end();
    return 0;
}

/* Finds the port after `text` in the log ("listening on 127.0.0.1:PORT"). */
static int parse_port_after(const char *log, const char *text)
{
    const char *p = strstr(log, text);
    if (!p) return -1;
    p += strlen(text);
    const char *eol = strpbrk(p, "\r\n");
    if (!eol) return -1; /* wait for the whole line */
    const char *colon = NULL;
    for (const char *q = p; q < eol && *q != ' '; q++)
        if (*q == ':') colon = q;
    if (!colon) return 0;
    return atoi(colon + 1);
}

static int mode_start(int argc, char **argv, int sep)
{
    const char *logpath = arg_str("log", NULL);
    const char *text = arg_str("ready-text", "listening on ");
    int port = (int)arg_ll("port", 0);
    double timeout_s = arg_dbl("timeout", 15);
    if (!logpath || sep >= argc - 1) die("start: needs --log FILE -- CMD ARGS");
    int lfd = open(logpath, O_CREAT | O_TRUNC | O_WRONLY | O_APPEND | O_CLOEXEC, 0644);
    if (lfd < 0) die("open %s: %s", logpath, strerror(errno));
    int rfd = open(logpath, O_RDONLY | O_CLOEXEC);
    int64_t t0 = now_ns();
    pid_t pid = fork();
    if (pid < 0) die("fork: %s", strerror(errno));
    if (pid == 0) {
        int nfd = open("/dev/null", O_RDONLY);
        dup2(nfd, 0);
        dup2(lfd, 1);
        dup2(lfd, 2);
        execvp(argv[sep + 1], argv + sep + 1);
        fprintf(stderr, "exec %s: %s\n", argv[sep + 1], strerror(errno));
        _exit(127);
    }
    close(lfd);
    size_t cap = 1 << 16, len = 0;
    char *log = malloc(cap + 1);
    if (!log) abort();
    int found = 0, fd = -1;
    int64_t deadline = t0 + (int64_t)(timeout_s * 1e9);
    const char *why = "timed out";
    while (now_ns() < deadline) {
        if (!found) {
            ssize_t n = read(rfd, log + len, cap - len);
            if (n > 0) len += (size_t)n;
            log[len] = 0;
            int p = parse_port_after(log, text);
            if (p >= 0) {
                found = 1;
                if (!port) port = p;
            }
        }
        if (found && port > 0) {
            fd = connect_port(port);
            if (fd >= 0) break;
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            why = "exited";
            pid = -1;
            break;
        }
        usleep(200);
    }
    int64_t t1 = now_ns();
    if (fd < 0) {
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
        }
        json_begin();
        json_str("mode", "start");
        json_str("error", why);
        json_end();
        return 1;
    }
    close(fd);
    json_begin();
    json_str("mode", "start");
    json_num("pid", pid);
    json_num("port", port);
    json_num("ready_ms", (double)(t1 - t0) / 1e6);
    json_end();
    return 0;
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int mode_conns(void)
{
    int port = (int)arg_ll("port", 0);
    int count = (int)arg_ll("count", 1000);
    pid_t spid = (pid_t)arg_ll("server-pid", 0);
    raise_nofile();
    int *fds = calloc((size_t)count, sizeof *fds);
    if (!fds) abort();
    int opened = 0, answered = 0;
    /* ApiVersions v0: size, api_key 18, version 0, correlation id, client id "b" */
    uint8_t req[] = {0, 0, 0, 11, 0, 18, 0, 0, 0, 0, 0, 1, 0, 1, 'b'};
    for (int i = 0; i < count; i++) {
        fds[i] = connect_port(port);
        if (fds[i] < 0) break;
        opened++;
        if (write(fds[i], req, sizeof req) != (ssize_t)sizeof req) continue;
    }
    /* wait for the answers, all connections at once, 5 s at most */
    uint8_t buf[4096];
    struct pollfd *pf = calloc((size_t)(opened ? opened : 1), sizeof *pf);
    if (!pf) abort();
    for (int i = 0; i < opened; i++) pf[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
    int64_t deadline = now_ns() + 5000000000LL;
    int pending = opened;
    while (pending > 0 && now_ns() < deadline) {
        if (poll(pf, (nfds_t)opened, 100) <= 0) continue;
        for (int i = 0; i < opened; i++) {
            if (pf[i].fd < 0 || !pf[i].revents) continue;
            if (read(pf[i].fd, buf, sizeof buf) > 0) answered++;
            pf[i].fd = -1; /* answered or closed: stop watching */
            pending--;
        }
    }
    free(pf);
    usleep(300 * 1000);
    long rss = spid ? proc_rss_kib(spid) : -1;
    for (int i = 0; i < opened; i++) close(fds[i]);
    json_begin();
    json_str("mode", "conns");
    json_num("opened", opened);
    json_num("answered", answered);
    json_num("rss_mib", rss >= 0 ? (double)rss / 1024.0 : -1);
    json_end();
    return 0;
}

static int mode_freeport(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) < 0)
        die("bind: %s", strerror(errno));
    printf("%d\n", ntohs(a.sin_port));
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) die("usage: eddy-bench-sys fsyncbw|fsynclat|tcpbw|start|conns|freeport ...");
    signal(SIGPIPE, SIG_IGN);
    const char *m = argv[1];
    int sep = argc;
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--")) {
            sep = i;
            break;
        }
    args_init(sep, argv, 2);
    if (!strcmp(m, "fsyncbw")) return mode_fsyncbw();
    if (!strcmp(m, "fsynclat")) return mode_fsynclat();
    if (!strcmp(m, "tcpbw")) return mode_tcpbw();
    if (!strcmp(m, "start")) return mode_start(argc, argv, sep);
    if (!strcmp(m, "conns")) return mode_conns();
    if (!strcmp(m, "freeport")) return mode_freeport();
    die("unknown mode %s", m);
}
