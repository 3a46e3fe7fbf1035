#!/usr/bin/env bash
# Comparing two layers: `kiln diff` beside diffoscope (Debian's diffoscope-minimal) on the same
# two layer tars, same run: a tree (default: tools/setup's bookworm-python base, ~200 MB) and a
# copy of it with a text file edited, a mode and an owner changed, a file added and one removed.
# Prints wall time, peak memory (RSS) and how many files each finds with other content (kiln
# also lists the mode, owner, added and removed files, which diffoscope shows in its file list).
# Usage: tools/bench/diff.sh [DIR] [RUNS]   (best of RUNS, default 3)
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=${1:-/usr/local/share/kiln-test/bookworm-python}
runs=${2:-3}
[ -d "$dir" ] || { echo "no $dir: run tools/setup, or give a DIR" >&2; exit 1; }
bazel build -c opt //cli:kiln >/dev/null 2>&1
kiln=$PWD/bazel-bin/cli/kiln
work=$(mktemp -d /var/tmp/kiln-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT

cp -a "$dir" "$work/b"
echo "changed" >>"$work/b/etc/debian_version"
chmod 600 "$work/b/etc/hostname" 2>/dev/null || touch "$work/b/etc/hostname"
chown 1:1 "$work/b/etc/issue"
echo new >"$work/b/etc/added-file"
rm -f "$work/b/etc/motd"
tar --numeric-owner -C "$dir" -cf "$work/a.tar" .
tar --numeric-owner -C "$work/b" -cf "$work/b.tar" .
printf 'layers: %s (%.0f MB each), %s cores\n\n' "$dir" \
  "$(echo "$(stat -c %s "$work/a.tar") / 1000000" | bc -l)" "$(nproc)"
printf '%-24s %9s %10s %14s\n' tool seconds 'peak RSS' 'content diffs'

# measure NAME CMD COUNT: best wall time of RUNS; COUNT prints the number of files named.
measure() {
  local name=$1 cmd=$2 count=$3 best= rss= t r
  for _ in $(seq "$runs"); do
    /usr/bin/time -f '%e %M' -o "$work/time" bash -c "$cmd" >"$work/out" 2>/dev/null || true
    read -r t r < <(tail -n 1 "$work/time")  # after "Command exited with non-zero status"
    if [ -z "$best" ] || [ "$(echo "$t < $best" | bc)" = 1 ]; then best=$t; rss=$r; fi
  done
  printf '%-24s %9.2f %8.0fMB %14s\n' "$name" "$best" "$(echo "$rss / 1024" | bc -l)" \
    "$(bash -c "$count")"
}
measure "kiln diff" "$kiln diff --format json $work/a.tar $work/b.tar" \
  "jq '[.files[] | select(.kinds | index(\"content\"))] | length' $work/out"
measure "diffoscope" "diffoscope --no-progress --json - $work/a.tar $work/b.tar" \
  "jq '[.details[] | select(.source1 != \"file list\")] | length' $work/out"
