#!/usr/bin/env bash
# kiln sbom: the packages of a Debian-like and an Alpine-like image made here (a dpkg status
# file and an apk installed database with known entries, across layers, with a whiteout), as
# SPDX 2.3 JSON (the fields SPDX requires, checked) and as a table.
source "$(dirname "$0")/lib.sh"

# --- Debian-like: two layers write the dpkg database, a third deletes a status.d entry -------
mkdir -p "$WORK/deb"
cat >"$WORK/deb/status1" <<'DB'
Package: base-files
Status: install ok installed
Architecture: amd64
Version: 12.4+deb12u5

Package: libssl3
Status: install ok installed
Architecture: amd64
Source: openssl
Version: 3.0.11-1~deb12u2
Description: Secure Sockets Layer toolkit - shared libraries
 This package is part of the OpenSSL project's implementation.

Package: removed-later
Status: install ok installed
Architecture: all
Version: 1.0
DB
cat >"$WORK/deb/status2" <<'DB'
Package: base-files
Status: install ok installed
Architecture: amd64
Version: 12.4+deb12u5

Package: libssl3
Status: install ok installed
Architecture: amd64
Source: openssl
Version: 3.0.11-1~deb12u2

Package: removed-later
Status: deinstall ok config-files
Architecture: all
Version: 1.0

Package: curl
Status: install ok installed
Architecture: amd64
Version: 7.88.1-10+deb12u5
DB
printf 'Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n' >"$WORK/deb/tzdata"
printf 'Package: gone\nVersion: 9\nArchitecture: all\n' >"$WORK/deb/gone"
printf 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n' >"$WORK/deb/os-release"
cat >"$WORK/deb/Dockerfile" <<'DF'
FROM scratch
COPY os-release /etc/os-release
COPY status1 /var/lib/dpkg/status
COPY tzdata gone /var/lib/dpkg/status.d/
COPY status2 /var/lib/dpkg/status
DF
"$KILN" build -q -t deb:1 "$WORK/deb" >/dev/null
# A layer that deletes the status.d entry "gone" (a whiteout), made with umoci.
"$KILN" copy -q deb:1 "oci:$WORK/deb-layout:1" >/dev/null
umoci unpack --image "$WORK/deb-layout:1" "$WORK/deb-bundle" >/dev/null
rm "$WORK/deb-bundle/rootfs/var/lib/dpkg/status.d/gone"
umoci repack --image "$WORK/deb-layout:2" "$WORK/deb-bundle" >/dev/null
"$KILN" copy -q "oci:$WORK/deb-layout:2" deb:2 >/dev/null
mapfile -t L < <("$KILN" inspect deb:2 | jq -r '.manifest.layers[].digest')
[ "${#L[@]}" = 5 ] || fail "deb:2 has ${#L[@]} layers, want 5"

"$KILN" sbom deb:2 >"$WORK/deb.spdx.json" || fail "kiln sbom deb:2"
jq -r '.packages[1:][] | "\(.name) \(.versionInfo) \(.externalRefs[0].referenceLocator)"' "$WORK/deb.spdx.json" | sort >"$WORK/deb.got"
cat >"$WORK/deb.want" <<'WANT'
base-files 12.4+deb12u5 pkg:deb/debian/base-files@12.4%2Bdeb12u5?arch=amd64&distro=debian-12
curl 7.88.1-10+deb12u5 pkg:deb/debian/curl@7.88.1-10%2Bdeb12u5?arch=amd64&distro=debian-12
libssl3 3.0.11-1~deb12u2 pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12&upstream=openssl
tzdata 2024a-0+deb12u1 pkg:deb/debian/tzdata@2024a-0%2Bdeb12u1?arch=all&distro=debian-12
WANT
diff "$WORK/deb.want" "$WORK/deb.got" >&2 || fail "the Debian SBOM lists other packages"
layer_of() { jq -r --arg n "$1" '.packages[] | select(.name == $n) | .annotations[0].comment | split(" ")[1]' "$WORK/deb.spdx.json"; }
[ "$(layer_of libssl3)" = "${L[1]}" ] || fail "libssl3 came from layer 1, the SBOM says $(layer_of libssl3)"
[ "$(layer_of curl)" = "${L[3]}" ] || fail "curl came from layer 3, the SBOM says $(layer_of curl)"
[ "$(layer_of tzdata)" = "${L[2]}" ] || fail "tzdata came from layer 2, the SBOM says $(layer_of tzdata)"
ok "Debian-like: exactly the installed packages (status, status.d, a whiteout), their PURLs and layers"

