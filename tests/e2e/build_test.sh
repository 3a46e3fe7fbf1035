#!/usr/bin/env bash
# kiln build end to end on testdata/build/app (busybox-based, no network): the result runs,
# unpacks with umoci, validates with oci-image-tool, caches, invalidates, reproduces.
source "$(dirname "$0")/lib.sh" "$1"

ctx=$WORK/ctx
app_context "$ctx"

digest=$("$KILN" build -t app:1 --source-date-epoch 1700000000 \
  --output "docker-archive:$WORK/app.tar:app:1" "$ctx" 2>"$WORK/build.log") \
  || fail "build failed: $(tail -5 "$WORK/build.log")"
grep -q '^#[0-9]* hello from a script$' "$WORK/build.log" || fail "RUN output is not streamed"
"$KILN" images | grep -q '^app:1 ' || fail "app:1 not in the store"
"$KILN" inspect app:1 | jq -e '.config.config.User == "app" and .config.config.WorkingDir == "/srv/app"
   and .config.config.Entrypoint == ["/bin/sh", "-c"] and .config.config.ExposedPorts["8080/tcp"] == {}
   and .config.config.Labels["org.opencontainers.image.title"] == "kiln test app"
   and .config.config.Healthcheck.Test == ["CMD-SHELL", "test -f /srv/app/greeting"]
   and .config.created == "2023-11-14T22:13:20Z"' >/dev/null || fail "wrong config: $("$KILN" inspect app:1 | jq -c .config.config)"
ok "kiln build makes the image with the config Docker would"

# The steps' user namespace (idmapped layers) changes nothing in the layers: the same image,
# digest for digest, as with the host's ids, whatever the network.
for opts in "--userns host" "--userns host --network none" "--network none"; do
  # shellcheck disable=SC2086
  again=$("$KILN" build -q --no-cache $opts --source-date-epoch 1700000000 "$ctx" 2>"$WORK/again.log") \
    || fail "build $opts: $(tail -3 "$WORK/again.log")"
  [ "$again" = "$digest" ] || fail "build $opts gave $again, not $digest"
done
ok "the example image's digest is the same in the steps' user namespace and with the host's ids"

