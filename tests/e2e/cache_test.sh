#!/usr/bin/env bash
# The build cache shared through a registry (Debian's docker-registry on loopback) and an OCI
# layout: "machine A" and "machine B" are two stores with no files in common. B builds what A
# exported without running a step, fetches only the layers it needs, re-runs only what a
# changed file touches; concurrent exports leave a valid cache; caches that are broken, hostile
# or gone are misses with a warning, never an error or another image.
source "$(dirname "$0")/lib.sh"

start_registry reg ""
R=127.0.0.1:$PORT
app_context "$WORK/app"

# counts ROOT BUILD_ARGS...: builds with --progress json; prints "RUN CACHED DIGEST" and keeps
# the event stream (stderr) in $WORK/events.
counts() {
  local root=$1
  shift
  "$KILN" --root "$root" build --progress json "$@" >"$WORK/stdout" 2>"$WORK/events" ||
    fail "build $* in $root: $(tail -3 "$WORK/events")"
  jq -r 'select(.event == "built") | "\(.steps_run) \(.steps_cached) \(.digest)"' "$WORK/events"
}
messages() { jq -r 'select(.event == "message") | .text' "$WORK/events"; }

# --- A exports, B builds it all from the cache ------------------------------------------------
read -r run cached A_DIGEST < <(counts "$WORK/a" -t app:1 --cache-to "type=registry,ref=$R/cache/app:main,mode=max" "$WORK/app")
[ "$run" = 9 ] && [ "$cached" = 0 ] || fail "A's first build: $run run, $cached cached"
skopeo inspect --raw --tls-verify=false "docker://$R/cache/app:main" >"$WORK/cache.json"
[ "$(jq -r .config.mediaType "$WORK/cache.json")" = application/vnd.buildkit.cacheconfig.v0 ] ||
  fail "cache manifest config: $(jq -c .config "$WORK/cache.json")"
jq -e '[.layers[] | .annotations["containerd.io/uncompressed"] | startswith("sha256:")] | all' \
  "$WORK/cache.json" >/dev/null || fail "a cached layer lacks its DiffID annotation"
skopeo copy -q --src-tls-verify=false "docker://$R/cache/app:main" "oci:$WORK/cache-copy:x" >/dev/null ||
  fail "skopeo cannot copy the cache image"
ok "A exports its cache as an OCI manifest of BuildKit's cache config, which skopeo copies"

read -r run cached digest < <(counts "$WORK/b" -t app:1 --cache-from "type=registry,ref=$R/cache/app:main" "$WORK/app")
[ "$run" = 0 ] || fail "B ran $run steps"
[ "$digest" = "$A_DIGEST" ] || fail "B made $digest, A made $A_DIGEST"
"$KILN" --root "$WORK/b" copy -q app:1 "oci:$WORK/b-out:x" >/dev/null
umoci unpack --image "$WORK/b-out:x" "$WORK/b-bundle" >/dev/null
[ "$(cat "$WORK/b-bundle/rootfs/srv/app/whoami")" = app ] || fail "B's image lacks what RUN made"
ok "B's first build runs no step and makes A's image digest; umoci unpacks it"

echo "changed" >"$WORK/app/src/one.txt"
read -r run cached digest < <(counts "$WORK/b" -t app:2 --cache-from "type=registry,ref=$R/cache/app:main" "$WORK/app")
ran=$(jq -r 'select(.event == "done") | .step' "$WORK/events" | sort -n | head -1)
copy_step=$(jq -r 'select(.event == "start" and (.instruction | startswith("COPY --chown=app:app src/"))) | .step' "$WORK/events")
[ -n "$copy_step" ] || fail "no COPY src step in the events: $(head -c 400 "$WORK/events")"
[ "$ran" = "$copy_step" ] || fail "B re-ran from step $ran, the changed COPY is step $copy_step"
# The file system steps before it came from the cache (config-only steps are not counted).
before=$(jq -r --argjson c "$copy_step" 'select(.event == "start" and .step < $c and
  (.instruction | test("^(RUN|COPY|ADD|WORKDIR)"))) | .step' "$WORK/events" | wc -l)
