#!/usr/bin/env bash
# The GPU check, sized for one device call of at most 8 minutes on a machine with nvcc, a GPU and no Node:
#   1. builds the CUDA kernel (kernel/cuda/build.sh: libexpo_cuda.so, the standalone test, the benchmark)
#   2. runs the standalone test: CUDA vs CPU kernel, bit for bit, both modes, every dtype (exit 1 on mismatch)
#   3. runs the benchmark: the kernel on >= 4 GiB of bf16 against a device-to-device copy of the same bytes,
#      the staged host->device->host pipeline against raw pinned copies
#   4. the worker end to end (bench/gpu-worker.sh), with the Node and runtime tree that bench/gpu-carry.sh
#      staged in .gpu-carry/: `llm-expo run --device cuda` against `--device cpu` on a pair made in tmpfs,
#      outputs bit for bit, the staged pipeline inside the worker against raw pinned copies
# and prints the results table last. Record that table in docs/benchmarks.md ("GPU").
#
#   bash bench/gpu-check.sh [GiB per kernel buffer, default 4] [GiB per pipeline buffer, default 1]
#                           [size per model for the worker, default 1GiB]
#
# Exit status: 0 all ran and the tests passed (the targets are reported, not enforced), 1 a build or test
# failure, outputs that differ, or no .gpu-carry/; 77 no CUDA device.
set -uo pipefail
cd "$(dirname "$0")/.."
kernel_gib="${1:-4}"
pipe_gib="${2:-1}"
model_size="${3:-1GiB}"
started=$(date +%s)
build="${EXPO_CUDA_BUILD_DIR:-kernel/build-cuda}"
log="$(mktemp -d)/gpu-check"

echo "== llm-expo GPU check: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader
echo "host: $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"

echo "== build"
export EXPO_CUDA_BUILD_THREADS="${EXPO_CUDA_BUILD_THREADS:-3}"
if ! timeout 150 bash kernel/cuda/build.sh; then
  echo "gpu-check: build failed" >&2
  exit 1
fi

echo "== standalone test (CUDA vs CPU kernel)"
timeout 60 "$build/expo_cuda_test" 2 2>&1 | tee "$log.test"
test_rc=${PIPESTATUS[0]}
if [ "$test_rc" = 77 ]; then
  echo "gpu-check: no CUDA device visible" >&2
  exit 77
fi

echo "== benchmark"
timeout 100 "$build/expo_cuda_bench" "$kernel_gib" "$pipe_gib" 2>&1 | tee "$log.bench"
bench_rc=${PIPESTATUS[0]}

echo "== worker end to end"
bash bench/gpu-worker.sh "$build" "$model_size" "$log.worker"
worker_rc=$?

echo
echo "== summary ($(($(date +%s) - started)) s)"
echo "test: $(tail -n 1 "$log.test") (exit $test_rc)"
echo "benchmark exit $bench_rc"
echo "worker exit $worker_rc"
echo
sed -n '/^| measurement/,$p' "$log.bench"
cat "$log.worker" 2>/dev/null
[ "$test_rc" = 0 ] && [ "$bench_rc" = 0 ] && [ "$worker_rc" = 0 ]
