#!/usr/bin/env bash
# kiln as an unprivileged user: it enters a user namespace of its own, with the user's
# subordinate ids when /etc/subuid gives some (through newuidmap), else the user alone.
# The test makes two users (one with subordinate ids, one without), runs kiln as each from a
# directory they can reach, and checks the images against a build done as root.
source "$(dirname "$0")/lib.sh" "$1"

host_state_lock
with_ids=kiln-rootless-a
single=kiln-rootless-b
for u in "$with_ids" "$single"; do
  id "$u" >/dev/null 2>&1 || useradd --no-create-home --shell /bin/sh "$u"
  sed -i "/^$u:/d" /etc/subuid /etc/subgid
done
echo "$with_ids:200000:65536" >>/etc/subuid
echo "$with_ids:200000:65536" >>/etc/subgid
# RUN steps' private network needs the user to open /dev/net/tun, as Debian's udev makes it
# (crw-rw-rw-); a machine without udev may have it root-only. Restored on exit.
tun_mode=$(stat -c %a /dev/net/tun)
chmod 666 /dev/net/tun
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  chmod "$tun_mode" /dev/net/tun
  for u in "$with_ids" "$single"; do
    sed -i "/^$u:/d" /etc/subuid /etc/subgid
    userdel "$u" 2>/dev/null || true
  done
  rm -rf "$WORK" "$HOMES"
}
# Users other than root cannot reach the test's own directories: give them one of their own.
HOMES=$(mktemp -d /tmp/kiln-rootless-XXXXXX)
trap cleanup EXIT
chmod 755 "$HOMES"
install -m 755 "$KILN" "$HOMES/kiln"
ctx=$HOMES/ctx
app_context "$ctx"
chmod -R a+rX "$ctx"
for u in "$with_ids" "$single"; do
  mkdir "$HOMES/$u"
  chown "$u:" "$HOMES/$u"
done

# as USER CMD...: runs kiln's command line as USER, with a store of that user's.
as() {
  local u=$1
  shift
  setpriv --reuid="$u" --regid="$u" --init-groups env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    HOME="$HOMES/$u" "$HOMES/kiln" "$@"
}

root_digest=$("$KILN" build -q --source-date-epoch 1700000000 "$ctx" 2>"$WORK/root.log") \
  || fail "root build: $(tail -3 "$WORK/root.log")"

# A user with subordinate ids: every owner in the image exists, USER app runs as 1000.
digest=$(as "$with_ids" build -t app:1 --source-date-epoch 1700000000 "$ctx" 2>"$WORK/a.log") \
  || fail "rootless build: $(tail -5 "$WORK/a.log")"
[ "$digest" = "$root_digest" ] || fail "rootless digest $digest differs from root's $root_digest"
store=$HOMES/$with_ids/.local/share/kiln
[ -d "$store/blobs/sha256" ] || fail "the store is not under the user's ~/.local/share/kiln"
[ "$(stat -c %U "$store/blobs/sha256")" = "$with_ids" ] || fail "store not owned by the user"
# Inside, id 1000 is subordinate id 200000 + 999 outside.
owned=$(find "$store/snapshots" -name one.txt -printf '%u:%g\n' | sort -u)
[ "$owned" = "200999:200999" ] || fail "files of uid 1000 are owned by '$owned' on the host"
as "$with_ids" copy app:1 "oci:$HOMES/$with_ids/out:1" >/dev/null
umoci unpack --image "$HOMES/$with_ids/out:1" "$WORK/bundle" >/dev/null
root=$WORK/bundle/rootfs
[ "$(cat "$root/srv/app/whoami")" = app ] || fail "USER app not applied: $(cat "$root/srv/app/whoami")"
[ "$(stat -c %u:%g "$root/srv/app/made-by-app")" = 1000:1000 ] || fail "RUN as app made files as $(stat -c %u:%g "$root/srv/app/made-by-app")"
[ ! -e "$root/etc/motd" ] || fail "a file removed by a rootless RUN is still there"
ok "a user with subordinate ids builds the same image, digest for digest, as root"

