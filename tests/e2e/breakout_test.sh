#!/usr/bin/env bash
# The breakout suite: a RUN step tries, as an attacker would, every way out of the sandbox the
# threat model closes (tests/breakout/probe.cc lists them), as root (in the steps' user
# namespace, and with --userns=host) and rootless; and the limits, entitlements and security
# options around it. Every probe must report "contained".
#
# The host is left as it was: the kernel settings a probe could change (core_pattern,
# hostname), keys it could add and binfmt handlers it could register are saved first and put
# back on exit, even if a probe unexpectedly succeeds. Traffic stays on this machine: host
# services listen on 127.0.0.1 and an abstract socket; the "outside" world of the network
# checks is a network namespace this test makes.
source "$(dirname "$0")/lib.sh" "$1"
PROBE=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")

host_state_lock
core_pattern=$(cat /proc/sys/kernel/core_pattern)
host_name=$(hostname)
binfmt_before=$(ls /proc/sys/fs/binfmt_misc 2>/dev/null | sort | tr '\n' ' ')
tun_mode=$(stat -c %a /dev/net/tun)
user=kiln-breakout
pids=()
restore() {
  [ "$(cat /proc/sys/kernel/core_pattern)" = "$core_pattern" ] ||
    printf '%s\n' "$core_pattern" >/proc/sys/kernel/core_pattern
  [ "$(hostname)" = "$host_name" ] || hostname "$host_name"
  "$PROBE" cleanup-keys >/dev/null 2>&1 || true
  for f in /proc/sys/fs/binfmt_misc/kiln*; do [ -e "$f" ] && echo -1 >"$f"; done
  chmod "$tun_mode" /dev/net/tun
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sed -i "/^$user:/d" /etc/subuid /etc/subgid
  userdel "$user" 2>/dev/null || true
  rm -rf "$WORK" "${HOMES:-}" "${marker:-}"
}
trap restore EXIT

# What a probe run changed on the host: nothing, or this says what.
host_changes() {
  local changed=""
  [ "$(cat /proc/sys/kernel/core_pattern)" = "$core_pattern" ] || changed+="core_pattern "
  [ "$(hostname)" = "$host_name" ] || changed+="hostname "
  [ "$("$PROBE" cleanup-keys)" = 0 ] || changed+="keyring "
  [ "$(ls /proc/sys/fs/binfmt_misc 2>/dev/null | sort | tr '\n' ' ')" = "$binfmt_before" ] ||
    changed+="binfmt_misc "
  echo "$changed"
}

