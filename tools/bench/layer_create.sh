#!/usr/bin/env bash
# Layer creation speed: kiln's gzip and zstd layers of DIR beside the usual pipelines
# (`tar -c | pigz -6 | sha256sum`, `tar -c | zstd -3 | sha256sum`) on the same tree, same run.
# Prints wall time, MB/s of uncompressed tar, compressed size and peak memory (RSS).
# Usage: tools/bench/layer_create.sh DIR [RUNS]   (page cache warmed first; best of RUNS, default 3)
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=${1:?usage: tools/bench/layer_create.sh DIR [RUNS]}
runs=${2:-3}
bazel build -c opt //cli:kiln >/dev/null 2>&1
kiln=$PWD/bazel-bin/cli/kiln
work=$(mktemp -d /var/tmp/kiln-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
export KILN_ROOT=$work/store

tar -C "$dir" -cf - . | cat >/dev/null  # warm the page cache
tar_bytes=$(tar -C "$dir" -cf - . | wc -c)
printf 'tree: %s, tar of %.1f MB, %s cores\n\n' "$dir" "$(echo "$tar_bytes / 1000000" | bc -l)" "$(nproc)"
printf '%-34s %9s %9s %12s %10s\n' tool seconds 'MB/s' 'output MB' 'peak RSS'

# measure NAME CMD: best wall time of RUNS; the output size comes from $work/size.
measure() {
  local name=$1 cmd=$2 best= rss= t
  for _ in $(seq "$runs"); do
    rm -rf "$KILN_ROOT"
    /usr/bin/time -f '%e %M' -o "$work/time" bash -c "$cmd" >/dev/null
    read -r t r <"$work/time"
    if [ -z "$best" ] || [ "$(echo "$t < $best" | bc)" = 1 ]; then best=$t; rss=$r; fi
  done
  printf '%-34s %9.2f %9.0f %12.1f %8.0fMB\n' "$name" "$best" \
    "$(echo "$tar_bytes / 1000000 / $best" | bc -l)" \
    "$(echo "$(cat "$work/size") / 1000000" | bc -l)" "$(echo "$rss / 1024" | bc -l)"
}

measure "kiln layer create (gzip, ISA-L -1)" \
  "$kiln layer create '$dir' --compression gzip | tee '$work/desc' && jq .size '$work/desc' >'$work/size'"
measure "tar | pigz -6 | sha256sum" \
  "tar -C '$dir' -cf - . | pigz -6 | tee >(wc -c >'$work/size') | sha256sum; sleep 0.1"
measure "kiln layer create (zstd -3)" \
  "$kiln layer create '$dir' --compression zstd | tee '$work/desc' && jq .size '$work/desc' >'$work/size'"
measure "tar | zstd -3 -T0 | sha256sum" \
  "tar -C '$dir' -cf - . | zstd -3 -T0 -q | tee >(wc -c >'$work/size') | sha256sum; sleep 0.1"
measure "kiln layer create (none)" \
  "$kiln layer create '$dir' --compression none | tee '$work/desc' && jq .size '$work/desc' >'$work/size'"
measure "tar | sha256sum" \
  "tar -C '$dir' -cf - . | tee >(wc -c >'$work/size') | sha256sum; sleep 0.1"
