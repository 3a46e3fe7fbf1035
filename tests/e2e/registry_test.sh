#!/usr/bin/env bash
# kiln against Debian's docker-registry on loopback, in every configuration a user meets: plain
# http, TLS with a private CA, htpasswd (Basic) auth, token auth (Docker Hub's flow, with a token
# issuer of the test's own), and a proxy injecting faults. skopeo proves interop both ways.
source "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
export REGISTRY_AUTH_FILE=$WORK/auth.json

# wait_port FILE: waits for a helper to write its port into FILE; prints it.
wait_port() {
  for _ in $(seq 100); do
    [ -s "$1" ] && { cat "$1"; return; }
    sleep 0.1
  done
  fail "helper did not start ($1)"
}

# unpacked_listing IMAGE_LOCATION: the tree umoci unpacks from an image kiln copies out.
unpacked_listing() {
  local dir=$WORK/unpack.$RANDOM
  "$KILN" copy -q "$1" "oci:$dir/layout:x" >/dev/null
  umoci unpack --image "$dir/layout:x" "$dir/bundle" >/dev/null
  tree_listing "$dir/bundle/rootfs"
}

make_umoci_image
"$KILN" copy -q "oci:$WORK/src:v2" app:1 >/dev/null
DIGEST=$("$KILN" inspect app:1 | jq -r .digest)
[ -n "$DIGEST" ] && [ "$DIGEST" != null ] || fail "no digest for app:1"
LOCAL_TREE=$(unpacked_listing app:1)

# --- plain http -------------------------------------------------------------------------
start_registry plain ""
R=127.0.0.1:$PORT
got=$("$KILN" push -q app:1 "$R/team/app:1")
[ "$got" = "$DIGEST" ] || fail "push printed $got, want $DIGEST"
got=$(skopeo inspect --tls-verify=false "docker://$R/team/app:1" | jq -r .Digest)
[ "$got" = "$DIGEST" ] || fail "skopeo sees $got"
skopeo copy -q --src-tls-verify=false "docker://$R/team/app:1" "oci:$WORK/sk:x" >/dev/null
umoci unpack --image "$WORK/sk:x" "$WORK/sk-bundle" >/dev/null
[ "$(tree_listing "$WORK/sk-bundle/rootfs")" = "$LOCAL_TREE" ] || fail "skopeo unpacks another tree"
ok "push over http: skopeo reads the same digest and unpacks the same tree"

skopeo copy -q --dest-tls-verify=false "oci:$WORK/src:v1" "docker://$R/skopeo/made:v1" >/dev/null
want=$(skopeo inspect --tls-verify=false "docker://$R/skopeo/made:v1" | jq -r .Digest)
got=$("$KILN" pull -q "$R/skopeo/made:v1")
[ "$got" = "$want" ] || fail "kiln pulled $got, skopeo pushed $want"
"$KILN" images | grep -q "$R/skopeo/made" || fail "pulled image not listed"
umoci unpack --image "$WORK/src:v1" "$WORK/v1-bundle" >/dev/null
[ "$(unpacked_listing "$R/skopeo/made:v1")" = "$(tree_listing "$WORK/v1-bundle/rootfs")" ] ||
  fail "pulled tree differs"
"$KILN" fsck >/dev/null || fail "fsck after pull"
ok "pull of a skopeo-pushed image: same digest, same tree, store sound"

# On a terminal: live per-blob lines (bytes, percentage, rate); otherwise plain lines.
export KILN_ROOT=$WORK/store-tty
TERM=xterm script -qec "'$KILN' pull $R/team/app:1" "$WORK/tty.out" >/dev/null
grep -qE '\[=*\s*\] +[0-9]+% .*B/s' "$WORK/tty.out" || fail "no live progress on a terminal: $(cat -v "$WORK/tty.out")"
grep -q "$(printf '\x1b')\[1A" "$WORK/tty.out" || fail "live lines are not redrawn"
"$KILN" pull "$R/team/app:1" 2>"$WORK/plain.err" >/dev/null
grep -q 'already present' "$WORK/plain.err" || fail "plain progress: $(cat "$WORK/plain.err")"
grep -q $'\x1b' "$WORK/plain.err" && fail "escape codes in plain progress"
export KILN_ROOT=$WORK/store
ok "progress: live per-blob view on a terminal, plain lines otherwise"