# Opaque directories (a directory removed and made again) use user.* xattrs rootless.
mkdir -p "$HOMES/opq"
cat >"$HOMES/opq/Dockerfile" <<EOF
FROM app:1
USER root
RUN rm -rf /srv/app && mkdir /srv/app && echo fresh > /srv/app/only
RUN ls /srv/app > /listing
RUN --mount=type=secret,id=tok,uid=1000 sh -c 'cat /run/secrets/tok > /secret-copy; stat -c %u /run/secrets/tok > /secret-owner'
EOF
printf 'rootless-secret' >"$HOMES/opq/token"
chmod -R a+rX "$HOMES/opq"
as "$with_ids" build --secret "id=tok,src=$HOMES/opq/token" -t opq:1 "$HOMES/opq" >/dev/null 2>"$WORK/opq.log" || fail "opaque build: $(tail -3 "$WORK/opq.log")"
as "$with_ids" copy opq:1 "oci:$HOMES/$with_ids/opq:1" >/dev/null
umoci unpack --image "$HOMES/$with_ids/opq:1" "$WORK/opq" >/dev/null
[ "$(cat "$WORK/opq/rootfs/listing")" = only ] || fail "RUN saw the old directory: $(cat "$WORK/opq/rootfs/listing")"
[ "$(ls "$WORK/opq/rootfs/srv/app")" = only ] || fail "opaque directory lost: $(ls "$WORK/opq/rootfs/srv/app")"
[ "$(cat "$WORK/opq/rootfs/secret-copy")" = rootless-secret ] && [ "$(cat "$WORK/opq/rootfs/secret-owner")" = 1000 ] \
  && [ ! -e "$WORK/opq/rootfs/run/secrets" ] || fail "rootless secret mount: $(cat "$WORK/opq/rootfs/secret-owner")"
ok "a directory replaced in a rootless RUN is opaque in the layer and to later steps; secrets mount rootless"

# Isolation holds rootless, with the host network (host /sys, read-only) and without.
mkdir -p "$HOMES/iso"
cat >"$HOMES/iso/Dockerfile" <<EOF
FROM app:1
USER root
RUN ls /proc | grep -c '^[0-9]' > /pids; ls /sys/class/net | wc -l > /nics
RUN if touch /sys/kernel/x 2>/dev/null; then echo writable; else echo ro; fi > /sysrw
RUN if kill -0 1 && ! kill -0 $$ 2>/dev/null; then :; fi; cat /proc/1/cmdline | tr '\0' ' ' > /init
EOF
chmod -R a+rX "$HOMES/iso"
for net in host none; do
  as "$with_ids" build --network "$net" -t "iso-$net:1" "$HOMES/iso" >/dev/null 2>"$WORK/iso.log" \
    || fail "isolation build ($net): $(tail -3 "$WORK/iso.log")"
  as "$with_ids" copy "iso-$net:1" "oci:$HOMES/$with_ids/iso-$net:1" >/dev/null
  umoci unpack --image "$HOMES/$with_ids/iso-$net:1" "$WORK/iso-$net" >/dev/null
  r=$WORK/iso-$net/rootfs
  [ "$(cat "$r/pids")" -le 3 ] || fail "rootless RUN ($net) sees $(cat "$r/pids") processes"
  [ "$(cat "$r/sysrw")" = ro ] || fail "rootless /sys ($net) is writable"
  [ ! -e "$r/sys" ] && [ ! -e "$r/proc" ] || fail "sandbox mount points leaked ($net)"
done
[ "$(cat "$WORK/iso-none/rootfs/nics")" = 1 ] || fail "--network none rootless has $(cat "$WORK/iso-none/rootfs/nics") interfaces"
ok "rootless RUN sees only its own processes and a read-only /sys, with and without network"

# kiln run as the user (the image's ENTRYPOINT is sh -c): the same walls as its RUN steps, the
# user's own files in a volume.
mkdir -p "$HOMES/$with_ids/vol"
chown "$with_ids" "$HOMES/$with_ids/vol"
out=$(as "$with_ids" run --rm -u root -v "$HOMES/$with_ids/vol:/vol" iso-none:1 \
  'ls /proc | grep -c "^[0-9]"; touch /vol/made; if touch /sys/x 2>/dev/null; then echo rw; else echo ro; fi' 2>&1) ||
  fail "rootless kiln run: $out"
