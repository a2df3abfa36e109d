/* The board's own peak: fp32 FMA GFLOP/s, int8 dot-product GOP/s, STREAM-triad GB/s.
 *
 * Compiled on the board by testbed_agent.peak (-O3 -march=native, or -mcpu=native on arm), run as
 *
 *     peak_bench THREADS REPEATS TRIAD_BYTES_PER_ARRAY
 *
 * and printed as one JSON object on stdout. Every figure is the best of REPEATS timed repetitions;
 * each repetition starts THREADS POSIX threads (inheriting the caller's CPU affinity) and times them
 * from start to join with CLOCK_MONOTONIC, and the threads' own CPU time (CLOCK_THREAD_CPUTIME_ID):
 * a repetition whose threads ran less than CLEAN_SHARE of its wall time shared the CPUs with other
 * processes, and the best is taken over the clean repetitions only (over all while none was clean;
 * *_clean_repeats says how many were, *_cpu_share the share of the one taken).
 *
 * fp32: NACC independent accumulator vectors per thread, acc = acc * m + a in a loop (one FMA a
 * lane each, two FLOPs), enough chains to hide the FMA latency on two FMA pipes; GCC vector
 * extensions, as wide as the ISA compiled in (AVX-512: 16 lanes, AVX: 8, else 4: NEON/SSE).
 * int8: the ISA's int8 dot product into int32 (x86 AVX512-VNNI or AVX-VNNI vpdpbusd; arm
 * dotprod sdot), NACC independent chains; one multiply-add of two int8 = two ops. Without such an
 * instruction it prints int8_gops null and the reason.
 * triad: a[i] = b[i] + s * c[i] over doubles, 3 arrays of TRIAD_BYTES_PER_ARRAY each (chosen far
 * larger than the last-level cache), each thread its contiguous slice, first touched by that
 * thread; bytes counted as STREAM does (3 x 8 per element: two reads and one write, no write-allocate).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__AVX512F__)
#define LANES 16
#elif defined(__AVX__)
#define LANES 8
#else
#define LANES 4
#endif
#define NACC 12
#define TARGET_S 0.04 /* each timed repetition runs about this long */
#define CLEAN_SHARE 0.9 /* a repetition whose threads ran less than this share of its wall time was contended */

typedef float vf __attribute__((vector_size(LANES * 4)));

#if defined(__AVX512VNNI__)
#include <immintrin.h>
#define INT8_ISA "AVX512-VNNI vpdpbusd (512-bit)"
typedef __m512i vi;
typedef __m512i vb;
#define I8_LANES 64
#define DOT(acc, a, b) acc = _mm512_dpbusd_epi32(acc, a, b)
#define VB_SET(x) _mm512_set1_epi8((char)(x))
#define VI_SET(x) _mm512_set1_epi32(x)
#elif defined(__AVXVNNI__)
#include <immintrin.h>
#define INT8_ISA "AVX-VNNI vpdpbusd (256-bit)"
typedef __m256i vi;
typedef __m256i vb;
#define I8_LANES 32
#define DOT(acc, a, b) acc = _mm256_dpbusd_avx_epi32(acc, a, b)
#define VB_SET(x) _mm256_set1_epi8((char)(x))
#define VI_SET(x) _mm256_set1_epi32(x)
#elif defined(__ARM_FEATURE_DOTPROD)
#include <arm_neon.h>
#define INT8_ISA "arm dotprod sdot (128-bit)"
typedef int32x4_t vi;
typedef int8x16_t vb;
#define I8_LANES 16
#define DOT(acc, a, b) acc = vdotq_s32(acc, a, b)
#define VB_SET(x) vdupq_n_s8((int8_t)(x))
#define VI_SET(x) vdupq_n_s32(x)
#endif

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct {
    long iters;
    float seed;
    double sink;
    double *a, *b, *c;
    size_t lo, hi;
    int init;
    void *(*kernel)(void *);
    double cpu_s; /* this thread's CPU time in the last run */
} job_t;

typedef struct {
    double rate;      /* best ops (or bytes) per second */
    double cpu_share; /* of the repetition it came from: threads' CPU time / (wall x threads) */
    int clean;        /* repetitions whose threads had the CPUs to themselves (share >= CLEAN_SHARE) */
} best_t;

