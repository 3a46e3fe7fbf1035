#!/usr/bin/env bash
# Multi-platform builds: --platform lists make an OCI index, foreign RUN steps run under QEMU
# through a binfmt_misc of kiln's own (the host's is left as it was: checked at the end), bases
# resolve per platform, FROM --platform=$BUILDPLATFORM cross-compiles. The base is an index of
# Debian's static busybox for amd64 and arm64 (tools/setup fetches the arm64 one), made by a
# script of the test's own and served by Debian's docker-registry; results are read back with
# skopeo and umoci.
source "$(dirname "$0")/lib.sh" "$1"

ARM64_BUSYBOX=/usr/local/share/kiln-test/arm64/busybox
[ -x "$ARM64_BUSYBOX" ] || fail "$ARM64_BUSYBOX is missing: run tools/setup"
binfmt_state() {
  { grep binfmt_misc /proc/self/mountinfo | awk '{print $5}'; ls -A /proc/sys/fs/binfmt_misc 2>/dev/null; } | sort | tr '\n' ' '
}
binfmt_before=$(binfmt_state)

python3 "$(dirname "$0")/multiarch_base.py" "$WORK/base" \
  linux/amd64=/bin/busybox linux/arm64="$ARM64_BUSYBOX"
start_registry reg ""
R=127.0.0.1:$PORT
skopeo copy -q --all --dest-tls-verify=false oci:"$WORK/base":multi docker://$R/busybox:multi

# A two-platform build with a RUN on each: an index of both, each image for its own machine.
mkdir -p "$WORK/two"
cat >"$WORK/two/Dockerfile" <<EOF2
FROM $R/busybox:multi
ARG TARGETPLATFORM TARGETARCH BUILDPLATFORM
RUN uname -m >/arch && echo "\$TARGETPLATFORM \$TARGETARCH \$BUILDPLATFORM" >/args
EOF2
"$KILN" build --platform linux/amd64,linux/arm64 -t two:1 --source-date-epoch 1700000000 \
  --tls-verify=false "$WORK/two" >"$WORK/two.out" 2>"$WORK/two.log" || fail "two-platform build: $(tail -5 "$WORK/two.log")"
grep -q "run under QEMU emulation" "$WORK/two.log" || fail "no note of emulation: $(cat "$WORK/two.log")"
grep -q '\[linux/arm64 stage-0' "$WORK/two.log" || fail "steps do not say their platform"
skopeo inspect --raw oci:"$KILN_ROOT":two:1 >"$WORK/two.json"
[ "$(jq -r .mediaType "$WORK/two.json")" = application/vnd.oci.image.index.v1+json ] || fail "not an index: $(cat "$WORK/two.json")"
[ "$(jq -r '[.manifests[].platform | .os + "/" + .architecture] | join(",")' "$WORK/two.json")" = linux/amd64,linux/arm64 ] ||
  fail "index platforms: $(cat "$WORK/two.json")"
check_platform() {  # ARCH UNAME: the image skopeo picks for ARCH ran its RUN on UNAME
  local arch=$1 uname=$2
  rm -rf "$WORK/l-$arch" "$WORK/u-$arch"
  skopeo copy -q --override-arch "$arch" oci:"$KILN_ROOT":two:1 oci:"$WORK/l-$arch":x
  [ "$(skopeo inspect --config oci:"$WORK/l-$arch":x | jq -r .architecture)" = "$arch" ] || fail "$arch config"
  umoci unpack --image "$WORK/l-$arch":x "$WORK/u-$arch" >/dev/null
  [ "$(cat "$WORK/u-$arch/rootfs/arch")" = "$uname" ] || fail "$arch RUN ran on $(cat "$WORK/u-$arch/rootfs/arch")"
  [ "$(cat "$WORK/u-$arch/rootfs/args")" = "linux/$arch $arch linux/amd64" ] || fail "$arch ARGs: $(cat "$WORK/u-$arch/rootfs/args")"
}
check_platform amd64 x86_64
check_platform arm64 aarch64
ok "a two-platform build is an index; each image's RUN ran on its own machine (arm64 under QEMU)"

"$KILN" images >"$WORK/images"
grep -E '^two:1 .*linux/amd64,linux/arm64' "$WORK/images" >/dev/null || fail "images: $(cat "$WORK/images")"
[ "$("$KILN" inspect two:1 | jq -c .platforms)" = '["linux/amd64","linux/arm64"]' ] || fail "inspect platforms"
[ "$("$KILN" inspect --platform linux/arm64 two:1 | jq -r .config.architecture)" = arm64 ] || fail "inspect --platform"
ok "images and inspect show the index's platforms"

