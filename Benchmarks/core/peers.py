"""Core micro-benchmarks of the peer frameworks, on 2 threads.

Run with a peer venv's python (see Benchmarks/peers/install.sh), e.g.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
        ~/.cache/apus-peers/torch/bin/python Benchmarks/core/peers.py

OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE may be set on this machine; they make
numpy's OpenBLAS pick a slower kernel, so run with both unset (as above). The
script also drops them itself before numpy loads, and warns on stderr if it had to.

Prints one JSON object on stdout; anything unavailable is null:
  numpy_version, sgemm_1024_gflops, sgemm_32x4096x256_gflops  (float32, median)
  torch_version, conv2d_fwd_ms, conv2d_fwdbwd_ms              (median)
  plus threads, malloc, and numpy_blas (threadpoolctl's report, if installed).

malloc: a 32x32x64x64 float32 conv output is 16 MiB. glibc serves such a
block with a fresh mmap unless its dynamic threshold has already been raised by
earlier frees, so the same forward takes ~1.5 ms or ~10 ms (page faults on
the new pages) depending on the process's history. To measure the convolution
and not that accident, the script first raises glibc's mmap threshold to
32 MiB and its trim threshold to 64 MiB ("malloc": "tuned");
APUS_PEERS_MALLOC=default skips this ("malloc": "default").
"""
import json
import os
import statistics
import sys
import time

THREADS = 2
# Must be set before numpy/torch load their BLAS/OpenMP runtimes.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(THREADS)
for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
    if os.environ.pop(var, None) is not None:
        print(f"peers.py: warning: {var} was set; dropped it (run with env -u)",
              file=sys.stderr)

MALLOC = os.environ.get("APUS_PEERS_MALLOC", "tuned")
if MALLOC == "tuned":
    import ctypes
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # from glibc's malloc.h
    try:
        libc = ctypes.CDLL("libc.so.6")
        ok = (libc.mallopt(M_MMAP_THRESHOLD, 32 << 20) and
              libc.mallopt(M_TRIM_THRESHOLD, 64 << 20))
    except (OSError, AttributeError):
        ok = False
    if not ok:
        MALLOC = "default"  # not glibc, or refused: allocator left alone


def median_seconds(fn, runs, warmup=3):
    """Median wall time of fn() over `runs` timed calls after `warmup` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def numpy_bench(result):
    import numpy as np
    result["numpy_version"] = np.__version__
    rng = np.random.default_rng(0)
    # (M, K, N, timed runs): GFLOP = 2*M*N*K / 1e9
    for key, (m, k, n, runs) in {
        "sgemm_1024_gflops": (1024, 1024, 1024, 20),
        "sgemm_32x4096x256_gflops": (32, 4096, 256, 200),
    }.items():
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        c = np.empty((m, n), dtype=np.float32)
        s = median_seconds(lambda: np.matmul(a, b, out=c), runs, warmup=5)
        result[key] = round(2 * m * n * k / 1e9 / s, 2)
    try:  # optional: which BLAS library and kernel numpy really uses
        from threadpoolctl import threadpool_info
        result["numpy_blas"] = [
            {k: i.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
            for i in threadpool_info() if i.get("user_api") == "blas"]
    except ImportError:
        pass


def torch_bench(result):
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return
    result["torch_version"] = torch.__version__
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    # Input 32x3x64x64, weight 32x3x3x3 + bias, stride 1, padding 1.
    x = torch.randn(32, 3, 64, 64, requires_grad=True)
    w = torch.randn(32, 3, 3, 3, requires_grad=True)
    b = torch.randn(32, requires_grad=True)

    def fwd():  # forward alone: inference, no autograd graph
        with torch.no_grad():
            F.conv2d(x, w, b, stride=1, padding=1)

    def fwdbwd():  # forward + backward of loss = output.sum()
        x.grad = w.grad = b.grad = None
        F.conv2d(x, w, b, stride=1, padding=1).sum().backward()

    result["conv2d_fwd_ms"] = round(median_seconds(fwd, 20) * 1e3, 3)
    result["conv2d_fwdbwd_ms"] = round(median_seconds(fwdbwd, 20) * 1e3, 3)


def main():
    result = dict.fromkeys(
        ["numpy_version", "sgemm_1024_gflops", "sgemm_32x4096x256_gflops",
         "torch_version", "conv2d_fwd_ms", "conv2d_fwdbwd_ms"])
    result["threads"] = THREADS
    result["malloc"] = MALLOC
    try:
        numpy_bench(result)
    except ImportError:
        pass
    torch_bench(result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