# The fields SPDX 2.3 requires of a document and of each package.
jq -e '.spdxVersion == "SPDX-2.3" and .dataLicense == "CC0-1.0" and .SPDXID == "SPDXRef-DOCUMENT" and
  (.name | length > 0) and (.documentNamespace | test("^https://")) and
  (.creationInfo.created | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$")) and
  (.creationInfo.creators | length > 0 and all(test("^(Tool|Organization|Person): "))) and
  (.documentDescribes == ["SPDXRef-Image"]) and
  (.packages | all(has("name") and (.SPDXID | test("^SPDXRef-[A-Za-z0-9.-]+$")) and
    has("downloadLocation") and has("filesAnalyzed") and has("licenseConcluded") and
    has("licenseDeclared") and has("copyrightText"))) and
  ([.packages[].SPDXID] | length == (unique | length)) and
  (([.relationships[] | select(.relationshipType == "CONTAINS")] | length) == (.packages | length) - 1) and
  ([.relationships[].relatedSpdxElement] - [.packages[].SPDXID] | length == 0)' \
  "$WORK/deb.spdx.json" >/dev/null || fail "the SPDX document lacks required fields: $(head -c 600 "$WORK/deb.spdx.json")"
ok "the SPDX 2.3 document has the fields the spec requires, unique ids, and a CONTAINS per package"

# --- Alpine-like --------------------------------------------------------------------------------
mkdir -p "$WORK/apk"
printf 'C:Q1x=\nP:musl\nV:1.2.4-r2\nA:x86_64\nL:MIT\no:musl\n\nP:busybox\nV:1.36.1-r5\nA:x86_64\nL:GPL-2.0-only\n\n' >"$WORK/apk/installed"
printf 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.18.4\n' >"$WORK/apk/os-release"
printf 'FROM scratch\nCOPY os-release /usr/lib/os-release\nCOPY installed /lib/apk/db/installed\n' >"$WORK/apk/Dockerfile"
"$KILN" build -q -t apk:1 "$WORK/apk" >/dev/null
"$KILN" sbom apk:1 --format table >"$WORK/apk.table"
grep -q '^apk   busybox .*pkg:apk/alpine/busybox@1.36.1-r5?arch=x86_64&distro=3.18.4$' "$WORK/apk.table" ||
  fail "table: $(cat "$WORK/apk.table")"
[ "$(grep -c '^apk ' "$WORK/apk.table")" = 2 ] || fail "the Alpine table lists $(grep -c '^apk ' "$WORK/apk.table") packages"
"$KILN" sbom apk:1 | jq -e '[.packages[] | select(.name == "musl") | .licenseDeclared] == ["MIT"]' >/dev/null ||
  fail "musl's declared license"
"$KILN" sbom "oci:$WORK/deb-layout:2" --format table | grep -q '^deb   curl ' || fail "sbom of an OCI layout"
ok "Alpine-like: packages, licenses and PURLs (os-release from /usr/lib); the table; an OCI layout"

# --- Python and npm packages, one file each -------------------------------------------------------
mkdir -p "$WORK/lang/site/six-1.16.0.dist-info" "$WORK/lang/site/Req_Lib.egg-info" "$WORK/lang/nm/left-pad" "$WORK/lang/nm/@types/node"
printf 'Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\nLicense: MIT\n\nSix is a compatibility library.\n' >"$WORK/lang/site/six-1.16.0.dist-info/METADATA"
printf 'Metadata-Version: 1.1\nName: Req_Lib\nVersion: 2.0\n' >"$WORK/lang/site/Req_Lib.egg-info/PKG-INFO"
printf '{"name": "left-pad", "version": "1.3.0", "license": "WTFPL"}' >"$WORK/lang/nm/left-pad/package.json"
printf '{"name": "@types/node", "version": "20.1.0", "license": {"type": "MIT"}}' >"$WORK/lang/nm/@types/node/package.json"
printf '{"name": "app", "version": "0.0.1"}' >"$WORK/lang/package.json"
cat >"$WORK/lang/Dockerfile" <<'DF'
FROM deb:1
COPY site/ /usr/lib/python3/dist-packages/
COPY nm/ /srv/app/node_modules/
COPY package.json /srv/app/package.json
DF
"$KILN" build -q -t lang:1 "$WORK/lang" >/dev/null
mapfile -t LL < <("$KILN" inspect lang:1 | jq -r '.manifest.layers[].digest')
"$KILN" sbom lang:1 >"$WORK/lang.spdx.json"
jq -r '.packages[1:][] | select(.externalRefs[0].referenceLocator | test("^pkg:(pypi|npm)/")) |
  "\(.externalRefs[0].referenceLocator) \(.licenseDeclared) \(.annotations[0].comment | split(" ")[1])"' "$WORK/lang.spdx.json" | sort >"$WORK/lang.got"
cat >"$WORK/lang.want" <<WANT
pkg:npm/%40types/node@20.1.0 MIT ${LL[5]}
pkg:npm/left-pad@1.3.0 WTFPL ${LL[5]}
pkg:pypi/req-lib@2.0 NOASSERTION ${LL[4]}
pkg:pypi/six@1.16.0 MIT ${LL[4]}
WANT
diff "$WORK/lang.want" "$WORK/lang.got" >&2 || fail "Python and npm packages"
ok "Python (dist-info, egg-info) and npm (node_modules, scoped) packages with PURLs, licenses and layers"

# --- Go binaries' build info: Debian's umoci (a GOPATH build: the toolchain only), and a binary
# with modules laid out as Go 1.18+ embeds them ------------------------------------------------------
mkdir -p "$WORK/go/bin"
cp /usr/bin/umoci "$WORK/go/bin/umoci"
/usr/bin/python3 - "$WORK/go/bin/modular" <<'PYEOF2'
import sys
def varint(n):
    out = b""
    while n >= 0x80:
        out += bytes([0x80 | (n & 0x7f)]); n >>= 7
    return out + bytes([n])
mods = (b"path\texample.com/app/cmd/app\nmod\texample.com/app\tv1.2.3\th1:a=\n"
        b"dep\tgolang.org/x/sys\tv0.15.0\th1:b=\nbuild\t-compiler=gc\n")
info = b"S" * 16 + mods + b"E" * 16
blob = b"\xff Go buildinf:" + b"\x08\x02" + b"\0" * 16 + varint(8) + b"go1.21.5" + varint(len(info)) + info
open(sys.argv[1], "wb").write(b"\x7fELF" + b"\0" * 70000 + blob + b"\0" * 1000)
PYEOF2
chmod 755 "$WORK/go/bin/modular"
printf 'FROM scratch
COPY bin/ /usr/local/bin/
' >"$WORK/go/Dockerfile"
"$KILN" build -q -t go:1 "$WORK/go" >/dev/null
# The toolchain version Go recorded in umoci, read independently of kiln.
want_go=$(/usr/bin/python3 -c "
d = open('/usr/bin/umoci', 'rb').read(); i = d.find(b'\xff Go buildinf:') + 32
print(d[i + 1:i + 1 + d[i]].decode())")
"$KILN" sbom go:1 --format table >"$WORK/go.table"
grep -q "^golang stdlib .*pkg:golang/stdlib@$want_go\$" "$WORK/go.table" || fail "umoci's toolchain $want_go: $(cat "$WORK/go.table")"
grep -q 'pkg:golang/example.com/app@v1.2.3$' "$WORK/go.table" && grep -q 'pkg:golang/golang.org/x/sys@v0.15.0$' "$WORK/go.table" ||
  fail "the modular binary's modules: $(cat "$WORK/go.table")"
[ "$(grep -c '^golang' "$WORK/go.table")" = 4 ] || fail "want 4 Go packages (2 toolchains, app, x/sys): $(cat "$WORK/go.table")"
ok "Go binaries: the toolchain (Debian's umoci) and modules (Go 1.18+ build info) with PURLs"

# --- which images ship a package? -----------------------------------------------------------------
"$KILN" images --contains 'libssl3@3.0.11-1~deb12u2' >"$WORK/contains"
grep -q '^deb:1  (libssl3@3.0.11-1~deb12u2)' "$WORK/contains" && grep -q '^deb:2  (libssl3@3.0.11-1~deb12u2)' "$WORK/contains" ||
  fail "--contains libssl3: $(cat "$WORK/contains")"
! grep -q '^apk:1' "$WORK/contains" || fail "apk:1 does not hold libssl3"
[ "$("$KILN" images --contains 'libssl3@9.9' | wc -l)" = 1 ] || fail "--contains of a version no image holds"
[ "$("$KILN" images --contains musl --format json | jq -r '[.[] | .name + " " + (.packages | join(","))] | join(";")')" = "apk:1 musl@1.2.4-r2" ] ||
  fail "--contains musl --format json: $("$KILN" images --contains musl --format json)"
"$KILN" images --contains gone >"$WORK/gone"
grep -q '^deb:1 ' "$WORK/gone" && grep -q '^lang:1 ' "$WORK/gone" && ! grep -q '^deb:2 ' "$WORK/gone" ||
  fail "the deleted status.d entry: $(cat "$WORK/gone")"
ok "images --contains NAME[@VERSION] lists exactly the images that ship the package"

# --- --sbom and --provenance: attestations beside the image, as BuildKit attaches them -----------
start_registry reg ""
R=127.0.0.1:$PORT
mkdir -p "$WORK/att"
echo built >"$WORK/att/f"
echo downloaded >"$WORK/served.txt"
HTTP_PORT=$(free_port)
(cd "$WORK" && exec /usr/bin/python3 -m http.server --bind 127.0.0.1 "$HTTP_PORT" >/dev/null 2>&1) &
PIDS+=($!)
for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$HTTP_PORT/served.txt" && break; sleep 0.1; done
printf 'FROM deb:2\nARG API_TOKEN\nARG GREETING\nCOPY f /f\nADD http://127.0.0.1:%s/served.txt /served.txt\n' "$HTTP_PORT" >"$WORK/att/Dockerfile"
"$KILN" build -q -t "$R/att/app:1" --sbom --attest type=provenance --build-arg API_TOKEN=s3cr3t-value \
  --build-arg GREETING=hi --push "$WORK/att" >"$WORK/att.digest" 2>"$WORK/att.err" || fail "build --sbom --provenance: $(cat "$WORK/att.err")"
skopeo inspect --raw --tls-verify=false "docker://$R/att/app:1" >"$WORK/index.json" || fail "skopeo cannot read the index"
[ "sha256:$(sha256sum <"$WORK/index.json" | cut -d' ' -f1)" = "$(cat "$WORK/att.digest")" ] || fail "the pushed index is not the one built"
IMG=$(jq -r '.manifests[0].digest' "$WORK/index.json")
jq -e --arg img "$IMG" '.mediaType == "application/vnd.oci.image.index.v1+json" and (.manifests | length == 2) and
  .manifests[0].platform.os == "linux" and .manifests[1].platform == {"architecture": "unknown", "os": "unknown"} and
  .manifests[1].annotations["vnd.docker.reference.type"] == "attestation-manifest" and
  .manifests[1].annotations["vnd.docker.reference.digest"] == $img' "$WORK/index.json" >/dev/null ||
  fail "index: $(cat "$WORK/index.json")"
skopeo inspect --raw --tls-verify=false "docker://$R/att/app@$(jq -r '.manifests[1].digest' "$WORK/index.json")" >"$WORK/att-manifest.json"
jq -e '[.layers[] | .mediaType] == ["application/vnd.in-toto+json", "application/vnd.in-toto+json"] and
  [.layers[] | .annotations["in-toto.io/predicate-type"]] == ["https://spdx.dev/Document", "https://slsa.dev/provenance/v1"]' \
  "$WORK/att-manifest.json" >/dev/null || fail "attestation manifest: $(cat "$WORK/att-manifest.json")"
blob() { curl -sf "http://$R/v2/att/app/blobs/$1"; }
blob "$(jq -r '.layers[0].digest' "$WORK/att-manifest.json")" >"$WORK/sbom.intoto.json"
blob "$(jq -r '.layers[1].digest' "$WORK/att-manifest.json")" >"$WORK/prov.intoto.json"
for f in sbom prov; do
  jq -e --arg img "${IMG#sha256:}" '._type == "https://in-toto.io/Statement/v1" and .subject[0].digest.sha256 == $img and
    (.subject[0].name | startswith("pkg:docker/"))' "$WORK/$f.intoto.json" >/dev/null || fail "$f statement: $(head -c 400 "$WORK/$f.intoto.json")"
done
jq -e '[.predicate.packages[1:][] | .name] | sort == ["base-files", "curl", "libssl3", "tzdata"]' "$WORK/sbom.intoto.json" >/dev/null ||
  fail "the SBOM attestation's packages: $(jq -c '[.predicate.packages[].name]' "$WORK/sbom.intoto.json")"
DEB2=$("$KILN" inspect deb:2 | jq -r .digest)
DFD=$(sha256sum <"$WORK/att/Dockerfile" | cut -d' ' -f1)
jq -e --arg base "${DEB2#sha256:}" --arg df "$DFD" '.predicate.buildDefinition.resolvedDependencies |
  any(.uri == "pkg:docker/deb:2" and .digest.sha256 == $base)' "$WORK/prov.intoto.json" >/dev/null ||
  fail "provenance dependencies: $(jq -c .predicate.buildDefinition.resolvedDependencies "$WORK/prov.intoto.json")"
jq -e --arg url "http://127.0.0.1:$HTTP_PORT/served.txt" --arg sum "$(sha256sum <"$WORK/served.txt" | cut -d' ' -f1)" \
  '.predicate.buildDefinition.resolvedDependencies | any(.uri == $url and .digest.sha256 == $sum)' "$WORK/prov.intoto.json" >/dev/null ||
  fail "provenance lacks the ADD URL: $(jq -c .predicate.buildDefinition.resolvedDependencies "$WORK/prov.intoto.json")"
jq -e --arg df "$DFD" '.predicate.buildDefinition.externalParameters.configSource.digest.sha256 == $df and
  .predicate.buildDefinition.externalParameters.request.args == {"API_TOKEN": "[redacted]", "GREETING": "hi"} and
  (.predicate.runDetails.builder.id | startswith("https://kiln.dev/kiln@")) and
  (.predicate.runDetails.metadata.startedOn | test("Z$"))' "$WORK/prov.intoto.json" >/dev/null ||
  fail "provenance: $(jq -c .predicate "$WORK/prov.intoto.json")"
# (The image's own history keeps ARG values, as BuildKit's does: the warning about secret-like
# names says so. The attestations do not repeat them.)
! grep -qa 's3cr3t-value' "$WORK/prov.intoto.json" "$WORK/sbom.intoto.json" || fail "a secret-named build arg's value is in an attestation"
skopeo copy -q --src-tls-verify=false "docker://$R/att/app:1" "oci:$WORK/att-copy:x" >/dev/null || fail "skopeo copy of the attested image"
[ "$(jq -r '.manifests[0].digest' "$WORK/att-copy/index.json")" = "$IMG" ] || fail "skopeo copied another image than the attested one"
umoci unpack --image "$WORK/att-copy:x" "$WORK/att-bundle" >/dev/null && [ "$(cat "$WORK/att-bundle/rootfs/f")" = built ] ||
  fail "the attested image's files"
expect_fail 1 'want type=sbom or type=provenance' "$KILN" build -q --attest type=bogus "$WORK/att"
# kiln copy carries the whole index, attestations and all.
"$KILN" copy -q "docker://$R/att/app:1" "docker://$R/att/copied:1" >/dev/null || fail "kiln copy of the attested image"
[ "$(skopeo inspect --raw --tls-verify=false "docker://$R/att/copied:1" | sha256sum | cut -d' ' -f1)" = "$(sha256sum <"$WORK/index.json" | cut -d' ' -f1)" ] ||
  fail "kiln copy changed the attested index"
# kiln sign --attestations signs the attestation manifest too.
ATT=$(jq -r '.manifests[1].digest' "$WORK/index.json")
KILN_PASSWORD=pw "$KILN" key generate --out "$WORK/k" 2>/dev/null
KILN_PASSWORD=pw "$KILN" sign --attestations "docker://$R/att/app:1" --key "$WORK/k.key" >/dev/null 2>"$WORK/sa.err" ||
  fail "sign --attestations: $(cat "$WORK/sa.err")"
"$KILN" verify "docker://$R/att/app@$ATT" --key "$WORK/k.pub" >/dev/null || fail "the attestation manifest's signature"
"$KILN" verify "docker://$R/att/app:1" --key "$WORK/k.pub" >/dev/null || fail "the index's signature"
KILN_PASSWORD=pw expect_fail 1 'has no attestations to sign' "$KILN" sign --attestations deb:1 --key "$WORK/k.key"
ok "--sbom and --provenance: an index with the image and an attestation manifest (SPDX, SLSA v1) that skopeo reads and copies past"

# --- bad input ----------------------------------------------------------------------------------
mkdir -p "$WORK/big"
head -c $((65 * 1024 * 1024)) /dev/zero | tr '\0' 'x' >"$WORK/big/status"
printf 'FROM scratch\nCOPY status /var/lib/dpkg/status\n' >"$WORK/big/Dockerfile"
"$KILN" build -q -t big:1 "$WORK/big" >/dev/null
expect_fail 1 'var/lib/dpkg/status is larger than' "$KILN" sbom big:1
expect_fail 1 'no image' "$KILN" sbom nosuch:1
ok "an oversized package database and a missing image are one clear error each"

finish
