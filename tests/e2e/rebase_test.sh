#!/usr/bin/env bash
# kiln rebase: an app moved onto a rebuilt base without a rebuild unpacks (umoci) to the new
# base plus the app's layers, and is the very image a full rebuild on the new base gives;
# kiln build records the base annotations rebase needs; refusals are one clear error.
source "$(dirname "$0")/lib.sh" "$1"

ctx=$WORK/ctx
mkdir -p "$ctx/bin" "$ctx/app"
cp /bin/busybox "$ctx/bin/busybox"
echo "hello from the app" >"$ctx/app/app.txt"
base_version() {
  cat >"$ctx/base.Dockerfile" <<EOF
FROM scratch
COPY bin/busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN mkdir -p /etc && echo "base $1" >/etc/base-release
ENV BASE_VERSION=$1
EOF
  "$KILN" build -q -t base:1 -f "$ctx/base.Dockerfile" "$ctx"
}
cat >"$ctx/app.Dockerfile" <<'EOF'
FROM base:1
COPY app/app.txt /app/app.txt
RUN echo built >/app/built && cat /etc/base-release >/app/built-on
ENV APP=1
CMD ["cat", "/app/app.txt"]
EOF
old_base=$(base_version 1)
"$KILN" copy base:1 "oci:$WORK/old-base:1" >/dev/null
"$KILN" build -q -t app:1 -f "$ctx/app.Dockerfile" "$ctx" >/dev/null
"$KILN" inspect app:1 | jq -e --arg d "$old_base" '.manifest.annotations == {
  "org.opencontainers.image.base.name": "docker.io/library/base:1",
  "org.opencontainers.image.base.digest": $d}' >/dev/null ||
  fail "kiln build's base annotations: $("$KILN" inspect app:1 | jq -c .manifest.annotations)"
# A stage built on a stage names the image at the bottom of the chain; scratch names none.
printf 'FROM base:1 AS mid\nRUN touch /mid\nFROM mid\nRUN touch /top\n' >"$ctx/chain.Dockerfile"
"$KILN" build -q -t chain:1 -f "$ctx/chain.Dockerfile" "$ctx" >/dev/null
[ "$("$KILN" inspect chain:1 | jq -r '.manifest.annotations["org.opencontainers.image.base.digest"]')" = "$old_base" ] ||
  fail "a stage on a stage: the base annotation"
[ "$("$KILN" inspect base:1 | jq -r '.manifest.annotations // {} | length')" = 0 ] ||
  fail "an image from scratch has base annotations"
ok "kiln build records org.opencontainers.image.base.name/.digest (through stages; none from scratch)"

# The base is rebuilt (its tag moves); the app is rebased onto it without a rebuild.
new_base=$(base_version 2)
[ "$new_base" != "$old_base" ] || fail "the base did not change"
"$KILN" rebase app:1 --onto base:1 -t app:rebased >"$WORK/rebase.out" 2>"$WORK/rebase.err" ||
  fail "kiln rebase: $(cat "$WORK/rebase.err")"
grep -q 'rebased app:1 onto base:1: 3 base layers, 2 of its own' "$WORK/rebase.err" ||
  fail "kiln rebase's report: $(cat "$WORK/rebase.err")"
rebased=$(cat "$WORK/rebase.out")
"$KILN" copy app:rebased "oci:$WORK/out:rebased" >/dev/null
(cd "$WORK" && umoci unpack --rootless --image out:rebased bundle >/dev/null) || fail "umoci unpack"
r=$WORK/bundle/rootfs
[ "$(cat "$r/etc/base-release")" = "base 2" ] || fail "the rebased image's base file: $(cat "$r/etc/base-release")"
[ "$(cat "$r/app/app.txt")" = "hello from the app" ] && [ "$(cat "$r/app/built")" = built ] ||
  fail "the app's layers are missing"
# The app's own layers are the very same blobs; it was not rebuilt (built-on says base 1).
[ "$(cat "$r/app/built-on")" = "base 1" ] || fail "the app's RUN layer was rebuilt"
"$KILN" inspect app:rebased >"$WORK/rebased.json"
"$KILN" inspect app:1 >"$WORK/app1.json"
[ "$(jq -c '.manifest.layers[-2:] | map(.digest)' "$WORK/rebased.json")" = \
  "$(jq -c '.manifest.layers[-2:] | map(.digest)' "$WORK/app1.json")" ] || fail "the app's layers changed"
