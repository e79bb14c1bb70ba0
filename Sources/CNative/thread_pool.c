// The one thread pool behind Tensor's Parallel loops and split GEMMs (OpenBLAS itself runs one
// thread). Workers spin for a while after each job, then sleep on a futex: a training step issues
// thousands of short parallel loops back to back, and waking a sleeping thread on another vCPU
// costs more than most of them. A job's tasks are cut into one contiguous range per thread; each
// thread runs its own range, then claims what is left of the others', so the caller never waits
// for a worker that has not woken up yet, and while nobody steals, consecutive jobs over one tensor
// give each thread the same part of it (a microbenchmark of jobs touching 2 x 1 MB: 59 us per job
// against 118-145 us when any thread could take any task; the demo models and R50 measured within
// noise of the old claiming, R50 training 2 % faster).
// When the cores are oversubscribed (other processes running), a worker can be preempted holding
// a task and the caller spins waiting for it, and an idle worker's spinning takes the caller's
// share: with three other busy (nice 5) processes on 2 cores a cnn-dct train step took 400-550 ms
// against 123 ms with OpenBLAS's threads and Dispatch. So every 10 ms the caller reads the number
// of runnable threads (/proc/loadavg); while it exceeds the cores by more than one (for at least
// 200 ms), idle workers and a waiting caller sleep on futexes after 20 us instead of spinning, and
// Tensor's Parallel.run hands jobs to Dispatch instead (cn_pool_crowded). Measured with those three
// processes: 178 ms train, 37 ms inference, against 123 / 38 ms for the OpenBLAS-threads path.
#define _GNU_SOURCE
#include "CNative.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include <sched.h>
#include <fcntl.h>
#include <stdlib.h>
#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#endif
#if defined(__x86_64__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

#define MAX_WORKERS 255

// One participant's share of a job: tasks [next, end) of a contiguous range, on its own cache line.
// The caller is participant 0, worker i participant i + 1.
typedef struct {
    _Atomic long next;
    long end;
    char pad[64 - sizeof(long) * 2];
} __attribute__((aligned(64))) share_t;

static struct {
    // gen: even = a job is published (or none yet), odd = the caller is writing the next job.
    _Atomic uint32_t gen;
    _Atomic int active;                  // workers between "saw gen" and "done with its tasks"
    _Atomic int sleepers;
    _Atomic uint32_t completed;          // tasks finished (32 bits: a futex word)
    _Atomic int caller_sleeping;
    _Atomic int busy;                    // a caller owns the pool
    _Atomic int stop;
    _Atomic long spin_ns;
    _Atomic int crowded;                 // the machine has more runnable threads than cores
    _Atomic long next_check_ns;
    long tasks;
    int shares;                          // ranges the job's tasks are cut into (<= participants)
    cn_task_fn fn;
    void *ctx;
    int workers;
    pthread_t threads[MAX_WORKERS];
    share_t share[MAX_WORKERS + 1];
} pool = { .spin_ns = 2000000 };

static _Thread_local int in_task;        // nested calls run inline

static long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static void futex_wait(_Atomic uint32_t *addr, uint32_t value) {
#if defined(__linux__)
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, value, NULL, NULL, 0);
#else
    sched_yield();
#endif
}

static void futex_wake_all(_Atomic uint32_t *addr) {
#if defined(__linux__)
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, MAX_WORKERS, NULL, NULL, 0);
#endif
}

// Participant `self` runs its own range first, then claims what is left of the others' (a worker
// that wakes late, or a slower task, is covered). Contiguous ranges give each thread the same part
// of a tensor from one job to the next, so consecutive loops over it find their data in the
// core's own cache; and while no one steals, each claim touches a cache line no other core holds.
static void run_tasks(cn_task_fn fn, void *ctx, long tasks, int self) {
    int shares = pool.shares;
    long ran = 0;
    for (int j = 0; j < shares; j++) {
        share_t *sh = &pool.share[(self + j) % shares];
        long k;
        while ((k = atomic_fetch_add_explicit(&sh->next, 1, memory_order_relaxed)) < sh->end) {
            fn(ctx, k);
            ran++;
        }
    }
    if (ran == 0) return;
    uint32_t done = atomic_fetch_add(&pool.completed, (uint32_t)ran) + (uint32_t)ran;
    if (done == (uint32_t)tasks && atomic_load(&pool.caller_sleeping)) futex_wake_all(&pool.completed);
}

