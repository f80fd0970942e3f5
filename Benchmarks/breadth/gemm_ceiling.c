// The machine's GEMM ceiling on the breadth workloads' largest products: OpenBLAS sgemm alone,
// no framework around it, median of 12 calls per shape. What a step made of these products
// cannot beat, whatever the framework. Build and run (1 and 2 threads, and two 1-thread
// processes at once, which tells a threading loss from a shared-core limit):
//
//   cc -O2 Benchmarks/breadth/gemm_ceiling.c -o /tmp/gemm_ceiling -lopenblas
//   OPENBLAS_NUM_THREADS=2 /tmp/gemm_ceiling
//   OPENBLAS_NUM_THREADS=1 /tmp/gemm_ceiling
//   OPENBLAS_NUM_THREADS=1 /tmp/gemm_ceiling & OPENBLAS_NUM_THREADS=1 /tmp/gemm_ceiling; wait
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int ascending(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/// Times C[m, n] = op(A)·op(B) with k-deep products (row-major, transposes as named).
static void measure(const char *name, int transA, int transB, int m, int n, int k) {
    enum { calls = 12 };
    float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * k * n), *c = malloc(sizeof(float) * m * n);
    for (long i = 0; i < (long)m * k; i++) a[i] = (float)(i % 7) * 0.1f;
    for (long i = 0; i < (long)k * n; i++) b[i] = (float)(i % 5) * 0.1f;
    double times[calls];
    for (int r = 0; r < calls; r++) {
        double start = seconds();
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, m, n, k,
                    1, a, transA ? m : k, b, transB ? k : n, 0, c, n);
        times[r] = seconds() - start;
    }
    qsort(times, calls, sizeof(double), ascending);
    double median = times[calls / 2];
    printf("%-34s m %5d n %5d k %5d  %7.2f ms  %6.1f GFLOP/s\n", name, m, n, k, median * 1e3, 2.0 * m * n * k / median / 1e9);
    free(a); free(b); free(c);
}

int main(void) {
    measure("lstm decoder forward x·Wᵀ", 0, 1, 700, 10000, 512);
    measure("lstm decoder input grad dY·W", 0, 0, 700, 512, 10000);
    measure("lstm decoder weight grad dYᵀ·x", 1, 0, 10000, 512, 700);
    measure("lstm input projection x·W_ihᵀ", 0, 1, 700, 2048, 512);
    measure("transformer head x·Wᵀ", 0, 1, 2048, 8000, 256);
    measure("transformer FFN up x·Wᵀ", 0, 1, 2048, 1024, 256);
    measure("transformer FFN down x·Wᵀ", 0, 1, 2048, 256, 1024);
    measure("mlp 1024×1024 layer x·Wᵀ", 0, 1, 256, 1024, 1024);
    return 0;
}
