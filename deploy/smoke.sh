#!/usr/bin/env bash
# Smoke check of a runtime tree made by deploy/build.sh: the CLI starts from it alone (no devDependency,
# nothing from the checkout) and a tiny job runs end to end, coordinator and worker processes over
# loopback gRPC, then verifies bit for bit.
# Usage: bash deploy/smoke.sh STAGE
set -euo pipefail
stage="$(cd "${1:?usage: bash deploy/smoke.sh STAGE_DIR}" && pwd)"
cli="$stage/dist/cli/main.js"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Run from an empty folder with NODE_PATH unset: modules resolve from the tree only.
cd "$work"
unset NODE_PATH

for cmd in "" coordinator worker run sweep sweep-wait sweep-report; do
  # shellcheck disable=SC2086 # the empty command means the top-level help
  node "$cli" $cmd --help >/dev/null
done
for dev in typescript fast-check s3rver @biomejs/biome kubernetes-models; do
  if [ -e "$stage/node_modules/$dev" ]; then
    echo "deploy/smoke.sh: devDependency $dev in the runtime tree" >&2
    exit 1
  fi
done
step() {  # quiet unless it fails
  if ! "$@" >"$work/log" 2>&1; then
    echo "deploy/smoke.sh: failed: $*" >&2
    cat "$work/log" >&2
    exit 1
  fi
}
step node "$cli" make-example "$work/pair" --size 2MiB --seed 3
step node "$cli" run --base "$work/pair/sft" --aligned "$work/pair/dpo" --alpha 0.3 --out "$work/out" \
  --unit-size 256KiB --workers 2
step node "$cli" verify --base "$work/pair/sft" --aligned "$work/pair/dpo" --out "$work/out"
test -f "$work/out/model.safetensors.index.json"
echo "deploy/smoke.sh: $stage runs: help, make-example, run (2 worker processes), verify"