static void *worker_main(void *arg) {
    int self = (int)(intptr_t)arg;
    in_task = 1;
    uint32_t seen = atomic_load(&pool.gen) & ~1u;
    for (;;) {
        // Wait for a job newer than `seen`: spin, then sleep.
        long t0 = 0;
        unsigned spins = 0;
        uint32_t g;
        for (;;) {
            if (atomic_load_explicit(&pool.stop, memory_order_acquire)) return NULL;
            g = atomic_load_explicit(&pool.gen, memory_order_acquire);
            if (g != seen && !(g & 1u)) break;
            if (g & 1u) { CPU_RELAX(); continue; }
            if ((++spins & 255u) == 0) {
                long t = now_ns();
                if (t0 == 0) t0 = t;
                else if (t - t0 > (atomic_load_explicit(&pool.crowded, memory_order_relaxed)
                                   ? 20000 : atomic_load_explicit(&pool.spin_ns, memory_order_relaxed))) {
                    atomic_fetch_add(&pool.sleepers, 1);
                    futex_wait(&pool.gen, g);
                    atomic_fetch_sub(&pool.sleepers, 1);
                    t0 = 0;
                    continue;
                }
            }
            CPU_RELAX();
        }
        // Enter, then check the job is still the one we saw (the caller waits for active == 0
        // before it rewrites the job).
        atomic_fetch_add(&pool.active, 1);
        if (atomic_load(&pool.gen) == g) {
            run_tasks(pool.fn, pool.ctx, pool.tasks, self);
        }
        atomic_fetch_sub_explicit(&pool.active, 1, memory_order_release);
        seen = g;
    }
}

// Runnable threads on the machine now (the 4th field of /proc/loadavg, "R/T"), or -1.
static int runnable_now(void) {
#if defined(__linux__)
    char buf[128];
    int fd = open("/proc/loadavg", O_RDONLY);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    int fields = 0;
    for (char *p = buf; *p; p++) {
        if (*p == ' ' && ++fields == 3) return atoi(p + 1);
    }
#endif
    return -1;
}

// Called by the caller before a job: re-reads the load every 10 ms.
static int machine_crowded(long now) {
    if (now < atomic_load_explicit(&pool.next_check_ns, memory_order_relaxed)) {
        return atomic_load_explicit(&pool.crowded, memory_order_relaxed);
    }
    atomic_store_explicit(&pool.next_check_ns, now + 10000000L, memory_order_relaxed);
    int r = runnable_now();
    // The online core count, read once (glibc's sysconf reads /sys on every call).
    static _Atomic long online = 0;
    long cores = atomic_load_explicit(&online, memory_order_relaxed);
    if (cores <= 0) {
        cores = sysconf(_SC_NPROCESSORS_ONLN);
        atomic_store_explicit(&online, cores, memory_order_relaxed);
    }
    // Our own caller and (spinning) workers count as runnable; more than one extra is someone else.
    int crowded = r > 0 && cores > 0 && r > cores + 1;   // one extra: a transient process
    if (crowded) {          // keep blocking waits for 200 ms
        atomic_store_explicit(&pool.next_check_ns, now + 200000000L, memory_order_relaxed);
    }
    atomic_store_explicit(&pool.crowded, crowded, memory_order_relaxed);
    return crowded;
}

void cn_pool_set_threads(int threads) {
    int want = threads - 1;
    if (want < 0) want = 0;
    if (want > MAX_WORKERS) want = MAX_WORKERS;
    if (want == pool.workers) return;
    // Stop every worker, then start the wanted number (called between jobs, from one thread).
    if (pool.workers > 0) {
        atomic_store(&pool.stop, 1);
        atomic_fetch_add(&pool.gen, 2);
        futex_wake_all(&pool.gen);
        for (int i = 0; i < pool.workers; i++) pthread_join(pool.threads[i], NULL);
        atomic_store(&pool.stop, 0);
        pool.workers = 0;
    }
    for (int i = 0; i < want; i++) {
        if (pthread_create(&pool.threads[i], NULL, worker_main, (void *)(intptr_t)(i + 1)) != 0) break;
        pool.workers = i + 1;
    }
}