"$KILN" copy app:1 "oci:$WORK/out:1" >/dev/null
oci-image-tool validate --type image "$WORK/out" >/dev/null || fail "not a valid OCI image"
umoci unpack --image "$WORK/out:1" "$WORK/bundle" >/dev/null
root=$WORK/bundle/rootfs
[ "$(cat "$root/srv/app/greeting")" = "hello from /srv/app
hello from a script" ] || fail "greeting: $(cat "$root/srv/app/greeting")"
[ "$(cat "$root/srv/app/whoami")" = app ] || fail "USER not applied to RUN"
[ ! -e "$root/etc/motd" ] || fail "a file removed by RUN is still there (whiteout lost)"
[ ! -e "$root/srv/app/skip.log" ] || fail ".dockerignore not honoured"
[ "$(stat -c %u:%g "$root/srv/app/one.txt")" = 1000:1000 ] || fail "--chown not applied"
[ "$(stat -c %a "$root/usr/local/bin/hello.sh")" = 755 ] || fail "--chmod not applied"
[ ! -e "$root/proc" ] && [ ! -e "$root/dev" ] && [ ! -e "$root/etc/hosts" ] \
  || fail "sandbox mount points leaked into the image"
[ "$(chroot "$root" /bin/sh -c 'cat /srv/app/greeting | wc -l')" = 2 ] || fail "image does not run"
skopeo copy -q "docker-archive:$WORK/app.tar" "oci:$WORK/via-skopeo:1" >/dev/null \
  || fail "skopeo cannot copy the docker-archive output"
umoci unpack --image "$WORK/via-skopeo:1" "$WORK/via-skopeo-bundle" >/dev/null
[ "$(cat "$WORK/via-skopeo-bundle/rootfs/srv/app/whoami")" = app ] || fail "docker-archive content differs"
ok "the image unpacks with umoci (whiteouts, ownership, modes, .dockerignore) and runs"

# A rebuild with nothing changed runs nothing and gives the same digest.
again=$("$KILN" build -t app:1 --source-date-epoch 1700000000 "$ctx" 2>"$WORK/build2.log")
[ "$again" = "$digest" ] || fail "cached rebuild changed the digest"
grep -q 'steps run' "$WORK/build2.log" && grep -q '(0 steps run' "$WORK/build2.log" \
  || fail "cached rebuild ran steps: $(tail -1 "$WORK/build2.log")"
ok "a rebuild with nothing changed is fully cached, same digest"

# A changed source invalidates from the COPY that selects it, not before.
echo "changed" >"$ctx/src/two.txt"
changed=$("$KILN" build -t app:2 --source-date-epoch 1700000000 "$ctx" 2>"$WORK/build3.log")
[ "$changed" != "$digest" ] || fail "a changed source did not change the image"
grep -A1 'COPY etc/' "$WORK/build3.log" | grep -q CACHED || fail "steps before the COPY re-ran"
grep -A1 'COPY --chown=app:app' "$WORK/build3.log" | grep -q DONE || fail "the COPY did not re-run"
echo "two" >"$ctx/src/two.txt"
ok "a changed file invalidates from the first COPY that selects it"

# Reproducible: two --no-cache builds into different stores give the same digest.
a=$(KILN_ROOT=$WORK/s1 "$KILN" build --no-cache --source-date-epoch 1700000000 -q "$ctx")
b=$(KILN_ROOT=$WORK/s2 "$KILN" build --no-cache --source-date-epoch 1700000000 -q "$ctx")
[ "$a" = "$b" ] && [ "$a" = "$digest" ] || fail "not reproducible: $a $b $digest"
ok "two --no-cache builds in fresh stores give the identical digest"

# The store's unpacked snapshots of earlier builds (their files' mtimes are those of the
# machine's clock) change nothing: --no-cache builds here, seconds apart and with no source
# date given, give the digest a fresh store gives.
c1=$("$KILN" build --no-cache -q "$ctx")
sleep 1.1
c2=$("$KILN" build --no-cache -q "$ctx")
c3=$(KILN_ROOT=$WORK/s3 "$KILN" build --no-cache -q "$ctx")
[ "$c1" = "$c2" ] && [ "$c1" = "$c3" ] || fail "--no-cache in a used store: $c1 $c2, fresh $c3"
ok "--no-cache builds in a used store give a fresh store's digest"

# --target builds only what the target needs.
"$KILN" build --target base -t base:1 "$ctx" 2>"$WORK/target.log" >/dev/null
! grep -q 'build ' "$WORK/target.log" || fail "--target base ran later stages"
ok "--target prunes stages the target does not need"

# Isolation and --network none.
mkdir -p "$WORK/iso"
cat >"$WORK/iso/Dockerfile" <<XEOF
FROM base:1
RUN ls /proc | grep -c '^[0-9]' > /pids; hostname > /host
RUN ls /sys/class/net > /nics
XEOF
"$KILN" build --network none -t iso:1 "$WORK/iso" >/dev/null 2>"$WORK/iso.log" || fail "iso build: $(tail -3 "$WORK/iso.log")"
"$KILN" copy iso:1 "oci:$WORK/iso-out:1" >/dev/null
umoci unpack --image "$WORK/iso-out:1" "$WORK/iso-bundle" >/dev/null
[ "$(cat "$WORK/iso-bundle/rootfs/pids")" -le 3 ] || fail "RUN sees host processes"
[ "$(cat "$WORK/iso-bundle/rootfs/host")" = kiln ] || fail "hostname"
[ "$(cat "$WORK/iso-bundle/rootfs/nics")" = lo ] || fail "--network none still has interfaces"
ok "RUN cannot see host processes; --network none leaves only lo"

# ADD unpacks local archives in any compression; other files are copied as they are.
mkdir -p "$WORK/add/payload/sub"
echo inside >"$WORK/add/payload/sub/file"
tar -C "$WORK/add/payload" -czf "$WORK/add/bundle.tar.gz" .
tar -C "$WORK/add/payload" --zstd -cf "$WORK/add/bundle.tar.zst" .
echo plain >"$WORK/add/notes.txt"
printf 'FROM base:1\nADD bundle.tar.gz /opt/gz/\nADD bundle.tar.zst notes.txt /opt/zst/\nRUN cat /opt/gz/sub/file /opt/zst/sub/file /opt/zst/notes.txt > /added\n' >"$WORK/add/Dockerfile"
"$KILN" build -q -t add:1 "$WORK/add" >/dev/null 2>"$WORK/add.log" || fail "ADD build: $(tail -3 "$WORK/add.log")"
"$KILN" copy add:1 "oci:$WORK/add-out:1" >/dev/null
umoci unpack --image "$WORK/add-out:1" "$WORK/add-bundle" >/dev/null
[ "$(cat "$WORK/add-bundle/rootfs/added")" = "inside
inside
plain" ] || fail "ADD: $(cat "$WORK/add-bundle/rootfs/added")"
[ ! -e "$WORK/add-bundle/rootfs/opt/gz/bundle.tar.gz" ] || fail "ADD copied the archive instead of unpacking it"
ok "ADD unpacks gzip and zstd tar archives and copies other files"

# ADD of http URLs (a server of the test's own on loopback): not unpacked, mode 0600, named
# after the URL; --checksum verified; keyed by content, so a changed download invalidates.
mkdir -p "$WORK/www" "$WORK/url"
echo "served" >"$WORK/www/data.txt"
cp "$WORK/add/bundle.tar.gz" "$WORK/www/"
/usr/bin/python3 -u -m http.server --bind 127.0.0.1 0 --directory "$WORK/www" >"$WORK/www.log" 2>&1 &
WWW_PID=$!
trap 'kill $WWW_PID ${GIT_PID:-} 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do grep -q 'port' "$WORK/www.log" && break; sleep 0.1; done
WP=$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$WORK/www.log" | head -1)
[ -n "$WP" ] || fail "http server did not start: $(cat "$WORK/www.log")"
sum=sha256:$(sha256sum <"$WORK/www/data.txt" | cut -d' ' -f1)
{
  echo "FROM base:1"
  echo "ADD http://127.0.0.1:$WP/data.txt /dl/"
  echo "ADD --checksum=$sum http://127.0.0.1:$WP/data.txt /dl/named.txt"
  echo "ADD --chmod=644 http://127.0.0.1:$WP/bundle.tar.gz /dl/"
  echo "RUN cat /dl/data.txt /dl/named.txt > /dl/both"
} >"$WORK/url/Dockerfile"
"$KILN" build -q -t url:1 "$WORK/url" >/dev/null 2>"$WORK/url.log" || fail "ADD URL build: $(tail -3 "$WORK/url.log")"
"$KILN" copy -q url:1 "oci:$WORK/url-out:1" >/dev/null
umoci unpack --image "$WORK/url-out:1" "$WORK/url-bundle" >/dev/null
u=$WORK/url-bundle/rootfs/dl
[ "$(cat "$u/both")" = "served
served" ] || fail "ADD URL content: $(cat "$u/both")"
[ "$(stat -c %a "$u/data.txt")" = 600 ] || fail "ADD URL mode $(stat -c %a "$u/data.txt")"
[ "$(stat -c %a "$u/bundle.tar.gz")" = 644 ] || fail "--chmod on ADD URL"
[ ! -e "$u/sub" ] || fail "a downloaded archive was unpacked"
out=$("$KILN" build -t url:1 "$WORK/url" 2>&1 >/dev/null)
echo "$out" | grep -q '(0 steps run, 4 cached)' || fail "unchanged URLs not cached: $out"
echo "changed" >"$WORK/www/data.txt"
out=$("$KILN" build -t url:1 "$WORK/url" 2>&1 >/dev/null) && fail "a stale --checksum was accepted"
echo "$out" | grep -q 'digest mismatch for ' || fail "checksum error: $out"
echo "$out" | grep -q '^#1 DONE' || fail "a changed download did not invalidate its ADD: $out"
sed -i '3d; s|/dl/named.txt|/dl/data.txt|' "$WORK/url/Dockerfile"
out=$("$KILN" build -t url:1 "$WORK/url" 2>&1 >/dev/null) || fail "rebuild: $out"
echo "$out" | grep -q '(2 steps run, 1 cached)' || fail "rebuild after the change: $out"
printf 'FROM base:1\nADD http://127.0.0.1:%s/missing /x\n' "$WP" >"$WORK/url/Dockerfile"
expect_fail 1 'downloading http://127.0.0.1:[0-9]+/missing: HTTP 404' "$KILN" build -q "$WORK/url"
ok "ADD downloads URLs (mode 0600, no unpacking), checks --checksum, caches by content"

# ONBUILD: recorded in the image; run first (with the child's context) when an image is used as
# a base; not passed on to the child.
mkdir -p "$WORK/onb-parent" "$WORK/onb-child"
printf 'FROM base:1\nONBUILD RUN echo triggered > /onbuild\nONBUILD COPY f /from-child\n' \
  >"$WORK/onb-parent/Dockerfile"
"$KILN" build -q -t onb:1 "$WORK/onb-parent" >/dev/null 2>"$WORK/onb.log" || fail "ONBUILD parent: $(cat "$WORK/onb.log")"
"$KILN" inspect onb:1 | jq -e '.config.config.OnBuild == ["RUN echo triggered > /onbuild", "COPY f /from-child"]' >/dev/null ||
  fail "ONBUILD not recorded: $("$KILN" inspect onb:1 | jq -c .config.config.OnBuild)"
echo child-file >"$WORK/onb-child/f"
printf 'FROM onb:1\nRUN cat /onbuild /from-child > /both\n' >"$WORK/onb-child/Dockerfile"
"$KILN" build -q -t onb-child:1 "$WORK/onb-child" >/dev/null 2>"$WORK/onb.log" || fail "ONBUILD child: $(cat "$WORK/onb.log")"
"$KILN" copy -q onb-child:1 "oci:$WORK/onb-out:1" >/dev/null
umoci unpack --image "$WORK/onb-out:1" "$WORK/onb-bundle" >/dev/null
[ "$(cat "$WORK/onb-bundle/rootfs/both")" = "triggered
child-file" ] || fail "ONBUILD triggers did not run: $(cat "$WORK/onb-bundle/rootfs/both")"
"$KILN" inspect onb-child:1 | jq -e '.config.config.OnBuild | length == 0' >/dev/null || fail "triggers passed on"
rm "$WORK/onb-child/f"
expect_fail 1 'Dockerfile:1: COPY: "/f": not found in the build context' "$KILN" build -q "$WORK/onb-child"
ok "ONBUILD triggers are recorded, run in the child build (errors at its FROM), not inherited"

# COPY --exclude: .dockerignore patterns, relative to the copied directory or the part of the
# source before its wildcard; an excluded directory takes its contents with it.
mkdir -p "$WORK/excl/src/sub" "$WORK/excl/src/keep"
for f in a.txt b.md sub/c.txt keep/d.txt keep/e.md; do echo "$f" >"$WORK/excl/src/$f"; done
printf 'FROM base:1\nCOPY --exclude=*.txt --exclude=sub src/ /e1/\nCOPY --exclude=*.md --exclude=keep/*.txt src/* /e2/\nRUN cd /e1 && find . -type f | sort > /l1 && cd /e2 && find . -type f | sort > /l2\n' \
  >"$WORK/excl/Dockerfile"
"$KILN" build -q -t excl:1 "$WORK/excl" >/dev/null 2>"$WORK/excl.log" || fail "--exclude build: $(cat "$WORK/excl.log")"
"$KILN" copy -q excl:1 "oci:$WORK/excl-out:1" >/dev/null
umoci unpack --image "$WORK/excl-out:1" "$WORK/excl-bundle" >/dev/null
[ "$(tr '\n' ' ' <"$WORK/excl-bundle/rootfs/l1")" = "./b.md ./keep/d.txt ./keep/e.md " ] ||
  fail "--exclude on a directory copy: $(cat "$WORK/excl-bundle/rootfs/l1")"
[ "$(tr '\n' ' ' <"$WORK/excl-bundle/rootfs/l2")" = "./a.txt ./c.txt " ] ||
  fail "--exclude on a wildcard copy: $(cat "$WORK/excl-bundle/rootfs/l2")"
ok "COPY --exclude leaves out matching files and directories"

# A failing step stops the build with its exit code and its last output; nothing is tagged.
mkdir -p "$WORK/fail"
printf 'FROM base:1\nRUN echo about to fail && exit 3\n' >"$WORK/fail/Dockerfile"
rc=0; "$KILN" build -q -t failed:1 "$WORK/fail" >/dev/null 2>"$WORK/fail.log" || rc=$?
[ "$rc" = 1 ] || fail "failing build exited $rc"
grep -q 'Dockerfile:2: RUN: process "/bin/sh -c echo about to fail && exit 3" did not complete successfully: exit code: 3; last output:' "$WORK/fail.log" \
  && grep -q '^  about to fail$' "$WORK/fail.log" || fail "failure report: $(cat "$WORK/fail.log")"
! "$KILN" inspect failed:1 >/dev/null 2>&1 || fail "a failed build was tagged"
printf 'FROM 127.0.0.1:1/nosuch/image:1\n' >"$WORK/fail/Dockerfile"
expect_fail 1 'base image 127.0.0.1:1/nosuch/image:1 \(pulling 127.0.0.1:1/nosuch/image:1\): cannot reach registry 127.0.0.1:1' "$KILN" build -q "$WORK/fail"
ok "a failing step reports its exit code and output; a missing base image is named"

# Many layers: one overlay mount stacks them all (the lower directories are passed by
# descriptor, so their path lengths do not limit the count).
mkdir -p "$WORK/many"
{
  echo "FROM base:1"
  for i in $(seq 1 60); do echo "RUN echo $i > /n$i"; done
  echo 'RUN ls / | grep -c "^n[0-9]" > /count'
} >"$WORK/many/Dockerfile"
"$KILN" build -q -t many:1 "$WORK/many" >/dev/null 2>"$WORK/many.log" || fail "60-step build: $(tail -3 "$WORK/many.log")"
[ "$("$KILN" inspect many:1 | jq '.manifest.layers | length')" -gt 60 ] || fail "layers missing"
"$KILN" copy many:1 "oci:$WORK/many-out:1" >/dev/null 2>&1
umoci unpack --image "$WORK/many-out:1" "$WORK/many-bundle" >/dev/null
[ "$(cat "$WORK/many-bundle/rootfs/count")" = 60 ] || fail "the last step saw $(cat "$WORK/many-bundle/rootfs/count") of 60 layers"
ok "a RUN step stacks more than 60 layers"

# Heredocs: as a command's input (the shell expands, <<- strips tabs, quoted delimiters keep
# text as is) and as a script with its own #! interpreter.
mkdir -p "$WORK/hd"
cat >"$WORK/hd/Dockerfile" <<'XEOF'
FROM base:1
ENV WHO=world
RUN cat <<EOF > /greet
hello $WHO
EOF
RUN cat <<'EOF' > /raw && tr a-z A-Z <<-LOUD > /loud
keep $WHO
EOF
	shout
	LOUD
RUN <<EOF
#!/bin/sh -e
echo "interpreted $WHO" > /script
EOF
XEOF
"$KILN" build -q -t hd:1 "$WORK/hd" >/dev/null 2>"$WORK/hd.log" || fail "heredoc build: $(tail -3 "$WORK/hd.log")"
"$KILN" copy hd:1 "oci:$WORK/hd-out:1" >/dev/null 2>&1
umoci unpack --image "$WORK/hd-out:1" "$WORK/hd-bundle" >/dev/null
r=$WORK/hd-bundle/rootfs
[ "$(cat "$r/greet")" = "hello world" ] && [ "$(cat "$r/raw")" = 'keep $WHO' ] \
  && [ "$(cat "$r/loud")" = SHOUT ] && [ "$(cat "$r/script")" = "interpreted world" ] \
  || fail "heredocs: $(cat "$r/greet" "$r/raw" "$r/loud" "$r/script")"
ok "heredocs feed commands' stdin and run #! scripts with their interpreter"

# Progress: JSON events, one object per line; on a terminal, a live status line with
# finished steps and RUN output above it.
mkdir -p "$WORK/prog"
printf 'FROM base:1\nRUN echo streamed-line\nENV A=1\n' >"$WORK/prog/Dockerfile"
digest=$("$KILN" build --no-cache --progress json "$WORK/prog" 2>"$WORK/prog.json") || fail "json build: $(tail -3 "$WORK/prog.json")"
jq -e . "$WORK/prog.json" >/dev/null || fail "--progress json printed something that is not JSON"
jq -se --arg d "$digest" '
  (map(select(.event == "start")) | length) == 2 and
  (map(select(.event == "output" and .step == 1 and .line == "streamed-line")) | length) == 1 and
  (map(select(.event == "layer" and .step == 1 and (.digest | startswith("sha256:")))) | length) == 1 and
  (map(select(.event == "done")) | length) == 2 and
  (map(select(.event == "built" and .digest == $d and .steps_run == 1)) | length) == 1' \
  "$WORK/prog.json" >/dev/null || fail "json events: $(cat "$WORK/prog.json")"
TERM=xterm script -qec "$KILN build --no-cache $WORK/prog" "$WORK/prog.tty" >/dev/null \
  || fail "build on a terminal failed: $(tail -3 "$WORK/prog.tty")"
grep -q $'\x1b\[1A' "$WORK/prog.tty" || fail "no live view on a terminal"
grep -q '#1 streamed-line' "$WORK/prog.tty" || fail "RUN output not streamed on a terminal"
grep -q '#2 \[stage-0 2/2\] ENV A=1  DONE' "$WORK/prog.tty" || fail "finished steps not listed: $(cat -v "$WORK/prog.tty")"
printf 'FROM base:1\nRUN echo before-failing && exit 7\n' >"$WORK/prog/Dockerfile.fail"
"$KILN" build --progress json -f "$WORK/prog/Dockerfile.fail" "$WORK/prog" 2>"$WORK/fail.json" >/dev/null \
  && fail "a failing build succeeded"
jq -e . "$WORK/fail.json" >/dev/null || fail "a failed --progress json build printed text: $(tail -2 "$WORK/fail.json")"
tail -1 "$WORK/fail.json" | jq -e '.event == "error" and (.message | test("Dockerfile.fail:2: RUN: .*exit code: 7"))' >/dev/null \
  || fail "the stream does not end with the error: $(tail -2 "$WORK/fail.json")"
"$KILN" build --progress json --secret bad "$WORK/prog" 2>"$WORK/fail2.json" >/dev/null && fail "a bad --secret built"
tail -1 "$WORK/fail2.json" | jq -e '.event == "error" and .code == "INVALID_ARGUMENT"' >/dev/null \
  || fail "an error before the build is not a JSON event: $(cat "$WORK/fail2.json")"
ok "--progress json emits one event per line and ends a failure with an error event; a terminal gets a live view"

# COPY into an image's symlinks and directories: /bin -> usr/bin is followed, /tmp keeps its
# mode, an existing directory is copied into; --parents keeps source paths; --link layers
# are reused on a changed base.
mkdir -p "$WORK/cp/src/a/b" "$WORK/cp/src/c" "$WORK/cp/tree/bin"
echo 1 >"$WORK/cp/src/a/b/one.txt"
echo 2 >"$WORK/cp/src/c/two.txt"
echo 3 >"$WORK/cp/src/c/three.md"
echo tool >"$WORK/cp/tree/bin/tool"
echo hi >"$WORK/cp/hello"
cat >"$WORK/cp/Dockerfile" <<'XEOF'
FROM base:1
ARG V=1
RUN mkdir -p /usr/bin /opt/app && mv /bin/* /usr/bin/ && rmdir /bin && ln -s usr/bin /bin \
    && ln -s /opt/app /app && echo $V > /v
COPY hello /bin/hello
COPY hello /tmp/sub/
COPY hello /app
COPY tree/ /
COPY --parents src/a/b/one.txt src/c/*.txt /p/
COPY --parents ./src/./c /q/
COPY --link src/c/ /linked/
XEOF
"$KILN" build -q -t cp:1 "$WORK/cp" >/dev/null 2>"$WORK/cp.log" || fail "copy build: $(tail -3 "$WORK/cp.log")"
"$KILN" copy cp:1 "oci:$WORK/cp-out:1" >/dev/null 2>&1
umoci unpack --image "$WORK/cp-out:1" "$WORK/cp-bundle" >/dev/null
r=$WORK/cp-bundle/rootfs
[ -L "$r/bin" ] && [ "$(readlink "$r/bin")" = usr/bin ] || fail "COPY replaced the /bin symlink"
[ -f "$r/usr/bin/hello" ] && [ -f "$r/usr/bin/tool" ] && [ -x "$r/usr/bin/busybox" ] \
  || fail "COPY did not follow /bin to /usr/bin"
[ "$(stat -c %a "$r/tmp")" = 1777 ] || fail "COPY reset /tmp to $(stat -c %a "$r/tmp")"
[ -L "$r/app" ] && [ -f "$r/opt/app/hello" ] || fail "COPY to a symlinked directory"
[ "$(cd "$r" && find p q linked -type f | sort | tr '\n' ' ')" = "linked/three.md linked/two.txt p/src/a/b/one.txt p/src/c/two.txt q/c/three.md q/c/two.txt " ] \
  || fail "--parents/--link: $(cd "$r" && find p q linked -type f | sort | tr '\n' ' ')"
"$KILN" build --progress plain --build-arg V=2 "$WORK/cp" >/dev/null 2>"$WORK/cp2.log" || fail "rebuild with V=2"
grep -A1 'COPY --link' "$WORK/cp2.log" | grep -q CACHED || fail "--link layer not reused on a changed base: $(cat "$WORK/cp2.log")"
grep -A1 'COPY --parents=true ./src' "$WORK/cp2.log" | grep -q DONE || fail "a plain COPY after a changed base was not re-run"
ok "COPY follows the image's symlinks and keeps its directories; --parents and --link work"

# Independent stages run at the same time: stage a waits (with a timeout) for a message that
# stage b sends over loopback, which only works when both run at once. (a listens again if
# something else connects first: the port is free, not reserved; it reads through -e, as a
# plain nc -l may quit on its own stdin's end before the message is in.) Concurrent steps get
# private networks of their own, so the two meet on the host's network, asked for here.
port=$(free_port)
mkdir -p "$WORK/conc"
cat >"$WORK/conc/Dockerfile" <<XEOF
FROM base:1 AS a
RUN for i in \$(seq 1 12); do timeout 10 nc -l -p $port -e sh -c 'cat > /got'; grep -q hello-from-b /got && break; done
FROM base:1 AS b
RUN for i in \$(seq 1 500); do echo hello-from-b | nc 127.0.0.1 $port && break; sleep 0.2; done
FROM base:1
COPY --from=a /got /got
COPY --from=b /etc/passwd /b-passwd
XEOF
"$KILN" build --network host --no-cache -q -t conc:1 "$WORK/conc" >/dev/null 2>"$WORK/conc.log" || fail "concurrent stages: $(tail -3 "$WORK/conc.log")"
"$KILN" copy conc:1 "oci:$WORK/conc-out:1" >/dev/null 2>&1
umoci unpack --image "$WORK/conc-out:1" "$WORK/conc-bundle" >/dev/null
[ "$(cat "$WORK/conc-bundle/rootfs/got")" = hello-from-b ] || fail "stages did not run concurrently: $(cat "$WORK/conc-bundle/rootfs/got")"
ok "independent stages run concurrently"

# SHELL changes the shell of later RUNs (and is recorded); MAINTAINER sets the author.
mkdir -p "$WORK/shell"
cat >"$WORK/shell/Dockerfile" <<'XEOF'
FROM base:1
MAINTAINER someone@example.com
RUN echo "$0" > /default-shell
SHELL ["/bin/busybox", "sh", "-c"]
RUN echo "$0" > /chosen-shell
XEOF
"$KILN" build -q -t shell:1 "$WORK/shell" >/dev/null 2>"$WORK/shell.log" || fail "SHELL build: $(tail -3 "$WORK/shell.log")"
"$KILN" inspect shell:1 | jq -e '.config.author == "someone@example.com" and .config.config.Shell == ["/bin/busybox", "sh", "-c"]' >/dev/null \
  || fail "SHELL/MAINTAINER config: $("$KILN" inspect shell:1 | jq -c '.config | {author, s: .config.Shell}')"
"$KILN" copy shell:1 "oci:$WORK/shell-out:1" >/dev/null 2>&1
umoci unpack --image "$WORK/shell-out:1" "$WORK/shell-bundle" >/dev/null
[ "$(cat "$WORK/shell-bundle/rootfs/default-shell")" = /bin/sh ] && [ "$(cat "$WORK/shell-bundle/rootfs/chosen-shell")" = sh ] \
  || fail "SHELL not applied: $(cat "$WORK/shell-bundle/rootfs/default-shell" "$WORK/shell-bundle/rootfs/chosen-shell")"
ok "SHELL sets the shell of later RUNs; MAINTAINER sets the author"

# gc keeps the build cache (its layers and snapshots) unless told to drop it.
"$KILN" rmi shell:1 >/dev/null
"$KILN" gc >/dev/null
"$KILN" build --progress plain "$WORK/shell" >/dev/null 2>"$WORK/gc1.log" || fail "rebuild after gc"
grep -q '(0 steps run' "$WORK/gc1.log" || fail "gc dropped the build cache: $(tail -1 "$WORK/gc1.log")"
"$KILN" gc --build-cache >/dev/null
"$KILN" build --progress plain "$WORK/shell" >/dev/null 2>"$WORK/gc2.log" || fail "rebuild after gc --build-cache"
grep -q '(0 steps run' "$WORK/gc2.log" && fail "gc --build-cache kept the build cache"
ok "gc keeps the build cache; gc --build-cache drops it"


# RUN --mount: a cache directory kept across builds and out of the image, a tmpfs, read-only
# binds of a stage's file and of the build context (secrets and ssh: secrets_test).
mkdir -p "$WORK/mnt/data"
echo ctx-file >"$WORK/mnt/data/f"
cat >"$WORK/mnt/Dockerfile" <<'XEOF'
FROM base:1 AS builder
RUN echo built > /artifact
FROM base:1
ARG N
RUN --mount=type=cache,target=/var/cache/t sh -c 'echo run $N >> /var/cache/t/log; wc -l < /var/cache/t/log > /count'
RUN --mount=type=tmpfs,target=/scratch sh -c 'echo x > /scratch/x; ls /scratch > /tmpfs-list'
RUN --mount=from=builder,source=/artifact,target=/in/artifact cat /in/artifact > /got-artifact
RUN --mount=target=/ctx sh -c 'cat /ctx/data/f > /got-ctx; (touch /ctx/new 2>/dev/null && echo rw || echo ro) > /ctx-mode'
XEOF
# N changes the step's key, so it runs again with the cache mount the first run left.
for i in 1 2; do
  "$KILN" build --build-arg N=$i -q -t mnt:1 "$WORK/mnt" >/dev/null 2>"$WORK/mnt.log" || fail "RUN --mount build: $(tail -3 "$WORK/mnt.log")"
done
"$KILN" copy mnt:1 "oci:$WORK/mnt-out:1" >/dev/null 2>&1
umoci unpack --image "$WORK/mnt-out:1" "$WORK/mnt-bundle" >/dev/null
r=$WORK/mnt-bundle/rootfs
[ "$(cat "$r/count")" = 2 ] || fail "cache mount not kept across builds: $(cat "$r/count")"
[ ! -e "$r/var/cache/t/log" ] && [ ! -e "$r/scratch/x" ] || fail "mounted content leaked into the image"
[ "$(cat "$r/tmpfs-list")" = x ] && [ "$(cat "$r/got-artifact")" = built ] && [ "$(cat "$r/got-ctx")" = ctx-file ] \
  || fail "mounts: $(cat "$r/tmpfs-list" "$r/got-artifact" "$r/got-ctx")"
[ "$(cat "$r/ctx-mode")" = ro ] && [ ! -e "$WORK/mnt/new" ] || fail "a bind mount was writable"
# A changed file under a context bind re-runs the step.
echo changed >"$WORK/mnt/data/f"
"$KILN" build --build-arg N=2 --progress plain -t mnt:2 "$WORK/mnt" >/dev/null 2>"$WORK/mnt2.log" || fail "rebuild"
grep -A1 'RUN --mount=target=/ctx' "$WORK/mnt2.log" | grep -q DONE || fail "a changed bound file did not invalidate"
grep -A1 'type=tmpfs' "$WORK/mnt2.log" | grep -q CACHED || fail "an unrelated step re-ran"
# Without the build cache, cache mounts start empty too (as in BuildKit).
"$KILN" build --no-cache --build-arg N=3 -q -t mnt:3 "$WORK/mnt" >/dev/null 2>"$WORK/mnt.log" || fail "--no-cache build: $(tail -3 "$WORK/mnt.log")"
"$KILN" copy mnt:3 "oci:$WORK/mnt-out:3" >/dev/null 2>&1
umoci raw unpack --image "$WORK/mnt-out:3" "$WORK/mnt3" >/dev/null
[ "$(cat "$WORK/mnt3/count")" = 1 ] || fail "--no-cache kept the cache mount: $(cat "$WORK/mnt3/count")"
ok "RUN --mount: cache, tmpfs and read-only binds of stages and the context"

# Build-cache records cost what a step changes: 3,000 ENV lines leave records of a few
# hundred kB in all (each holding the whole config would take ~1.5 GB), and a rebuild
# reuses every step.
mkdir -p "$WORK/envs"
{
  echo "FROM base:1"
  for i in $(seq 1 3000); do echo "ENV VARIABLE_$i=value-$i"; done
  echo 'RUN env | grep -c ^VARIABLE_ > /count'
} >"$WORK/envs/Dockerfile"
"$KILN" copy base:1 "oci:$WORK/base-layout:1" >/dev/null 2>&1
KILN_ROOT=$WORK/envstore "$KILN" copy "oci:$WORK/base-layout:1" base:1 >/dev/null 2>&1
KILN_ROOT=$WORK/envstore "$KILN" build -q -t envs:1 "$WORK/envs" >/dev/null 2>"$WORK/envs.log" || fail "3000 ENV lines: $(tail -3 "$WORK/envs.log")"
bytes=$(find "$WORK/envstore/cache" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
[ "$bytes" -lt 5000000 ] || fail "3000 ENV lines wrote $bytes bytes of cache records"
KILN_ROOT=$WORK/envstore "$KILN" build -t envs:1 "$WORK/envs" >/dev/null 2>"$WORK/envs2.log"
grep -q '(0 steps run, 1 cached)' "$WORK/envs2.log" || fail "rebuild of 3000 ENV lines: $(tail -1 "$WORK/envs2.log")"
ok "metadata steps' cache records are small; a rebuild reuses them all"

# Work a killed kiln left behind is removed by the next kiln to need that place, no gc
# asked: a build's work directory (killed in a RUN, and in a COPY), an archive's staging
# directory. Live work is never touched (and OCI layouts' ingest directories are swept the
# same way: base/file_util_test).
killed=$WORK/killed
mkdir -p "$killed/ctx" "$killed/tmp"
head -c 150000000 /dev/urandom >"$killed/ctx/big"
printf 'FROM base:1\nRUN sleep 300 # kiln-killed-marker\n' >"$killed/ctx/Dockerfile.run"
# --chown: a real copy, not hard links, so the COPY lasts long enough to be killed in.
printf 'FROM base:1\nCOPY --chown=1:1 big /big\n' >"$killed/ctx/Dockerfile.copy"
kill_when() {  # kill_when PATTERN CMD...: runs CMD, SIGKILLs it once a path matches PATTERN
  local pattern=$1 i
  shift
  setsid "$@" >/dev/null 2>&1 &
  local pid=$!
  for i in $(seq 1 600); do
    compgen -G "$pattern" >/dev/null && break
    sleep 0.02
  done
  kill -9 -- "-$pid" 2>/dev/null || kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pkill -9 -f kiln-killed-marker 2>/dev/null || true
}
kill_when "$KILN_ROOT/run/build-*/step-*/upper" "$KILN" build --no-cache -f "$killed/ctx/Dockerfile.run" "$killed/ctx"
kill_when "$KILN_ROOT/run/build-*/step-*/diff" "$KILN" build --no-cache -f "$killed/ctx/Dockerfile.copy" "$killed/ctx"
[ "$(compgen -G "$KILN_ROOT/run/build-*" | wc -l)" -ge 2 ] || fail "the killed builds left nothing to sweep: $(ls "$KILN_ROOT/run")"
"$KILN" build -q -t killed:1 -f "$killed/ctx/Dockerfile.copy" "$killed/ctx" >/dev/null 2>&1 || fail "build after kills"
[ -z "$(compgen -G "$KILN_ROOT/run/build-*")" ] || fail "killed builds' work is left: $(ls "$KILN_ROOT/run")"
kill_when "$killed/tmp/kiln-archive-*/*" env TMPDIR="$killed/tmp" "$KILN" copy killed:1 "docker-archive:$killed/k.tar:killed:1"
[ -n "$(compgen -G "$killed/tmp/kiln-archive-*")" ] || fail "the killed copy left nothing to sweep: $(ls "$killed/tmp")"
TMPDIR="$killed/tmp" "$KILN" copy killed:1 "docker-archive:$killed/k.tar:killed:1" >/dev/null 2>&1
[ -z "$(compgen -G "$killed/tmp/kiln-archive-*")" ] || fail "a killed copy's staging is left: $(ls "$killed/tmp")"
rm -f "$killed/ctx/big" "$killed/k.tar"
"$KILN" rmi killed:1 >/dev/null
ok "what killed builds and copies leave is swept by the next one"

# A build of fixed inputs (no host binaries) gives the digest it has always given: layers,
# config and history are a function of the Dockerfile and the context alone. (A change that
# means to change images changes this digest, and says so.)
gold=$WORK/golden
mkdir -p "$gold/ctx/app/sub"
printf 'hello\n' >"$gold/ctx/app/a.txt"
printf 'nested\n' >"$gold/ctx/app/sub/b.txt"
printf '#!/bin/sh\necho run\n' >"$gold/ctx/app/run.sh"
ln -s a.txt "$gold/ctx/app/link"
chmod 0644 "$gold/ctx/app/a.txt" "$gold/ctx/app/sub/b.txt"
chmod 0755 "$gold/ctx/app/run.sh" "$gold/ctx/app" "$gold/ctx/app/sub"
cat >"$gold/ctx/Dockerfile" <<'XEOF'
FROM scratch AS files
COPY app/ /srv/app/
COPY --chown=1000:1000 --chmod=0640 app/a.txt /srv/owned.txt
FROM scratch
ARG VERSION=1.0
ENV APP_HOME=/srv/app VERSION=$VERSION
LABEL org.opencontainers.image.title="golden" org.opencontainers.image.version=$VERSION
COPY --from=files /srv /srv
WORKDIR $APP_HOME/work
USER 1000:1000
EXPOSE 8080 53/udp
VOLUME /data
HEALTHCHECK --interval=30s CMD ["/srv/app/run.sh"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/srv/app/run.sh"]
CMD ["--serve"]
XEOF
golden=$(KILN_ROOT=$WORK/goldstore "$KILN" build -q --source-date-epoch 1700000000 "$gold/ctx")
[ "$golden" = sha256:e965b3b8c12f96d9839c8abe8855330d4b1501451b7e1f2ba8940940be072be9 ] || fail "the fixed build's digest changed: $golden"
ok "a build of fixed inputs gives the digest it always gave"

# Errors name paths as the image has them, never the store's work directories.
mkdir -p "$WORK/conflict/a" "$WORK/conflict/b/x"
echo f >"$WORK/conflict/a/x"
echo g >"$WORK/conflict/b/x/y"
printf 'FROM base:1\nCOPY a/ b/ /dst/\n' >"$WORK/conflict/Dockerfile"
expect_fail 1 'Dockerfile:2: COPY: create /dst/x/y: Not a directory$' "$KILN" build -q --no-cache "$WORK/conflict"
! grep -q "$KILN_ROOT\|/run/build-" "$WORK/.stderr" || fail "an error shows a store path: $(cat "$WORK/.stderr")"
ok "errors name image paths, not the store's"

# --output takes BuildKit's CSV form too, and a bad one stops the build before it starts:
# nothing is built or tagged.
out_ctx=$WORK/outs
mkdir -p "$out_ctx"
printf 'FROM base:1\nRUN echo built > /marker\n' >"$out_ctx/Dockerfile"
expect_fail 1 '^kiln: --output type=oci,dest=/nonexistent/x.tar: directory "/nonexistent" does not exist$' \
  "$KILN" build -t early:1 --output type=oci,dest=/nonexistent/x.tar "$out_ctx"
! grep -q 'marker' "$WORK/.stderr" || fail "the build ran before its --output was checked"
! "$KILN" images | grep -q '^early:1 ' || fail "a build with a bad --output tagged its image"
expect_fail 1 'unsupported type "weird"' "$KILN" build -q --output type=weird,dest="$WORK/l" "$out_ctx"
mkdir -p "$WORK/full" && touch "$WORK/full/x"
expect_fail 1 "^kiln: --output type=local,dest=$WORK/full: it exists and is not an empty directory\$" \
  "$KILN" build -q --output type=local,dest="$WORK/full" "$out_ctx"
"$KILN" build -q -t outs:1 --output "type=oci,dest=$WORK/outs.tar" \
  --output "type=docker,dest=$WORK/outs-docker.tar" "$out_ctx" >/dev/null
skopeo inspect "oci-archive:$WORK/outs.tar" >/dev/null || fail "type=oci output unreadable"
skopeo inspect "docker-archive:$WORK/outs-docker.tar" >/dev/null || fail "type=docker output unreadable"
tar -xOf "$WORK/outs-docker.tar" manifest.json | jq -e '.[0].RepoTags == ["docker.io/library/outs:1"] or .[0].RepoTags == ["outs:1"]' >/dev/null \
  || fail "type=docker output lacks the -t name: $(tar -xOf "$WORK/outs-docker.tar" manifest.json)"
ok "--output: BuildKit's type=oci and type=docker; bad outputs refused before the build"

# type=local and type=tar: the image's files, as umoci unpacks the image itself.
mkdir -p "$WORK/empty-dest"
"$KILN" build -q -t outs:1 --output "type=local,dest=$WORK/files" --output "type=local,dest=$WORK/empty-dest" \
  --output "type=tar,dest=$WORK/files.tar" "$out_ctx" >/dev/null
"$KILN" copy -q outs:1 "oci:$WORK/outs-layout:x" >/dev/null
umoci unpack --image "$WORK/outs-layout:x" "$WORK/outs-bundle" >/dev/null
want=$(tree_listing "$WORK/outs-bundle/rootfs" | grep -v ' [bc] ')
[ "$(tree_listing "$WORK/files" | grep -v ' [bc] ')" = "$want" ] || fail "type=local differs from the image's tree"
[ "$(tree_listing "$WORK/empty-dest" | grep -v ' [bc] ')" = "$want" ] || fail "type=local into an empty directory differs"
mkdir -p "$WORK/from-tar" && tar -xf "$WORK/files.tar" -C "$WORK/from-tar"
[ "$(tree_listing "$WORK/from-tar" | grep -v ' [bc] ')" = "$want" ] || fail "type=tar differs from the image's tree"
[ "$(cat "$WORK/files/marker")" = built ] || fail "type=local lacks what RUN made"
! ls -a "$WORK" | grep -q '^\.kiln-output-' || fail "a temporary output directory was left behind"
ok "--output type=local and type=tar write the image's files (the tree umoci unpacks), whole"

# Outputs to stdout (docker buildx's `-o -` and dest=-): the bytes replace the digest there.
"$KILN" build -q -t outs:1 -o - "$out_ctx" >"$WORK/stdout.tar" || fail "-o - failed"
mkdir -p "$WORK/from-stdout" && tar -xf "$WORK/stdout.tar" -C "$WORK/from-stdout"
[ "$(tree_listing "$WORK/from-stdout" | grep -v ' [bc] ')" = "$want" ] || fail "-o - differs from the image's tree"
"$KILN" build -q -t outs:1 --iidfile "$WORK/so.iid" -o type=oci,dest=- "$out_ctx" >"$WORK/stdout-oci.tar"
skopeo inspect "oci-archive:$WORK/stdout-oci.tar" >/dev/null || fail "type=oci,dest=- is no oci-archive"
[ -s "$WORK/so.iid" ] || fail "--iidfile beside a stdout output"
"$KILN" build -q -t outs:1 -o type=docker,dest=- "$out_ctx" | tar -xO manifest.json | jq -e '.[0].RepoTags | length == 1' >/dev/null ||
  fail "type=docker,dest=- is no docker archive"
expect_fail 1 'type=local cannot write to stdout' "$KILN" build -q -o type=local,dest=- "$out_ctx"
expect_fail 1 'only one --output can go to stdout' "$KILN" build -q -o - -o type=oci,dest=- "$out_ctx"
ok "-o - and dest=- write a tar, an oci or a docker archive to stdout"

# What CI scripts pass in and read out: the Dockerfile on stdin (-f -), the context as a tar
# on stdin (-), a Dockerfile alone on stdin; --iidfile and --metadata-file as BuildKit writes
# them (read back with skopeo), and no stale iidfile after a failed build.
mkdir -p "$WORK/stdin/data"
echo from-tar >"$WORK/stdin/data/f"
printf 'FROM base:1\nCOPY data/f /f\n' >"$WORK/stdin/Dockerfile"
d1=$("$KILN" build -q -t in:1 --iidfile "$WORK/iid" --metadata-file "$WORK/meta.json" "$WORK/stdin" 2>"$WORK/in.log") \
  || fail "build with --iidfile: $(tail -3 "$WORK/in.log")"
d2=$("$KILN" build -q -f - "$WORK/stdin" <"$WORK/stdin/Dockerfile" 2>"$WORK/in.log") || fail "-f -: $(tail -3 "$WORK/in.log")"
d3=$(tar -czf - -C "$WORK/stdin" . | "$KILN" build -q - 2>"$WORK/in.log") || fail "context tar on stdin: $(tail -3 "$WORK/in.log")"
[ "$d1" = "$d2" ] && [ "$d1" = "$d3" ] || fail "stdin inputs gave other images: $d1 $d2 $d3"
printf 'FROM base:1\nENV FROM_STDIN=1\n' | "$KILN" build -q -t in:2 - >/dev/null 2>"$WORK/in.log" || fail "Dockerfile on stdin: $(tail -3 "$WORK/in.log")"
"$KILN" inspect in:2 | jq -e '.config.config.Env | index("FROM_STDIN=1")' >/dev/null || fail "the stdin Dockerfile was not built"
"$KILN" copy in:1 "oci:$WORK/in-out:1" >/dev/null 2>&1
config=$(skopeo inspect --config --raw "oci:$WORK/in-out:1" | sha256sum | cut -d' ' -f1)
raw=$(skopeo inspect --raw "oci:$WORK/in-out:1")
[ "$(cat "$WORK/iid")" = "sha256:$config" ] || fail "--iidfile: $(cat "$WORK/iid"), config sha256:$config"
jq -e --arg d "$d1" --arg c "sha256:$config" --argjson size "$(printf %s "$raw" | wc -c)" \
  '.["containerimage.digest"] == $d and .["containerimage.config.digest"] == $c
   and .["containerimage.descriptor"].digest == $d and .["containerimage.descriptor"].size == $size
   and .["containerimage.descriptor"].mediaType == "application/vnd.oci.image.manifest.v1+json"
   and .["image.name"] == "in:1"' "$WORK/meta.json" >/dev/null || fail "--metadata-file: $(cat "$WORK/meta.json")"
printf 'FROM base:1\nRUN exit 3\n' >"$WORK/stdin/Dockerfile.fail"
expect_fail 1 'exit code: 3' "$KILN" build -q --iidfile "$WORK/iid" -f "$WORK/stdin/Dockerfile.fail" "$WORK/stdin"
[ ! -e "$WORK/iid" ] || fail "a failed build left the earlier --iidfile"
echo 'not a tar' | "$KILN" build -q - >/dev/null 2>"$WORK/in.log" && fail "a bad Dockerfile on stdin built"
grep -q '^kiln: Dockerfile:1:1: unknown instruction: not$' "$WORK/in.log" || fail "stdin Dockerfile error: $(cat "$WORK/in.log")"
expect_fail 1 'cannot both be stdin' "$KILN" build -q -f - - </dev/null
ok "-f -, a context tar or a Dockerfile on stdin, --iidfile and --metadata-file"

# A git URL as the context, served by git daemon on loopback: the commit's files at a ref and
# in a subdirectory, the commit's time as the source date, the same image as a checkout gives.
mkdir -p "$WORK/gitroot" "$WORK/gitsrc"
app_context "$WORK/gitsrc/sub"
gitc() { git -C "$WORK/gitsrc" -c user.name=t -c user.email=t@t "$@"; }
git init -q -b main "$WORK/gitsrc"
gitc add -A && GIT_COMMITTER_DATE=@1650000000 gitc commit -qm one && gitc tag v1
echo changed >"$WORK/gitsrc/sub/src/one.txt"
GIT_COMMITTER_DATE=@1660000000 gitc commit -qam two
git clone -q --bare "$WORK/gitsrc" "$WORK/gitroot/app.git"
GIT_PORT=$(free_port)
git daemon --reuseaddr --export-all --base-path="$WORK/gitroot" --listen=127.0.0.1 \
  --port="$GIT_PORT" "$WORK/gitroot" >"$WORK/git-daemon.log" 2>&1 &
GIT_PID=$!
for _ in $(seq 50); do git ls-remote "git://127.0.0.1:$GIT_PORT/app.git" >/dev/null 2>&1 && break; sleep 0.1; done
git clone -q "$WORK/gitroot/app.git" "$WORK/checkout"
want=$("$KILN" build -q "$WORK/checkout/sub")
got=$("$KILN" build -q "git://127.0.0.1:$GIT_PORT/app.git#main:sub")
[ "$got" = "$want" ] || fail "git context built $got, a checkout $want"
"$KILN" build -q -t gitv1:1 "git://127.0.0.1:$GIT_PORT/app.git#v1:sub" >/dev/null
created=$("$KILN" inspect gitv1:1 | jq -r .config.created)
[ "$created" = 2022-04-15T05:20:00Z ] || fail "git context's source date: created $created"
"$KILN" copy -q gitv1:1 "oci:$WORK/gitv1:x" >/dev/null
umoci unpack --image "$WORK/gitv1:x" "$WORK/gitv1-bundle" >/dev/null
grep -q changed "$WORK/gitv1-bundle/rootfs/srv/app/one.txt" && fail "#v1 built the later commit"
got=$("$KILN" build -q "file://$WORK/gitroot/app.git#main:sub")
[ "$got" = "$want" ] || fail "file:// git context built $got, want $want"
expect_fail 1 "git context git://127.0.0.1:$GIT_PORT/app.git#nope" "$KILN" build -q "git://127.0.0.1:$GIT_PORT/app.git#nope"
expect_fail 1 'no directory "nodir" in the repository' "$KILN" build -q "git://127.0.0.1:$GIT_PORT/app.git#main:nodir"
kill "$GIT_PID" 2>/dev/null || true
ok "git contexts (git daemon, file://): a ref, a subdirectory, the commit's time, a checkout's image"

finish
