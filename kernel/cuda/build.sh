#!/usr/bin/env bash
# Builds the CUDA kernel (npm run build:cuda):
#   kernel/build-cuda/libexpo_cuda.so        the library the N-API addon loads with dlopen (CUDA runtime linked
#                                            statically: it needs only the NVIDIA driver at run time)
#   kernel/build-cuda/expo_cuda_test         standalone GPU test against the CPU kernel (no Node needed)
#   kernel/build-cuda/expo_cuda_bench        kernel and transfer-pipeline benchmark (bench/gpu-check.sh)
#   kernel/build-cuda/expo_cuda_emulate_test the kernels' exact per-thread code run on the host (no GPU needed)
#   kernel/build-cuda/libexpo_cuda_emulated.so  the library over an emulated device, for tests without a GPU
#   kernel/build-cuda/expo_cuda_test_emulated   the standalone test over that emulated device
# for sm_80 and sm_90 plus compute_90 PTX (EXPO_CUDA_GENCODE overrides). Not under kernel/build: node-gyp
# rebuild (npm ci, npm run build) deletes that folder.
#
# nvcc is looked for in $NVCC, then on PATH, then $CUDA_HOME/bin, /usr/local/cuda/bin, then the PyPI wheels
# (nvidia-cuda-nvcc, ...) in the venv $LLM_EXPO_CUDA_VENV (default ~/.cache/llm-expo/cuda-venv) that .ci/run
# installs. Without one it fails with a one-line message.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
kernel="$(dirname "$here")"
out="${EXPO_CUDA_BUILD_DIR:-$kernel/build-cuda}"
venv="${LLM_EXPO_CUDA_VENV:-$HOME/.cache/llm-expo/cuda-venv}"

find_nvcc() {
  if [ -n "${NVCC:-}" ]; then echo "$NVCC"; return; fi
  if command -v nvcc >/dev/null 2>&1; then command -v nvcc; return; fi
  local c
  for c in "${CUDA_HOME:-}/bin/nvcc" "${CUDA_PATH:-}/bin/nvcc" /usr/local/cuda/bin/nvcc "$venv"/lib/python3*/site-packages/nvidia/cu1*/bin/nvcc; do
    if [ -x "$c" ]; then echo "$c"; return; fi
  done
}

nvcc="$(find_nvcc)"
if [ -z "$nvcc" ] || [ ! -x "$nvcc" ]; then
  echo "llm-expo: nvcc not found (set NVCC or CUDA_HOME, put nvcc on PATH, or install the pinned CUDA wheels into $venv as .ci/run does); the CUDA kernel was not built" >&2
  exit 1
fi
root="$(dirname "$(dirname "$nvcc")")"
libdir=""
for d in "$root/lib64" "$root/lib" "$root/targets/x86_64-linux/lib" "$root/targets/sbsa-linux/lib"; do
  if [ -e "$d/libcudart_static.a" ]; then libdir="$d"; break; fi
done
incdir=""
for d in "$root/include" "$root/targets/x86_64-linux/include" "$root/targets/sbsa-linux/include"; do
  if [ -e "$d/cuda_runtime_api.h" ]; then incdir="$d"; break; fi
done
if [ -z "$libdir" ]; then
  echo "llm-expo: libcudart_static.a not found under $root (install the CUDA runtime next to nvcc: nvidia-cuda-runtime)" >&2
  exit 1
fi

gencode="${EXPO_CUDA_GENCODE:--gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90}"
threads="${EXPO_CUDA_BUILD_THREADS:-2}"
ccbin=()
if [ -n "${CXX:-}" ]; then ccbin=(-ccbin "$CXX"); fi
# -fmad=false: no contraction anywhere in device code (the arithmetic uses explicit _rn intrinsics anyway);
# -ffp-contract=off for the host code, as the CPU kernel is built.
host_flags="-fPIC,-fvisibility=hidden,-ffp-contract=off,-fno-fast-math,-Wall"
common=(-std=c++17 -O3 "${ccbin[@]}" -Xcompiler "$host_flags")
# shellcheck disable=SC2206
device=(-fmad=false $gencode)
nvcc_version="$("$nvcc" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')"
if "$nvcc" --help 2>/dev/null | grep -q -- '--threads'; then device+=(--threads "$threads"); fi

mkdir -p "$out/obj"
started=$(date +%s)
echo "llm-expo: building the CUDA kernel with nvcc $nvcc_version ($nvcc) into $out"

cc() {  # host C++ through nvcc (CUDA include paths, same host compiler)
  "$nvcc" "${common[@]}" -c "$1" -o "$2"
}
cc_cpu() {  # the CPU kernel's sources, with the flags of kernel/binding.gyp
  "$nvcc" -std=c++17 -O3 "${ccbin[@]}" -Xcompiler "-fPIC,-fvisibility=hidden,-ffp-contract=off,-fno-fast-math,-Wno-psabi" -c "$1" -o "$2"
}