int cn_pool_workers(void) { return pool.workers; }

int cn_pool_in_task(void) { return in_task; }

int cn_pool_crowded(void) { return machine_crowded(now_ns()); }

void cn_pool_set_spin_ns(long ns) { atomic_store(&pool.spin_ns, ns < 0 ? 0 : ns); }

void cn_pool_run(long tasks, cn_task_fn fn, void *ctx) {
    if (tasks <= 0) return;
    int expected = 0;
    if (tasks == 1 || pool.workers == 0 || in_task ||
        !atomic_compare_exchange_strong(&pool.busy, &expected, 1)) {
        // Inline: one task, no workers, nested in a task, or another thread owns the pool.
        int outer = in_task;
        in_task = 1;
        for (long k = 0; k < tasks; k++) fn(ctx, k);
        in_task = outer;
        return;
    }
    // Mark "writing", wait for workers still inside the previous job, write, publish.
    atomic_fetch_add(&pool.gen, 1);
    while (atomic_load(&pool.active) != 0) CPU_RELAX();
    pool.fn = fn;
    pool.ctx = ctx;
    pool.tasks = tasks;
    atomic_store_explicit(&pool.completed, 0, memory_order_relaxed);
    int shares = pool.workers + 1 < tasks ? pool.workers + 1 : (int)tasks;
    pool.shares = shares;
    for (int j = 0; j < shares; j++) {
        atomic_store_explicit(&pool.share[j].next, tasks * j / shares, memory_order_relaxed);
        pool.share[j].end = tasks * (j + 1) / shares;
    }
    atomic_fetch_add(&pool.gen, 1);
    if (atomic_load(&pool.sleepers) > 0) futex_wake_all(&pool.gen);

    in_task = 1;
    run_tasks(fn, ctx, tasks, 0);
    in_task = 0;
    // Wait for the tasks other threads claimed: spin, or on a crowded machine sleep on the futex
    // after 20 us (a preempted worker then gets the core back sooner).
    int crowded = machine_crowded(now_ns());
    unsigned spins = 0;
    long t0 = 0;
    uint32_t done;
    while ((done = atomic_load_explicit(&pool.completed, memory_order_acquire)) < (uint32_t)tasks) {
        CPU_RELAX();
        if ((++spins & 255u) != 0) continue;
        if (!crowded) { if ((spins & 4095u) == 0) sched_yield(); continue; }
        long t = now_ns();
        if (t0 == 0) { t0 = t; continue; }
        if (t - t0 < 20000) continue;
        atomic_store(&pool.caller_sleeping, 1);
        if (atomic_load(&pool.completed) == done) futex_wait(&pool.completed, done);
        atomic_store(&pool.caller_sleeping, 0);
    }
    atomic_store_explicit(&pool.busy, 0, memory_order_release);
}

// A mutex (NSLock) here cost a futex sleep and wake whenever the two threads met in BufferPool at a
// sample task's first allocation: 130-200 futex calls per demo MiT train step at 2 threads
// (perf, syscalls:sys_enter_futex), each a thread off its core for a wake-up.
void cn_spin_lock(int32_t *lock) {
    _Atomic int32_t *l = (_Atomic int32_t *)lock;
    unsigned spins = 0;
    while (atomic_exchange_explicit(l, 1, memory_order_acquire)) {
        while (atomic_load_explicit(l, memory_order_relaxed)) {
            CPU_RELAX();
            if ((++spins & 1023u) == 0) sched_yield();      // the holder may be off its core
        }
    }
}

void cn_spin_unlock(int32_t *lock) {
    atomic_store_explicit((_Atomic int32_t *)lock, 0, memory_order_release);
}