[ "$(echo "$out" | head -n 1)" -le 3 ] && [ "$(echo "$out" | tail -n 1)" = ro ] || fail "rootless kiln run: $out"
[ "$(stat -c %U "$HOMES/$with_ids/vol/made")" = "$with_ids" ] || fail "rootless kiln run: the volume's file is not the user's"
[ -z "$(ls "$store/run")" ] || fail "rootless kiln run left $(ls "$store/run")"
ok "rootless kiln run: its own processes, a read-only /sys, the user's files in a volume, nothing left"

# gc --build-cache as the user removes what only the user's namespace can: files of
# subordinate ids.
as "$with_ids" rmi app:1 opq:1 iso-host:1 iso-none:1 >/dev/null
as "$with_ids" gc --build-cache >/dev/null 2>"$WORK/gc.log" || fail "rootless gc: $(cat "$WORK/gc.log")"
left=$(find "$store/snapshots" -mindepth 1 -maxdepth 1 | wc -l)
[ "$left" = 0 ] || fail "gc left $left snapshots"
ok "rootless gc removes the user's images and snapshots"

# A user without subordinate ids: only id 0 exists; images that use no other build fine,
# others fail with one clear error naming the fix.
cat >"$HOMES/single.Dockerfile" <<EOF
FROM scratch
COPY bin/busybox /bin/busybox
RUN ["/bin/busybox", "sh", "-c", "/bin/busybox mkdir -p /out && /bin/busybox id -u > /out/uid && /bin/busybox rm /bin/busybox"]
EOF
chmod a+r "$HOMES/single.Dockerfile"
as "$single" build -t one:1 -f "$HOMES/single.Dockerfile" "$ctx" >/dev/null 2>"$WORK/b.log" \
  || fail "single-id build: $(tail -3 "$WORK/b.log")"
as "$single" copy one:1 "oci:$HOMES/$single/one:1" >/dev/null
umoci unpack --image "$HOMES/$single/one:1" "$WORK/one" >/dev/null
[ "$(cat "$WORK/one/rootfs/out/uid")" = 0 ] || fail "single-id RUN ran as $(cat "$WORK/one/rootfs/out/uid")"
[ ! -e "$WORK/one/rootfs/bin/busybox" ] || fail "single-id whiteout lost"
ok "a user without subordinate ids builds images that use only root"
expect_fail 1 "Dockerfile:13: COPY: --chown: owner 1000:1000 does not exist in kiln's user namespace.*subuid" \
  as "$single" build -q "$ctx"
ok "without subordinate ids, --chown to another user is one clear error"

# Keys, signatures and a policy as the user: push to a registry, sign, verify, and a pull the
# policy lets through (signed) or refuses (unsigned).
start_registry reg ""
R=127.0.0.1:$PORT
as "$single" push -q one:1 "$R/rootless/one:1" >/dev/null || fail "rootless push"
as "$single" push -q one:1 "$R/rootless/unsigned:1" >/dev/null
u=$HOMES/$single
KILN_PASSWORD=pw setpriv --reuid="$single" --regid="$single" --init-groups env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  HOME="$u" KILN_PASSWORD=pw "$HOMES/kiln" key generate --out "$u/k" 2>/dev/null || fail "rootless key generate"
setpriv --reuid="$single" --regid="$single" --init-groups env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  HOME="$u" KILN_PASSWORD=pw "$HOMES/kiln" sign "docker://$R/rootless/one:1" --key "$u/k.key" >/dev/null 2>&1 ||
  fail "rootless sign"
as "$single" verify "docker://$R/rootless/one:1" --key "$u/k.pub" >/dev/null || fail "rootless verify"
printf '{"default":[{"type":"reject"}],"transports":{"docker":{"%s/rootless/one":[{"type":"sigstoreSigned","keyPath":"%s/k.pub","signedIdentity":{"type":"matchRepository"}}]}}}' \
  "$R" "$u" >"$u/policy.json"
chmod a+r "$u/policy.json"
as "$single" --root "$u/pulled" pull -q --signature-policy "$u/policy.json" "$R/rootless/one:1" >/dev/null ||
  fail "rootless pull of a signed image under a policy"
