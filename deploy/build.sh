#!/usr/bin/env bash
# Builds llm-expo and lays out the container image's runtime tree in STAGE (one script for both the
# image and CI, so the steps the Dockerfile runs are the steps CI proves):
#
#   STAGE/package.json, package-lock.json
#   STAGE/dist/            compiled TypeScript, without dist/test and dist/bench
#   STAGE/proto/           the .proto files (loaded at start-up)
#   STAGE/node_modules/    production dependencies only
#   STAGE/kernel/build/Release/expo_kernel.node    the N-API addon
#   STAGE/kernel/build-cuda/libexpo_cuda.so        the CUDA kernel (unless LLM_EXPO_BUILD_CUDA=0)
#
# Usage: bash deploy/build.sh STAGE
#   LLM_EXPO_BUILD_CUDA=0      CPU-only tree: no nvcc needed, no libexpo_cuda.so.
#   LLM_EXPO_REUSE_BUILD=1     reuse node_modules, the addon and libexpo_cuda.so already built in this
#                              checkout (CI runs `npm ci && npm run build:cuda` just before); only the
#                              TypeScript is recompiled. Otherwise everything is built from scratch.
set -euo pipefail

if [ $# -ne 1 ] || [ -z "$1" ]; then
  echo "usage: bash deploy/build.sh STAGE_DIR" >&2
  exit 2
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$1"
stage="$(cd "$1" && pwd)"
case "$stage/" in
  "$root"/*) echo "deploy/build.sh: STAGE must lie outside the checkout ($root): modules would resolve from its node_modules" >&2; exit 2 ;;
esac
cuda="${LLM_EXPO_BUILD_CUDA:-1}"
reuse="${LLM_EXPO_REUSE_BUILD:-0}"
cd "$root"
started=$(date +%s)

# 1. Dependencies, the addon and the TypeScript (npm ci runs kernel/build.mjs and tsc).
if [ "$reuse" = 1 ] && [ -f node_modules/.package-lock.json ] && [ -f kernel/build/Release/expo_kernel.node ]; then
  echo "deploy/build.sh: reusing node_modules and kernel/build/Release/expo_kernel.node"
  npx --no-install tsc -p tsconfig.json
else
  npm ci --no-audit --no-fund
fi

# 2. The CUDA library.
if [ "$cuda" != 0 ]; then
  if [ "$reuse" = 1 ] && [ -f kernel/build-cuda/libexpo_cuda.so ]; then
    echo "deploy/build.sh: reusing kernel/build-cuda/libexpo_cuda.so"
  else
    bash kernel/cuda/build.sh
  fi
fi

# 3. The runtime tree.
rm -rf "${stage:?}"/*
cp package.json package-lock.json "$stage/"
mkdir -p "$stage/dist" "$stage/kernel/build/Release"
for d in dist/*/; do
  case "$d" in dist/test/ | dist/bench/) ;; *) cp -R "$d" "$stage/dist/" ;; esac
done
(cd "$root" && find proto -name '*.proto' -exec install -D -m 0644 {} "$stage/{}" \;)
cp kernel/build/Release/expo_kernel.node "$stage/kernel/build/Release/"
if [ "$cuda" != 0 ]; then
  mkdir -p "$stage/kernel/build-cuda"
  cp kernel/build-cuda/libexpo_cuda.so "$stage/kernel/build-cuda/"
fi
# Production dependencies: a copy of the installed tree pruned by npm (offline, no install scripts:
# the addon is already built and copied above).
cp -R node_modules "$stage/node_modules"
(cd "$stage" && npm prune --omit=dev --ignore-scripts --no-audit --no-fund --offline >/dev/null)
find "$stage/node_modules" -mindepth 1 -maxdepth 1 -type d -empty -delete  # scopes emptied by the prune
chmod 0755 "$stage/dist/cli/main.js"

echo "deploy/build.sh: runtime tree in $stage ($(du -sh "$stage" | cut -f1), cuda=$cuda) in $(($(date +%s) - started)) s"
