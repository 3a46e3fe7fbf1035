#!/usr/bin/env bash
# Registry mirrors: registries.conf's [[registry.mirror]] entries and --registry-mirror, with
# two (and more) of Debian's docker-registry on loopback. Pulls go to mirrors first and fall
# back to the registry; the image digest is the same whichever serves it; pull-from-mirror,
# prefixes that rewrite locations, and blocked registries are honoured; `kiln build` pulls its
# base image the same way. push, pull and copy report in JSON (--progress json) too.
source "$(dirname "$0")/lib.sh"

start_registry primary ""
P=127.0.0.1:$PORT
start_registry mirror ""
M=127.0.0.1:$PORT
start_registry empty ""
E=127.0.0.1:$PORT
CLOSED=127.0.0.1:$(free_port)
# No registries.conf of the host's applies unless a test names one.
export CONTAINERS_REGISTRIES_CONF=$WORK/none.conf
: >"$CONTAINERS_REGISTRIES_CONF"

# The image, pushed to the primary and (the same bytes) to the mirror.
mkdir -p "$WORK/img/bin"
cp /bin/busybox "$WORK/img/bin/busybox"
ln -s busybox "$WORK/img/bin/sh"
printf 'FROM scratch\nCOPY bin/ /bin/\nENV FROM=image\n' >"$WORK/img/Dockerfile"
"$KILN" build -q -t "$P/kiln/app:1" --push --tls-verify=false "$WORK/img" >"$WORK/digest" 2>"$WORK/err" ||
  fail "push to the primary: $(cat "$WORK/err")"
DIGEST=$(cat "$WORK/digest")
"$KILN" push -q --tls-verify=false "$P/kiln/app:1" "docker://$M/kiln/app:1" >/dev/null 2>"$WORK/err" ||
  fail "push to the mirror: $(cat "$WORK/err")"

# manifest_gets NAME: how many manifest GETs registry NAME has served so far.
manifest_gets() { grep -c '"GET /v2/[^ ]*/manifests/' "$WORK/$1/log" || true; }
# pulled FROM_REGISTRY ARGS...: pulls with a fresh store; checks the digest and that registry
# FROM_REGISTRY (primary/mirror) and no other served the manifest.
pulled() {
  local want=$1 p0 m0
  shift
  p0=$(manifest_gets primary)
  m0=$(manifest_gets mirror)
  rm -rf "$WORK/s"
  got=$("$KILN" --root "$WORK/s" pull --progress plain "$@" 2>"$WORK/pull.err") || fail "pull $*: $(cat "$WORK/pull.err")"
  [ "$got" = "$DIGEST" ] || fail "pull $* gave $got, want $DIGEST"
  local dp=$(($(manifest_gets primary) - p0)) dm=$(($(manifest_gets mirror) - m0))
  case $want in
  primary) [ "$dp" -gt 0 ] && [ "$dm" = 0 ] || fail "pull $*: primary served $dp, mirror $dm (want the primary)" ;;
  mirror) [ "$dm" -gt 0 ] && [ "$dp" = 0 ] || fail "pull $*: primary served $dp, mirror $dm (want the mirror)" ;;
  esac
}

cat >"$WORK/mirrors.conf" <<CONF
unqualified-search-registries = ["docker.io"]

[[registry]]
prefix = "$P"
location = "$P"

[[registry.mirror]]
location = "$CLOSED"   # nothing listens here

[[registry.mirror]]
location = "$E"        # up, but without the image

[[registry.mirror]]
location = "$M"
insecure = true
CONF
pulled mirror --registries-conf "$WORK/mirrors.conf" "$P/kiln/app:1"
grep -q "reading $P/kiln/app:1 from mirror $M/kiln/app:1" "$WORK/pull.err" ||
  fail "the pull does not say which mirror served it: $(cat "$WORK/pull.err")"
grep -q "mirror $CLOSED/kiln/app:1 failed" "$WORK/pull.err" || fail "the closed mirror's failure is not reported"
CONTAINERS_REGISTRIES_CONF=$WORK/mirrors.conf pulled mirror "$P/kiln/app:1"
pulled mirror --registries-conf "$WORK/mirrors.conf" "$P/kiln/app@$DIGEST"
ok "registries.conf mirrors: a closed and an empty mirror are skipped, the third serves the same digest"

sed "s/^location = \"$M\"/location = \"$E\"/" "$WORK/mirrors.conf" >"$WORK/nomirror.conf"
pulled primary --registries-conf "$WORK/nomirror.conf" "$P/kiln/app:1"
ok "when no mirror has the image the registry itself serves it"

cat >"$WORK/digest-only.conf" <<CONF
[[registry]]
location = "$P"
[[registry.mirror]]
location = "$M"
pull-from-mirror = "digest-only"
CONF
pulled primary --registries-conf "$WORK/digest-only.conf" "$P/kiln/app:1"
pulled mirror --registries-conf "$WORK/digest-only.conf" "$P/kiln/app@$DIGEST"
ok "pull-from-mirror = digest-only: tags from the registry, digests from the mirror"

# A prefix whose location rewrites the reference; the store keeps the name asked for.
cat >"$WORK/rewrite.conf" <<CONF
[[registry]]
prefix = "registry.invalid/team"
location = "$P/kiln"

