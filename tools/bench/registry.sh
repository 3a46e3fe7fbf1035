#!/usr/bin/env bash
# Push and pull of a multi-layer image (~500 MB compressed, /usr files) to a local
# docker-registry by kiln and by skopeo copy, in one run. Each tool gets its own fresh registry
# (so neither finds blobs already there) and its own fresh destination. Prints times and ratios.
# Usage: tools/bench/registry.sh [DIR...]   (default: /usr/lib/x86_64-linux-gnu /usr/sbin
#        /usr/lib/python3.11 /usr/include, one layer each)
set -euo pipefail
cd "$(dirname "$0")/../.."
dirs=("$@")
[ ${#dirs[@]} -gt 0 ] || dirs=(/usr/lib/x86_64-linux-gnu /usr/lib/python3.11 /usr/include /usr/sbin)
bazel build -c opt //cli:kiln >/dev/null 2>&1
kiln=$PWD/bazel-bin/cli/kiln
work=$(mktemp -d /var/tmp/kiln-bench-registry-XXXXXX)
source tools/bench/lib.sh
trap 'stop_registries; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
export KILN_ROOT=$work/kiln-store

# The image: one COPY layer per directory, built into kiln's store (an OCI layout skopeo reads).
mkdir -p "$work/ctx"
{
  echo 'FROM scratch'
  i=0
  for d in "${dirs[@]}"; do
    i=$((i + 1))
    cp -al "$d" "$work/ctx/d$i" 2>/dev/null || cp -a "$d" "$work/ctx/d$i"
    echo "COPY d$i/ /d$i/"
  done
} >"$work/ctx/Dockerfile"
"$kiln" build -q -t bench:1 "$work/ctx" >/dev/null
size=$("$kiln" inspect bench:1 | jq '[.manifest.layers[].size] | add / 1000000 | floor')
layers=$("$kiln" inspect bench:1 | jq '.manifest.layers | length')

kreg=$(start_registry kiln-registry)
sreg=$(start_registry skopeo-registry)
# Each timed run starts with no dirty pages pending, so no tool pays for the previous one's writes.
t() { sync; local s=$(date +%s.%N); "$@" >/dev/null 2>&1; echo "$(date +%s.%N) - $s" | bc; }
row() { printf '%-34s %9.2fs %9.2fs %7.1fx\n' "$1" "$2" "$3" "$(echo "$3 / $2" | bc -l)"; }

echo "image: $layers layers, ${size} MB compressed; $(nproc) cores; registry on 127.0.0.1"
printf '%-34s %10s %10s %8s\n' operation kiln skopeo ratio
k_push=$(t "$kiln" push -q bench:1 "127.0.0.1:$kreg/bench:1")
s_push=$(t skopeo copy -q --dest-tls-verify=false "oci:$KILN_ROOT:bench:1" \
  "docker://127.0.0.1:$sreg/bench:1")
row "push (store -> registry)" "$k_push" "$s_push"

export KILN_ROOT=$work/kiln-pulled
k_pull=$(t "$kiln" pull -q "127.0.0.1:$kreg/bench:1")
s_pull=$(t skopeo copy -q --src-tls-verify=false "docker://127.0.0.1:$sreg/bench:1" \
  "oci:$work/skopeo-pulled:bench")
row "pull (registry -> OCI layout)" "$k_pull" "$s_pull"

k_copy=$(t "$kiln" copy -q "docker://127.0.0.1:$kreg/bench:1" "docker://127.0.0.1:$sreg/kiln-copy:1")
s_copy=$(t skopeo copy -q --src-tls-verify=false --dest-tls-verify=false \
  "docker://127.0.0.1:$sreg/bench:1" "docker://127.0.0.1:$kreg/skopeo-copy:1")
row "copy registry -> registry" "$k_copy" "$s_copy"