jq -e --arg d "$new_base" '.manifest.annotations["org.opencontainers.image.base.digest"] == $d
  and (.config.rootfs.diff_ids | length) == 5 and (.config.history | length) == 8
  and .config.history[3].created_by == "ENV BASE_VERSION=2"
  and (.config.config.Env | index("APP=1") != null)' "$WORK/rebased.json" >/dev/null ||
  fail "the rebased config: $(jq -c '.manifest.annotations, .config.history' "$WORK/rebased.json")"
skopeo inspect "oci:$WORK/out:rebased" >/dev/null || fail "skopeo reads the rebased image"
ok "kiln rebase: new base's files, the app's own layers kept as they were, DiffIDs, history, annotations"

# A full rebuild on the new base, where the app's steps do not depend on the base's files,
# is the same image as the rebased one.
sed -i 's| && cat /etc/base-release >/app/built-on||' "$ctx/app.Dockerfile"
[ "$(base_version 1)" = "$old_base" ] || fail "the base is not reproducible"
"$KILN" build -q -t app:2 -f "$ctx/app.Dockerfile" "$ctx" >/dev/null
base_version 2 >/dev/null
rebased2=$("$KILN" rebase app:2 --onto base:1 -t app:2-rebased 2>/dev/null)
full=$("$KILN" build -q -t app:2-full -f "$ctx/app.Dockerfile" "$ctx")
"$KILN" diff app:2-rebased app:2-full >"$WORK/full.diff" ||
  fail "rebase vs full rebuild differ: $(cat "$WORK/full.diff")"
[ "$rebased2" = "$full" ] || fail "rebase gave $rebased2, a full rebuild $full"
ok "rebase onto the new base is the image a full rebuild gives ($full)"

# --from names the old base where the image names none, or another one.
"$KILN" rebase app:1 --from "oci:$WORK/old-base:1" --onto base:1 -t app:from >/dev/null 2>&1 ||
  fail "kiln rebase --from an OCI layout"
[ "$("$KILN" inspect app:from | jq -r .digest)" = "$rebased" ] || fail "--from gave another image"
expect_fail 1 'not built on the old base: its layer 4 ' "$KILN" rebase app:1 --from chain:1 --onto base:1 -t x:1
"$KILN" image create "$WORK/bundle/rootfs" -t plain:1 >/dev/null
expect_fail 1 'plain:1 does not name its base .*give --from' "$KILN" rebase plain:1 --onto base:1
expect_fail 1 'not-there' "$KILN" rebase app:1 --onto not-there:1 -t x:1
if "$KILN" inspect x:1 >/dev/null 2>&1; then fail "a refused rebase left an image"; fi
ok "kiln rebase: --from; not built on the base, no base named, no new base: one clear error, nothing made"

# A base from a registry: rebuilt and pushed again, the old one gone from the store (rmi, gc);
# rebase fetches the old base by the digest the annotation records.
start_registry reg ""
R=127.0.0.1:$PORT
base_version 1 >/dev/null
"$KILN" push -q base:1 "$R/lib/base:1" >/dev/null
sed "s|^FROM base:1|FROM $R/lib/base:1|" "$ctx/app.Dockerfile" >"$ctx/reg.Dockerfile"
"$KILN" build -q -t regapp:1 -f "$ctx/reg.Dockerfile" "$ctx" >/dev/null
[ "$("$KILN" inspect regapp:1 | jq -r '.manifest.annotations["org.opencontainers.image.base.name"]')" = "$R/lib/base:1" ] ||
  fail "a registry base's name annotation"
base_version 2 >/dev/null
"$KILN" push -q base:1 "$R/lib/base:1" >/dev/null
"$KILN" rmi "$R/lib/base:1" >/dev/null
"$KILN" gc >/dev/null
[ ! -e "$KILN_ROOT/blobs/sha256/${old_base#sha256:}" ] || fail "gc kept the old base's manifest"
"$KILN" rebase regapp:1 --onto "docker://$R/lib/base:1" -t regapp:rebased >/dev/null 2>"$WORK/reg.err" ||
  fail "rebase with the old base only in the registry: $(cat "$WORK/reg.err")"
"$KILN" copy regapp:rebased "oci:$WORK/out:reg" >/dev/null
(cd "$WORK" && umoci unpack --rootless --image out:reg regbundle >/dev/null) || fail "umoci unpack"
[ "$(cat "$WORK/regbundle/rootfs/etc/base-release")" = "base 2" ] || fail "registry rebase: the base file"
[ "$("$KILN" inspect regapp:rebased | jq -r '.manifest.annotations["org.opencontainers.image.base.name"]')" = "$R/lib/base:1" ] ||
  fail "the rebased image's base name"
ok "rebase onto a registry's new base, the old one fetched from the registry by its digest"

echo "$PASSED passed"