[ "$cached" = "$before" ] || fail "B cached $cached steps before the COPY (step $copy_step), want $before"
[ "$digest" != "$A_DIGEST" ] || fail "a changed file made the same image"
ok "a changed source file re-runs B's build from its COPY only ($cached cached, $run run)"
rm -rf "$WORK/app" && app_context "$WORK/app"

# --- a fully cached build pushed straight on downloads no layer ---------------------------------
LAYERS=$("$KILN" --root "$WORK/a" inspect app:1 | jq -r '.manifest.layers[].digest')
# layer_gets: how many GETs of the image's layer blobs the registry has served so far.
layer_gets() {
  local n=0 d
  for d in $LAYERS; do n=$((n + $(grep -c "GET /v2/[^ ]*/blobs/$d" "$WORK/reg/log" || true))); done
  echo "$n"
}
g0=$(layer_gets)
read -r run _ digest < <(counts "$WORK/p" -t "$R/app/pushed:1" --push --cache-from "type=registry,ref=$R/cache/app:main" "$WORK/app")
[ "$run" = 0 ] && [ "$digest" = "$A_DIGEST" ] || fail "the pushing runner: $run run, $digest"
[ "$(layer_gets)" = "$g0" ] || fail "pushing a fully cached build downloaded $(($(layer_gets) - g0)) layers"
pushed=$(skopeo inspect --raw --tls-verify=false "docker://$R/app/pushed:1" | sha256sum | cut -d' ' -f1)
[ "sha256:$pushed" = "$A_DIGEST" ] || fail "the registry holds sha256:$pushed, want $A_DIGEST"
for d in $LAYERS; do [ ! -e "$WORK/p/blobs/sha256/${d#sha256:}" ] || fail "layer $d was downloaded"; done
"$KILN" --root "$WORK/p" fsck | grep -q 'layers are not local' || fail "fsck does not report the remote layers"
ok "a fully cached --push mounts every layer from the cache's repository: none downloaded"
# The store still serves the image: what reads its layers fetches them from their origin.
"$KILN" --root "$WORK/p" copy -q "$R/app/pushed:1" "oci:$WORK/p-out:x" >/dev/null || fail "copy of the lazy image"
umoci unpack --image "$WORK/p-out:x" "$WORK/p-bundle" >/dev/null
[ "$(cat "$WORK/p-bundle/rootfs/srv/app/whoami")" = app ] || fail "the lazy image's files"
[ "$(layer_gets)" -gt "$g0" ] || fail "the copy read no layer from the registry"
"$KILN" --root "$WORK/p" fsck | grep -q 'layers are not local' && fail "fsck still reports remote layers after the copy"
start_registry other ""
O=127.0.0.1:$PORT
rm -rf "$WORK/p2"
read -r run _ _ < <(counts "$WORK/p2" -t "$O/app/elsewhere:1" --push --cache-from "type=registry,ref=$R/cache/app:main" "$WORK/app")
[ "$run" = 0 ] || fail "the second pushing runner ran $run steps"
[ "sha256:$(skopeo inspect --raw --tls-verify=false "docker://$O/app/elsewhere:1" | sha256sum | cut -d' ' -f1)" = "$A_DIGEST" ] ||
  fail "a push to another registry made another image"
skopeo copy -q --src-tls-verify=false "docker://$O/app/elsewhere:1" "oci:$WORK/o-out:x" >/dev/null ||
  fail "skopeo cannot copy what was pushed to the other registry"
ok "then reading it fetches the layers from their origin; a push to another registry streams them"

# --- laziness, and min against max -------------------------------------------------------------
mkdir -p "$WORK/two"
head -c 3000000 /dev/urandom >"$WORK/two/big.bin"
echo small >"$WORK/two/small.txt"
cat >"$WORK/two/Dockerfile" <<'DF'
FROM scratch AS tools
COPY big.bin /big.bin
COPY small.txt /small.txt
FROM scratch
COPY --from=tools /small.txt /small.txt
DF
read -r _ _ A2 < <(counts "$WORK/a" -t two:1 --cache-to "type=registry,ref=$R/cache/two:max,mode=max" \
  --cache-to "type=registry,ref=$R/cache/two:min" "$WORK/two")
big=$(skopeo inspect --raw --tls-verify=false "docker://$R/cache/two:max" |
  jq -r '.layers[] | select(.size > 2000000) | .digest' | cut -d: -f2)
[ -n "$big" ] || fail "the max cache lacks the big layer"
skopeo inspect --raw --tls-verify=false "docker://$R/cache/two:min" | jq -e --arg b "sha256:$big" \
  '[.layers[].digest] | index($b) == null' >/dev/null || fail "the min cache holds the tools stage's layer"
read -r run _ digest < <(counts "$WORK/lazy" -t two:1 --cache-from "type=registry,ref=$R/cache/two:max" "$WORK/two")
[ "$run" = 0 ] && [ "$digest" = "$A2" ] || fail "max cache: $run run, $digest (want $A2)"
[ ! -e "$WORK/lazy/blobs/sha256/$big" ] || fail "B downloaded the tools stage's layer it never used"
ok "with mode=max B runs nothing and never downloads the layer of a stage it only copies from"
read -r run _ digest < <(counts "$WORK/min" -t two:1 --cache-from "type=registry,ref=$R/cache/two:min" "$WORK/two")
[ "$run" = 2 ] && [ "$digest" = "$A2" ] || fail "min cache: $run run (want 2, the tools stage), $digest"
ok "mode=min carries the final stage only: B re-runs the tools stage and makes the same image"

# --- a local cache (an OCI layout), and the first --cache-from that has a record wins -------
read -r _ _ _ < <(counts "$WORK/a" -t app:1 --cache-to "type=local,dest=$WORK/layout-cache,mode=max" "$WORK/app")
[ -f "$WORK/layout-cache/index.json" ] || fail "no layout at dest"
read -r run _ digest < <(counts "$WORK/c" -t app:1 --cache-from "type=registry,ref=$R/cache/none:x" \
  --cache-from "type=local,src=$WORK/layout-cache" "$WORK/app")
[ "$run" = 0 ] && [ "$digest" = "$A_DIGEST" ] || fail "local cache: $run run, $digest"
messages | grep -q "cache $R/cache/none:x not used" || fail "no warning for the missing cache: $(messages)"
ok "type=local exports an OCI layout another store builds from; a missing cache is a warning"

# --- two exporters at once: last writer wins, nothing corrupt --------------------------------
mkdir -p "$WORK/x1" "$WORK/x2"
for n in 1 2; do
  printf 'FROM scratch\nCOPY f /f\nCOPY g /g\n' >"$WORK/x$n/Dockerfile"
  echo "f$n" >"$WORK/x$n/f"
  head -c 500000 /dev/urandom >"$WORK/x$n/g"
done
for round in 1 2 3; do
  writers=()
  for n in 1 2; do
    "$KILN" --root "$WORK/w$n" build -q --no-cache -t x:1 --cache-to "type=registry,ref=$R/cache/shared:x,mode=max" \
      --cache-to "type=local,dest=$WORK/shared-layout,mode=max" "$WORK/x$n" >"$WORK/w$n.out" 2>&1 &
    writers+=($!)
  done
  wait "${writers[@]}" || true
  for n in 1 2; do grep -q '^sha256:' "$WORK/w$n.out" || fail "exporter $n failed: $(cat "$WORK/w$n.out")"; done
  rm -rf "$WORK/v"
  hits=0
  for n in 1 2; do
    for from in "type=registry,ref=$R/cache/shared:x" "type=local,src=$WORK/shared-layout"; do
      read -r run _ digest < <(counts "$WORK/v$round$n${from%%,*}" -t x:1 --cache-from "$from" "$WORK/x$n")
      [ "$digest" = "$("$KILN" --root "$WORK/w$n" inspect x:1 | jq -r .digest)" ] || fail "round $round: x$n built another image"
      ! messages | grep -q "not used" || fail "round $round: the shared cache is unreadable: $(messages)"
      [ "$run" = 0 ] && hits=$((hits + 1))
    done
  done
  [ "$hits" = 2 ] || fail "round $round: $hits of 4 builds ran nothing, want 2 (one writer per cache)"
done
ok "two builders exporting to one ref and one layout at once leave a valid cache (last writer wins)"

# --- broken and hostile caches are misses -----------------------------------------------------
# put_blob REPO FILE: uploads FILE to the registry; prints its digest.
put_blob() {
  local d loc
  d=sha256:$(sha256sum "$2" | cut -d' ' -f1)
  loc=$(curl -sfi -X POST "http://$R/v2/$1/blobs/uploads/" | tr -d '\r' | awk -F': ' 'tolower($1) == "location" {print $2}')
  case $loc in /*) loc=http://$R$loc ;; esac
  curl -sf -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$2" "$loc&digest=$d" >/dev/null ||
    fail "upload of $2 refused"
  echo "$d"
}
# put_cache TAG CONFIG_FILE [SIZE]: a manifest whose config (of the cache media type) is the file.
put_cache() {
  local d size=${3:-$(stat -c %s "$2")}
  d=$(put_blob cache/hostile "$2")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.buildkit.cacheconfig.v0","digest":"%s","size":%s},"layers":[]}' \
    "$d" "$size" >"$WORK/hostile.json"
  curl -sf -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
    --data-binary "@$WORK/hostile.json" "http://$R/v2/cache/hostile/manifests/$1" >/dev/null ||
    fail "registry refused manifest $1"
}
echo '{not json' >"$WORK/bad.json"
put_cache badjson "$WORK/bad.json"
python3 -c 'import json; print(json.dumps({"kiln": {"version": 1, "records": [{"name": "a"*64, "record": "x"*100}] * 200000}}))' >"$WORK/many.json"
put_cache many "$WORK/many.json"
echo '{"layers":[],"records":[]}' >"$WORK/bk.json"
put_cache huge "$WORK/bk.json" 1099511627776 2>/dev/null || true
"$KILN" --root "$WORK/a" push -q app:1 "$R/cache/hostile:image" >/dev/null
# A real cache whose blobs are then deleted from the registry.
"$KILN" --root "$WORK/a" build -q -t app:1 --cache-to "type=registry,ref=$R/cache/gone:x,mode=max" "$WORK/app" >/dev/null
for d in $(skopeo inspect --raw --tls-verify=false "docker://$R/cache/gone:x" | jq -r '.layers[].digest'); do
  curl -sf -X DELETE "http://$R/v2/cache/gone/blobs/$d" >/dev/null || fail "cannot delete $d"
done
for from in cache/hostile:badjson cache/hostile:many cache/hostile:huge cache/hostile:image cache/gone:x; do
  rm -rf "$WORK/h"
  read -r run _ digest < <(counts "$WORK/h" -t app:1 --cache-from "type=registry,ref=$R/$from" "$WORK/app")
  [ "$digest" = "$A_DIGEST" ] || fail "$from: built $digest, want $A_DIGEST"
  case $from in
    # A readable cache whose blobs are gone: every step with a layer (the 9 that count) runs.
    cache/gone:x) [ "$run" = 9 ] || fail "$from: $run steps ran, want the 9 with layers" ;;
    *)
      [ "$run" = 9 ] || fail "$from: $run steps ran, want all 9"
      messages | grep -q "cache $R/$from not used" || fail "$from: no warning: $(messages)"
      ;;
  esac
done
ok "bad JSON, too many records, a huge config, an image, deleted blobs: each a miss, the same image"

# --- bad flags ------------------------------------------------------------------------------------
expect_fail 1 "cache-to type=gha,ref=x: unknown type" "$KILN" --root "$WORK/a" build --cache-to type=gha,ref=x "$WORK/app"
expect_fail 1 "mode must be min or max" "$KILN" --root "$WORK/a" build --cache-to "type=registry,ref=$R/c:x,mode=all" "$WORK/app"
expect_fail 1 "compression=zstd differs" "$KILN" --root "$WORK/a" build --compression gzip \
  --cache-to "type=registry,ref=$R/c:x,compression=zstd" "$WORK/app"
ok "bad --cache-to values are one clear error each"
finish
