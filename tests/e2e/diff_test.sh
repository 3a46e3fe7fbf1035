#!/usr/bin/env bash
# kiln diff on two images and on two layer files, checked against diffoscope's reading of the
# same layer tars; kiln build --check-reproducible and --check-against, passing and failing.
source "$(dirname "$0")/lib.sh" "$1"

ctx=$WORK/ctx
mkdir -p "$ctx/bin"
cp /bin/busybox "$ctx/bin/busybox"
base='FROM scratch
COPY bin/busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]'
# Two images whose last layers differ in one way each.
cat >"$ctx/a.Dockerfile" <<EOF
$base
RUN mkdir /d && printf 'one\ntwo\nthree\n' >/d/text && echo x >/d/mode && echo x >/d/owner \\
 && echo x >/d/time && touch -t 202001010000 /d/time && ln -s one /d/link && echo gone >/d/removed \\
 && printf '\0\1' >/d/binary
EOF
cat >"$ctx/b.Dockerfile" <<EOF
$base
RUN mkdir /d && printf 'one\n2\nthree\n' >/d/text && echo x >/d/mode && chmod 600 /d/mode \\
 && echo x >/d/owner && chown 1:2 /d/owner && echo x >/d/time && touch -t 202101010000 /d/time \\
 && ln -s two /d/link && echo new >/d/added && printf '\0\2' >/d/binary
EOF
build() { "$KILN" build -q --source-date-epoch 1700000000 "$@"; }
build -t diff:a -f "$ctx/a.Dockerfile" "$ctx" >/dev/null
build -t diff:b -f "$ctx/b.Dockerfile" "$ctx" >/dev/null

rc=0
"$KILN" diff diff:a diff:b >"$WORK/diff.txt" || rc=$?
[ "$rc" = 1 ] || fail "kiln diff of differing images exited $rc, want 1"
for line in 'layer 1/3: same' 'layer 2/3: same' 'layer 3/3: differs' 'content /d/text' 'mode /d/mode: 0644 -> 0600' \
  'owner /d/owner: 0:0 -> 1:2' 'mtime /d/time: 2020-01-01T00:00:00Z -> 2021-01-01T00:00:00Z' \
  'link target /d/link: one -> two' 'added /d/added' 'removed /d/removed' 'content /d/binary' \
  '      -two' '      +2' '1 of 3 layers differ (8 files); the configs differ at 2 places'; do
  grep -qF -- "$line" "$WORK/diff.txt" || fail "kiln diff lacks '$line': $(cat "$WORK/diff.txt")"
done
grep -q -- '--- a/d/binary' "$WORK/diff.txt" && fail "a binary file got a text diff"
"$KILN" diff diff:a diff:a >"$WORK/same.txt" || fail "kiln diff of an image with itself failed"
grep -q '^identical: sha256:' "$WORK/same.txt" || fail "identical images: $(cat "$WORK/same.txt")"
# Any location: the store against an OCI layout.
"$KILN" copy diff:a "oci:$WORK/layout:a" >/dev/null
"$KILN" diff diff:a "oci:$WORK/layout:a" >/dev/null || fail "store vs OCI layout of the same image"
rc=0
"$KILN" diff --format json "oci:$WORK/layout:a" diff:b >"$WORK/diff.json" || rc=$?
[ "$rc" = 1 ] || fail "kiln diff --format json exited $rc"
jq -e '.identical == false and .layers[1].same and (.layers[2].same | not)
  and ([.layers[2].files[] | select(.path == "/d/mode") | .kinds[]] == ["mode"])
  and ([.layers[2].files[] | select(.path == "/d/owner") | .b.uid] == [1])
  and ([.layers[2].files[] | select(.path == "/d/added") | .a] == [null])
  and ([.layers[2].files[] | select(.path == "/d/text") | .diff | test("\\+2")] == [true])
  and (.config | index("/rootfs/diff_ids/2") != null)' "$WORK/diff.json" >/dev/null ||
  fail "kiln diff --format json: $(cat "$WORK/diff.json")"
ok "kiln diff: images in the store and a layout, every kind of difference, text diffs, json, exit codes"

# The same two layers as tar files, read by kiln diff and by diffoscope.
layer_tar() {  # IMAGE OUT: the image's last layer, uncompressed
  local d
  d=$("$KILN" inspect "$1" | jq -r '.manifest.layers[-1].digest')
  zcat "$KILN_ROOT/blobs/sha256/${d#sha256:}" >"$2"
}
layer_tar diff:a "$WORK/a.tar"
layer_tar diff:b "$WORK/b.tar"
rc=0
"$KILN" diff --format json "$WORK/a.tar" "$WORK/b.tar" >"$WORK/layers.json" || rc=$?
[ "$rc" = 1 ] || fail "kiln diff of two layer files exited $rc"
jq -r '.files[].path' "$WORK/layers.json" | sort >"$WORK/kiln.paths"
rc=0
diffoscope --json "$WORK/diffoscope.json" "$WORK/a.tar" "$WORK/b.tar" >/dev/null 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "diffoscope exited $rc"
# diffoscope: a member of its own per file whose content differs, and the file list (tar -tv
# lines) for the rest.
/usr/bin/python3 - "$WORK/diffoscope.json" >"$WORK/diffoscope.paths" <<'EOF'
import json, re, sys
doc = json.load(open(sys.argv[1]))
paths = set()
for d in doc.get("details", []):
    if d["source1"] == "file list":
        for line in d["unified_diff"].splitlines():
            if line[:1] in "+-" and not line.startswith(("+++", "---")):
                m = re.search(r"\d\d:\d\d:\d\d(?:\.\d+)? (.+?)(?: -> .*)?$", line)
                if m:
                    paths.add("/" + m.group(1).rstrip("/"))
    else:
        paths.add("/" + d["source1"])
