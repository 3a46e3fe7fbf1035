#!/usr/bin/env bash
# kiln build beside buildah bud (vfs storage, chroot isolation, --layers) on the same
# Dockerfiles in one run: (a) COPY of a large tree exported as an OCI layout, (b) 20 small RUN
# steps, (c) a fully cached rebuild of each. Prints both times and the ratio, the time per RUN
# step of (b) (kiln's default sandbox: user namespace, private network, cgroup, seccomp,
# masked paths), and what each wall of the sandbox costs (tools/bench/sandbox_walls).
# Usage: tools/bench/build.sh [TREE]   (default /usr/lib/x86_64-linux-gnu, ~1 GB)
set -euo pipefail
cd "$(dirname "$0")/../.."
tree=${1:-/usr/lib/x86_64-linux-gnu}
bazel build -c opt //cli:kiln //tools/bench:sandbox_walls >/dev/null 2>&1
kiln=$PWD/bazel-bin/cli/kiln
work=$(mktemp -d /var/tmp/kiln-bench-build-XXXXXX)
cleanup() {
  buildah --root "$work/buildah" --runroot "$work/buildah-run" --storage-driver vfs rmi -a -f >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
export KILN_ROOT=$work/kiln-store
bah() { buildah --root "$work/buildah" --runroot "$work/buildah-run" --storage-driver vfs "$@"; }

# (a) a large COPY: the context holds the tree (hard links, so setting up costs no copy).
mkdir -p "$work/big/tree"
cp -al "$tree/." "$work/big/tree/" 2>/dev/null || cp -a "$tree/." "$work/big/tree/"
printf 'FROM scratch\nCOPY tree/ /data/\n' >"$work/big/Dockerfile"
size=$(du -sm --apparent-size "$work/big/tree" | cut -f1)

# (b) 20 small RUN steps on a busybox base.
mkdir -p "$work/runs/bin"
cp /bin/busybox "$work/runs/bin/busybox"
{
  echo 'FROM scratch'
  echo 'COPY bin/busybox /bin/busybox'
  echo 'RUN ["/bin/busybox", "--install", "-s", "/bin"]'
  for i in $(seq 1 20); do echo "RUN echo step $i > /step-$i && ls / > /dev/null"; done
} >"$work/runs/Dockerfile"

t() { local s=$(date +%s.%N); "$@" >/dev/null 2>&1; echo "$(date +%s.%N) - $s" | bc; }
row() { printf '%-44s %9.2fs %9.2fs %7.1fx\n' "$1" "$2" "$3" "$(echo "$3 / $2" | bc -l)"; }
row_ms() { printf '%-44s %8.1fms %8.1fms %7.1fx\n' "$1" "$2" "$3" "$(echo "$3 / $2" | bc -l)"; }

tar -C "$tree" -cf - . | cat >/dev/null  # warm the page cache
echo "tree: $tree (${size} MB), $(nproc) cores"
printf '%-44s %10s %10s %8s\n' scenario kiln buildah ratio

k_a=$(t "$kiln" build -q --output "oci:$work/kiln-out:big" -t big:1 "$work/big")
b_a=$(t bash -c "buildah --root '$work/buildah' --runroot '$work/buildah-run' --storage-driver vfs bud --isolation chroot --layers -t big:1 '$work/big' && buildah --root '$work/buildah' --runroot '$work/buildah-run' --storage-driver vfs push big:1 'oci:$work/buildah-out:big'")
row "(a) COPY ${size} MB tree + export OCI layout" "$k_a" "$b_a"

k_b=$(t "$kiln" build -q -t runs:1 "$work/runs")
b_b=$(t bah bud --isolation chroot --layers -t runs:1 "$work/runs")
row "(b) 20 small RUN steps" "$k_b" "$b_b"
row_ms "(b) per RUN step (of 21)" "$(echo "$k_b * 1000 / 21" | bc -l)" "$(echo "$b_b * 1000 / 21" | bc -l)"

k_c=$(t "$kiln" build -q -t runs:1 "$work/runs")
b_c=$(t bah bud --isolation chroot --layers -t runs:1 "$work/runs")
row "(c) fully cached rebuild of (b)" "$k_c" "$b_c"

k_d=$(t "$kiln" build -q -t big:1 "$work/big")
b_d=$(t bah bud --isolation chroot --layers -t big:1 "$work/big")
row "(c') fully cached rebuild of (a)" "$k_d" "$b_d"

echo
echo "What each wall of the RUN sandbox costs (kiln alone, no peer runs a step this way):"
bazel-bin/tools/bench/sandbox_walls 100
