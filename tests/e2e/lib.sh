# Shared helpers for kiln's end-to-end tests. Source it; it sets KILN, WORK and KILN_ROOT.
set -euo pipefail

KILN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
WORK=$(mktemp -d /var/tmp/kiln-e2e-XXXXXX)
export KILN_ROOT=$WORK/store
# Helpers a test starts (start_registry) are killed when it exits.
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT
PASSED=0

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

ok() {
  PASSED=$((PASSED + 1))
  echo "ok - $*"
}

# expect_fail CODE PATTERN CMD...: CMD exits with CODE and its stderr matches PATTERN.
expect_fail() {
  local code=$1 pattern=$2
  shift 2
  local rc=0
  "$@" >"$WORK/.stdout" 2>"$WORK/.stderr" || rc=$?
  [ "$rc" = "$code" ] || fail "$* exited $rc, want $code; stderr: $(cat "$WORK/.stderr")"
  grep -qE -- "$pattern" "$WORK/.stderr" || fail "$*: stderr lacks /$pattern/: $(cat "$WORK/.stderr") (stdout: $(head -c 300 "$WORK/.stdout"))"
  [ "$(wc -l <"$WORK/.stderr")" -le 2 ] || fail "$*: error is not one clear line: $(cat "$WORK/.stderr")"
}

# A listing of a tree that compares everything a layer carries: type, mode, owner, size,
# link target, content hash.
tree_listing() {
  (cd "$1" && find . -mindepth 1 -printf '%p %y %m %U:%G %s %l\n' | sort) >"$WORK/listing.$$"
  (cd "$1" && find . -mindepth 1 -type f -print0 | sort -z | xargs -0r sha256sum) \
    >>"$WORK/listing.$$"
  cat "$WORK/listing.$$"
}

# A small image made by umoci (not kiln): busybox, a symlink, a hardlink, then a second
# layer that deletes a file (a whiteout) and adds one. Leaves it at $WORK/src:v2.
make_umoci_image() {
  (
    cd "$WORK"
    umoci init --layout src
    umoci new --image src:base
    umoci unpack --image src:base bundle >/dev/null
    mkdir -p bundle/rootfs/bin bundle/rootfs/etc bundle/rootfs/data
    cp /bin/busybox bundle/rootfs/bin/busybox
    ln -s busybox bundle/rootfs/bin/sh
    echo hello >bundle/rootfs/etc/motd
    ln bundle/rootfs/etc/motd bundle/rootfs/etc/motd.hard
    chmod 4755 bundle/rootfs/bin/busybox
    echo gone >bundle/rootfs/data/old
    chown 1000:1000 bundle/rootfs/data/old
    umoci repack --image src:v1 bundle
    umoci unpack --image src:v1 bundle2 >/dev/null
    rm bundle2/rootfs/data/old
    echo new >bundle2/rootfs/data/new
    umoci repack --image src:v2 bundle2
    umoci config --image src:v2 --config.cmd /bin/sh
  ) >/dev/null
}

# app_context DIR: testdata/build/app at DIR, with the host's static busybox in its bin/ (the
# example build's context, which needs no network).
app_context() {
  cp -rL "$(dirname "${BASH_SOURCE[0]}")/../../testdata/build/app" "$1"
  mkdir -p "$1/bin"
  cp /bin/busybox "$1/bin/busybox"
}

# A TCP port on 127.0.0.1 that nothing listens on now (the kernel picks it).
# Tests that change host state another test also changes (/etc/subuid, /etc/subgid, the mode
# of /dev/net/tun) hold this lock for their whole run, so that one does not put back, while
# the other still needs it, what the other changed.
host_state_lock() {
  exec 9>/tmp/kiln-e2e-host-state.lock
  flock 9
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_registry NAME EXTRA_YAML: starts Debian's docker-registry on loopback, its data in
# $WORK/NAME; sets PORT.
start_registry() {
  local name=$1 extra=$2
  PORT=$(free_port)
  mkdir -p "$WORK/$name"
  cat >"$WORK/$name/config.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $WORK/$name/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$PORT
$extra
YAML
  env -u REGISTRY_AUTH_FILE docker-registry serve "$WORK/$name/config.yml" >"$WORK/$name/log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do
    curl -sk -o /dev/null "http://127.0.0.1:$PORT/v2/" && return
    curl -sk -o /dev/null "https://127.0.0.1:$PORT/v2/" && return
    sleep 0.1
  done
  fail "registry $name did not start: $(cat "$WORK/$name/log")"
}

finish() {
  echo "$PASSED passed, 0 failed"
}