# Cached per platform: a second build runs nothing, and gives the same index.
first=$(cat "$WORK/two.out")
again=$("$KILN" build --platform linux/amd64,linux/arm64 -t two:1 --source-date-epoch 1700000000 \
  --tls-verify=false "$WORK/two" 2>"$WORK/again.log") || fail "rebuild: $(tail -3 "$WORK/again.log")"
grep -q "(0 steps run, 2 cached)" "$WORK/again.log" || fail "rebuild ran steps: $(tail -2 "$WORK/again.log")"
[ "$again" = "$first" ] || fail "the rebuilt index differs"
fresh=$("$KILN" build --no-cache --platform linux/amd64,linux/arm64 --source-date-epoch 1700000000 \
  --tls-verify=false "$WORK/two" 2>"$WORK/fresh.log") || fail "no-cache rebuild: $(tail -3 "$WORK/fresh.log")"
[ "$fresh" = "$first" ] || fail "a --no-cache rebuild made another index: $fresh, not $first"
# One platform alone: a plain image, equal to that platform's image in the index; amd64 and
# arm64 never share a step (the arm64 build alone reuses only arm64's).
one=$("$KILN" build --platform linux/arm64 -t one:1 --source-date-epoch 1700000000 \
  --tls-verify=false "$WORK/two" 2>"$WORK/one.log") || fail "one-platform build: $(tail -3 "$WORK/one.log")"
grep -q "(0 steps run, 1 cached)" "$WORK/one.log" || fail "arm64 alone did not reuse its steps: $(tail -2 "$WORK/one.log")"
[ "$(skopeo inspect --raw oci:"$KILN_ROOT":one:1 | jq -r .mediaType)" = application/vnd.oci.image.manifest.v1+json ] || fail "one platform is not a plain image"
[ "$one" = "$(jq -r '.manifests[1].digest' "$WORK/two.json")" ] || fail "the arm64 image differs from the index's"
ok "steps are cached per platform and reproducible (--no-cache: the same index); one --platform is a plain image, the same as in the index"

# Pushed: the registry holds the index, skopeo reads each platform from it.
"$KILN" build --platform linux/amd64,linux/arm64 -t $R/app:multi --push --tls-verify=false \
  --source-date-epoch 1700000000 "$WORK/two" >/dev/null 2>"$WORK/push.log" || fail "push: $(tail -3 "$WORK/push.log")"
skopeo inspect --raw --tls-verify=false docker://$R/app:multi >"$WORK/pushed.json"
cmp -s "$WORK/pushed.json" "$WORK/two.json" || fail "the pushed index differs from the store's"
[ "$(skopeo inspect --tls-verify=false --override-arch arm64 docker://$R/app:multi | jq -r .Architecture)" = arm64 ] || fail "registry arm64"
ok "--push sends the index to docker-registry; skopeo --override-arch reads each image"

# kiln copy keeps working on a built index: --all copies both, --platform one.
"$KILN" copy --all oci:"$KILN_ROOT":two:1 oci:"$WORK/all":two >/dev/null
[ "$(skopeo inspect --raw oci:"$WORK/all":two | jq '.manifests | length')" = 2 ] || fail "copy --all"
"$KILN" copy --platform linux/arm64 two:1 oci:"$WORK/arm":two >/dev/null
[ "$(skopeo inspect --raw oci:"$WORK/arm":two | jq -r .config.digest)" = "$(skopeo inspect --raw oci:"$WORK/l-arm64":x | jq -r .config.digest)" ] || fail "copy --platform"
oci-image-tool validate --type image "$WORK/arm" >/dev/null || fail "the copied arm64 image is not a valid OCI image"
ok "kiln copy --all and --platform of a built index"

# A cross-compiling stage: FROM --platform=$BUILDPLATFORM runs natively, its output copied into
# each target's stage.
mkdir -p "$WORK/cross"
cat >"$WORK/cross/Dockerfile" <<EOF2
FROM --platform=\$BUILDPLATFORM $R/busybox:multi AS build
ARG TARGETARCH
RUN echo "built on \$(uname -m) for \$TARGETARCH" >/out
FROM $R/busybox:multi
COPY --from=build /out /out
RUN uname -m >/arch
EOF2
"$KILN" build --platform linux/amd64,linux/arm64 -t cross:1 --tls-verify=false "$WORK/cross" \
  >/dev/null 2>"$WORK/cross.log" || fail "cross build: $(tail -5 "$WORK/cross.log")"
