#!/usr/bin/env bash
# kiln key generate / sign / verify, checked by other tools: openssl verifies the signatures,
# PyNaCl (libsodium) decrypts kiln's private keys and encrypts one kiln must read, skopeo reads
# the signature manifests from Debian's docker-registry. Tampered payloads, wrong keys, a
# signature of another image and truncated signatures are all refused.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
HERE=$(cd "$(dirname "$0")" && pwd)

start_registry reg ""
R=127.0.0.1:$PORT
mkdir -p "$WORK/img"
echo one >"$WORK/img/f"
printf 'FROM scratch\nCOPY f /f\n' >"$WORK/img/Dockerfile"
A=$("$KILN" build -q -t "$R/kiln/signed:1" --push "$WORK/img")
echo two >"$WORK/img/f"
B=$("$KILN" build -q -t "$R/kiln/other:1" --push "$WORK/img")
export KILN_PASSWORD=correct-horse

# --- keys ----------------------------------------------------------------------------------------
"$KILN" key generate --out "$WORK/k" 2>/dev/null
[ "$(stat -c %a "$WORK/k.key")" = 600 ] || fail "the private key is not 0600"
head -1 "$WORK/k.key" | grep -qx -- '-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----' || fail "key header: $(head -1 "$WORK/k.key")"
openssl pkey -pubin -in "$WORK/k.pub" -noout -text 2>/dev/null | grep -q 'prime256v1\|P-256' || fail "k.pub is no P-256 key"
expect_fail 1 'exists' "$KILN" key generate --out "$WORK/k"
# libsodium decrypts it (scrypt N=32768 r=8 p=1, then secretbox) to the PKCS#8 key of k.pub.
$PY - "$WORK/k.key" "$KILN_PASSWORD" >"$WORK/k.der" <<'PYEOF'
import base64, hashlib, json, sys, nacl.secret
lines = open(sys.argv[1]).read().strip().splitlines()
doc = json.loads(base64.b64decode("".join(lines[1:-1])))
p = doc["kdf"]["params"]
key = hashlib.scrypt(sys.argv[2].encode(), salt=base64.b64decode(doc["kdf"]["salt"]),
                     n=p["N"], r=p["r"], p=p["p"], maxmem=1 << 27, dklen=32)
box = nacl.secret.SecretBox(key)
sys.stdout.buffer.write(box.decrypt(base64.b64decode(doc["ciphertext"]),
                                    base64.b64decode(doc["cipher"]["nonce"])))
PYEOF
[ "$(openssl pkey -inform DER -in "$WORK/k.der" -pubout 2>/dev/null)" = "$(cat "$WORK/k.pub")" ] ||
  fail "libsodium's decryption of k.key is not k.pub's private key"
ok "key generate: cosign's encrypted PEM (0600), which libsodium decrypts to k.pub's key"

# --- sign a registry image; others read and check the signature -------------------------------
SIG=$("$KILN" sign "docker://$R/kiln/signed:1" --key "$WORK/k.key" 2>"$WORK/sign.err") || fail "sign: $(cat "$WORK/sign.err")"
SIGTAG="sha256-${A#sha256:}.sig"
skopeo inspect --raw --tls-verify=false "docker://$R/kiln/signed:$SIGTAG" >"$WORK/sig.json" || fail "skopeo cannot read the signature manifest"
[ "sha256:$(sha256sum <"$WORK/sig.json" | cut -d' ' -f1)" = "$SIG" ] || fail "sign printed $SIG, the registry holds another manifest"
jq -e '.layers | length == 1 and (.[0].mediaType == "application/vnd.dev.cosign.simplesigning.v1+json") and (.[0].annotations["dev.cosignproject.cosign/signature"] | length > 0)' \
  "$WORK/sig.json" >/dev/null || fail "signature manifest: $(cat "$WORK/sig.json")"
