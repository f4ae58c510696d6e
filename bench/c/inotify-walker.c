/*
 * The walk's physical limit: one thread that watches every directory of a tree, for bench/run.mjs to
 * put beside the tree watchers' start-up.
 *
 *   inotify-walker DIR MASK
 *
 * One inotify instance. Depth first from DIR, for each directory: inotify_add_watch(2) by its path with
 * MASK (a decimal number), then open(2) and getdents64(2) until it is listed (watching before listing,
 * as InotifyTree does, so that nothing made meanwhile is missed), then the same for each subdirectory
 * (an entry of type DT_UNKNOWN is asked with fstatat(2)). Nothing is kept but the path being walked
 * and one listing buffer per level: no bookkeeping at all, which is what makes it the limit.
 *
 * It speaks to run.mjs in lines, as the C reader does: when the walk is done it prints
 *   {"op":"ready","startupMs","cpuMs","maxRssKiB","loadedRssKiB","watchCount","errors","firstError"}
 * (startupMs and cpuMs over the walk, on CLOCK_MONOTONIC and getrusage(RUSAGE_SELF); maxRssKiB is
 * VmHWM, loadedRssKiB VmHWM before the walk), then reads commands on stdin: `clock` answers
 * {"op":"clock","t"}, `stop` prints {"op":"stopped","maxRssKiB"} and exits. It exits when stdin
 * closes (run.mjs went away), so that no watch outlives the run.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define LISTING_BYTES (32 * 1024)
#define PATH_BYTES 4096
#define MAX_DEPTH 512

/* getdents64's record (glibc 2.30+ declares getdents64 itself; the raw syscall works everywhere). */
struct linux_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

struct walk {
    int ifd;
    uint32_t mask;
    char path[PATH_BYTES];
    char *listing[MAX_DEPTH]; /* one getdents64 buffer per level, allocated on first use */
    long watches;
    long errors;
    int first_errno;
    const char *first_call;
};

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double cpu_ms(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

/* VmHWM of this process, in KiB (0 when /proc cannot tell). */
static long peak_rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    long kib = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kib) == 1) break;
    fclose(f);
    return kib;
}

static void failed(struct walk *w, const char *call) {
    if (w->errors++ == 0) {
        w->first_errno = errno;
        w->first_call = call;
    }
}

/* Watches and lists the directory at w->path (len bytes), then walks its subdirectories. */
static void walk_dir(struct walk *w, size_t len, int depth) {
    if (inotify_add_watch(w->ifd, w->path, w->mask) < 0) {
        failed(w, "inotify_add_watch");
        /* ENOSPC: the rest would fail the same way. */
        if (errno == ENOSPC) return;
    } else {
        w->watches++;
    }
    if (depth >= MAX_DEPTH) {
        errno = ELOOP;
        failed(w, "walk (too deep)");
        return;
    }
    if (!w->listing[depth] && !(w->listing[depth] = malloc(LISTING_BYTES))) {
        failed(w, "malloc");
        return;
    }
    int fd = open(w->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        failed(w, "open");
        return;
    }
    char *buf = w->listing[depth];
    for (;;) {
        long n = syscall(SYS_getdents64, fd, buf, LISTING_BYTES);
        if (n < 0) {
            failed(w, "getdents64");
            break;
        }
        if (n == 0) break;
        for (long at = 0; at < n;) {
            struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + at);
            at += d->d_reclen;
            const char *name = d->d_name;
            if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'))) continue;
            int is_dir = d->d_type == DT_DIR;
            if (d->d_type == DT_UNKNOWN) {
                struct stat st;
                is_dir = fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
            }
            if (!is_dir) continue;
            size_t name_len = strlen(name);
            if (len + 1 + name_len >= PATH_BYTES) {
                errno = ENAMETOOLONG;
                failed(w, "walk (path too long)");
                continue;
            }
            w->path[len] = '/';
            memcpy(w->path + len + 1, name, name_len + 1);
            walk_dir(w, len + 1 + name_len, depth + 1);
            w->path[len] = '\0';
        }
    }
    close(fd);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: inotify-walker DIR MASK\n");
        return 2;
    }
    static struct walk w;
    size_t len = strlen(argv[1]);
    if (len >= PATH_BYTES) {
        fprintf(stderr, "inotify-walker: DIR is too long\n");
        return 2;
    }
    memcpy(w.path, argv[1], len + 1);
    w.mask = (uint32_t)strtoul(argv[2], NULL, 10);
    long loaded_kib = peak_rss_kib();

    double t0 = now_ms();
    double cpu0 = cpu_ms();
    w.ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w.ifd < 0) {
        perror("inotify-walker: inotify_init1");
        return 1;
    }
    walk_dir(&w, len, 0);
    double startup_ms = now_ms() - t0;
    double walk_cpu_ms = cpu_ms() - cpu0;

    printf("{\"op\":\"ready\",\"startupMs\":%.3f,\"cpuMs\":%.3f,\"maxRssKiB\":%ld,\"loadedRssKiB\":%ld,"
           "\"watchCount\":%ld,\"events\":0,\"errors\":%ld,\"firstErrors\":[",
           startup_ms, walk_cpu_ms, peak_rss_kib(), loaded_kib, w.watches, w.errors);
    if (w.errors) printf("\"%s: %s\"", w.first_call, strerror(w.first_errno));
    printf("]}\n");
    fflush(stdout);

    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        if (strcmp(line, "clock\n") == 0) {
            printf("{\"op\":\"clock\",\"t\":%.6f}\n", now_ms());
            fflush(stdout);
        } else if (strcmp(line, "stop\n") == 0) {
            printf("{\"op\":\"stopped\",\"events\":0,\"errors\":%ld,\"maxRssKiB\":%ld}\n", w.errors, peak_rss_kib());
            fflush(stdout);
            break;
        }
    }
    close(w.ifd);
    return 0;
}
