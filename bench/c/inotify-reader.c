/*
 * The physical limit: a raw reader of inotify, for bench/run.mjs to put beside inotify-napi.
 *
 *   inotify-reader MODE DIR MASK [EXPECT] [PREFIX | ROUNDS]
 *
 * One inotify instance, one watch on DIR with MASK (a decimal number), read(2) into a 256 KiB
 * buffer, timestamps from clock_gettime(CLOCK_MONOTONIC): the clock of process.hrtime.bigint(), so
 * they compare with the Node processes' stamps. It speaks to run.mjs in lines: commands on stdin
 * (`clock`, `round`, `go`, `writer-done`, `stop`), one JSON object per line on stdout. It exits when stdin
 * closes (run.mjs went away), as the Node children exit when their IPC channel closes.
 *
 * MODE latency: prints {"op":"event","name","t"} for each event whose name starts with PREFIX, t
 *   taken when the event is parsed; `stop` prints {"op":"stopped","maxRssKiB"} and exits.
 * MODE burst: in ROUNDS rounds (1 by default), each started by `round` (which resets the counts
 *   and the CPU time, and answers {"op":"round-ready","round":N}), counts distinct names among the
 *   EXPECT the burst writer makes in the round (f000000 to f0NNNNN in round 1, f1000000... in round
 *   2: the index in the name, less (round - 1) * 1,000,000, marks a bitmap, the C counterpart of the
 *   Node watchers' Set), taking the clock for each event; the round ends when it has seen them all,
 *   or 2 s after `writer-done` without a new one, and prints one JSON line of results,
 *   {"op":"burst","round":N,...} (the fields of bench/watcher.mjs's); the process exits after the
 *   last round. It reads all along: between rounds, what comes is not counted.
 * MODE drain: reads nothing until `go`, so that events wait in the kernel's queue; on `go` it notes
 *   the bytes queued (FIONREAD), then reads until it has EXPECT events named f..., and prints one
 *   JSON line, {"op":"drained","round":N,...}: from `go` to the last event, CPU time over the same
 *   span. Then it stops reading (its descriptor is left out of poll again: events wait in the
 *   kernel's queue), resets its counters and waits for the next `go`, for ROUNDS rounds (1 by
 *   default); it exits after the last, or after a round that ended 2 s after its last event without
 *   all EXPECT. What follows the last expected event in the same read(2) would be dropped: there is
 *   nothing (the writer makes exactly EXPECT names f... a round).
 *
 * CPU time comes from getrusage(RUSAGE_SELF), peak RSS from VmHWM in /proc/self/status.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define QUIET_MS 2000.0

static char buf[256 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));

struct state {
    const char *mode;
    const char *prefix;
    long expect;
    unsigned char *seen; /* burst: one byte per expected name */
    long distinct;
    long events;
    long overflows;
    double t_first;
    double t_last;
    double quiet_deadline; /* burst: 0 until `writer-done` */
    long cpu0_us;
    int draining; /* MODE drain */
    double t_go;  /* drain: 0 until `go`, and again between rounds */
    long queued_bytes;
    int round;  /* drain: the round running or awaited, from 1; burst: the round started last, from 1 */
    int rounds; /* drain, burst: how many */
    int in_round; /* burst: 1 from `round` to the round's results */
};

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static long cpu_us(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000L + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

/* Peak RSS since exec (VmHWM): ru_maxrss would carry run.mjs's high-water mark across fork and
 * exec, so a small child spawned by a large parent would report the parent's size. */
static long max_rss_kib(void) {
    FILE *status = fopen("/proc/self/status", "r");
    if (status == NULL) return -1;
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, status) != NULL) {
        if (sscanf(line, "VmHWM: %ld kB", &kib) == 1) break;
    }
    fclose(status);
    return kib;
}

static void die(const char *what) {
    fprintf(stderr, "inotify-reader: %s: %s\n", what, strerror(errno));
    exit(1);
}