payload_digest=$(jq -r '.layers[0].digest' "$WORK/sig.json")
curl -sf "http://$R/v2/kiln/signed/blobs/$payload_digest" >"$WORK/payload" || fail "no payload blob"
jq -r '.layers[0].annotations["dev.cosignproject.cosign/signature"]' "$WORK/sig.json" | base64 -d >"$WORK/sig.der"
openssl dgst -sha256 -verify "$WORK/k.pub" -signature "$WORK/sig.der" "$WORK/payload" | grep -q 'Verified OK' ||
  fail "openssl does not verify the signature"
jq -e --arg d "$A" --arg r "$R/kiln/signed" '.critical.image["docker-manifest-digest"] == $d and
  .critical.identity["docker-reference"] == $r and .critical.type == "cosign container image signature"' \
  "$WORK/payload" >/dev/null || fail "payload: $(cat "$WORK/payload")"
ok "sign: a .sig manifest skopeo reads; openssl verifies the payload's signature with k.pub"

"$KILN" verify "docker://$R/kiln/signed:1" --key "$WORK/k.pub" >"$WORK/v.out" || fail "verify failed"
grep -q '1 signature(s) verified' "$WORK/v.out" || fail "verify: $(cat "$WORK/v.out")"
"$KILN" sign "docker://$R/kiln/signed:1" --key "$WORK/k.key" -a ci=yes >/dev/null 2>&1
[ "$(skopeo inspect --raw --tls-verify=false "docker://$R/kiln/signed:$SIGTAG" | jq '.layers | length')" = 2 ] ||
  fail "a second signature did not append a layer"
"$KILN" verify -o json "docker://$R/kiln/signed@$A" --key "$WORK/k.pub" | jq -e 'length == 2 and .[1].optional.ci == "yes"' >/dev/null ||
  fail "verify -o json of two signatures"
ok "verify: each signature checked; a second signature appends to the manifest"

# --- keys made elsewhere -------------------------------------------------------------------------
openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null | openssl pkcs8 -topk8 -nocrypt -outform DER >"$WORK/ext.der"
openssl pkey -inform DER -in "$WORK/ext.der" -pubout >"$WORK/ext.pub"
$PY - "$WORK/ext.der" secret2 >"$WORK/ext.key" <<'PYEOF'
import base64, hashlib, json, os, sys, nacl.secret
salt, nonce = os.urandom(32), os.urandom(24)
key = hashlib.scrypt(sys.argv[2].encode(), salt=salt, n=32768, r=8, p=1, maxmem=1 << 27, dklen=32)
box = nacl.secret.SecretBox(key).encrypt(open(sys.argv[1], "rb").read(), nonce).ciphertext
doc = {"kdf": {"name": "scrypt", "params": {"N": 32768, "r": 8, "p": 1},
               "salt": base64.b64encode(salt).decode()},
       "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
       "ciphertext": base64.b64encode(box).decode()}
body = base64.b64encode(json.dumps(doc).encode()).decode()
print("-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----")
for i in range(0, len(body), 64): print(body[i:i + 64])
print("-----END ENCRYPTED COSIGN PRIVATE KEY-----")
PYEOF
KILN_PASSWORD=secret2 "$KILN" sign "docker://$R/kiln/other:1" --key "$WORK/ext.key" >/dev/null 2>"$WORK/err" ||
  fail "signing with a libsodium-encrypted key: $(cat "$WORK/err")"
"$KILN" verify "docker://$R/kiln/other:1" --key "$WORK/ext.pub" >/dev/null || fail "the external key's signature"
KILN_PASSWORD=wrong expect_fail 1 'wrong password' "$KILN" sign "docker://$R/kiln/other:1" --key "$WORK/ext.key"
openssl ecparam -name prime256v1 -genkey -noout >"$WORK/plain.pem" 2>/dev/null
"$KILN" sign "docker://$R/kiln/other:1" --key "$WORK/plain.pem" >/dev/null 2>&1 || fail "an unencrypted openssl key"
ok "keys encrypted by libsodium (cosign's older header) and plain openssl keys sign; a wrong password is refused"

# --- what must be refused ---------------------------------------------------------------------------
openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null | openssl pkey -pubout >"$WORK/stranger.pub"
expect_fail 1 'does not verify with the key' "$KILN" verify "docker://$R/kiln/signed:1" --key "$WORK/stranger.pub"
"$KILN" push -q "$R/kiln/other:1" "$R/kiln/unsigned:1" >/dev/null
expect_fail 1 'no signatures of' "$KILN" verify "docker://$R/kiln/unsigned:1" --key "$WORK/k.pub"
# put_manifest REPO TAG FILE; put_blob REPO FILE (prints the digest)
put_manifest() {
  curl -sf -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
    --data-binary "@$3" "http://$R/v2/$1/manifests/$2" >/dev/null || fail "registry refused manifest $2"
}
put_blob() {
  local d loc
  d=sha256:$(sha256sum "$2" | cut -d' ' -f1)
  loc=$(curl -sfi -X POST "http://$R/v2/$1/blobs/uploads/" | tr -d '\r' | awk -F': ' 'tolower($1) == "location" {print $2}')
  case $loc in /*) loc=http://$R$loc ;; esac
  curl -sf -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$2" "$loc&digest=$d" >/dev/null
  echo "$d"
}
jq -c '.layers |= [.[0]]' "$WORK/sig.json" >"$WORK/one.json"
# A signature of A under B's tag: it names A's digest.
put_blob kiln/other "$WORK/payload" >/dev/null
cfg=$(jq -r .config.digest "$WORK/one.json")
curl -sf "http://$R/v2/kiln/signed/blobs/$cfg" >"$WORK/cfg.json" && put_blob kiln/other "$WORK/cfg.json" >/dev/null
put_manifest kiln/other "sha256-${B#sha256:}.sig" "$WORK/one.json"
expect_fail 1 "signs $A, not $B" "$KILN" verify "docker://$R/kiln/other:1" --key "$WORK/k.pub"
# A tampered payload: the same signature over other bytes (in a copy of the image with no
# other signature: neither a .sig manifest nor referrers).
"$KILN" copy -q "docker://$R/kiln/signed:1" "docker://$R/kiln/tamper:1" >/dev/null
put_blob kiln/tamper "$WORK/payload" >/dev/null
put_blob kiln/tamper "$WORK/cfg.json" >/dev/null
sed 's/cosign container image signature/cosign container image signaturE/' "$WORK/payload" >"$WORK/tampered"
t=$(put_blob kiln/tamper "$WORK/tampered")
jq -c --arg d "$t" --argjson s "$(stat -c %s "$WORK/tampered")" '.layers[0].digest = $d | .layers[0].size = $s' "$WORK/one.json" >"$WORK/tampered.json"
put_manifest kiln/tamper "$SIGTAG" "$WORK/tampered.json"
expect_fail 1 'does not verify with the key' "$KILN" verify "docker://$R/kiln/tamper:1" --key "$WORK/k.pub"
# A truncated signature.
jq -c '.layers[0].annotations["dev.cosignproject.cosign/signature"] |= .[0:40]' "$WORK/one.json" >"$WORK/trunc.json"
put_manifest kiln/tamper "$SIGTAG" "$WORK/trunc.json"
expect_fail 1 'does not verify with the key|not base64' "$KILN" verify "docker://$R/kiln/tamper:1" --key "$WORK/k.pub"
put_manifest kiln/tamper "$SIGTAG" "$WORK/one.json"
"$KILN" verify "docker://$R/kiln/tamper:1" --key "$WORK/k.pub" >/dev/null || fail "the restored signature"
ok "refused: a stranger's key, no signature, a signature of another image, a tampered payload, a truncated signature"

# --- the store ----------------------------------------------------------------------------------------
"$KILN" build -q -t local:1 "$WORK/img" >/dev/null
expect_fail 1 'no signatures of local:1' "$KILN" verify local:1 --key "$WORK/k.pub"
"$KILN" sign local:1 --key "$WORK/k.key" >/dev/null 2>&1 || fail "signing a store image"
"$KILN" verify local:1 --key "$WORK/k.pub" >/dev/null || fail "verifying a store image"
"$KILN" images | grep -q "local:sha256-" || fail "the store does not keep the signature manifest"
skopeo inspect --raw "oci:$KILN_ROOT:local:sha256-$("$KILN" inspect local:1 | jq -r .digest | cut -d: -f2).sig" |
  jq -e '.layers[0].mediaType == "application/vnd.dev.cosign.simplesigning.v1+json"' >/dev/null ||
  fail "skopeo cannot read the store's signature manifest"
ok "images in the store are signed and verified in place; skopeo reads the signature there"

# --- signatures move with images (--signatures) --------------------------------------------------
"$KILN" push -q "local:1" "$R/kiln/carried:1" >/dev/null
expect_fail 1 'no signatures of' "$KILN" verify "docker://$R/kiln/carried:1" --key "$WORK/k.pub"
"$KILN" push -q --signatures "local:1" "$R/kiln/carried:2" >/dev/null || fail "push --signatures"
"$KILN" verify "docker://$R/kiln/carried:2" --key "$WORK/k.pub" >/dev/null || fail "the pushed signature"
"$KILN" copy -q --signatures "docker://$R/kiln/carried:2" "docker://$R/kiln/copied:1" >/dev/null || fail "copy --signatures"
"$KILN" verify "docker://$R/kiln/copied:1" --key "$WORK/k.pub" >/dev/null || fail "the copied signature"
"$KILN" --root "$WORK/s2" pull -q --signatures "$R/kiln/copied:1" >/dev/null || fail "pull --signatures"
"$KILN" --root "$WORK/s2" verify "$R/kiln/copied:1" --key "$WORK/k.pub" >/dev/null || fail "the pulled signature"
"$KILN" --root "$WORK/s3" pull --signatures "$R/kiln/unsigned:1" 2>"$WORK/s3.err" >/dev/null; grep -q "no signatures to copy" "$WORK/s3.err" ||
  fail "pull --signatures of an unsigned image should say so: $(cat "$WORK/s3.err")"
ok "push, copy and pull --signatures carry the signature manifest; without it nothing is carried"

# --- OCI 1.1 referrers: the tag schema here (docker-registry 2.8 has no referrers API), the API
# through a proxy that implements it --------------------------------------------------------
REFTAG="sha256-${A#sha256:}"
skopeo inspect --raw --tls-verify=false "docker://$R/kiln/signed:$REFTAG" >"$WORK/refs.json" ||
  fail "no referrers tag index after signing"
jq -e '.mediaType == "application/vnd.oci.image.index.v1+json" and
  ([.manifests[] | select(.artifactType == "application/vnd.dev.cosign.artifact.sig.v1+json")] | length >= 1)' \
  "$WORK/refs.json" >/dev/null || fail "referrers tag index: $(cat "$WORK/refs.json")"
art=$(jq -r '.manifests[0].digest' "$WORK/refs.json")
skopeo inspect --raw --tls-verify=false "docker://$R/kiln/signed@$art" >"$WORK/art.json"
jq -e --arg d "$A" '.subject.digest == $d and .artifactType == "application/vnd.dev.cosign.artifact.sig.v1+json" and
  .config.mediaType == "application/vnd.oci.empty.v1+json" and
  (.layers[0].annotations["dev.cosignproject.cosign/signature"] | length > 0)' "$WORK/art.json" >/dev/null ||
  fail "referrer manifest: $(cat "$WORK/art.json")"
# With the .sig tag gone, the referrers still carry the signature.
sigdigest=$(curl -sfI -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$R/v2/kiln/signed/manifests/$SIGTAG" |
  tr -d '\r' | awk -F': ' 'tolower($1) == "docker-content-digest" {print $2}')
curl -sf -X DELETE "http://$R/v2/kiln/signed/manifests/$sigdigest" >/dev/null || fail "cannot delete the .sig manifest"
"$KILN" verify "docker://$R/kiln/signed:1" --key "$WORK/k.pub" >/dev/null || fail "verify through the referrers tag"
ok "sign also attaches an OCI 1.1 referrer (subject, artifactType) by the referrers tag schema; verify reads it"

rm -f "$WORK/proxy.port"
$PY "$HERE/fault_proxy.py" "$WORK/proxy.port" "$PORT" referrers 2>"$WORK/proxy.log" &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$WORK/proxy.port" ] && break; sleep 0.1; done
X=127.0.0.1:$(cat "$WORK/proxy.port")
"$KILN" push -q "$R/kiln/other:1" "$X/kiln/viaapi:1" >/dev/null
C=$("$KILN" inspect "$R/kiln/other:1" | jq -r .digest)
"$KILN" sign "docker://$X/kiln/viaapi:1" --key "$WORK/k.key" >/dev/null 2>"$WORK/api.err" || fail "sign through the API: $(cat "$WORK/api.err")"
grep -q 'through the referrers API' "$WORK/api.err" || fail "sign did not use the referrers API: $(cat "$WORK/api.err")"
grep -q 'referrers-put' "$WORK/proxy.log" || fail "the proxy saw no referrer"
! skopeo inspect --raw --tls-verify=false "docker://$R/kiln/viaapi:sha256-${C#sha256:}" >/dev/null 2>&1 ||
  fail "the tag schema was used although the registry has the API"
sigdigest=$(curl -sfI -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$R/v2/kiln/viaapi/manifests/sha256-${C#sha256:}.sig" |
  tr -d '\r' | awk -F': ' 'tolower($1) == "docker-content-digest" {print $2}')
curl -sf -X DELETE "http://$R/v2/kiln/viaapi/manifests/$sigdigest" >/dev/null || fail "cannot delete the .sig manifest"
"$KILN" verify "docker://$X/kiln/viaapi:1" --key "$WORK/k.pub" >/dev/null || fail "verify through the referrers API"
grep -q 'referrers-get' "$WORK/proxy.log" || fail "verify did not ask the referrers API"
ok "where the registry has the referrers API, sign attaches through it and verify reads it"

# --- policy: containers-policy.json decides what pull, copy and build accept ----------------------
cat >"$WORK/policy.json" <<JSON
{
  "default": [{"type": "reject"}],
  "transports": {
    "docker": {
      "$R/kiln/signed": [{"type": "sigstoreSigned", "keyPath": "k.pub",
                          "signedIdentity": {"type": "matchRepository"}}],
      "$R/kiln/strict": [{"type": "sigstoreSigned", "keyPath": "$WORK/k.pub"}],
      "$R/kiln/copied": [{"type": "sigstoreSigned", "keyData": "$(base64 -w0 "$WORK/k.pub")",
                          "signedIdentity": {"type": "exactRepository",
                                             "dockerRepository": "docker.io/library/local"}}],
      "$R/kiln/unsigned": [{"type": "sigstoreSigned", "keyPath": "k.pub"}],
      "$R/kiln/open": [{"type": "insecureAcceptAnything"}]
    }
  }
}
JSON
P="--signature-policy=$WORK/policy.json"
"$KILN" --root "$WORK/p1" pull -q "$P" "$R/kiln/signed:1" >/dev/null || fail "a signed image the policy accepts"
"$KILN" --root "$WORK/p1" pull -q "$P" "$R/kiln/copied:1" >/dev/null || fail "exactRepository accepts the copied signature"
expect_fail 1 "scope docker \"$R/kiln/unsigned\": no signature by its keys holds" "$KILN" --root "$WORK/p1" pull -q "$P" "$R/kiln/unsigned:1"
"$KILN" push -q "$R/kiln/other:1" "$R/kiln/elsewhere:1" >/dev/null
expect_fail 1 "scope docker \"default\": the policy rejects it" "$KILN" --root "$WORK/p1" pull -q "$P" "$R/kiln/elsewhere:1"
# The default signedIdentity (matchRepoDigestOrExact): cosign's repository-only claim holds for
# a pull by digest, not by tag.
"$KILN" copy -q "docker://$R/kiln/signed:1" "docker://$R/kiln/strict:1" >/dev/null
"$KILN" sign "docker://$R/kiln/strict:1" --key "$WORK/k.key" >/dev/null 2>&1
expect_fail 1 "signedIdentity does not accept" "$KILN" --root "$WORK/p1" pull -q "$P" "$R/kiln/strict:1"
"$KILN" --root "$WORK/p1" pull -q "$P" "$R/kiln/strict@$A" >/dev/null 2>"$WORK/strict.err" || fail "matchRepoDigestOrExact by digest: $(cat "$WORK/strict.err")"
expect_fail 1 "is refused by" "$KILN" --root "$WORK/p1" copy -q "$P" "docker://$R/kiln/unsigned:1" "oci:$WORK/refused:x"
[ ! -e "$WORK/refused" ] || fail "a refused copy left a layout behind"
"$KILN" push -q "$R/kiln/other:1" "$R/kiln/open:1" >/dev/null
"$KILN" copy -q "$P" "docker://$R/kiln/open:1" "oci:$WORK/open:x" >/dev/null || fail "insecureAcceptAnything"
mkdir -p "$WORK/pb"
printf 'FROM %s/kiln/signed:1\nCOPY --from=%s/kiln/copied:1 /f /g\n' "$R" "$R" >"$WORK/pb/Dockerfile"
"$KILN" --root "$WORK/p2" build -q "$P" "$WORK/pb" >/dev/null 2>"$WORK/pb.err" || fail "a build on accepted images: $(cat "$WORK/pb.err")"
printf 'FROM %s/kiln/signed:1\nCOPY --from=%s/kiln/unsigned:1 /f /g\n' "$R" "$R" >"$WORK/pb/Dockerfile"
expect_fail 1 "base image $R/kiln/unsigned:1: image docker://$R/kiln/unsigned:1 .* is refused by .*policy.json, scope docker \"$R/kiln/unsigned\"" \
  "$KILN" --root "$WORK/p3" build -q "$P" "$WORK/pb"
printf '{"default": [{"type": "signedBy", "keyType": "GPGKeys"}]}' >"$WORK/gpg.json"
expect_fail 1 'gpg.json: default: signedBy \(GPG signatures\) is not supported' "$KILN" pull -q --signature-policy "$WORK/gpg.json" "$R/kiln/signed:1"
ok "policy: sigstoreSigned with keyPath/keyData and signedIdentity, reject, scopes; pull, copy and build (FROM, COPY --from) refuse in one line"

# No policy file at all (the host's /etc/containers hidden in a mount namespace of the test's
# own, so the host is not changed): every image is accepted, and kiln says so once.
had_policy=0
[ -f /etc/containers/policy.json ] && had_policy=1
unshare -m sh -c '{ [ ! -d /etc/containers ] || mount -t tmpfs none /etc/containers; } && HOME=/nonexistent exec "$@"' sh \
  "$KILN" --root "$WORK/nopolicy" pull "$R/kiln/unsigned:1" >/dev/null 2>"$WORK/nopolicy.err" ||
  fail "a pull with no policy file: $(cat "$WORK/nopolicy.err")"
[ "$(grep -c 'no signature policy is in force' "$WORK/nopolicy.err")" = 1 ] ||
  fail "with no policy kiln should say so once: $(cat "$WORK/nopolicy.err")"
[ "$had_policy" = 0 ] || [ -f /etc/containers/policy.json ] || fail "the host's policy.json is gone"
ok "without a policy file every image is accepted, and kiln says once that no policy is in force"

finish