static void *fp32_kernel(void *arg) {
    job_t *job = (job_t *)arg;
    vf m, a, acc[NACC];
    for (int l = 0; l < LANES; l++) {
        m[l] = 0.9999f + job->seed * 1e-9f;
        a[l] = 1e-4f;
    }
    for (int k = 0; k < NACC; k++)
        for (int l = 0; l < LANES; l++) acc[k][l] = job->seed + (float)k;
    for (long i = 0; i < job->iters; i++) {
#pragma GCC unroll 12
        for (int k = 0; k < NACC; k++) acc[k] = acc[k] * m + a;
    }
    double s = 0;
    for (int k = 0; k < NACC; k++)
        for (int l = 0; l < LANES; l++) s += acc[k][l];
    job->sink = s;
    return NULL;
}

#ifdef INT8_ISA
static void *int8_kernel(void *arg) {
    job_t *job = (job_t *)arg;
    vb x = VB_SET(1 + (int)job->seed), y = VB_SET(2);
    vi acc[NACC];
    for (int k = 0; k < NACC; k++) acc[k] = VI_SET(k);
    for (long i = 0; i < job->iters; i++) {
#pragma GCC unroll 12
        for (int k = 0; k < NACC; k++) DOT(acc[k], x, y);
    }
    int32_t out[I8_LANES / 4];
    double s = 0;
    for (int k = 0; k < NACC; k++) {
        memcpy(out, &acc[k], sizeof out);
        for (int l = 0; l < I8_LANES / 4; l++) s += out[l];
    }
    job->sink = s;
    return NULL;
}
#endif

static void *triad_kernel(void *arg) {
    job_t *job = (job_t *)arg;
    double *a = job->a, *b = job->b, *c = job->c, s = 3.0;
    if (job->init) {
        for (size_t i = job->lo; i < job->hi; i++) { a[i] = 0.0; b[i] = 1.0; c[i] = 2.0; }
        return NULL;
    }
    for (size_t i = job->lo; i < job->hi; i++) a[i] = b[i] + s * c[i];
    job->sink = a[job->lo];
    return NULL;
}

static double thread_cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *timed(void *arg) {
    job_t *job = (job_t *)arg;
    double c0 = thread_cpu_s();
    job->kernel(job);
    job->cpu_s = thread_cpu_s() - c0;
    return NULL;
}

/* Seconds for THREADS threads each running kernel on its job, from start to join; *share: the
 * threads' CPU time over wall x threads (below 1 when other processes took the CPUs meanwhile). */
static double run(void *(*kernel)(void *), job_t *jobs, int threads, double *share) {
    pthread_t tid[threads];
    for (int t = 0; t < threads; t++) jobs[t].kernel = kernel;
    double t0 = now_s();
    for (int t = 1; t < threads; t++)
        if (pthread_create(&tid[t], NULL, timed, &jobs[t]) != 0) { perror("pthread_create"); exit(3); }
    timed(&jobs[0]);
    for (int t = 1; t < threads; t++) pthread_join(tid[t], NULL);
    double wall = now_s() - t0, cpu = 0;
    for (int t = 0; t < threads; t++) cpu += jobs[t].cpu_s;
    if (share) *share = cpu / (wall * threads);
    return wall;
}

/* Keep the best rate of the clean repetitions; of all of them while none was clean. */
static void keep(best_t *best, double rate, double share) {
    int clean = share >= CLEAN_SHARE;
    if (clean) best->clean++;
    if ((clean && (best->clean == 1 || rate > best->rate)) || (!best->clean && rate > best->rate)) {
        best->rate = rate;
        best->cpu_share = share;
    }
}

