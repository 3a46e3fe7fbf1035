#!/usr/bin/env bash
# --build-context NAME=VALUE, with the cases of BuildKit's named-context tests: an image
# (from the store, a registry, an OCI layout, or scratch) standing in for a base image or a
# whole stage, a directory (its .dockerignore applied) for COPY --from, FROM and RUN --mount,
# a git repository, and one clear error for each bad spec.
source "$(dirname "$0")/lib.sh"

start_registry reg ""
R=127.0.0.1:$PORT

# Two images of the host's busybox, made by kiln from scratch: "busybox", and "alpine" (it
# has /etc/alpine-release, as the image BuildKit's tests substitute has).
mkdir -p "$WORK/bb/bin"
cp /bin/busybox "$WORK/bb/bin/busybox"
ln -s busybox "$WORK/bb/bin/sh"
ln -s busybox "$WORK/bb/bin/cat"
echo 3.19.1 >"$WORK/bb/alpine-release"
printf 'FROM scratch\nCOPY bin/ /bin/\n' >"$WORK/bb/Dockerfile.busybox"
printf 'FROM scratch\nCOPY bin/ /bin/\nCOPY alpine-release /etc/\n' >"$WORK/bb/Dockerfile.alpine"
"$KILN" build -q -t busybox -f "$WORK/bb/Dockerfile.busybox" "$WORK/bb" >/dev/null
"$KILN" build -q -t alpine -f "$WORK/bb/Dockerfile.alpine" "$WORK/bb" >/dev/null

# build DIR OUT ARGS...: builds DIR's Dockerfile, the image's files written to OUT.
build() {
  local dir=$1 out=$2
  shift 2
  rm -rf "$out"
  "$KILN" build -q -o "type=local,dest=$out" "$@" "$dir" >"$WORK/build.out" 2>"$WORK/build.err" ||
    fail "build $dir $*: $(cat "$WORK/build.err")"
}

# --- an image for a base image, and for a stage -------------------------------------------------
mkdir -p "$WORK/img"
cat >"$WORK/img/Dockerfile" <<'DF'
FROM busybox AS base
RUN cat /etc/alpine-release > /out
FROM scratch
COPY --from=base /out /
DF
build "$WORK/img" "$WORK/out1" --build-context busybox=docker-image://alpine
[ "$(cat "$WORK/out1/out")" = 3.19.1 ] || fail "FROM busybox did not use alpine: $(ls -a "$WORK/out1")"
expect_fail 1 'No such file' "$KILN" build -q "$WORK/img"
ok "docker-image:// stands in for the base image of its name (and only with --build-context)"

# An image with its own ENV, from a registry: the stage sees it.
mkdir -p "$WORK/envimg"
printf 'FROM alpine:latest\nENV PATH=/foobar:$PATH\nENV FOOBAR=foobar\n' >"$WORK/envimg/Dockerfile"
"$KILN" build -q -t "$R/kiln/namedenv:latest" --push --tls-verify=false "$WORK/envimg" >/dev/null 2>"$WORK/push.err" ||
  fail "pushing the ENV image: $(cat "$WORK/push.err")"
"$KILN" rmi "$R/kiln/namedenv:latest" >/dev/null
cat >"$WORK/envimg/Dockerfile.use" <<'DF'
FROM busybox AS base
RUN cat /etc/alpine-release > /out
RUN env | grep PATH > /env_path
RUN env | grep FOOBAR > /env_foobar
FROM scratch
COPY --from=base /out /
COPY --from=base /env_path /
COPY --from=base /env_foobar /
DF
build "$WORK/envimg" "$WORK/out2" -f "$WORK/envimg/Dockerfile.use" --tls-verify=false \
  --build-context "busybox=docker-image://$R/kiln/namedenv:latest"
[ "$(cat "$WORK/out2/env_foobar")" = FOOBAR=foobar ] || fail "env_foobar: $(cat "$WORK/out2/env_foobar")"
grep -q '/foobar:' "$WORK/out2/env_path" || fail "env_path: $(cat "$WORK/out2/env_path")"
[ -s "$WORK/out2/out" ] || fail "the registry image's files are missing"
ok "a registry image as a named context brings its ENV into the stage"