# The library's host code: the C interface, the pipeline and what it uses (the emulated builds below too).
host_srcs=(c_api pipeline memory copy_pool settings errors plan)
host_paths=()
for f in "${host_srcs[@]}"; do host_paths+=("$here/$f.cc"); done
"$nvcc" "${common[@]}" "${device[@]}" -c "$here/kernels.cu" -o "$out/obj/kernels.o"
host_objs=()
for f in "${host_srcs[@]}"; do
  cc "$here/$f.cc" "$out/obj/$f.o"
  host_objs+=("$out/obj/$f.o")
done
for f in job isa kernel_scalar kernel_avx2 kernel_avx512 mixed_scalar mixed_avx2 mixed_avx512; do
  cc_cpu "$kernel/src/$f.cc" "$out/obj/cpu_$f.o"
done

lib_objs=("$out/obj/kernels.o" "${host_objs[@]}" "$out/obj/cpu_job.o")
cpu_objs=("$out/obj/cpu_isa.o")
for f in kernel_scalar kernel_avx2 kernel_avx512 mixed_scalar mixed_avx2 mixed_avx512; do cpu_objs+=("$out/obj/cpu_$f.o"); done

# The library: only the expo_cuda_* C functions are exported; the static CUDA runtime stays private.
"$nvcc" "${common[@]}" "${device[@]}" -shared -cudart static -L"$libdir" \
  -Xlinker --exclude-libs,ALL -Xlinker -z,defs -Xlinker -soname,libexpo_cuda.so \
  "${lib_objs[@]}" -o "$out/libexpo_cuda.so.tmp" -lpthread -ldl -lrt
mv -f "$out/libexpo_cuda.so.tmp" "$out/libexpo_cuda.so"

"$nvcc" "${common[@]}" "${device[@]}" -I"$here" "$here/test/cuda_test.cc" "${lib_objs[@]}" "${cpu_objs[@]}" \
  -cudart static -L"$libdir" -o "$out/expo_cuda_test" -lpthread -ldl -lrt
"$nvcc" "${common[@]}" "${device[@]}" -I"$here" "$here/bench/bench.cu" "${lib_objs[@]}" \
  -cudart static -L"$libdir" -o "$out/expo_cuda_bench" -lpthread -ldl -lrt
# Host code only: the host compiler alone, no CUDA runtime.
"${CXX:-g++}" -std=c++17 -O2 -Wall -ffp-contract=off -fno-fast-math -I"$here" "$here/test/emulate_test.cc" \
  "$here/plan.cc" "$kernel/src/job.cc" "$kernel/src/kernel_scalar.cc" "$kernel/src/mixed_scalar.cc" \
  -o "$out/expo_cuda_emulate_test"

# The same library over an emulated device (no CUDA runtime, no GPU): the host pipeline and the addon's CUDA
# path end to end, with the kernels' per-thread code run on the host. For tests only (test/cuda.test.ts).
"${CXX:-g++}" -std=c++17 -O2 -Wall -fPIC -fvisibility=hidden -ffp-contract=off -fno-fast-math -shared \
  -I"$here" -I"$incdir" -Wl,-z,defs "${host_paths[@]}" "$here/test/mock_cudart.cc" \
  "$kernel/src/job.cc" -o "$out/libexpo_cuda_emulated.so" -lpthread -ldl
# The standalone GPU test over the emulated device (checks the test program itself, and the pipeline).
"${CXX:-g++}" -std=c++17 -O2 -Wall -ffp-contract=off -fno-fast-math -I"$here" -I"$incdir" \
  "$here/test/cuda_test.cc" "${host_paths[@]}" "$here/test/mock_cudart.cc" "$out/obj/cpu_job.o" \
  "${cpu_objs[@]}" -o "$out/expo_cuda_test_emulated" -lpthread -ldl

# The exported interface is exactly expo_cuda.h's.
exported="$(nm -D --defined-only "$out/libexpo_cuda.so" | awk '$2 == "T" { print $3 }' | sort | tr '\n' ' ')"
case "$exported" in
  *expo_cuda_extrapolate*) ;;
  *) echo "llm-expo: libexpo_cuda.so does not export the C interface (got: $exported)" >&2; exit 1 ;;
esac
echo "llm-expo: built libexpo_cuda.so, expo_cuda_test, expo_cuda_bench, expo_cuda_emulate_test, libexpo_cuda_emulated.so in $(( $(date +%s) - started )) s (exports: $exported)"