expect_fail 1 'is refused by' as "$single" --root "$u/pulled" pull -q --signature-policy "$u/policy.json" "$R/rootless/unsigned:1"
ok "rootless: key generate, sign, verify, and a policy that pulls the signed image and refuses the other"
as "$single" sbom one:1 | jq -e '.spdxVersion == "SPDX-2.3"' >/dev/null || fail "rootless sbom"
as "$single" build -q --sbom --provenance -t attested:1 -f "$HOMES/single.Dockerfile" "$ctx" >/dev/null 2>"$WORK/att.log" ||
  fail "rootless build --sbom --provenance: $(tail -3 "$WORK/att.log")"
as "$single" inspect attested:1 | jq -e '.mediaType == "application/vnd.oci.image.index.v1+json"' >/dev/null ||
  fail "the rootless attested build is not an index"
ok "rootless: sbom, and a build with SBOM and provenance attestations"

# Multi-platform, rootless: the arm64 RUN runs under QEMU registered in the user namespace kiln
# made for itself; the host's binfmt_misc stays as it was.
binfmt_state() {
  { grep binfmt_misc /proc/self/mountinfo | awk '{print $5}'; ls -A /proc/sys/fs/binfmt_misc 2>/dev/null; } | sort | tr '\n' ' '
}
binfmt_before=$(binfmt_state)
python3 "$(dirname "$0")/multiarch_base.py" "$HOMES/multi" \
  linux/amd64=/bin/busybox linux/arm64=/usr/local/share/kiln-test/arm64/busybox
mkdir -p "$HOMES/mp"
printf 'FROM oci:%s:multi\nRUN uname -m >/arch\n' "$HOMES/multi" >"$HOMES/mp/Dockerfile"
chmod -R a+rX "$HOMES/multi" "$HOMES/mp"
as "$with_ids" build --platform linux/amd64,linux/arm64 -t mp:1 "$HOMES/mp" >/dev/null \
  2>"$WORK/mp.log" || fail "rootless multi-platform build: $(tail -5 "$WORK/mp.log")"
as "$with_ids" copy --platform linux/arm64 mp:1 oci:"$HOMES/$with_ids/arm":x >/dev/null
umoci unpack --image "$HOMES/$with_ids/arm":x "$WORK/mp-arm" >/dev/null
[ "$(cat "$WORK/mp-arm/rootfs/arch")" = aarch64 ] || fail "rootless arm64 RUN ran on $(cat "$WORK/mp-arm/rootfs/arch")"
[ "$(binfmt_state)" = "$binfmt_before" ] || fail "the host's binfmt_misc changed"
ok "rootless: a two-platform build, the arm64 RUN under QEMU, the host's binfmt_misc unchanged"

# Normalized RUN output, rootless: a cache the image below has is hidden by a whiteout kiln
# makes in the user namespace; the digest is root's.
mkdir -p "$HOMES/norm/bin"
cp /bin/busybox "$HOMES/norm/bin/busybox"
echo one >"$HOMES/norm/aux-cache"
cat >"$HOMES/norm/Dockerfile" <<'EOF'
FROM scratch
COPY bin/busybox /bin/busybox
COPY aux-cache /var/cache/ldconfig/aux-cache
RUN ["/bin/busybox", "sh", "-c", "/bin/busybox echo two >/var/cache/ldconfig/aux-cache"]
EOF
chmod -R a+rX "$HOMES/norm"
root_norm=$("$KILN" build -q --source-date-epoch 1700000000 "$HOMES/norm" 2>"$WORK/norm-root.log") ||
  fail "root build of the normalized case: $(tail -3 "$WORK/norm-root.log")"
as "$with_ids" build --source-date-epoch 1700000000 -t norm:1 -o type=local,dest="$HOMES/$with_ids/norm-out" \
  "$HOMES/norm" >"$WORK/norm.out" 2>&1 || fail "rootless normalized build: $(tail -5 "$WORK/norm.out")"
grep -qx 'normalized 1 file: /var/cache/ldconfig/aux-cache (dropped)' "$WORK/norm.out" ||
  fail "rootless: the normalization is not listed: $(grep normalized "$WORK/norm.out")"
[ ! -e "$HOMES/$with_ids/norm-out/var/cache/ldconfig/aux-cache" ] || fail "rootless: the cache is still there"
[ "$(as "$with_ids" inspect norm:1 | jq -r .digest)" = "$root_norm" ] ||
  fail "rootless normalized digest differs from root's $root_norm"
ok "rootless: a dropped cache hidden by a whiteout, the same digest as root's"

finish