/*
 * The burst's and the drain's results, as one JSON line; then the process ends, but between rounds:
 * the drain's stops reading and waits for the next `go` with its counters reset; the burst's counts
 * nothing until the next `round`.
 */
static void finish(struct state *s, const char *reason) {
    long cpu = cpu_us() - s->cpu0_us;
    printf("{\"op\":\"%s\",\"round\":%d,", s->draining ? "drained" : "burst", s->round);
    printf("\"impl\":\"C reader\",\"reason\":\"%s\",\"expected\":%ld,\"seen\":%ld,\"events\":%ld,\"overflows\":%ld,",
           reason, s->expect, s->distinct, s->events, s->overflows);
    if (s->t_first > 0) printf("\"tFirstEvent\":%.6f,", s->t_first);
    else printf("\"tFirstEvent\":null,");
    if (s->t_last > 0) printf("\"tLastEvent\":%.6f,", s->t_last);
    else printf("\"tLastEvent\":null,");
    if (s->t_go > 0) printf("\"tGo\":%.6f,\"queuedBytes\":%ld,", s->t_go, s->queued_bytes);
    printf("\"cpuUs\":%ld,\"maxRssKiB\":%ld}\n", cpu, max_rss_kib());
    fflush(stdout);
    if (s->round >= s->rounds || (s->draining && strcmp(reason, "complete") != 0)) exit(0);
    if (!s->draining) {
        s->in_round = 0;
        s->quiet_deadline = 0;
        return;
    }
    s->round++;
    s->distinct = s->events = s->overflows = 0;
    s->t_first = s->t_last = s->t_go = 0;
    s->queued_bytes = 0;
}

/* The burst writer's names are f000000, f000001...: the index, or -1 for another name. */
static long name_index(const char *name) {
    if (name[0] != 'f') return -1;
    char *end;
    long i = strtol(name + 1, &end, 10);
    return *end == '\0' ? i : -1;
}

static void on_event(struct state *s, const struct inotify_event *ev) {
    double t = now_ms();
    s->events++;
    if (s->t_first == 0) s->t_first = t;
    if (ev->mask & IN_Q_OVERFLOW) {
        s->overflows++;
        if (s->quiet_deadline > 0) s->quiet_deadline = t + QUIET_MS;
        return;
    }
    const char *name = ev->len ? ev->name : "";
    if (strcmp(s->mode, "latency") == 0) {
        if (strncmp(name, s->prefix, strlen(s->prefix)) == 0) {
            printf("{\"op\":\"event\",\"name\":\"%s\",\"t\":%.6f}\n", name, t);
            fflush(stdout);
        }
        return;
    }
    if (s->draining) {
        if (name[0] == 'f') {
            s->distinct++;
            s->t_last = t;
            if (s->distinct == s->expect) finish(s, "complete");
        }
        return;
    }
    long i = name_index(name);
    if (i < 0 || !s->in_round) return;
    i -= (long)(s->round - 1) * 1000000L;
    if (i < 0 || i >= s->expect || s->seen[i]) return;
    s->seen[i] = 1;
    s->distinct++;
    s->t_last = t;
    if (s->distinct == s->expect) finish(s, "complete");
    if (s->quiet_deadline > 0) s->quiet_deadline = t + QUIET_MS;
}

/* Reads what the kernel has (non-blocking descriptor), until EAGAIN. */
static void read_events(struct state *s, int fd) {
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EAGAIN) return;
            if (errno == EINTR) continue;
            die("read");
        }
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            on_event(s, ev);
            /* A drain's round is over: read no more until the next `go`. */
            if (s->draining && s->t_go == 0) return;
            p += sizeof *ev + ev->len;
        }
    }
}

