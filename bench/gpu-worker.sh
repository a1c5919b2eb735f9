#!/usr/bin/env bash
# The GPU worker end to end (step 4 of bench/gpu-check.sh), on the GPU machine, which has no Node: with the Node
# binary and the runtime tree that bench/gpu-carry.sh staged in .gpu-carry/ and the CUDA build of step 1,
#   - makes a pair of SIZE per model in memory (tmpfs: /dev/shm, else a tmpfs mounted for it) with
#     `llm-expo make-example`,
#   - runs `llm-expo run --device cpu` and `llm-expo run --device cuda` on it (the CUDA run with
#     LLM_EXPO_CUDA_TRACE: the library's line per call, i.e. per unit),
#   - compares the outputs bit for bit (every file but expo-report.json, whose statistics are fp64 sums in
#     another order: docs/arithmetic.md),
#   - measures raw pinned copies (expo_cuda_bench copies) just before the runs and just after them, and rates
#     the staged pipeline inside the worker (bytes moved / seconds in the library's calls) against the higher.
# Appends its rows of the results table to ROWS.
#
#   bash bench/gpu-worker.sh BUILD_DIR SIZE ROWS      e.g. kernel/build-cuda 1GiB /tmp/rows
#
# Exit status: 0 done (the 0.8 target is reported, not enforced), 1 a failure, outputs that differ or nothing
# carried.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
build="$1"
size="$2"
rows="$3"
carry="${LLM_EXPO_GPU_CARRY:-.gpu-carry}"
row() { printf '| %s | %s | %s | %s |\n' "$@" >>"$rows"; }
fail() {
  echo "gpu-worker: $*" >&2
  row "worker end to end: $*" "" "FAILED" ""
  exit 1
}

[ -f "$carry/node-linux-x64.tar.xz" ] && [ -f "$carry/llm-expo-runtime.tar.xz" ] ||
  fail "no $carry/ (stage it here with bash bench/gpu-carry.sh, and name it in the run's carry)"
sed 's/^/carried: /' "$carry/SOURCE" 2>/dev/null
work="$(mktemp -d)"
rt="$work/llm-expo"
mkdir -p "$work/node" "$rt"
tar -C "$work/node" -xJf "$carry/node-linux-x64.tar.xz" && tar -C "$rt" -xJf "$carry/llm-expo-runtime.tar.xz" ||
  fail "cannot unpack $carry"
cli=("$work/node/bin/node" "$rt/dist/cli/main.js")
echo "node $("${cli[0]}" --version)"
# The library of step 1, where the runtime tree looks for it (kernel/cudaStatus.ts).
mkdir -p "$rt/kernel/build-cuda" && cp "$build/libexpo_cuda.so" "$rt/kernel/build-cuda/" || fail "no $build/libexpo_cuda.so"

# Room for 2 inputs and 2 outputs of SIZE, and slack.
need_mib=$(awk -v s="$size" 'BEGIN { n = s + 0; m = s ~ /GiB$/ ? 1024 : s ~ /MiB$/ ? 1 : 1 / 1048576; printf "%d", 4 * n * m + 1024 }')
avail_mib=$(df -Pm /dev/shm 2>/dev/null | awk 'NR == 2 { print $4 }')
mounted=""
if [ -n "$avail_mib" ] && [ "$avail_mib" -ge "$need_mib" ]; then
  mem="$(mktemp -d /dev/shm/llm-expo.XXXXXX)"
  medium="tmpfs"
else
  mem="$work/mem"
  mkdir -p "$mem"
  if mount -t tmpfs -o "size=${need_mib}m" tmpfs "$mem" 2>/dev/null; then
    mounted="$mem"
    medium="tmpfs"
  else
    medium="page cache (no tmpfs: /dev/shm has ${avail_mib:-0} MiB free, ${need_mib} needed)"
  fi
