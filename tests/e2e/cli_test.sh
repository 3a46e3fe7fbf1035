#!/usr/bin/env bash
# kiln's own verbs end to end: image and layer plumbing, reproducibility, errors.
source "$(dirname "$0")/lib.sh" "$1"

root=$WORK/rootfs
mkdir -p "$root/bin" "$root/etc"
cp /bin/busybox "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"

# Reproducible: two stores, same tree, same source date → same digests.
a=$(KILN_ROOT=$WORK/s1 "$KILN" image create "$root" -t repro:1 --cmd '["/bin/sh"]' --source-date-epoch 1700000000)
touch "$root/etc/passwd"
b=$(KILN_ROOT=$WORK/s2 "$KILN" image create "$root" -t repro:1 --cmd '["/bin/sh"]' --source-date-epoch 1700000000)
[ "$a" = "$b" ] || fail "image create is not reproducible: $a vs $b"
c=$(KILN_ROOT=$WORK/s3 SOURCE_DATE_EPOCH=1700000000 "$KILN" image create "$root" -t repro:1 --cmd '["/bin/sh"]')
[ "$a" = "$c" ] || fail "SOURCE_DATE_EPOCH is not honoured"
KILN_ROOT=$WORK/s1 "$KILN" inspect repro:1 | jq -e '.config.created == "2023-11-14T22:13:20Z"' >/dev/null \
  || fail "created is not the source date"
ok "image create is reproducible and honours the source date"

# umoci runs what kiln made.
"$KILN" image create "$root" -t run:1 --cmd '["/bin/sh"]' >/dev/null
"$KILN" copy run:1 "oci:$WORK/run:1" >/dev/null
umoci unpack --image "$WORK/run:1" "$WORK/bundle" >/dev/null
[ "$(chroot "$WORK/bundle/rootfs" /bin/sh -c 'echo hi from $0')" = "hi from /bin/sh" ] \
  || fail "the unpacked image does not run"
ok "an image from kiln image create unpacks with umoci and runs"