static void on_command(struct state *s, int fd, const char *line) {
    if (strcmp(line, "clock") == 0) {
        printf("{\"op\":\"clock\",\"t\":%.6f}\n", now_ms());
    } else if (strcmp(line, "go") == 0) {
        s->t_go = now_ms();
        s->cpu0_us = cpu_us();
        int queued = 0;
        if (ioctl(fd, FIONREAD, &queued) == 0) s->queued_bytes = queued;
    } else if (strcmp(line, "round") == 0) {
        /* The burst's next round: new names, counted from zero; CPU time from here. */
        s->round++;
        memset(s->seen, 0, (size_t)s->expect + 1);
        s->distinct = s->events = s->overflows = 0;
        s->t_first = s->t_last = s->quiet_deadline = 0;
        s->in_round = 1;
        s->cpu0_us = cpu_us();
        printf("{\"op\":\"round-ready\",\"round\":%d}\n", s->round);
    } else if (strcmp(line, "writer-done") == 0) {
        if (s->in_round) s->quiet_deadline = now_ms() + QUIET_MS;
    } else if (strcmp(line, "stop") == 0) {
        printf("{\"op\":\"stopped\",\"maxRssKiB\":%ld}\n", max_rss_kib());
        fflush(stdout);
        exit(0);
    }
    fflush(stdout);
}

/* Reads stdin's commands (one a line); EOF ends the process. */
static void read_commands(struct state *s, int fd) {
    static char line[4096];
    static size_t len;
    ssize_t n = read(STDIN_FILENO, line + len, sizeof line - 1 - len);
    if (n <= 0) exit(0);
    len += (size_t)n;
    char *start = line;
    for (char *nl; (nl = memchr(start, '\n', (size_t)(line + len - start))) != NULL; start = nl + 1) {
        *nl = '\0';
        on_command(s, fd, start);
    }
    len = (size_t)(line + len - start);
    memmove(line, start, len);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: inotify-reader latency|burst|drain DIR MASK [EXPECT] [PREFIX | ROUNDS]\n");
        return 2;
    }
    struct state s = {.mode = argv[1], .expect = argc > 4 ? atol(argv[4]) : 0};
    s.draining = strcmp(s.mode, "drain") == 0;
    int bursting = strcmp(s.mode, "burst") == 0;
    /* The drain's first round is awaited from the start; the burst's starts with `round`. */
    s.round = s.draining ? 1 : 0;
    /* The fifth argument is the latency's PREFIX, or the burst's and the drain's ROUNDS. */
    s.prefix = !s.draining && !bursting && argc > 5 ? argv[5] : "";
    s.rounds = (s.draining || bursting) && argc > 5 ? atoi(argv[5]) : 1;
    if (bursting && (s.seen = calloc((size_t)s.expect + 1, 1)) == NULL) die("calloc");
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) die("inotify_init1");
    if (inotify_add_watch(fd, argv[2], (uint32_t)strtoul(argv[3], NULL, 10)) < 0) die("inotify_add_watch");
    /* From here on, CPU time is the scenario's (the watch is set up). */
    s.cpu0_us = cpu_us();
    printf("{\"op\":\"ready\"}\n");
    fflush(stdout);
    int draining = s.draining;
    for (;;) {
        struct pollfd fds[2] = {{.fd = STDIN_FILENO, .events = POLLIN}, {.fd = fd, .events = POLLIN}};
        /* A drain reads nothing before `go`: the events wait in the kernel's queue. */
        nfds_t nfds = draining && s.t_go == 0 ? 1 : 2;
        int timeout = -1;
        if (s.quiet_deadline > 0) {
            double left = s.quiet_deadline - now_ms();
            if (left <= 0) {
                finish(&s, "quiet"); /* the burst's last round exits; an earlier one goes on */
                continue;
            }
            timeout = (int)left + 1;
        }
        if (draining && s.t_go > 0) timeout = (int)QUIET_MS;
        int ready = poll(fds, nfds, timeout);
        if (ready < 0) {
            if (errno == EINTR) continue;
            die("poll");
        }
        if (ready == 0 && draining) finish(&s, "quiet");
        if (nfds > 1 && fds[1].revents & POLLIN) read_events(&s, fd);
        if (fds[0].revents & (POLLIN | POLLHUP)) read_commands(&s, fd);
    }
}
