#!/usr/bin/env bash
# The two user-mode network stacks a RUN step's private network could use, side by side:
# slirp4netns (what kiln uses) and pasta (Debian's passt), each serving a fresh network
# namespace the way a rootless builder would (a user namespace of an unprivileged user, who
# owns the namespace), started N times (time until the namespace's network is up) and moving
# 256 MiB from an "outside" server into the namespace (throughput). Everything happens in a
# network namespace this script makes, with an outside address 198.51.100.1 on a veth pair.
# Also shows whether each can serve a namespace owned by root, as kiln started by root needs.
# Usage (root): tools/bench/network.sh [N]   (default 20)
set -euo pipefail
n=${1:-20}
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
work=$(mktemp -d /tmp/kiln-bench-net-XXXXXX)
tun_mode=$(stat -c %a /dev/net/tun)
cleanup() { chmod "$tun_mode" /dev/net/tun; rm -rf "$work"; }
trap cleanup EXIT
chmod 666 /dev/net/tun  # a rootless user must open it (Debian's udev makes it so); restored
chmod 755 "$work"

cat >"$work/inner.sh" <<'EOF'
set -euo pipefail
ip link set lo up
ip link add kiln0 type veth peer name kiln1
ip addr add 198.51.100.1/24 dev kiln0
ip link set kiln0 up; ip link set kiln1 up
ip route add default dev kiln0
# The outside server: 256 MiB to every connection.
python3 -c '
import socket, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("198.51.100.1", 8080)); s.listen(8)
chunk = bytes(1 << 20)
def send(c):
    for _ in range(256): c.sendall(chunk)
    c.close()
while True:
    c, _ = s.accept(); threading.Thread(target=send, args=(c,)).start()
' &
server=$!
sleep 0.5
now() { date +%s%N; }
# measure TOOL: start the tool for a namespace N times, then one download through it.
measure() {
  local tool=$1 total=0 i
  for i in $(seq 1 "$n"); do
    setpriv --reuid=nobody --regid=nogroup --clear-groups unshare --user --map-root-user --net \
      sleep 30 &
    local holder=$!
    sleep 0.05
    local child
    child=$(pgrep -P "$holder" || echo "$holder")
    local start end
    start=$(now)
    case $tool in
      slirp4netns)
        rm -f "$work/ready"; mkfifo "$work/ready"; chmod 666 "$work/ready"
        setpriv --reuid=nobody --regid=nogroup --clear-groups sh -c \
          "exec slirp4netns --configure --mtu=65520 --ready-fd=3 --userns-path=/proc/$child/ns/user $child tap0 3>$work/ready >/dev/null 2>&1" &
        head -c1 "$work/ready" >/dev/null
        ;;
      pasta)
        setpriv --reuid=nobody --regid=nogroup --clear-groups \
          pasta --config-net -q -a 10.0.2.100 -n 24 -g 10.0.2.2 -t none -u none -T none -U none "$child" >/dev/null 2>&1 || echo "pasta failed"
        ;;
    esac
    end=$(now)
    total=$((total + end - start))
    if [ "$i" = "$n" ]; then
      local s e
      s=$(now)
      nsenter -t "$child" -U -n --preserve-credentials python3 -c '
import socket
c = socket.create_connection(("198.51.100.1", 8080)); n = 0
while True:
    b = c.recv(1 << 20)
    if not b: break
    n += len(b)
assert n == 256 << 20, n' || echo "$tool: download failed"
      e=$(now)
      printf '%-12s start %6.1f ms   256 MiB in %6.2f s (%6.0f MB/s)\n' "$tool" \
        "$(echo "$total / $n / 1000000" | bc -l)" "$(echo "($e - $s) / 1000000000" | bc -l)" \
        "$(echo "268.435456 / (($e - $s) / 1000000000)" | bc -l)"
    fi
    kill "$holder" 2>/dev/null || true
    pkill -f "slirp4netns.*$child tap0" 2>/dev/null || true
    wait "$holder" 2>/dev/null || true
  done
}
echo "$n namespaces each, owned by an unprivileged user's namespace:"
measure slirp4netns
measure pasta
# A namespace owned by root, as kiln started by root makes for its steps.
unshare --net sleep 10 &
holder=$!
sleep 0.1
if pasta --config-net -q -t none -u none -T none -U none --netns /proc/$holder/ns/net </dev/null >/dev/null 2>&1 &&
   [ "$(nsenter -t $holder -n ip -o link | wc -l)" -gt 1 ]; then
  echo "pasta serves a root-owned namespace: yes"
else
  echo "pasta serves a root-owned namespace: no (it gives up root before joining it)"
fi
rm -f "$work/ready"; mkfifo "$work/ready"
slirp4netns --configure --ready-fd=3 --netns-type=path /proc/$holder/ns/net tap0 3>"$work/ready" >/dev/null 2>&1 &
slirp=$!
if timeout 5 head -c1 "$work/ready" >/dev/null; then
  echo "slirp4netns serves a root-owned namespace: yes"
else
  echo "slirp4netns serves a root-owned namespace: no"
fi
kill "$slirp" "$holder" 2>/dev/null || true
kill "$server" 2>/dev/null || true
EOF
work=$work n=$n unshare --net bash "$work/inner.sh"