fi
cleanup() {
  rm -rf "${mem:?}"/* 2>/dev/null
  [ -n "$mounted" ] && umount "$mounted" 2>/dev/null
  [ "${mem#/dev/shm/}" != "$mem" ] && rm -rf "$mem"
  rm -rf "$work"
}
trap cleanup EXIT
echo "pair of $size per model in $mem: $medium"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
copies() { timeout 30 "$build/expo_cuda_bench" copies 1 | sed -n 's/^reference_gbps=//p'; }
job=(--base "$mem/pair/sft" --aligned "$mem/pair/dpo" --alpha 0.3)

timeout 150 "${cli[@]}" make-example "$mem/pair" --size "$size" --seed 14 || fail "make-example failed"
ref_before=$(copies)
t=$(now)
timeout 120 "${cli[@]}" run "${job[@]}" --out "$mem/out-cpu" --device cpu || fail "run --device cpu failed"
cpu_s=$(since "$t")
t=$(now)
LLM_EXPO_CUDA_TRACE="$mem/trace" timeout 120 "${cli[@]}" run "${job[@]}" --out "$mem/out-cuda" --device cuda ||
  fail "run --device cuda failed"
cuda_s=$(since "$t")
ref_after=$(copies)
[ -n "$ref_before" ] && [ -n "$ref_after" ] || fail "expo_cuda_bench copies gave no reference"
ref_before=$(printf '%.1f' "$ref_before")
ref_after=$(printf '%.1f' "$ref_after")

files=0
bytes=0
differ=""
[ "$(ls "$mem/out-cpu")" = "$(ls "$mem/out-cuda")" ] || differ="the output folders hold other files"
for path in "$mem"/out-cpu/*; do
  f="${path##*/}"
  [ "$f" = expo-report.json ] && continue
  files=$((files + 1))
  bytes=$((bytes + $(stat -c %s "$mem/out-cpu/$f")))
  cmp -s "$mem/out-cpu/$f" "$mem/out-cuda/$f" || differ="$differ $f"
done
read_bytes=$(du -cb "$mem"/pair/{sft,dpo}/*.safetensors | tail -1 | cut -f1)

# One line per call: extrapolate segments=N in=BYTES out=BYTES chunks=N direct=N seconds=S
read -r calls moved chunks direct secs < <(awk '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] += kv[2] } n++ }
  END { printf "%d %.0f %d %d %.6f\n", n, v["in"] + v["out"], v["chunks"], v["direct"], v["seconds"] }' "$mem/trace")
calc() { awk "BEGIN { $1 }"; }
# (Parentheses: a bare > in an awk print is a redirection.)
gbps=$(calc "printf \"%.1f\", ($secs > 0 ? $moved / $secs / 1e9 : 0)")
ref=$(calc "printf \"%.1f\", ($ref_before > $ref_after ? $ref_before : $ref_after)")
ratio=$(calc "printf \"%.2f\", ($ref > 0 ? $gbps / $ref : 0)")
verdict=$(calc "print ($ratio >= 0.8 ? \"met\" : \"MISSED\")")

row "pinned copies, both directions at once (3 x 1.00 GiB), just before the runs" "$ref_before" "" ""
row "same, just after the runs" "$ref_after" "1.00 (the higher)" ""
row "worker: staged pipeline inside \`run --device cuda\` ($calls calls, $(calc "printf \"%.2f\", $moved / 1073741824") GiB moved, $direct of $chunks chunks direct)" \
  "$gbps" "$ratio ($verdict)" ">= 0.8 of pinned copies"
row "\`run --device cuda\`, $size per model in $medium, $cuda_s s: bytes read per second" \
  "$(calc "printf \"%.2f\", $read_bytes / $cuda_s / 1e9")" "" "(information)"
row "\`run --device cpu\`, the same pair, $cpu_s s" "$(calc "printf \"%.2f\", $read_bytes / $cpu_s / 1e9")" "" "(information)"
if [ -n "$differ" ]; then
  row "outputs, \`--device cuda\` vs \`--device cpu\`: differ ($differ)" "" "DIFFER" "bit for bit"
  echo "gpu-worker: outputs differ:$differ" >&2
  exit 1
fi
row "outputs, \`--device cuda\` vs \`--device cpu\`: $files files, $bytes bytes" "" "identical" "bit for bit"
cat "$rows"