# Host services a step must not reach: a TCP port on 127.0.0.1, an abstract unix socket.
port=$(free_port)
abstract=kiln-breakout-$$
python3 -c '
import socket, sys, time
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("127.0.0.1", int(sys.argv[1]))); t.listen(16)
u = socket.socket(socket.AF_UNIX); u.bind("\0" + sys.argv[2]); u.listen(16)
time.sleep(900)' "$port" "$abstract" &
pids+=($!)
marker=$(mktemp /tmp/kiln-breakout-marker-XXXXXX)
netns=$(readlink /proc/self/ns/net | tr -dc 0-9)
# The host's interface, by hardware address (a step's own interface may have its name): the
# default route's, else any with an address; "none" when the host has only loopback.
iface=$(ip -o route show default | awk '{print $5; exit}')
mac=$(cat "/sys/class/net/$iface/address" 2>/dev/null)
if [ -z "$mac" ] || [ "$mac" = 00:00:00:00:00:00 ]; then
  mac=$(cat /sys/class/net/*/address | grep -v '^00:00:00:00:00:00$' | head -1)
fi
[ -n "$mac" ] || mac=none
read -r disk_major disk_minor < <(stat -c '%Hd %Ld' /)

ctx=$WORK/ctx
mkdir -p "$ctx/bin"
cp /bin/busybox "$ctx/bin/busybox"
cp "$PROBE" "$ctx/probe"
cat >"$ctx/Dockerfile" <<EOF
FROM scratch
COPY bin/busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
COPY probe /probe
RUN mkdir -p /tmp && /probe all $port $abstract $netns $mac $marker $disk_major $disk_minor
EOF
sleep 0.3  # the listeners are up

# check_probes LOG MODE: every probe in LOG contained, absent ones absent on the host too.
check_probes() {
  local log=$1 mode=$2
  grep -q 'PROBES ' "$log" || fail "$mode: the probe did not finish: $(tail -5 "$log")"
  if grep -q ' ESCAPED ' "$log"; then
    fail "$mode: $(grep ' ESCAPED ' "$log" | sed 's/^#[0-9]* //' | tr '\n' ';')"
  fi
  while read -r path; do
    [ ! -e "$path" ] || fail "$mode: $path exists on the host but not in the step"
  done < <(grep -o 'PROBE [a-z0-9-]* absent .*' "$log" | awk '{print $4}')
  local summary
  summary=$(grep -o 'PROBES .*' "$log")
  local n contained
  n=$(echo "$summary" | awk '{print $2}')
  contained=$(echo "$summary" | awk '{print $4}')
  [ "$n" -ge 60 ] && [ "$n" = "$contained" ] || fail "$mode: $summary"
  local changes
  changes=$(host_changes)
  [ -z "$changes" ] || fail "$mode: the host changed: $changes"
  echo "$mode: ${summary#PROBES }"
}

"$KILN" build --no-cache --progress plain "$ctx" >"$WORK/root.log" 2>&1 || fail "probe build: $(tail -5 "$WORK/root.log")"
check_probes "$WORK/root.log" "root"
grep -q 'PROBE-INFO uid_map *0 1879048192 *65536' "$WORK/root.log" ||
  fail "root's steps do not run in the steps' user namespace: $(grep PROBE-INFO "$WORK/root.log")"
ok "as root (steps' user namespace): every breakout probe is contained, the host unchanged"

# kiln run gives a container the same walls: the probe image's last step, run as a container.
"$KILN" build -q -t probe-image "$ctx" >/dev/null 2>&1 || fail "probe image build"
"$KILN" run --rm probe-image /probe all $port $abstract $netns $mac $marker $disk_major $disk_minor \
  >"$WORK/run.log" 2>&1 || fail "kiln run of the probe: $(tail -5 "$WORK/run.log")"
check_probes "$WORK/run.log" "kiln run"
grep -q 'PROBE-INFO uid_map *0 1879048192 *65536' "$WORK/run.log" ||
  fail "kiln run's container is not in the steps' user namespace: $(grep PROBE-INFO "$WORK/run.log")"
ok "kiln run: every breakout probe is contained in the container, the host unchanged"

"$KILN" build --no-cache --progress plain --userns host "$ctx" >"$WORK/host.log" 2>&1 || fail "--userns=host probe build: $(tail -5 "$WORK/host.log")"
check_probes "$WORK/host.log" "root --userns=host"
grep -q 'PROBE device-kvm contained /tmp: mknod succeeded, open: Permission denied; /dev: mknod succeeded, open: Operation not permitted' "$WORK/host.log" ||
  fail "with the host's ids nodev and the device cgroup are the walls: $(grep device-kvm "$WORK/host.log")"
ok "as root with --userns=host: every probe is contained (nodev, device cgroup, masks, seccomp, netns)"

"$KILN" build --no-cache --progress plain --network none "$ctx" >"$WORK/none.log" 2>&1 || fail "--network none probe build: $(tail -5 "$WORK/none.log")"
check_probes "$WORK/none.log" "root --network none"
ok "with --network none: every probe is contained"

# Rootless: a user with subordinate ids builds the same probe image.
id "$user" >/dev/null 2>&1 || useradd --no-create-home --shell /bin/sh "$user"
sed -i "/^$user:/d" /etc/subuid /etc/subgid
echo "$user:300000:65536" >>/etc/subuid
echo "$user:300000:65536" >>/etc/subgid
chmod 666 /dev/net/tun  # as Debian's udev makes it; put back on exit
HOMES=$(mktemp -d /tmp/kiln-breakout-XXXXXX)
chmod 755 "$HOMES"
install -m 755 "$KILN" "$HOMES/kiln"
cp -r "$ctx" "$HOMES/ctx"
chmod -R a+rX "$HOMES/ctx"
mkdir "$HOMES/home" && chown "$user:" "$HOMES/home"
setpriv --reuid="$user" --regid="$user" --init-groups env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  HOME="$HOMES/home" "$HOMES/kiln" build --no-cache --progress plain "$HOMES/ctx" >"$WORK/rootless.log" 2>&1 ||
  fail "rootless probe build: $(tail -5 "$WORK/rootless.log")"
check_probes "$WORK/rootless.log" "rootless"
ok "rootless: every breakout probe is contained"

# Limits: a fork bomb stops at the default pids limit (4096) or --pids-limit; a step over
# its memory limit is killed and says so.
cat >"$WORK/limits.Dockerfile" <<'EOF'
FROM scratch
COPY bin/busybox /bin/busybox
COPY probe /probe
RUN ["/probe", "forkbomb", "5000"]
EOF
"$KILN" build --no-cache --progress plain -f "$WORK/limits.Dockerfile" "$ctx" >"$WORK/fork.log" 2>&1 || fail "fork bomb build: $(tail -3 "$WORK/fork.log")"
forks=$(grep -o 'PROBE-FORKS [0-9]*' "$WORK/fork.log" | awk '{print $2}')
[ -n "$forks" ] && [ "$forks" -lt 4096 ] || fail "a step started $forks of 5000 processes"
"$KILN" build --no-cache --progress plain --pids-limit 100 -f "$WORK/limits.Dockerfile" "$ctx" >"$WORK/fork100.log" 2>&1 || fail "fork bomb build: $(tail -3 "$WORK/fork100.log")"
forks=$(grep -o 'PROBE-FORKS [0-9]*' "$WORK/fork100.log" | awk '{print $2}')
[ -n "$forks" ] && [ "$forks" -lt 100 ] || fail "with --pids-limit 100 a step started $forks processes"
sed -i 's|RUN \["/probe", "forkbomb", "5000"\]|RUN ["/probe", "memory", "2048"]|' "$WORK/limits.Dockerfile"
expect_fail 1 'limits.Dockerfile:4: RUN: RUN was killed: out of memory \(limit 512 MiB\)$' \
  "$KILN" build --no-cache -q --memory 512m -f "$WORK/limits.Dockerfile" "$ctx"
ok "a fork bomb stops at the pids limit ($forks with --pids-limit 100); an OOM-killed step says so"

# A Dockerfile cannot lower the walls without the build's entitlement.
cat >"$WORK/ent.Dockerfile" <<EOF
FROM scratch
COPY bin/busybox /bin/busybox
COPY probe /probe
RUN --network=host ["/bin/busybox", "sh", "-c", "/bin/busybox readlink /proc/self/ns/net > /net"]
RUN --security=insecure ["/bin/busybox", "sh", "-c", "/bin/busybox grep CapEff /proc/self/status > /caps"]
EOF
expect_fail 1 'ent.Dockerfile:4: RUN: --network=host: entitlement network.host is not allowed \(build with --allow network.host\)' \
  "$KILN" build -q -f "$WORK/ent.Dockerfile" "$ctx"
expect_fail 1 'ent.Dockerfile:5: RUN: --security=insecure: entitlement security.insecure is not allowed \(build with --allow security.insecure\)' \
  "$KILN" build -q --allow network.host -f "$WORK/ent.Dockerfile" "$ctx"
"$KILN" build -q -t ent:1 --allow network.host,security.insecure -f "$WORK/ent.Dockerfile" "$ctx" >/dev/null 2>"$WORK/ent.log" ||
  fail "entitled build: $(tail -3 "$WORK/ent.log")"
"$KILN" copy ent:1 "oci:$WORK/ent:1" >/dev/null
umoci unpack --image "$WORK/ent:1" "$WORK/ent" >/dev/null
grep -q "$netns" "$WORK/ent/rootfs/net" || fail "RUN --network=host did not get the host's network: $(cat "$WORK/ent/rootfs/net")"
grep -q 'CapEff:.*000001ffffffffff' "$WORK/ent/rootfs/caps" || fail "RUN --security=insecure caps: $(cat "$WORK/ent/rootfs/caps")"
ok "RUN --network=host and --security=insecure need --allow network.host / security.insecure"

# Security options: a Docker-format seccomp profile (runc's own case: mkdir denied with a
# chosen errno: 100, ENETDOWN), --cap-drop, --ulimit, --add-host, --shm-size; bad ones are one clear error.
cat >"$WORK/deny-mkdir.json" <<'EOF'
{"defaultAction": "SCMP_ACT_ALLOW",
 "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 100}]}
EOF
cat >"$WORK/opts.Dockerfile" <<'EOF'
FROM scratch
COPY bin/busybox /bin/busybox
RUN ["/bin/busybox", "sh", "-c", "/bin/busybox mkdir /made 2> /mkdir.err; /bin/busybox touch /f; /bin/busybox chown 5 /f 2> /chown.err; ulimit -n > /nofile; /bin/busybox grep db /etc/hosts > /hosts; /bin/busybox grep ' /dev/shm ' /proc/mounts > /shm; true"]
EOF
"$KILN" build -q -t opts:1 --security-opt "seccomp=$WORK/deny-mkdir.json" --cap-drop chown \
  --ulimit nofile=100:200 --add-host db:10.1.2.3 --shm-size 2m -f "$WORK/opts.Dockerfile" "$ctx" \
  >/dev/null 2>"$WORK/opts.log" || fail "options build: $(tail -3 "$WORK/opts.log")"
"$KILN" copy opts:1 "oci:$WORK/opts:1" >/dev/null
umoci unpack --image "$WORK/opts:1" "$WORK/opts" >/dev/null
r=$WORK/opts/rootfs
[ ! -e "$r/made" ] && grep -q 'Network is down' "$r/mkdir.err" || fail "the seccomp profile was not applied: $(cat "$r/mkdir.err")"
grep -q 'not permitted' "$r/chown.err" || fail "--cap-drop chown: $(cat "$r/chown.err")"
[ "$(cat "$r/nofile")" = 100 ] || fail "--ulimit: $(cat "$r/nofile")"
grep -q '^10.1.2.3.db$' "$r/hosts" || fail "--add-host: $(cat "$r/hosts")"
grep -q 'size=2048k' "$r/shm" || fail "--shm-size: $(cat "$r/shm")"
echo '{"defaultAction": "SCMP_ACT_NOTIFY"}' >"$WORK/notify.json"
expect_fail 1 'seccomp=.*notify.json: defaultAction: SCMP_ACT_NOTIFY needs a seccomp agent' \
  "$KILN" build -q --security-opt "seccomp=$WORK/notify.json" -f "$WORK/opts.Dockerfile" "$ctx"
expect_fail 1 '--security-opt label=disable: not supported' \
  "$KILN" build -q --security-opt label=disable -f "$WORK/opts.Dockerfile" "$ctx"
"$KILN" build -q --security-opt seccomp=unconfined -f "$WORK/opts.Dockerfile" "$ctx" >/dev/null 2>&1 ||
  fail "seccomp=unconfined build"
ok "--security-opt seccomp=PROFILE.json|unconfined, --cap-drop, --ulimit, --add-host, --shm-size"

# The private network reaches the outside and resolves names, never the host's loopback.
# "Outside" is a network namespace of this test: an address on a veth pair, a web server and
# a DNS server of its own, and /etc/resolv.conf pointing there (in a mount namespace).
cat >"$WORK/outside.sh" <<'EOF'
set -e
ip link set lo up
ip link add kiln0 type veth peer name kiln1
ip addr add 198.51.100.1/24 dev kiln0
ip link set kiln0 up; ip link set kiln1 up
ip route add default dev kiln0
mount --make-rprivate /
echo "nameserver 198.51.100.1" >"$WORK/resolv.conf"
mount --bind "$WORK/resolv.conf" /etc/resolv.conf
mkdir -p "$WORK/www" && echo hello-from-outside >"$WORK/www/hello"
# The DNS server first: the web servers look their own address up when they start.
python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("198.51.100.1", 53))
while True:
    q, a = s.recvfrom(512)
    s.sendto(q[:2] + b"\x81\x80" + q[4:6] + b"\x00\x01\x00\x00\x00\x00" + q[12:] +
             b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + bytes([198, 51, 100, 1]), a)
' &
python3 -m http.server --bind 198.51.100.1 8080 --directory "$WORK/www" >/dev/null 2>&1 &
python3 -m http.server --bind 127.0.0.1 8081 --directory "$WORK/www" >/dev/null 2>&1 &
for i in $(seq 1 100); do
  [ "$(ss -Hltn '( sport = :8080 or sport = :8081 )' | wc -l)" = 2 ] && break
  sleep 0.1
done
cat >"$WORK/net.Dockerfile" <<'XEOF'
FROM scratch
COPY bin/busybox /bin/busybox
RUN ["/bin/busybox", "sh", "-c", "/bin/busybox wget -q -O /outside http://outside.test:8080/hello; /bin/busybox wget -q -T 3 -O /loopback http://10.0.2.2:8081/hello 2>/dev/null; /bin/busybox wget -q -T 3 -O /loopback2 http://127.0.0.1:8081/hello 2>/dev/null; true"]
XEOF
"$KILN" build -q -t net:1 -f "$WORK/net.Dockerfile" "$ctx" >/dev/null
"$KILN" copy net:1 "oci:$WORK/net:1" >/dev/null
kill $(jobs -p)
EOF
WORK=$WORK KILN=$KILN ctx=$ctx unshare --net --mount bash "$WORK/outside.sh" 2>"$WORK/net.log" ||
  fail "private network build: $(tail -3 "$WORK/net.log")"
umoci unpack --image "$WORK/net:1" "$WORK/net" >/dev/null
[ "$(cat "$WORK/net/rootfs/outside")" = hello-from-outside ] || fail "the step could not reach outside.test"
[ ! -s "$WORK/net/rootfs/loopback" ] && [ ! -s "$WORK/net/rootfs/loopback2" ] ||
  fail "the step reached the host's loopback"
ok "the private network resolves and reaches the outside, not the host's loopback"

finish
