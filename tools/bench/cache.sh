#!/usr/bin/env bash
# A build on a fresh machine ("B": an empty store) with and without the registry cache another
# machine ("A") exported, for kiln (--cache-to/--cache-from type=registry) and for buildah
# (bud --layers --cache-to/--cache-from), on one local docker-registry, in one run. The build is
# the example app's files (busybox, COPY, RUN, users) with a large COPY layer in its base
# stage. buildah runs RUN with --isolation chroot (no OCI runtime is installed here).
# Prints times and ratios.
# Usage: tools/bench/cache.sh [DIR]   (default /usr/include: the large layer)
set -euo pipefail
cd "$(dirname "$0")/../.."
big=${1:-/usr/include}
bazel build -c opt //cli:kiln >/dev/null 2>&1
kiln=$PWD/bazel-bin/cli/kiln
work=$(mktemp -d /var/tmp/kiln-bench-cache-XXXXXX)
source tools/bench/lib.sh
bah() { buildah --root "$work/buildah-$1/root" --runroot "$work/buildah-$1/run" "${@:2}"; }
cleanup() {
  stop_registries
  for m in a b c; do bah "$m" rmi -a -f >/dev/null 2>&1 || true; done
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

port=$(start_registry registry)
R=127.0.0.1:$port

cp -rL testdata/build/app "$work/ctx"
mkdir -p "$work/ctx/bin"
cp /bin/busybox "$work/ctx/bin/busybox"
cp -a "$big" "$work/ctx/big"
# The app's files in a Dockerfile buildah 1.28 reads (no heredocs, no stage named by an ARG).
cat >"$work/ctx/Dockerfile" <<'DF'
FROM scratch AS base
COPY bin/busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
COPY etc/ /etc/
COPY big/ /big/
RUN mkdir -p /tmp && chmod 1777 /tmp
FROM base
ENV APP_HOME=/srv/app
WORKDIR /srv/app
COPY src/*.txt ./
COPY scripts/ /usr/local/bin/
RUN echo hello > greeting && find /big -type f | wc -l > count && chown -R app:app .
USER app
RUN id -un > whoami
CMD ["cat", "/srv/app/greeting"]
DF
size=$(du -sm "$work/ctx/big" | cut -f1)

t() { sync; local s=$(date +%s.%N); "$@" >"$work/out" 2>&1 || { cat "$work/out" >&2; exit 1; }; echo "$(date +%s.%N) - $s" | bc; }
row() { printf '%-40s %9.2fs %9.2fs %7.1fx\n' "$1" "$2" "$3" "$(echo "$3 / $2" | bc -l)"; }

# A: builds and exports its cache.
"$kiln" --root "$work/kiln-a" build -q -t app:1 \
  --cache-to "type=registry,ref=$R/kiln/app:cache,mode=max" "$work/ctx" >/dev/null
bah a bud -q --isolation chroot --layers --tls-verify=false --cache-to "$R/buildah/app" -t app:1 "$work/ctx" \
  >"$work/out" 2>&1 || { tail -5 "$work/out" >&2; exit 1; }

# B: a fresh store each time, cold and then from A's cache.
k_cold=$(t "$kiln" --root "$work/kiln-b" build -q -t app:1 "$work/ctx")
k_warm=$(t "$kiln" --root "$work/kiln-c" build -q -t app:1 \
  --cache-from "type=registry,ref=$R/kiln/app:cache" "$work/ctx")
k_ran=$("$kiln" --root "$work/kiln-d" build --progress json -t app:1 \
  --cache-from "type=registry,ref=$R/kiln/app:cache" "$work/ctx" 2>&1 >/dev/null |
  jq -r 'select(.event == "built") | .steps_run')
b_cold=$(t bah b bud -q --isolation chroot --layers -t app:1 "$work/ctx")
b_warm=$(t bah c bud -q --isolation chroot --layers --tls-verify=false --cache-from "$R/buildah/app" -t app:1 "$work/ctx")

echo "build: the example app plus a ${size} MB COPY of $big; $(nproc) cores; registry on 127.0.0.1"
echo "kiln's cached build ran $k_ran steps"
printf '%-40s %10s %10s %8s\n' "B (fresh store)" kiln buildah "buildah/kiln"
row "cold build, no cache" "$k_cold" "$b_cold"
row "build from A's registry cache" "$k_warm" "$b_warm"
printf '%-40s %9.1fx %9.1fx\n' "cold / cached" "$(echo "$k_cold / $k_warm" | bc -l)" \
  "$(echo "$b_cold / $b_warm" | bc -l)"