print("\n".join(sorted(paths)))
EOF
diff "$WORK/kiln.paths" "$WORK/diffoscope.paths" >&2 ||
  fail "kiln diff and diffoscope disagree on which files differ (< kiln, > diffoscope)"
jq -e '[.files[] | select(.path == "/d/text") | .kinds[]] == ["content"]' "$WORK/layers.json" >/dev/null ||
  fail "layer files: /d/text"
ok "kiln diff of two layer tars names the files diffoscope names ($(wc -l <"$WORK/kiln.paths") of them)"

# Extended attributes, in layers written by GNU tar.
mkdir -p "$WORK/xa/x" "$WORK/xb/x"
echo same >"$WORK/xa/x/f"
echo same >"$WORK/xb/x/f"
touch -d @1600000000 "$WORK/xa/x/f" "$WORK/xb/x/f" "$WORK/xa/x" "$WORK/xb/x"
/usr/bin/python3 -c "import os,sys; os.setxattr(sys.argv[1], 'user.origin', b'b')" "$WORK/xb/x/f" ||
  fail "setting a user xattr"
tar --xattrs --numeric-owner -C "$WORK/xa" -cf "$WORK/xa.tar" x
tar --xattrs --numeric-owner -C "$WORK/xb" -cf "$WORK/xb.tar" x
rc=0
"$KILN" diff "$WORK/xa.tar" "$WORK/xb.tar" >"$WORK/xattr.txt" || rc=$?
[ "$rc" = 1 ] && grep -qx 'xattr /x/f: none -> user.origin' "$WORK/xattr.txt" ||
  fail "xattr difference: rc $rc, $(cat "$WORK/xattr.txt")"
expect_fail 1 'compares two images or two layer files' "$KILN" diff "$WORK/xa.tar" diff:a
expect_fail 1 'not-there' "$KILN" diff diff:a not-there:1
ok "kiln diff: xattrs; a file against an image and a missing image are one clear error"

# --check-reproducible: a deterministic build passes; one that writes a random id fails with the
# account of the difference.
app_context "$WORK/app"
"$KILN" build -t app:1 --check-reproducible "$WORK/app" >"$WORK/check.out" 2>&1 ||
  fail "--check-reproducible of the example app: $(tail -5 "$WORK/check.out")"
grep -q '^reproducible: a second build in a scratch store is the same image$' "$WORK/check.out" ||
  fail "no reproducible verdict: $(tail -3 "$WORK/check.out")"
printf 'FROM app:1\nUSER root\nRUN cat /proc/sys/kernel/random/uuid >/stamp && echo kept >/same\n' >"$WORK/app/stamp.Dockerfile"
rc=0
"$KILN" build -q -t stamp:1 -f "$WORK/app/stamp.Dockerfile" --check-reproducible "$WORK/app" \
  >"$WORK/stamp.out" 2>"$WORK/stamp.err" || rc=$?
[ "$rc" = 1 ] || fail "--check-reproducible of a build that writes a random id exited $rc"
tail -n 1 "$WORK/stamp.err" | grep -qx 'kiln: not reproducible: this build and a second build in a scratch store differ: 1 of [0-9]* layers differ (1 file); the configs differ at 1 place' ||
  fail "the failure's summary: $(tail -n 1 "$WORK/stamp.err")"
grep -q '^  content /stamp: ' "$WORK/stamp.err" || fail "the failure names /stamp: $(cat "$WORK/stamp.err")"
# The scratch store is gone.
[ -z "$(ls "$KILN_ROOT/run" | grep check- || true)" ] || fail "a scratch store was left: $(ls "$KILN_ROOT/run")"
ok "--check-reproducible: passes for the example app, fails with the diff for a build that writes a random id"

# --check-against: the same build against an image copied away earlier, and another one.
"$KILN" copy app:1 "oci:$WORK/layout:app" >/dev/null
"$KILN" build -q --no-cache --check-against "oci:$WORK/layout:app" "$WORK/app" >/dev/null 2>"$WORK/against.err" ||
  fail "--check-against the same build: $(cat "$WORK/against.err")"
rc=0
"$KILN" build -q --build-arg GREETING=bye --check-against "oci:$WORK/layout:app" "$WORK/app" \
  >/dev/null 2>"$WORK/against.err" || rc=$?
[ "$rc" = 1 ] && tail -n 1 "$WORK/against.err" | grep -q "^kiln: not reproducible: this build and oci:$WORK/layout:app differ: " ||
  fail "--check-against a different image: rc $rc, $(tail -n 2 "$WORK/against.err")"
grep -q 'content /srv/app/greeting' "$WORK/against.err" || fail "--check-against: the greeting's difference"
ok "--check-against: the same image passes, a different one fails naming the file"

echo "$PASSED passed"