# layer create / extract, every compression; DiffID independent of compression.
declare -A diffids
for c in gzip zstd none; do
  desc=$("$KILN" layer create "$root" --compression "$c" --source-date-epoch 0)
  digest=$(jq -r .digest <<<"$desc")
  diffids[$c]=$(jq -r .diffID <<<"$desc")
  [ "$(sha256sum <"$KILN_ROOT/blobs/sha256/${digest#sha256:}" | cut -d' ' -f1)" = "${digest#sha256:}" ] \
    || fail "$c layer digest wrong"
  rm -rf "$WORK/x-$c"
  "$KILN" layer extract "$digest" "$WORK/x-$c" 2>/dev/null
  diff -r "$root" "$WORK/x-$c" || fail "$c layer does not extract to the same tree"
done
[ "${diffids[gzip]}" = "${diffids[zstd]}" ] && [ "${diffids[zstd]}" = "${diffids[none]}" ] \
  || fail "DiffID depends on compression"
gz=$(jq -r .digest <<<"$("$KILN" layer create "$root" --source-date-epoch 0)")
gzip -t <"$KILN_ROOT/blobs/sha256/${gz#sha256:}" || fail "GNU gzip rejects the gzip layer"
zstd -t -q <"$KILN_ROOT/blobs/sha256/$(jq -r .digest <<<"$("$KILN" layer create "$root" --compression zstd)" | cut -d: -f2)" \
  || fail "zstd rejects the zstd layer"
ok "layer create/extract round trip in gzip, zstd and none; standard tools read them"

# A layer from a tar file made by GNU tar, with a whiteout applied over a lower tree.
mkdir -p "$WORK/lower/etc" "$WORK/upper/etc"
echo keep >"$WORK/lower/etc/keep"
echo gone >"$WORK/lower/etc/gone"
touch "$WORK/upper/etc/.wh.gone"
tar -C "$WORK/upper" -czf "$WORK/upper.tgz" .
"$KILN" layer extract "$WORK/upper.tgz" "$WORK/lower" 2>/dev/null
[ -e "$WORK/lower/etc/keep" ] && [ ! -e "$WORK/lower/etc/gone" ] && [ ! -e "$WORK/lower/etc/.wh.gone" ] \
  || fail "whiteout not applied by layer extract"
ok "layer extract applies whiteouts from a GNU tar layer"

# The Dockerfile frontend from the command line.
mkdir -p "$WORK/df"
cat >"$WORK/df/Dockerfile" <<'XEOF'
ARG BASE=busybox
FROM ${BASE} AS build
ARG GREETING=hello
RUN echo $GREETING > /out
FROM scratch
COPY --from=build /out /greeting
XEOF
[ "$("$KILN" dockerfile dump "$WORK/df/Dockerfile" | head -2)" = '(arg "BASE=busybox")
(from "${BASE}" "AS" "build")' ] || fail "dockerfile dump"
"$KILN" dockerfile plan "$WORK/df/Dockerfile" --build-arg BASE=alpine:3 --build-arg GREETING=hi \
  | jq -e '.stages | length == 2 and .[0].base == "alpine:3" and .[0].name == "build"
           and .[0].instructions[0].args == ["GREETING=hi"] and .[1].instructions[0].flags.from == "build"' >/dev/null \
  || fail "dockerfile plan json"
"$KILN" dockerfile plan "$WORK/df/Dockerfile" --target build --format text | grep -q '^stage 0 (build): FROM busybox$' \
  || fail "dockerfile plan text"
# dump is the parser alone, which (as BuildKit's) takes unknown instructions and flags and a
# bare HEALTHCHECK; plan and build check them.
printf 'FROM busybox\nCOPPY a b\nCOPY --user=me a b\nHEALTHCHECK\n' >"$WORK/df/Bad"
[ "$("$KILN" dockerfile dump "$WORK/df/Bad")" = '(from "busybox")
(coppy "")
(copy ["--user=me"] "a" "b")
(healthcheck)' ] || fail "dockerfile dump of unchecked instructions: $("$KILN" dockerfile dump "$WORK/df/Bad" 2>&1)"
rc=0; "$KILN" dockerfile plan "$WORK/df/Bad" 2>"$WORK/df/err" || rc=$?
[ "$rc" = 1 ] && head -1 "$WORK/df/err" | grep -q "Bad:2:1: unknown instruction: COPPY (did you mean COPY?)" \
  || fail "dockerfile error: $(cat "$WORK/df/err")"
expect_fail 1 'target stage "nope" could not be found' "$KILN" dockerfile plan "$WORK/df/Dockerfile" --target nope
ok "kiln dockerfile dump and plan"

# Errors: one line, exit 1; usage errors exit 2.
expect_fail 1 'cannot reach registry 127.0.0.1:1' "$KILN" copy docker://127.0.0.1:1/x:1 x:1
expect_fail 1 'no image "nope:latest" in the store' "$KILN" inspect nope
expect_fail 1 'invalid reference' "$KILN" tag run:1 'Bad:Name'
expect_fail 1 'is not a directory' "$KILN" layer create /nonexistent
expect_fail 1 'is not an OCI image layout' "$KILN" copy "oci:$WORK" x:1
printf 'junk' >"$WORK/junk.tar"
expect_fail 1 'docker-archive' "$KILN" copy "docker-archive:$WORK/junk.tar" x:1
expect_fail 2 '' "$KILN" copy onlyone
expect_fail 2 '' "$KILN" layer create "$root" --compression brotli
expect_fail 2 '' "$KILN" frobnicate
"$KILN" copy --help | grep -q 'oci-archive' || fail "copy --help"
"$KILN" version | grep -q '^kiln ' || fail "version"
ok "bad input gets one clear line and the right exit code"

finish
