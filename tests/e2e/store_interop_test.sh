#!/usr/bin/env bash
# kiln's store and transports against real peers: umoci makes the source image; skopeo,
# umoci and oci-image-tool read what kiln writes.
source "$(dirname "$0")/lib.sh" "$1"

make_umoci_image
umoci unpack --image "$WORK/src:v2" "$WORK/ref" >/dev/null
tree_listing "$WORK/ref/rootfs" >"$WORK/ref.list"
[ ! -e "$WORK/ref/rootfs/data/old" ] || fail "umoci fixture lacks its whiteout"
src_digest=$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"]=="v2") | .digest' "$WORK/src/index.json")

# Import from an OCI layout made by another tool: bytes and digest kept.
got=$("$KILN" copy "oci:$WORK/src:v2" app:2)
[ "$got" = "$src_digest" ] || fail "import changed the digest: $got != $src_digest"
"$KILN" images | grep -q '^app:2 ' || fail "kiln images does not list app:2"
"$KILN" inspect app:2 | jq -e '.config.config.Cmd == ["/bin/sh"] and (.manifest.layers | length) == 2' >/dev/null \
  || fail "kiln inspect shows the wrong image"
ok "import from an umoci layout keeps the manifest digest"

# The store itself is an OCI layout other tools read.
skopeo inspect "oci:$KILN_ROOT:app:2" | jq -e --arg d "$src_digest" '.Digest == $d' >/dev/null \
  || fail "skopeo cannot read the store"
oci-image-tool validate --type image "$KILN_ROOT" >/dev/null || fail "store is not a valid layout"
ok "skopeo and oci-image-tool read the store directly"

# Export as an OCI layout: valid, same digest, same tree after umoci unpack.
got=$("$KILN" copy app:2 "oci:$WORK/out:v2")
[ "$got" = "$src_digest" ] || fail "export changed the digest"
oci-image-tool validate --type image "$WORK/out" >/dev/null || fail "exported layout invalid"
umoci unpack --image "$WORK/out:v2" "$WORK/unpacked" >/dev/null
tree_listing "$WORK/unpacked/rootfs" >"$WORK/out.list"
diff -u "$WORK/ref.list" "$WORK/out.list" || fail "unpacked trees differ"
[ -z "$(ls -A "$WORK/out" | grep -v -e '^blobs$' -e '^index.json$' -e '^oci-layout$')" ] \
  || fail "export left extra files: $(ls -A "$WORK/out")"
ok "OCI layout export validates and unpacks to the same tree (whiteout applied)"

# oci-archive out and back in.
"$KILN" copy app:2 "oci-archive:$WORK/img.tar:v2" >/dev/null
skopeo inspect "oci-archive:$WORK/img.tar:v2" | jq -e --arg d "$src_digest" '.Digest == $d' >/dev/null \
  || fail "skopeo cannot read kiln's oci-archive"
got=$("$KILN" copy "oci-archive:$WORK/img.tar:v2" fromarchive:1)
[ "$got" = "$src_digest" ] || fail "oci-archive round trip changed the digest"
ok "oci-archive round trip keeps the digest; skopeo reads it"

# docker-archive out: skopeo accepts it and the tree is the same.
"$KILN" copy app:2 "docker-archive:$WORK/docker.tar:app:2" >/dev/null
skopeo inspect "docker-archive:$WORK/docker.tar" | jq -e '.RepoTags == ["app:2"] or .Layers != null' >/dev/null \
  || fail "skopeo cannot inspect kiln's docker-archive"
skopeo copy -q "docker-archive:$WORK/docker.tar" "oci:$WORK/viaskopeo:x" >/dev/null
umoci unpack --image "$WORK/viaskopeo:x" "$WORK/viaskopeo-tree" >/dev/null
tree_listing "$WORK/viaskopeo-tree/rootfs" >"$WORK/viaskopeo.list"
diff -u "$WORK/ref.list" "$WORK/viaskopeo.list" || fail "docker-archive tree differs"
ok "docker-archive output is accepted by skopeo copy and unpacks to the same tree"

# docker-archive in, as skopeo writes it.
skopeo copy -q "oci:$WORK/src:v2" "docker-archive:$WORK/skopeo.tar:from/skopeo:1" >/dev/null
"$KILN" copy "docker-archive:$WORK/skopeo.tar" fromskopeo:1 >/dev/null
"$KILN" copy fromskopeo:1 "oci:$WORK/fromskopeo:1" >/dev/null
umoci unpack --image "$WORK/fromskopeo:1" "$WORK/fromskopeo-tree" >/dev/null
tree_listing "$WORK/fromskopeo-tree/rootfs" >"$WORK/fromskopeo.list"
diff -u "$WORK/ref.list" "$WORK/fromskopeo.list" || fail "skopeo docker-archive import differs"
ok "a docker-archive written by skopeo imports and exports unchanged"

# Names: tag, rmi, gc, fsck.
"$KILN" tag app:2 docker.io/library/app:latest
"$KILN" inspect app >/dev/null || fail "tag by full reference not found by short name"
"$KILN" rmi app:2 fromarchive:1 fromskopeo:1 >/dev/null
"$KILN" gc | grep -q '^removed [1-9]' || fail "gc removed nothing after rmi of fromskopeo"
"$KILN" fsck >/dev/null || fail "fsck after gc"
"$KILN" inspect app:latest >/dev/null || fail "gc removed a live image"
ok "tag, rmi, gc keep what is named and remove the rest"

# fsck catches a corrupted blob; the corrupted blob is not served.
layer=$("$KILN" inspect app:latest | jq -r '.manifest.layers[0].digest')
printf 'x' >>"$KILN_ROOT/blobs/sha256/${layer#sha256:}"
expect_fail 1 'damaged' "$KILN" fsck
grep -q "${layer}" "$WORK/.stdout" || fail "fsck does not name the corrupt blob"
expect_fail 1 'digest mismatch|does not match the expected' "$KILN" copy -q app:latest "oci:$WORK/bad:1"
expect_fail 1 'digest mismatch' "$KILN" layer extract "$layer" "$WORK/bad-extract"
ok "fsck reports a corrupted blob and nothing serves it"

finish
