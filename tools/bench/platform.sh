#!/usr/bin/env bash
# A two-platform build (linux/amd64 natively, linux/arm64 under QEMU user-mode emulation) by
# kiln (build --platform linux/amd64,linux/arm64) and by buildah (bud --platform ... --manifest),
# cold and then cached, from one multi-platform busybox base on a local docker-registry, in one
# run. buildah runs RUN with --isolation chroot and needs the host's binfmt_misc: an aarch64
# handler is registered for its runs only and removed after (and binfmt_misc unmounted again
# if it was not mounted); kiln registers in its own user namespace and needs none.
# Prints times and ratios.
# Usage: tools/bench/platform.sh [DIR]   (default /usr/include: copied in, then listed by RUN)
set -euo pipefail
cd "$(dirname "$0")/../.."
big=${1:-/usr/include}
bazel build -c opt //cli:kiln >/dev/null 2>&1
kiln=$PWD/bazel-bin/cli/kiln
work=$(mktemp -d /var/tmp/kiln-bench-platform-XXXXXX)
source tools/bench/lib.sh
arm64=/usr/local/share/kiln-test/arm64/busybox
[ -x "$arm64" ] || { echo "run tools/setup first ($arm64 is missing)" >&2; exit 1; }
bah() { buildah --root "$work/buildah/root" --runroot "$work/buildah/run" "$@"; }
mounted_here=
handler=/proc/sys/fs/binfmt_misc/kiln-bench-aarch64
cleanup() {
  [ -e "$handler" ] && echo -1 >"$handler"
  [ -n "$mounted_here" ] && umount /proc/sys/fs/binfmt_misc
  stop_registries
  bah rmi -a -f >/dev/null 2>&1 || true
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

port=$(start_registry registry)
R=127.0.0.1:$port
python3 tests/e2e/multiarch_base.py "$work/base" linux/amd64=/bin/busybox linux/arm64="$arm64"
skopeo copy -q --all --dest-tls-verify=false oci:"$work/base":multi docker://$R/busybox:multi

mkdir -p "$work/ctx"
cp -a "$big" "$work/ctx/big"
cat >"$work/ctx/Dockerfile" <<DF
FROM $R/busybox:multi
RUN dd if=/dev/zero bs=1M count=64 2>/dev/null | sha256sum >/zero && uname -m >/arch
COPY big/ /big/
RUN find /big -type f | xargs cat | sha256sum >/sum && find /big -type f | wc -l >/count
DF
size=$(du -sm "$work/ctx/big" | cut -f1)

t() { sync; local s=$(date +%s.%N); "$@" >"$work/out" 2>&1 || { cat "$work/out" >&2; exit 1; }; echo "$(date +%s.%N) - $s" | bc; }
row() { printf '%-34s %9.2fs %9.2fs %7.1fx\n' "$1" "$2" "$3" "$(echo "$3 / $2" | bc -l)"; }

kb() { "$kiln" --root "$work/kiln" build -q --tls-verify=false --platform linux/amd64,linux/arm64 -t app:1 "$work/ctx"; }
k_cold=$(t kb)
k_cached=$(t kb)

# buildah: the host's binfmt_misc for its runs only.
if ! grep -q binfmt_misc /proc/self/mountinfo; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  mounted_here=1
fi
sed 's/^:qemu-aarch64:/:kiln-bench-aarch64:/' /usr/lib/binfmt.d/qemu-aarch64.conf >/proc/sys/fs/binfmt_misc/register
bb() { bah bud -q --isolation chroot --layers --tls-verify=false --platform linux/amd64,linux/arm64 --manifest app:1 "$work/ctx"; }
b_cold=$(t bb)
b_cached=$(t bb)
echo -1 >"$handler"
[ -n "$mounted_here" ] && umount /proc/sys/fs/binfmt_misc && mounted_here=

echo "two-platform build (linux/amd64 + linux/arm64 under QEMU), ${size} MB copied in"
printf '%-34s %10s %10s %8s\n' "" kiln buildah "buildah/kiln"
row "cold (empty store)" "$k_cold" "$b_cold"
row "cached (nothing changed)" "$k_cached" "$b_cached"
