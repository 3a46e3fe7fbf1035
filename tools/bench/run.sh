#!/usr/bin/env bash
# A throwaway container over a built image, as a pipeline smoke-tests what it built: `kiln run
# --rm IMAGE CMD` beside buildah's from + run + rm (vfs storage, chroot isolation, the same
# image copied in with skopeo), same run. The image: tools/setup's bookworm base as one layer.
# Prints, best of RUNS: (a) `true`, (b) a command that reads the whole /usr tree (what a test
# suite touches), (c) the first run after the image arrived (kiln unpacks its layer snapshot
# then; buildah's from copies the image into a container every time).
# Usage: tools/bench/run.sh [DIR] [RUNS]   (default /usr/local/share/kiln-test/bookworm, 5)
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=${1:-/usr/local/share/kiln-test/bookworm}
runs=${2:-5}
[ -d "$dir" ] || { echo "no $dir: run tools/setup, or give a DIR" >&2; exit 1; }
bazel build -c opt //cli:kiln >/dev/null 2>&1
kiln=$PWD/bazel-bin/cli/kiln
work=$(mktemp -d /var/tmp/kiln-bench-run-XXXXXX)
bah() { buildah --root "$work/buildah" --runroot "$work/buildah-run" --storage-driver vfs "$@"; }
cleanup() {
  bah rm -a >/dev/null 2>&1 || true
  bah rmi -a -f >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
export KILN_ROOT=$work/kiln-store

mkdir -p "$work/ctx"
cp -al "$dir/." "$work/ctx/" 2>/dev/null || cp -a "$dir/." "$work/ctx/"
printf 'FROM scratch\nCOPY . /\nCMD ["/bin/true"]\n' >"$work/ctx/Dockerfile"
"$kiln" build -q -t bench:1 "$work/ctx" >/dev/null
"$kiln" copy -q bench:1 "oci:$work/layout:bench" >/dev/null
skopeo copy -q "oci:$work/layout:bench" \
  "containers-storage:[vfs@$work/buildah+$work/buildah-run]localhost/bench:1" >/dev/null
size=$(du -sm --apparent-size "$dir" | cut -f1)

t() {  # the wall time of a command that must succeed
  local s=$(date +%s.%N)
  "$@" >/dev/null 2>"$work/err" || { echo "failed: $* ($(tail -n 2 "$work/err"))" >&2; exit 1; }
  echo "$(date +%s.%N) - $s" | bc
}
best() {  # best of $runs timings of the command
  local b= x
  for _ in $(seq "$runs"); do
    x=$(t "$@")
    if [ -z "$b" ] || [ "$(echo "$x < $b" | bc)" = 1 ]; then b=$x; fi
  done
  echo "$b"
}
buildah_run() {
  local c
  c=$(bah from -q --pull=never localhost/bench:1)
  bah run --isolation chroot "$c" "$@"
  bah rm "$c"
}
row() { printf '%-40s %9.3fs %9.3fs %7.1fx\n' "$1" "$2" "$3" "$(echo "$3 / $2" | bc -l)"; }

printf 'image: %s (%s MB, one layer), %s cores, best of %s\n\n' "$dir" "$size" "$(nproc)" "$runs"
printf '%-40s %10s %10s %8s\n' scenario kiln buildah ratio
rm -rf "$KILN_ROOT/snapshots"
row "first run (true)" "$(t "$kiln" run --rm bench:1 /bin/true)" "$(t buildah_run /bin/true)"
row "run true" "$(best "$kiln" run --rm bench:1 /bin/true)" "$(best buildah_run /bin/true)"
read_usr='find /usr -type f -exec cat {} + | wc -c'
row "run: read every file of /usr" "$(best "$kiln" run --rm bench:1 sh -c "$read_usr")" \
  "$(best buildah_run sh -c "$read_usr")"