got=$("$KILN" copy -q "docker://$R/team/app:1" "docker://$R/other/app:2")
[ "$got" = "$DIGEST" ] || fail "registry copy changed the digest: $got"
[ "$(skopeo inspect --tls-verify=false "docker://$R/other/app:2" | jq -r .Digest)" = "$DIGEST" ] ||
  fail "copied image differs"
grep -q 'POST /v2/other/app/blobs/uploads/?mount=' "$WORK/plain/log" ||
  fail "registry copy did not mount blobs"
grep -qE '(PATCH|PUT) /v2/other/app/blobs/uploads' "$WORK/plain/log" && fail "registry copy uploaded blobs"
ok "registry-to-registry copy keeps the digest and mounts instead of uploading"

for t in a b c; do "$KILN" push -q app:1 "$R/team/app:$t" >/dev/null; done
[ "$("$KILN" tags "$R/team/app" | sort | tr '\n' ' ')" = "1 a b c " ] || fail "tags"
# Pushing again uploads nothing: every blob is already there.
before=$(grep -cE '(PATCH|PUT) /v2/team/app/blobs/uploads' "$WORK/plain/log")
[ "$before" -gt 0 ] || fail "no uploads seen in the registry log"
"$KILN" push -q app:1 "$R/team/app:1" >/dev/null
[ "$(grep -cE '(PATCH|PUT) /v2/team/app/blobs/uploads' "$WORK/plain/log")" = "$before" ] || fail "re-push uploaded blobs"
ok "tag listing; a re-push skips blobs the registry has"

expect_fail 1 'MANIFEST_UNKNOWN' "$KILN" pull "$R/team/app:nope"
expect_fail 1 'NAME_UNKNOWN|not found|MANIFEST_UNKNOWN' "$KILN" pull "$R/no/such:1"
expect_fail 1 'cannot reach registry 127.0.0.1:1' "$KILN" pull 127.0.0.1:1/x:1
ok "missing images and unreachable registries: one clear error"

# Index: push a two-platform index, pull selects the host's platform, copy keeps it whole.
"$KILN" copy -q "docker://$R/team/app:1" "oci:$WORK/multi:one" >/dev/null
M=$(jq -r '.manifests[0] | @json' "$WORK/multi/index.json")
jq --argjson m "$M" -n '{schemaVersion:2, mediaType:"application/vnd.oci.image.index.v1+json",
  manifests:[($m + {platform:{os:"linux",architecture:"amd64"}}),
             ($m + {platform:{os:"linux",architecture:"arm64"}})]}' >"$WORK/idx.json"
IDX=sha256:$(sha256sum <"$WORK/idx.json" | cut -d' ' -f1)
cp "$WORK/idx.json" "$WORK/multi/blobs/sha256/${IDX#sha256:}"
jq --arg d "$IDX" --arg s "$(stat -c %s "$WORK/idx.json")" '.manifests = [{mediaType:"application/vnd.oci.image.index.v1+json", digest:$d, size:($s|tonumber), annotations:{"org.opencontainers.image.ref.name":"multi"}}]' \
  "$WORK/multi/index.json" >"$WORK/multi/index.new" && mv "$WORK/multi/index.new" "$WORK/multi/index.json"
