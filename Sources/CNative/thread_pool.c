// The one thread pool behind Tensor's Parallel loops and split GEMMs (OpenBLAS itself runs one
// thread). Workers spin for a while after each job, then sleep on a futex: a training step issues
// thousands of short parallel loops back to back, and waking a sleeping thread on another vCPU
// costs more than most of them. A job's tasks are claimed from one counter by whichever thread is
// free, so the caller never waits for a worker that has not woken up yet.
#define _GNU_SOURCE
#include "CNative.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include <sched.h>
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

static struct {
    // gen: even = a job is published (or none yet), odd = the caller is writing the next job.
    _Atomic uint32_t gen;
    _Atomic int active;                  // workers between "saw gen" and "done with its tasks"
    _Atomic int sleepers;
    _Atomic long next;                   // next task to claim
    _Atomic long completed;              // tasks finished
    _Atomic int busy;                    // a caller owns the pool
    _Atomic int stop;
    _Atomic long spin_ns;
    long tasks;
    cn_task_fn fn;
    void *ctx;
    int workers;
    pthread_t threads[MAX_WORKERS];
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

static void run_tasks(cn_task_fn fn, void *ctx, long tasks) {
    long k;
    while ((k = atomic_fetch_add_explicit(&pool.next, 1, memory_order_relaxed)) < tasks) {
        fn(ctx, k);
        atomic_fetch_add_explicit(&pool.completed, 1, memory_order_release);
    }
}

static void *worker_main(void *arg) {
    (void)arg;
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
                else if (t - t0 > atomic_load_explicit(&pool.spin_ns, memory_order_relaxed)) {
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
            run_tasks(pool.fn, pool.ctx, pool.tasks);
        }
        atomic_fetch_sub_explicit(&pool.active, 1, memory_order_release);
        seen = g;
    }
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
        if (pthread_create(&pool.threads[i], NULL, worker_main, NULL) != 0) break;
        pool.workers = i + 1;
    }
}

int cn_pool_workers(void) { return pool.workers; }

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
    atomic_store_explicit(&pool.next, 0, memory_order_relaxed);
    atomic_fetch_add(&pool.gen, 1);
    if (atomic_load(&pool.sleepers) > 0) futex_wake_all(&pool.gen);

    in_task = 1;
    run_tasks(fn, ctx, tasks);
    in_task = 0;
    // Wait for the tasks other threads claimed; yield now and then in case a worker was preempted.
    unsigned spins = 0;
    while (atomic_load_explicit(&pool.completed, memory_order_acquire) < tasks) {
        CPU_RELAX();
        if ((++spins & 4095u) == 0) sched_yield();
    }
    atomic_store_explicit(&pool.busy, 0, memory_order_release);
}