rm -rf "$WORK/c" "$WORK/cu"
"$KILN" copy --platform linux/arm64 cross:1 oci:"$WORK/c":x >/dev/null
umoci unpack --image "$WORK/c":x "$WORK/cu" >/dev/null
[ "$(cat "$WORK/cu/rootfs/out")" = "built on x86_64 for arm64" ] || fail "cross stage: $(cat "$WORK/cu/rootfs/out")"
[ "$(cat "$WORK/cu/rootfs/arch")" = aarch64 ] || fail "target stage ran on $(cat "$WORK/cu/rootfs/arch")"
ok "FROM --platform=\$BUILDPLATFORM runs natively and feeds each target's stage"

# --output type=local of a multi-platform build: one directory per platform, as BuildKit's.
"$KILN" build --platform linux/amd64,linux/arm64 --tls-verify=false -o "type=local,dest=$WORK/files" \
  "$WORK/two" >/dev/null 2>"$WORK/files.log" || fail "local output: $(tail -3 "$WORK/files.log")"
[ "$(cat "$WORK/files/linux_arm64/arch")" = aarch64 ] && [ "$(cat "$WORK/files/linux_amd64/arch")" = x86_64 ] ||
  fail "local output: $(ls "$WORK/files")"
ok "--output type=local writes linux_amd64/ and linux_arm64/"

# Attestations: each platform's image beside its own attestation manifest, in one index.
"$KILN" build --platform linux/amd64,linux/arm64 --provenance -t att:1 --tls-verify=false \
  --source-date-epoch 1700000000 "$WORK/two" >/dev/null 2>"$WORK/att.log" || fail "attested build: $(tail -3 "$WORK/att.log")"
skopeo inspect --raw oci:"$KILN_ROOT":att:1 >"$WORK/att.json"
[ "$(jq -r '[.manifests[] | .platform.architecture] | join(",")' "$WORK/att.json")" = amd64,unknown,arm64,unknown ] ||
  fail "attested index: $(cat "$WORK/att.json")"
for i in 0 2; do
  [ "$(jq -r ".manifests[$((i + 1))].annotations[\"vnd.docker.reference.digest\"]" "$WORK/att.json")" = \
    "$(jq -r ".manifests[$i].digest" "$WORK/att.json")" ] || fail "attestation $i does not name its image"
done
[ "$(jq -r '.manifests[0].digest + .manifests[2].digest' "$WORK/att.json")" = \
  "$(jq -r '.manifests[0].digest + .manifests[1].digest' "$WORK/two.json")" ] || fail "attested images differ from the plain build's"
ok "--provenance with two platforms: each image beside its attestation manifest, images unchanged"

# A platform the base lacks: one error naming what the index has, nothing tagged.
expect_fail 1 'no image for platform linux/s390x in the index \(it has: linux/amd64, linux/arm64\)' \
  "$KILN" build --platform linux/s390x -t none:1 --tls-verify=false "$WORK/two"
"$KILN" images | grep -q '^none:1 ' && fail "a failed build tagged its image"
expect_fail 1 '--platform: invalid platform "linux/"' "$KILN" build --platform linux/ "$WORK/two"
expect_fail 1 'names linux/arm64 twice' "$KILN" build --platform linux/arm64,linux/aarch64 "$WORK/two"
ok "a platform missing from the base, a bad or repeated --platform: one clear error"

# --userns=host runs steps in the host's user namespace: kiln will not register there, and
# the host has no handler, so the build stops before any step with what to do.
if ! grep -qs aarch64 /proc/sys/fs/binfmt_misc/*; then
  expect_fail 1 'RUN for linux/arm64 runs under QEMU emulation: with --userns=host' \
    "$KILN" build --platform linux/arm64 --userns=host --no-cache --tls-verify=false "$WORK/two"
  ok "--userns=host without a host handler: one error saying what to install"
fi

[ "$(binfmt_state)" = "$binfmt_before" ] || fail "the host's binfmt_misc changed: $(binfmt_state) (was $binfmt_before)"
ok "the host's binfmt_misc is as it was"
finish