/* Best ops/s of REPEATS repetitions; iterations calibrated so one repetition takes ~TARGET_S. */
static best_t best_rate(void *(*kernel)(void *), int threads, int repeats, double ops_per_iter) {
    job_t jobs[threads];
    memset(jobs, 0, sizeof jobs);
    long iters = 1000;
    for (;;) { /* calibrate on one repetition */
        for (int t = 0; t < threads; t++) { jobs[t].iters = iters; jobs[t].seed = (float)t; }
        double s = run(kernel, jobs, threads, NULL);
        if (s > TARGET_S / 4 || iters > (1L << 40)) {
            iters = (long)((double)iters * TARGET_S / (s > 1e-9 ? s : 1e-9)) + 1;
            break;
        }
        iters *= 8;
    }
    best_t best = {0, 0, 0};
    for (int r = 0; r < repeats; r++) {
        for (int t = 0; t < threads; t++) jobs[t].iters = iters;
        double share;
        double s = run(kernel, jobs, threads, &share);
        keep(&best, ops_per_iter * (double)iters * threads / s, share);
    }
    return best;
}

static best_t triad_rate(int threads, int repeats, size_t bytes) {
    size_t n = bytes / sizeof(double);
    best_t best = {-1.0, 0, 0};
    double *a = malloc(n * sizeof(double)), *b = malloc(n * sizeof(double)), *c = malloc(n * sizeof(double));
    if (!a || !b || !c) return best;
    job_t jobs[threads];
    memset(jobs, 0, sizeof jobs);
    for (int t = 0; t < threads; t++) {
        jobs[t].a = a; jobs[t].b = b; jobs[t].c = c;
        jobs[t].lo = n * (size_t)t / (size_t)threads;
        jobs[t].hi = n * (size_t)(t + 1) / (size_t)threads;
        jobs[t].init = 1;
    }
    run(triad_kernel, jobs, threads, NULL); /* first touch by the thread that uses the slice */
    for (int t = 0; t < threads; t++) jobs[t].init = 0;
    run(triad_kernel, jobs, threads, NULL); /* warm-up pass */
    best.rate = 0;
    for (int r = 0; r < repeats; r++) {
        double share;
        double s = run(triad_kernel, jobs, threads, &share);
        keep(&best, 3.0 * sizeof(double) * (double)n / s, share);
    }
    free(a); free(b); free(c);
    return best;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s THREADS REPEATS TRIAD_BYTES_PER_ARRAY\n", argv[0]);
        return 2;
    }
    int threads = atoi(argv[1]), repeats = atoi(argv[2]);
    size_t triad_bytes = (size_t)strtoull(argv[3], NULL, 10);
    if (threads < 1 || threads > 1024 || repeats < 1 || triad_bytes < 1024) {
        fprintf(stderr, "bad arguments: threads 1-1024, repeats >= 1, triad bytes >= 1024\n");
        return 2;
    }
    best_t fp32 = best_rate(fp32_kernel, threads, repeats, 2.0 * NACC * LANES);
    printf("{\"fp32_gflops\": %.3f, \"fp32_lanes\": %d, \"accumulators\": %d, \"clean_share\": %.2f, ",
           fp32.rate / 1e9, LANES, NACC, CLEAN_SHARE);
    printf("\"fp32_cpu_share\": %.3f, \"fp32_clean_repeats\": %d, ", fp32.cpu_share, fp32.clean);
#ifdef INT8_ISA
    best_t int8 = best_rate(int8_kernel, threads, repeats, 2.0 * NACC * I8_LANES);
    printf("\"int8_gops\": %.3f, \"int8_isa\": \"%s\", \"int8_reason\": null, ", int8.rate / 1e9, INT8_ISA);
    printf("\"int8_cpu_share\": %.3f, \"int8_clean_repeats\": %d, ", int8.cpu_share, int8.clean);
#else
    printf("\"int8_gops\": null, \"int8_isa\": null, \"int8_reason\": \"the compiler targets no int8 "
           "dot-product instruction on this CPU (x86 AVX-VNNI / AVX512-VNNI, arm dotprod)\", ");
#endif
    best_t triad = triad_rate(threads, repeats, triad_bytes);
    if (triad.rate < 0) {
        printf("\"bandwidth_gb_per_s\": null, \"bandwidth_reason\": \"cannot allocate 3 x %zu bytes\"}\n",
               triad_bytes);
    } else {
        printf("\"bandwidth_gb_per_s\": %.3f, \"bandwidth_reason\": null, \"bandwidth_cpu_share\": %.3f, "
               "\"bandwidth_clean_repeats\": %d}\n", triad.rate / 1e9, triad.cpu_share, triad.clean);
    }
    return 0;
}