# A stage replaced: its own instructions do not run, what builds on it gets the image.
cat >"$WORK/envimg/Dockerfile.stage" <<'DF'
FROM busybox AS parent
FROM parent AS base
RUN echo base > /out
FROM base
RUN [ -f /etc/alpine-release ]
RUN [ ! -f /out ]
RUN echo "$FOOBAR" > /from-env
DF
build "$WORK/envimg" "$WORK/out3" -f "$WORK/envimg/Dockerfile.stage" --tls-verify=false \
  --build-context "base=docker-image://$R/kiln/namedenv:latest"
[ "$(cat "$WORK/out3/from-env")" = foobar ] || fail "the replaced stage's image ENV: $(cat "$WORK/out3/from-env")"
[ ! -e "$WORK/out3/out" ] || fail "the replaced stage's RUN ran"
ok "a stage of the context's name is replaced, stages built on it get the image"

# docker-image://scratch: an empty base.
mkdir -p "$WORK/scr"
printf 'FROM busybox AS build\nCOPY <<EOT /out\nhello world!\nEOT\n' >"$WORK/scr/Dockerfile"
build "$WORK/scr" "$WORK/out4" --build-context busybox=docker-image://scratch
[ "$(ls -A "$WORK/out4")" = out ] || fail "scratch context: $(ls -A "$WORK/out4")"
[ "$(cat "$WORK/out4/out")" = "hello world!" ] || fail "scratch context: out is $(cat "$WORK/out4/out")"
ok "docker-image://scratch gives an empty base"

# --- an OCI layout -----------------------------------------------------------------------------
mkdir -p "$WORK/oci-src"
cat >"$WORK/oci-src/Dockerfile" <<'DF'
FROM busybox:latest
WORKDIR /test
RUN sh -c "echo -n first > out"
RUN sh -c "echo -n second > out2"
ENV foo=bar
DF
"$KILN" build -q -o "oci:$WORK/layout:v1" "$WORK/oci-src" >/dev/null
digest=$(jq -r '.manifests[0].digest' "$WORK/layout/index.json")
mkdir -p "$WORK/oci-use"
cat >"$WORK/oci-use/Dockerfile" <<'DF'
FROM busybox AS base
RUN cat /etc/alpine-release > out

FROM foo AS imported
RUN echo -n $foo > outfoo

FROM scratch
COPY --from=base /test/o* /
COPY --from=imported /test/outfoo /
DF
build "$WORK/oci-use" "$WORK/out5" --build-context "base=oci-layout://$WORK/layout@$digest" \
  --build-context "foo=oci-layout://$WORK/layout@$digest"
[ "$(cat "$WORK/out5/out")" = first ] && [ "$(cat "$WORK/out5/out2")" = second ] ||
  fail "the layout's files: $(ls -A "$WORK/out5")"
[ "$(cat "$WORK/out5/outfoo")" = bar ] || fail "the layout image's ENV: $(cat "$WORK/out5/outfoo")"
build "$WORK/oci-use" "$WORK/out5b" --build-context "base=oci-layout://$WORK/layout:v1" \
  --build-context "foo=oci-layout://$WORK/layout"
[ "$(cat "$WORK/out5b/outfoo")" = bar ] || fail "a layout by tag / its only image"
ok "oci-layout:// by digest, by tag and as the layout's only image"

# --- a directory -------------------------------------------------------------------------------
mkdir -p "$WORK/dirctx" "$WORK/dir-use"
echo dummy-result >"$WORK/dirctx/out"
echo ignored >"$WORK/dirctx/out2"
echo out2 >"$WORK/dirctx/.dockerignore"
chown 1234:1234 "$WORK/dirctx/out"
cat >"$WORK/dir-use/Dockerfile" <<'DF'
FROM busybox AS base
RUN cat /etc/alpine-release > /out
FROM scratch
COPY --from=base /o* /
DF
build "$WORK/dir-use" "$WORK/out6" --build-context "base=$WORK/dirctx"
[ "$(cat "$WORK/out6/out")" = dummy-result ] || fail "the directory's out: $(ls -A "$WORK/out6")"
[ ! -e "$WORK/out6/out2" ] || fail "the directory's .dockerignore was not applied"
ok "a directory replaces a stage (its .dockerignore applied)"