[[registry]]
prefix = "$P/secret"
blocked = true
CONF
pulled primary --registries-conf "$WORK/rewrite.conf" registry.invalid/team/app:1
"$KILN" --root "$WORK/s" images | grep -q 'registry.invalid/team/app' || fail "the store lacks the name pulled: $("$KILN" --root "$WORK/s" images)"
expect_fail 1 "blocked by \[\[registry\]\] $P/secret" "$KILN" --root "$WORK/s" pull --registries-conf "$WORK/rewrite.conf" "$P/secret/app:1"
ok "a prefix's location rewrites the reference; a blocked registry is refused"

# --registry-mirror: for docker.io by default (unreachable here: only the mirror can serve it).
pulled mirror --registry-mirror "$M" kiln/app:1
pulled mirror --registry-mirror "$P=$M" "$P/kiln/app:1"
pulled mirror --registry-mirror "$P=$CLOSED" --registries-conf "$WORK/mirrors.conf" "$P/kiln/app:1"
expect_fail 1 'want \[PREFIX=\]HOST' "$KILN" pull --registry-mirror "ftp://x" kiln/app:1
ok "--registry-mirror for docker.io and for a prefix, tried before the file's mirrors"

# kiln build pulls its base through the mirror and says so.
mkdir -p "$WORK/use"
printf 'FROM %s/kiln/app:1\nRUN echo "$FROM" > /from\n' "$P" >"$WORK/use/Dockerfile"
m0=$(manifest_gets mirror)
"$KILN" --root "$WORK/b" build --progress plain --registry-mirror "$P=$M" -t use:1 "$WORK/use" >"$WORK/build.out" 2>&1 ||
  fail "build through the mirror: $(tail -5 "$WORK/build.out")"
grep -q "from mirror $M/kiln/app:1" "$WORK/build.out" || fail "the build does not say it used the mirror: $(cat "$WORK/build.out")"
[ $(($(manifest_gets mirror) - m0)) -gt 0 ] || fail "the mirror served no manifest to the build"
printf 'FROM %s/kiln/app@%s\nRUN echo "$FROM" > /from\n' "$P" "$DIGEST" >"$WORK/use/Dockerfile.pinned"
"$KILN" --root "$WORK/b2" build -q --registry-mirror "$P=$M" -t pinned:1 -f "$WORK/use/Dockerfile.pinned" "$WORK/use" >/dev/null 2>"$WORK/err" ||
  fail "a base pinned by digest: $(cat "$WORK/err")"
"$KILN" --root "$WORK/b2" images | grep -q "kiln/app@$DIGEST" || fail "the pinned base is not in the store by its digest"
ok "kiln build pulls its base image from the mirror (by tag, and pinned by digest)"

# --progress json of push, pull and copy: every line an event, the last "done" or "error".
all_json() { jq -e . "$1" >/dev/null 2>&1 || fail "$2: a line of stderr is not JSON: $(cat "$1")"; }
"$KILN" push --progress json --tls-verify=false "$P/kiln/app:1" "docker://$E/json/app:1" >"$WORK/out" 2>"$WORK/ev" ||
  fail "push --progress json: $(cat "$WORK/ev")"
all_json "$WORK/ev" push
[ "$(jq -r 'select(.event == "blob" and .state == "copied") | .digest' "$WORK/ev" | wc -l)" -ge 2 ] ||
  fail "push events lack copied blobs: $(cat "$WORK/ev")"
[ "$(tail -1 "$WORK/ev" | jq -r '.event + " " + .digest')" = "done $(cat "$WORK/out")" ] ||
  fail "push's last event: $(tail -1 "$WORK/ev")"
rm -rf "$WORK/s"
"$KILN" --root "$WORK/s" pull --progress json --registry-mirror "$P=$CLOSED" --registry-mirror "$P=$M" "$P/kiln/app:1" >"$WORK/out" 2>"$WORK/ev" ||
  fail "pull --progress json: $(cat "$WORK/ev")"
all_json "$WORK/ev" pull
jq -se 'any(.[]; .event == "message" and (.text | test("from mirror")))' "$WORK/ev" >/dev/null ||
  fail "pull's mirror message is not an event: $(cat "$WORK/ev")"
[ "$(tail -1 "$WORK/ev" | jq -r .event)" = done ] || fail "pull's last event: $(tail -1 "$WORK/ev")"
"$KILN" --root "$WORK/s" copy --progress json "$P/kiln/app:1" "oci:$WORK/json-layout:x" >/dev/null 2>"$WORK/ev" ||
  fail "copy --progress json: $(cat "$WORK/ev")"
all_json "$WORK/ev" copy
[ "$(tail -1 "$WORK/ev" | jq -r .event)" = done ] || fail "copy's last event: $(tail -1 "$WORK/ev")"
"$KILN" pull --progress json "$P/kiln/app:nope" >/dev/null 2>"$WORK/ev" && fail "pulled a missing tag"
all_json "$WORK/ev" "failed pull"
[ "$(tail -1 "$WORK/ev" | jq -r '.event + " " + .code')" = "error NOT_FOUND" ] ||
  fail "a failed pull's last event: $(cat "$WORK/ev")"
ok "push, pull and copy --progress json: blob events, messages, and a last done or error event"

# A broken registries.conf is one error naming file:line.
printf '[[registry]]\nlocation = "%s"\ninsecure = maybe\n' "$P" >"$WORK/bad.conf"
expect_fail 1 "bad.conf:3: unsupported value \"maybe\"" "$KILN" pull --registries-conf "$WORK/bad.conf" "$P/kiln/app:1"
CONTAINERS_REGISTRIES_CONF=$WORK/bad.conf expect_fail 1 'bad.conf:3' "$KILN" pull "$P/kiln/app:1"
ok "a broken registries.conf: one error with file:line"

finish
