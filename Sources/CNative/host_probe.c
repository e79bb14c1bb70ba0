// How well two threads of this process run side by side: a cache line passed back and forth
// between two threads (the pool's hand-off in miniature). On a quiet machine a round trip costs tens
// of nanoseconds; on a virtual machine whose host places the two vCPUs far apart, or preempts one of
// them, it costs hundreds, and trips that wait for a descheduled vCPU take milliseconds. Every
// 2-thread benchmark number depends on which of these the host is in (README "Benchmarks").
#define _GNU_SOURCE
#include "CNative.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#define PROBE_RELAX() __builtin_ia32_pause()
#else
#define PROBE_RELAX() ((void)0)
#endif

typedef struct {
    _Atomic long ball __attribute__((aligned(64)));
    _Atomic int stop __attribute__((aligned(64)));
} probe_t;

static long probe_now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

// The peer returns every odd value it sees as the next even one, until told to stop.
static void *probe_peer(void *arg) {
    probe_t *p = arg;
    long expect = 1;
    for (;;) {
        long v = atomic_load_explicit(&p->ball, memory_order_acquire);
        if (v == expect) {
            atomic_store_explicit(&p->ball, v + 1, memory_order_release);
            expect += 2;
        } else if (atomic_load_explicit(&p->stop, memory_order_relaxed)) {
            return NULL;
        } else {
            PROBE_RELAX();
        }
    }
}

static int cmp_long(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return x < y ? -1 : x > y;
}

int cn_probe_core_pair(long budget_ns, long stall_ns, cn_core_pair_probe *out) {
    if (!out || budget_ns <= 0 || stall_ns <= 0) return CN_E_ARG;
    *out = (cn_core_pair_probe){0};
    // The two threads on two different CPUs of the ones this process may use (left to the
    // scheduler, a new thread sometimes starts on its creator's CPU and both spin there, a time
    // slice per trip); the caller's own CPU set is restored at the end.
    cpu_set_t allowed, one;
    int first = -1, second = -1;
    if (sched_getaffinity(0, sizeof allowed, &allowed) == 0) {
        for (int c = 0; c < CPU_SETSIZE && second < 0; c++) {
            if (!CPU_ISSET(c, &allowed)) continue;
            if (first < 0) first = c; else second = c;
        }
    }
    if (second < 0) return CN_E_UNSUPPORTED;   // one CPU to run on
    long cap = 1L << 20;
    long *lat = malloc((size_t)cap * sizeof *lat);
    probe_t *p = aligned_alloc(64, sizeof *p);
    if (!lat || !p) { free(lat); free(p); return CN_E_NOMEM; }
    // Touch every page of the record first, so that the loop times hand-offs, not first-touch faults.
    memset(lat, 0, (size_t)cap * sizeof *lat);
    atomic_init(&p->ball, 0);
    atomic_init(&p->stop, 0);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    CPU_ZERO(&one);
    CPU_SET(second, &one);
    pthread_attr_setaffinity_np(&attr, sizeof one, &one);
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    int pinned = sched_setaffinity(0, sizeof one, &one) == 0;
    pthread_t peer;
    int created = pthread_create(&peer, &attr, probe_peer, p);
    pthread_attr_destroy(&attr);
    if (created != 0) {
        if (pinned) sched_setaffinity(0, sizeof allowed, &allowed);
        free(lat); free(p);
        return CN_E_NOMEM;
    }
    long n = 0, start = probe_now_ns(), end = start + budget_ns, t = start;
    while (n < cap && t < end) {
        long ball = 2 * n + 1;
        atomic_store_explicit(&p->ball, ball, memory_order_release);
        while (atomic_load_explicit(&p->ball, memory_order_acquire) != ball + 1) PROBE_RELAX();
        long t1 = probe_now_ns();
        lat[n++] = t1 - t;
        t = t1;
    }
    atomic_store(&p->stop, 1);
    pthread_join(peer, NULL);
    if (pinned) sched_setaffinity(0, sizeof allowed, &allowed);
    long stalled = 0, stalls = 0;
    for (long i = 0; i < n; i++) if (lat[i] > stall_ns) { stalled += lat[i]; stalls++; }
    qsort(lat, (size_t)n, sizeof *lat, cmp_long);
    out->trips = n;
    out->elapsed_ns = t - start;
    out->p50_ns = n ? lat[n / 2] : 0;
    out->p90_ns = n ? lat[n * 9 / 10] : 0;
    out->p99_ns = n ? lat[n * 99 / 100] : 0;
    out->max_ns = n ? lat[n - 1] : 0;
    out->stalls = stalls;
    out->stalled_ns = stalled;
    free(lat);
    free(p);
    return CN_OK;
}
