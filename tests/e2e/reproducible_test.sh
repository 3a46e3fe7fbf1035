#!/usr/bin/env bash
# Reproducible RUN steps: the same Dockerfile built in two fresh stores, each with its steps'
# clock days apart (libfaketime, mounted into the steps from a build context of its own),
# gives one image digest with no flags; with --no-normalize it does not. Debian bases made by
# tools/setup with debootstrap; the apt case needs Debian's archive and says when it skips.
source "$(dirname "$0")/lib.sh" "$1"

BASES=/usr/local/share/kiln-test
FAKETIME_LIB=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1
[ -f "$FAKETIME_LIB" ] || fail "$FAKETIME_LIB missing (tools/setup installs faketime)"
archive_reachable() {
  curl -fsS --max-time 10 -o /dev/null http://deb.debian.org/debian/dists/bookworm/InRelease
}
if [ ! -f "$BASES/bookworm-python.complete" ]; then
  # tools/setup makes the bases whenever Debian's archive answers.
  archive_reachable && fail "$BASES/bookworm-python missing: run tools/setup"
  echo "skip - no Debian base and no Debian archive: the reproducibility cases need one"
  exit 0
fi

# Two fresh stores, each with the bases imported, and two clocks days apart.
for s in a b; do
  KILN_ROOT=$WORK/store-$s "$KILN" image create "$BASES/bookworm-python" -t debian:bookworm-python \
    --source-date-epoch 1700000000 >/dev/null
  [ -f "$BASES/bookworm.complete" ] &&
    KILN_ROOT=$WORK/store-$s "$KILN" image create "$BASES/bookworm" -t debian:bookworm \
      --source-date-epoch 1700000000 >/dev/null
done
mkdir -p "$WORK/clock-a" "$WORK/clock-b"
cp "$FAKETIME_LIB" "$WORK/clock-a/"
cp "$FAKETIME_LIB" "$WORK/clock-b/"
# Later than now, not earlier: apt refuses a Release file dated after its clock.
echo "+1d" >"$WORK/clock-a/when"
echo "+3d" >"$WORK/clock-b/when"
day_a=$(date -u -d '+1 day' +%F)
day_b=$(date -u -d '+3 days' +%F)
# NO_FAKE_STAT: files keep their real times (else shadow's backups copy a faked one).
CLOCK='export LD_PRELOAD=/.clock/libfaketime.so.1 FAKETIME_TIMESTAMP_FILE=/.clock/when FAKETIME_NO_CACHE=1 NO_FAKE_STAT=1'
# build STORE CLOCK CONTEXT ARGS...: a --no-cache build tagged "last", its output in
# $WORK/out-STORE; prints the image's digest.
build() {
  local s=$1 clock=$2 ctx=$3
  shift 3
  KILN_ROOT=$WORK/store-$s "$KILN" build --no-cache --source-date-epoch 1710000000 -t last \
    --build-context clock="$WORK/clock-$clock" "$@" "$ctx" >"$WORK/out-$s" 2>&1 ||
    fail "build in store $s: $(tail -5 "$WORK/out-$s")"
  tail -n 1 "$WORK/out-$s"
}
inspect() { KILN_ROOT=$WORK/store-$1 "$KILN" inspect "$2"; }
# How the two stores' "last" images differ (for a failure's message).
differ() { "$KILN" diff "oci:$WORK/store-a:last" "oci:$WORK/store-b:last" 2>&1 | head -n 40; }

# pip install of a local wheel, python3 -m compileall, groupadd/useradd, an apk-style
# database update: no network needed.
ctx=$WORK/offline
mkdir -p "$ctx/app"
/usr/bin/python3 - "$ctx" <<'EOF'
import base64, hashlib, sys, zipfile
files = {
    "demo/__init__.py": "NAMES = {'a', 'b', 'c'}\ndef hello():\n    return 'hello from demo'\n",
    "demo-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n",
    "demo-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
record = []
for name, text in files.items():
    digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
    record.append(f"{name},sha256={digest.decode()},{len(text.encode())}")
record.append("demo-1.0.dist-info/RECORD,,")
files["demo-1.0.dist-info/RECORD"] = "\n".join(record) + "\n"
with zipfile.ZipFile(sys.argv[1] + "/demo-1.0-py3-none-any.whl", "w") as z:
    for name, text in files.items():
        z.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), text)
EOF
printf 'import demo\nSETS = {"x", "y", 1, 2}\nprint(demo.hello(), sorted(map(str, SETS)))\n' >"$ctx/app/main.py"
cat >"$ctx/Dockerfile" <<EOF
FROM debian:bookworm-python
COPY demo-1.0-py3-none-any.whl /tmp/
COPY app /opt/app
RUN --mount=type=bind,from=clock,target=/.clock $CLOCK; date -u +%F; \\
    pip install --no-index --break-system-packages /tmp/demo-1.0-py3-none-any.whl
RUN --mount=type=bind,from=clock,target=/.clock $CLOCK; \\
    python3 -m compileall -q /opt/app && python3 /opt/app/main.py
RUN --mount=type=bind,from=clock,target=/.clock $CLOCK; \\
    groupadd -r builders && useradd -m -G builders app && passwd -l app
RUN --mount=type=bind,from=clock,target=/.clock $CLOCK; \\
    mkdir -p /lib/apk/db /tmp/s && echo '#!/bin/sh' >/tmp/s/demo-1.0-r0.post-install \\
    && tar -C /tmp/s -cf /lib/apk/db/scripts.tar . && printf 'P:demo\nV:1.0-r0\n\n' >>/lib/apk/db/installed