got=$("$KILN" copy -q "oci:$WORK/multi:multi" "docker://$R/team/multi:1")
[ "$got" = "$IDX" ] || fail "index pushed as $got, want $IDX"
[ "$(skopeo inspect --raw --tls-verify=false "docker://$R/team/multi:1" | sha256sum | cut -d' ' -f1)" = "${IDX#sha256:}" ] ||
  fail "registry holds other index bytes"
got=$("$KILN" pull -q --platform linux/arm64 "$R/team/multi:1")
[ "$got" = "$DIGEST" ] || fail "platform pull gave $got"
expect_fail 1 'no image for platform linux/s390x' "$KILN" pull --platform linux/s390x "$R/team/multi:1"
ok "multi-platform index pushed whole (exact bytes); pull selects a platform"

# Builds: FROM a registry image missing from the store pulls it; --push and --output docker://.
mkdir -p "$WORK/ctx"
printf 'FROM %s/team/app:1\nRUN echo built > /built\nCOPY f /f\n' "$R" >"$WORK/ctx/Dockerfile"
echo file >"$WORK/ctx/f"
export KILN_ROOT=$WORK/store-build
built=$("$KILN" build -q --push -t "$R/built/app:1" --output "docker://$R/built/out:2" "$WORK/ctx")
"$KILN" images | grep -q "$R/team/app" || fail "the base was not pulled into the store"
[ "$(skopeo inspect --tls-verify=false "docker://$R/built/app:1" | jq -r .Digest)" = "$built" ] ||
  fail "--push did not push $built"
[ "$(skopeo inspect --tls-verify=false "docker://$R/built/out:2" | jq -r .Digest)" = "$built" ] ||
  fail "--output docker:// did not push $built"
"$KILN" copy -q "docker://$R/built/app:1" "oci:$WORK/built:x" >/dev/null
umoci unpack --image "$WORK/built:x" "$WORK/built-bundle" >/dev/null
[ "$(cat "$WORK/built-bundle/rootfs/built")" = built ] || fail "RUN result missing"
[ -x "$WORK/built-bundle/rootfs/bin/busybox" ] || fail "base layers missing"
printf 'FROM %s/no/such:1\n' "$R" >"$WORK/ctx/Dockerfile.missing"
expect_fail 1 'base image .*no/such:1.*(MANIFEST_UNKNOWN|NAME_UNKNOWN|not found)' \
  "$KILN" build -q -f "$WORK/ctx/Dockerfile.missing" "$WORK/ctx"
export KILN_ROOT=$WORK/store
ok "build: FROM pulls a missing base, --push and --output docker:// push the result"

# --- TLS with a private CA ----------------------------------------------------------------
mkdir -p "$WORK/pki"
(
  cd "$WORK/pki"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 \
    -subj /CN=kiln-test-ca 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr \
    -subj /CN=127.0.0.1 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >ext.cnf
  openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
    -extfile ext.cnf -out server.crt 2>/dev/null
)
start_registry tls "  tls:
    certificate: $WORK/pki/server.crt
    key: $WORK/pki/server.key"
T=127.0.0.1:$PORT
mkdir -p "$WORK/certs.d/$T"
cp "$WORK/pki/ca.crt" "$WORK/certs.d/$T/ca.crt"
expect_fail 1 'certificate' "$KILN" push app:1 "$T/app:1" --cert-dir "$WORK/empty"
got=$("$KILN" push -q --cert-dir "$WORK/certs.d" app:1 "$T/app:1")
[ "$got" = "$DIGEST" ] || fail "TLS push gave $got"
got=$(skopeo inspect --cert-dir "$WORK/certs.d/$T" "docker://$T/app:1" | jq -r .Digest)
[ "$got" = "$DIGEST" ] || fail "skopeo over TLS sees $got"
got=$("$KILN" pull -q --tls-verify=false "$T/app:1")
[ "$got" = "$DIGEST" ] || fail "--tls-verify=false pull gave $got"
ok "TLS: an unknown CA is refused (no plain-http fallback), certs.d CA and --tls-verify=false work"

# --- htpasswd (Basic) -----------------------------------------------------------------------
htpasswd -Bbn alice s3cret >"$WORK/htpasswd"
start_registry basic "auth:
  htpasswd:
    realm: kiln-test
    path: $WORK/htpasswd"
B=127.0.0.1:$PORT
expect_fail 1 'requires a user name and password' "$KILN" push app:1 "$B/app:1"
expect_fail 1 'login to 127.0.0.1:[0-9]+: unauthorized: incorrect username or password' \
  sh -c "echo wrong | '$KILN' login -u alice --password-stdin $B"
[ ! -e "$REGISTRY_AUTH_FILE" ] || fail "a failed login wrote credentials"
echo s3cret | "$KILN" login -u alice --password-stdin "$B" | grep -q 'Login Succeeded' || fail login
jq -e --arg h "$B" '.auths[$h].auth' "$REGISTRY_AUTH_FILE" >/dev/null || fail "auth file entry"
got=$("$KILN" push -q app:1 "$B/app:1")
[ "$got" = "$DIGEST" ] || fail "basic push gave $got"
got=$(skopeo inspect --tls-verify=false --authfile "$REGISTRY_AUTH_FILE" "docker://$B/app:1" | jq -r .Digest)
[ "$got" = "$DIGEST" ] || fail "skopeo with kiln's auth file sees $got"
"$KILN" logout "$B" >/dev/null
expect_fail 1 'requires a user name and password' "$KILN" pull "$B/app:1"
got=$("$KILN" pull -q --creds alice:s3cret "$B/app:1")
[ "$got" = "$DIGEST" ] || fail "--creds pull gave $got"
ok "htpasswd: login/logout in docker's auth file (skopeo reads it), --creds, clear refusals"

# Blob downloads redirected to another host (object storage) get no credentials.
rm -f "$WORK/proxy.port"
$PY "$HERE/fault_proxy.py" "$WORK/proxy.port" "${B#127.0.0.1:}" redirect 2>"$WORK/proxy-redirect.log" &
PIDS+=($!)
RP=127.0.0.1:$(wait_port "$WORK/proxy.port")
export KILN_ROOT=$WORK/store-redirect
got=$("$KILN" pull -q --creds alice:s3cret "$RP/app:1")
export KILN_ROOT=$WORK/store
[ "$got" = "$DIGEST" ] || fail "pull through redirects gave $got"
grep -q 'fault: redirect' "$WORK/proxy-redirect.log" || fail "no redirect happened"
grep -q 'fault: leak' "$WORK/proxy-redirect.log" && fail "credentials were sent to the redirect host"
ok "blob redirects to another host are followed without forwarding Authorization"

# --- token auth (Docker Hub's flow) -------------------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/pki/token.key" \
  -out "$WORK/pki/token.crt" -days 2 -subj /CN=kiln-token 2>/dev/null
$PY "$HERE/token_server.py" "$WORK/token.port" "$WORK/pki/token.key" "$WORK/pki/token.crt" \
  "bob:hunter2" 2>"$WORK/token.log" &
PIDS+=($!)
TP=$(wait_port "$WORK/token.port")
start_registry token "auth:
  token:
    realm: http://127.0.0.1:$TP/token
    service: kiln-test
    issuer: kiln-test-issuer
    rootcertbundle: $WORK/pki/token.crt"
K=127.0.0.1:$PORT
expect_fail 1 'UNAUTHORIZED|DENIED|401' "$KILN" push app:1 "$K/private/app:1"
expect_fail 1 'authentication to 127.0.0.1:[0-9]+ failed' "$KILN" push --creds bob:wrong app:1 "$K/private/app:1"
got=$("$KILN" push -q --creds bob:hunter2 app:1 "$K/private/app:1")
[ "$got" = "$DIGEST" ] || fail "token push gave $got"
"$KILN" push -q --creds bob:hunter2 app:1 "$K/public/app:1" >/dev/null
got=$("$KILN" pull -q "$K/public/app:1")
[ "$got" = "$DIGEST" ] || fail "anonymous pull of public gave $got"
expect_fail 1 'UNAUTHORIZED|DENIED|401' "$KILN" pull "$K/private/app:1"
got=$(skopeo inspect --tls-verify=false --creds bob:hunter2 "docker://$K/private/app:1" | jq -r .Digest)
[ "$got" = "$DIGEST" ] || fail "skopeo with token auth sees $got"
got=$("$KILN" copy -q --creds bob:hunter2 "docker://$K/private/app:1" "docker://$K/private/copy:1")
[ "$got" = "$DIGEST" ] || fail "token copy gave $got"
grep -q 'mount=' "$WORK/token/log" || fail "no mount under token auth"
echo hunter2 | "$KILN" login -u bob --password-stdin "$K" >/dev/null || fail "token login"
got=$("$KILN" pull -q "$K/private/app:1")
[ "$got" = "$DIGEST" ] || fail "pull after token login gave $got"
ok "token auth: scoped tokens for pull/push/mount, anonymous public pulls, refusals, login"

# --- faults ---------------------------------------------------------------------------------
start_registry faulty ""
U=$PORT
"$KILN" push -q app:1 "127.0.0.1:$U/app:1" >/dev/null
proxy() {
  rm -f "$WORK/proxy.port"
  $PY "$HERE/fault_proxy.py" "$WORK/proxy.port" "$U" "$1" 2>"$WORK/proxy-$1.log" &
  PIDS+=($!)
  P=127.0.0.1:$(wait_port "$WORK/proxy.port")
}
fresh_store() { export KILN_ROOT=$WORK/store-$1; }

proxy reset-body
fresh_store reset
got=$("$KILN" pull -q "$P/app:1")
[ "$got" = "$DIGEST" ] || fail "pull through resets gave $got"
grep -q 'fault: reset-body' "$WORK/proxy-reset-body.log" || fail "no reset happened"
"$KILN" fsck >/dev/null || fail "fsck after resumed pull"
ok "downloads broken mid-body resume (Range) and verify"

proxy paginate
export KILN_ROOT=$WORK/store
"$KILN" push -q app:1 "$P/paged:1" >/dev/null
for t in b c d e; do "$KILN" push -q app:1 "$P/paged:$t" >/dev/null; done
[ "$("$KILN" tags --page-size 2 "$P/paged" | tr '\n' ' ')" = "1 b c d e " ] || fail "paginated tags"
[ "$(grep -c 'fault: page' "$WORK/proxy-paginate.log")" = 3 ] || fail "not 3 pages: $(cat "$WORK/proxy-paginate.log")"
ok "tag listing follows Link pagination"

proxy throttle
fresh_store throttle
got=$("$KILN" pull -q "$P/app:1")
[ "$got" = "$DIGEST" ] || fail "pull through 429/503 gave $got"
export KILN_ROOT=$WORK/store
got=$("$KILN" push -q app:1 "$P/throttled:1")
[ "$got" = "$DIGEST" ] || fail "push through 429/503 gave $got"
grep -q 'fault: throttle' "$WORK/proxy-throttle.log" || fail "no throttling happened"
ok "429 (Retry-After) and 503 answers are retried for pushes and pulls"

proxy reset-upload
got=$(KILN_UPLOAD_CHUNK_SIZE=65536 "$KILN" push -q app:1 "$P/chunked:1")
[ "$got" = "$DIGEST" ] || fail "chunked push through resets gave $got"
grep -q 'fault: reset-upload' "$WORK/proxy-reset-upload.log" || fail "no upload reset happened"
fresh_store chunked
[ "$("$KILN" pull -q "127.0.0.1:$U/chunked:1")" = "$DIGEST" ] || fail "chunked image unreadable"
ok "chunked uploads broken mid-way resume from the registry's offset"

proxy corrupt
fresh_store corrupt
expect_fail 1 'digest mismatch' "$KILN" pull -q "$P/app:1"
"$KILN" images | grep -q app && fail "a corrupt pull left an image"
[ -z "$(find "$KILN_ROOT/blobs" -type f -size +1k 2>/dev/null)" ] || fail "corrupt blob stored"
"$KILN" fsck >/dev/null || fail "fsck after refused pull"
ok "a blob whose bytes do not match its digest is refused; nothing unverified is stored"

finish