cat >"$WORK/dir-use/Dockerfile.more" <<'DF'
FROM busybox AS uses
COPY --from=files out /copied
RUN --mount=from=files,target=/m cat /m/out > /mounted
FROM files AS tree
FROM uses
COPY --from=tree / /tree/
RUN stat -c %u:%g /tree/out > /owner
DF
"$KILN" build -q -t dirs:1 -f "$WORK/dir-use/Dockerfile.more" --build-context "files=$WORK/dirctx" \
  "$WORK/dir-use" >/dev/null 2>"$WORK/build.err" || fail "dirs: $(cat "$WORK/build.err")"
"$KILN" copy -q dirs:1 "oci:$WORK/dirs:x" >/dev/null
umoci unpack --image "$WORK/dirs:x" "$WORK/dirs-bundle" >/dev/null
r=$WORK/dirs-bundle/rootfs
[ "$(cat "$r/tree/out")" = dummy-result ] && [ ! -e "$r/tree/out2" ] || fail "FROM a directory: $(ls -A "$r/tree")"
[ "$(cat "$r/owner")" = 0:0 ] || fail "a directory's files should be root's, got $(cat "$r/owner")"
"$KILN" build --progress json -t dirs:2 -f "$WORK/dir-use/Dockerfile.more" \
  --build-context "files=$WORK/dirctx" "$WORK/dir-use" >/dev/null 2>"$WORK/events"
[ "$(jq -r 'select(.event == "built") | .steps_run' "$WORK/events")" = 0 ] ||
  fail "an unchanged directory context re-ran steps"
echo changed >"$WORK/dirctx/out"
"$KILN" build -q -t dirs:3 -f "$WORK/dir-use/Dockerfile.more" --build-context "files=$WORK/dirctx" \
  "$WORK/dir-use" >/dev/null
"$KILN" copy -q dirs:3 "oci:$WORK/dirs:y" >/dev/null
umoci unpack --image "$WORK/dirs:y" "$WORK/dirs-bundle3" >/dev/null
[ "$(cat "$WORK/dirs-bundle3/rootfs/copied")" = changed ] && [ "$(cat "$WORK/dirs-bundle3/rootfs/mounted")" = changed ] ||
  fail "a changed file of the directory context was not seen"
echo dummy-result >"$WORK/dirctx/out"
ok "a directory for COPY --from, RUN --mount from= and FROM: root's files, cached, keyed by content"

# --- a git repository --------------------------------------------------------------------------
mkdir -p "$WORK/gitsrc/sub"
echo from-git >"$WORK/gitsrc/sub/out"
git init -q -b main "$WORK/gitsrc"
git -C "$WORK/gitsrc" add -A
git -C "$WORK/gitsrc" -c user.name=t -c user.email=t@t commit -qm one
build "$WORK/dir-use" "$WORK/out7" --build-context "base=file://$WORK/gitsrc#main:sub"
[ "$(cat "$WORK/out7/out")" = from-git ] || fail "git named context: $(ls -A "$WORK/out7")"
ok "a git repository as a named context (#ref:subdir)"

# --- bad specs ---------------------------------------------------------------------------------
expect_fail 1 'want NAME=VALUE' "$KILN" build -q --build-context busybox "$WORK/img"
expect_fail 1 '"scratch" cannot be replaced' "$KILN" build -q --build-context scratch=docker-image://alpine "$WORK/img"
expect_fail 1 'is not a directory' "$KILN" build -q --build-context "base=$WORK/nonexistent" "$WORK/img"
expect_fail 1 'unsupported context source "https://"' "$KILN" build -q --build-context base=https://example.invalid/x.tar.gz "$WORK/img"
expect_fail 1 'is not an OCI layout' "$KILN" build -q --build-context "base=oci-layout://$WORK/dirctx" "$WORK/img"
expect_fail 1 'invalid context name' "$KILN" build -q --build-context "Base=$WORK/dirctx" "$WORK/img"
expect_fail 1 'given twice' "$KILN" build -q --build-context "base=$WORK/dirctx" --build-context "base=$WORK/dirctx" "$WORK/img"
expect_fail 1 'no image sha256:0000' "$KILN" build -q --build-context "busybox=oci-layout://$WORK/layout@sha256:$(printf '0%.0s' $(seq 64))" "$WORK/img"
ok "bad --build-context specs: one clear error each"

finish
