/* The board's own peak: fp32 FMA GFLOP/s, int8 dot-product GOP/s, STREAM-triad GB/s.
 *
 * Compiled on the board by testbed_agent.peak (-O3 -march=native, or -mcpu=native on arm), run as
 *
 *     peak_bench THREADS REPEATS TRIAD_BYTES_PER_ARRAY
 *
 * and printed as one JSON object on stdout. Every figure is the best of REPEATS timed repetitions;
 * each repetition starts THREADS POSIX threads (inheriting the caller's CPU affinity) and times them
 * from start to join with CLOCK_MONOTONIC.
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
} job_t;

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

/* Seconds for THREADS threads each running kernel on its job, from start to join. */
static double run(void *(*kernel)(void *), job_t *jobs, int threads) {
    pthread_t tid[threads];
    double t0 = now_s();
    for (int t = 1; t < threads; t++)
        if (pthread_create(&tid[t], NULL, kernel, &jobs[t]) != 0) { perror("pthread_create"); exit(3); }
    kernel(&jobs[0]);
    for (int t = 1; t < threads; t++) pthread_join(tid[t], NULL);
    return now_s() - t0;
}

/* Best ops/s of REPEATS repetitions; iterations calibrated so one repetition takes ~TARGET_S. */
static double best_rate(void *(*kernel)(void *), int threads, int repeats, double ops_per_iter) {
    job_t jobs[threads];
    memset(jobs, 0, sizeof jobs);
    long iters = 1000;
    for (;;) { /* calibrate on one repetition */
        for (int t = 0; t < threads; t++) { jobs[t].iters = iters; jobs[t].seed = (float)t; }
        double s = run(kernel, jobs, threads);
        if (s > TARGET_S / 4 || iters > (1L << 40)) {
            iters = (long)((double)iters * TARGET_S / (s > 1e-9 ? s : 1e-9)) + 1;
            break;
        }
        iters *= 8;
    }
    double best = 0;
    for (int r = 0; r < repeats; r++) {
        for (int t = 0; t < threads; t++) jobs[t].iters = iters;
        double s = run(kernel, jobs, threads);
        double rate = ops_per_iter * (double)iters * threads / s;
        if (rate > best) best = rate;
    }
    return best;
}

static double triad_rate(int threads, int repeats, size_t bytes) {
    size_t n = bytes / sizeof(double);
    double *a = malloc(n * sizeof(double)), *b = malloc(n * sizeof(double)), *c = malloc(n * sizeof(double));
    if (!a || !b || !c) return -1.0;
    job_t jobs[threads];
    memset(jobs, 0, sizeof jobs);
    for (int t = 0; t < threads; t++) {
        jobs[t].a = a; jobs[t].b = b; jobs[t].c = c;
        jobs[t].lo = n * (size_t)t / (size_t)threads;
        jobs[t].hi = n * (size_t)(t + 1) / (size_t)threads;
        jobs[t].init = 1;
    }
    run(triad_kernel, jobs, threads); /* first touch by the thread that uses the slice */
    for (int t = 0; t < threads; t++) jobs[t].init = 0;
    run(triad_kernel, jobs, threads); /* warm-up pass */
    double best = 0;
    for (int r = 0; r < repeats; r++) {
        double s = run(triad_kernel, jobs, threads);
        double rate = 3.0 * sizeof(double) * (double)n / s;
        if (rate > best) best = rate;
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
    double fp32 = best_rate(fp32_kernel, threads, repeats, 2.0 * NACC * LANES);
    printf("{\"fp32_gflops\": %.3f, \"fp32_lanes\": %d, \"accumulators\": %d, ", fp32 / 1e9, LANES, NACC);
#ifdef INT8_ISA
    double int8 = best_rate(int8_kernel, threads, repeats, 2.0 * NACC * I8_LANES);
    printf("\"int8_gops\": %.3f, \"int8_isa\": \"%s\", \"int8_reason\": null, ", int8 / 1e9, INT8_ISA);
#else
    printf("\"int8_gops\": null, \"int8_isa\": null, \"int8_reason\": \"the compiler targets no int8 "
           "dot-product instruction on this CPU (x86 AVX-VNNI / AVX512-VNNI, arm dotprod)\", ");
#endif
    double triad = triad_rate(threads, repeats, triad_bytes);
    if (triad < 0) {
        printf("\"bandwidth_gb_per_s\": null, \"bandwidth_reason\": \"cannot allocate 3 x %zu bytes\"}\n",
               triad_bytes);
    } else {
        printf("\"bandwidth_gb_per_s\": %.3f, \"bandwidth_reason\": null}\n", triad / 1e9);
    }
    return 0;
}