EOF
a=$(build a a "$ctx")
grep -q "$day_a" "$WORK/out-a" || fail "the step's clock was not set: $(cat "$WORK/out-a")"
grep -qx 'normalized 1 file: /usr/lib/apk/db/scripts.tar (archive times)' "$WORK/out-a" ||
  fail "the apk step's normalization is not listed: $(grep normalized "$WORK/out-a")"
b=$(build b b "$ctx")
grep -q "$day_b" "$WORK/out-b" || fail "the second store's step clock was not set"
[ "$a" = "$b" ] || fail "pip/compileall/useradd/apk: two stores, two days: $a vs $b: $(differ)"
raw=$(build b b "$ctx" --no-normalize)
[ "$raw" != "$a" ] || fail "--no-normalize gave the normalized digest: the clocks did not reach the steps"
grep -q normalized "$WORK/out-b" && fail "--no-normalize still normalized"
ok "pip wheel, compileall, groupadd/useradd, apk-style database: one digest across stores and days ($a)"

# What the normalization left is still what apk reads, and its history says what was done.
inspect a last | jq -e '.config.history[-1].comment ==
  "kiln; normalized 1 file: /usr/lib/apk/db/scripts.tar (archive times)"' >/dev/null ||
  fail "history comment: $(inspect a last | jq -c '.config.history[-1]')"
KILN_ROOT=$WORK/store-a "$KILN" build --no-cache -q --source-date-epoch 1710000000 \
  --build-context clock="$WORK/clock-a" -o type=local,dest="$WORK/rootfs" "$ctx" >/dev/null
TZ=UTC tar -tvf "$WORK/rootfs/usr/lib/apk/db/scripts.tar" | grep -q ' 2024-03-09 16:00 ./demo-1.0-r0.post-install$' ||
  fail "scripts.tar: $(tar --full-time -tvf "$WORK/rootfs/usr/lib/apk/db/scripts.tar")"
[ "$(tar -xOf "$WORK/rootfs/usr/lib/apk/db/scripts.tar" ./demo-1.0-r0.post-install)" = '#!/bin/sh' ] ||
  fail "scripts.tar lost its script"
# Bytecode checked by hash (flags 3), not by the source's mtime; shadow dates by the source date.
pyc=$(ls "$WORK"/rootfs/opt/app/__pycache__/main.cpython-*.pyc)
[ "$(od -An -tx1 -j4 -N4 "$pyc" | tr -d ' ')" = 03000000 ] || fail "compileall's bytecode is not hash-based"
grep -q "^app:!:$((1710000000 / 86400)):" "$WORK/rootfs/etc/shadow" ||
  fail "useradd's lastchg: $(grep ^app: "$WORK/rootfs/etc/shadow")"
ok "apk's scripts.tar keeps its scripts (times at the source date), bytecode is hash-checked, shadow dated by the source date"

# The Debian apt-get install of python3 and ca-certificates, as written in a new user's
# Dockerfile (the clock added).
if [ ! -f "$BASES/bookworm.complete" ] || ! archive_reachable; then
  echo "skip - apt-get install case: Debian's archive is not reachable from here"
else
  ctx=$WORK/apt
  mkdir -p "$ctx"
  cat >"$ctx/Dockerfile" <<EOF
FROM debian:bookworm
RUN --mount=type=bind,from=clock,target=/.clock $CLOCK; \\
    apt-get update && apt-get install -y --no-install-recommends python3 ca-certificates \\
 && rm -rf /var/lib/apt/lists/*
EOF
  a=$(build a a "$ctx")
  want='normalized 6 files: /var/cache/apt/pkgcache.bin (dropped), /var/cache/apt/srcpkgcache.bin (dropped), /var/cache/ldconfig/aux-cache (dropped), /var/log/dpkg.log (log times), /var/log/apt/history.log (log times), /var/log/apt/term.log (log times)'
  grep -qxF "$want" "$WORK/out-a" || fail "apt: normalization listed as: $(grep normalized "$WORK/out-a")"
  b=$(build b b "$ctx")
  [ "$a" = "$b" ] || fail "apt-get install: two stores, two days: $a vs $b"
  raw=$(build b b "$ctx" --no-normalize)
  [ "$raw" != "$a" ] || fail "apt: --no-normalize gave the normalized digest"
  ok "apt-get install python3 ca-certificates: one digest across stores and days ($a)"
  KILN_ROOT=$WORK/store-a "$KILN" build -q --source-date-epoch 1710000000 \
    --build-context clock="$WORK/clock-a" -o type=local,dest="$WORK/apt-rootfs" "$ctx" >/dev/null
  r=$WORK/apt-rootfs
  [ ! -e "$r/var/cache/apt/pkgcache.bin" ] && [ ! -e "$r/var/cache/ldconfig/aux-cache" ] ||
    fail "the rebuildable caches are still there"
  grep -q '^2024-03-09 16:00:00 install python3:amd64 ' "$r/var/log/dpkg.log" ||
    fail "dpkg.log lost the step's lines or their date: $(grep 'install python3:' "$r/var/log/dpkg.log")"
  grep -q '^Start-Date: 2024-03-09  16:00:00$' "$r/var/log/apt/history.log" || fail "history.log"
  grep -q '^Package: python3$' "$r/var/lib/dpkg/status" || fail "dpkg's status lost python3"
  [ -s "$r/etc/ld.so.cache" ] && [ -s "$r/etc/ssl/certs/ca-certificates.crt" ] || fail "runtime files missing"
  ok "apt: caches gone, logs keep their lines at the source date, what programs read is kept"
fi

echo "$PASSED passed"
