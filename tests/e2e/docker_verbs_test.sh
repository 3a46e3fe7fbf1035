#!/usr/bin/env bash
# What a docker user types, typed as they type it: unknown verbs and flags, --version, the
# image verbs' two-word forms, history, images -q/REPOSITORY/--digests/--format, inspect
# --format, rmi by ID and -f, save/load (read by skopeo, and archives skopeo made), EXPOSE
# checks; and the README's "coming from docker" table holds.
source "$(dirname "$0")/lib.sh" "$1"
README=$(dirname "$0")/../../README.md

app_context "$WORK/app"
"$KILN" build -q -t app:1 "$WORK/app" >/dev/null
"$KILN" tag app:1 app:2

# Verbs and flags.
expect_fail 2 '^kiln: unknown command "ps": kiln keeps no containers$' "$KILN" ps
expect_fail 2 '^kiln: unknown command "histroy" \(did you mean history\?\)$' "$KILN" histroy app:1
expect_fail 2 '^kiln: unknown flag --squash for kiln build \(see kiln build --help\)$' \
  "$KILN" build --squash "$WORK/app"
expect_fail 2 '^kiln: CONTEXT is required' "$KILN" build
"$KILN" build --help | grep -q 'CONTEXT TEXT REQUIRED' || fail "build --help: CONTEXT"
"$KILN" build --help | grep -q -- '--source-date-epoch.*git HEAD' || fail "build --help: the source date"
[ "$("$KILN" --version)" = "$("$KILN" version | head -n 1)" ] || fail "kiln --version: $("$KILN" --version)"
"$KILN" image ls | grep -q '^app:1 ' || fail "kiln image ls"
"$KILN" image inspect app:1 | jq -e .digest >/dev/null || fail "kiln image inspect"
ok "unknown verbs and flags are one line, --version, image ls/inspect"

# history.
"$KILN" history app:1 >"$WORK/history"
head -n 1 "$WORK/history" | grep -q '^IMAGE  *CREATED  *CREATED BY  *SIZE  *COMMENT$' || fail "history header"
[ "$(wc -l <"$WORK/history")" = "$(("$("$KILN" inspect app:1 | jq '.config.history | length')" + 1))" ] ||
  fail "history rows: $(cat "$WORK/history")"
sed -n 2p "$WORK/history" | grep -q '^[0-9a-f]\{12\} .*CMD \["cat /srv/app/greeting"\]' ||
  fail "history: newest first, with the image ID: $(sed -n 2p "$WORK/history")"
sed -n 3p "$WORK/history" | grep -q '^<missing> ' || fail "history: older entries"
grep -q '…' "$WORK/history" || fail "history does not cut long CREATED BY"
"$KILN" history --no-trunc app:1 | grep -q '…' && fail "--no-trunc cut"
[ "$("$KILN" history --format '{{.CreatedBy}}' app:1 | tail -n 1)" = 'COPY bin/busybox /bin/busybox' ] ||
  fail "history --format: $("$KILN" history --format '{{.CreatedBy}}' app:1 | tail -n 1)"
"$KILN" history --format json app:1 | head -n 1 | jq -e '.ID and .CreatedSince and .Size' >/dev/null ||
  fail "history --format json"
ok "history: docker's columns, newest first, --no-trunc, --format template and json"

# images and inspect.
[ "$("$KILN" images -q | sort -u | wc -l)" = "$("$KILN" images -q | wc -l)" ] || fail "images -q repeats IDs"
"$KILN" images -q | grep -qx "$("$KILN" images --format '{{.ID}}' app)" || fail "images -q"
[ "$("$KILN" images --format '{{.Repository}}:{{.Tag}}' app | sort | tr '\n' ' ')" = "app:1 app:2 " ] ||
  fail "images REPOSITORY --format: $("$KILN" images --format '{{.Repository}}:{{.Tag}}' app)"
[ "$("$KILN" images app:2 | tail -n +2 | wc -l)" = 1 ] || fail "images REPOSITORY:TAG"
digest=$("$KILN" inspect app:1 | jq -r .digest)
"$KILN" images --digests app:1 | grep -q "$digest" || fail "images --digests"
"$KILN" images app | grep -q ' ago ' || fail "images: CREATED is not relative"
[ "$("$KILN" inspect --format '{{.Config.User}}' app:1)" = app ] || fail "inspect --format .Config.User"
"$KILN" inspect --format '{{json .Config.Env}}' app:1 | jq -e 'index("APP_HOME=/srv/app") != null' >/dev/null ||
  fail "inspect --format json .Config.Env"
[ "$("$KILN" inspect --format '{{.Id}}' app:1)" = "$("$KILN" inspect app:1 | jq -r .manifest.config.digest)" ] ||
  fail "inspect --format .Id"
[ "$("$KILN" inspect --format '{{.RepoTags}}' app:1)" = "[app:1 app:2]" ] || fail "inspect --format .RepoTags"
expect_fail 1 'no field "Nope"' "$KILN" inspect --format '{{.Nope}}' app:1
ok "images -q, REPOSITORY, --digests, --format; inspect --format over docker's fields"

# save and load.
"$KILN" save -o "$WORK/save.tar" app:1 app:2 >/dev/null
printf 'FROM app:1\nLABEL other=1\n' >"$WORK/app/other.Dockerfile"
"$KILN" build -q -t other:1 -f "$WORK/app/other.Dockerfile" "$WORK/app" >/dev/null
"$KILN" save -o "$WORK/two.tar" app:1 other:1 >/dev/null
tar -xOf "$WORK/save.tar" manifest.json | jq -e '.[0].RepoTags == ["app:1", "app:2"] and length == 1' >/dev/null ||
  fail "save: RepoTags: $(tar -xOf "$WORK/save.tar" manifest.json)"
skopeo inspect docker-archive:"$WORK/save.tar":app:2 >/dev/null || fail "skopeo reads the saved archive"
"$KILN" save app:1 >"$WORK/stdout.tar"
skopeo inspect docker-archive:"$WORK/stdout.tar" >/dev/null || fail "save to stdout"
"$KILN" copy app:1 docker-archive:"$WORK/copy.tar" >/dev/null 2>&1
tar -xOf "$WORK/copy.tar" manifest.json | jq -e '.[0].RepoTags == ["app:1"]' >/dev/null ||
  fail "copy to docker-archive: RepoTags"
config=$("$KILN" inspect --format '{{.Id}}' app:1)
KILN_ROOT=$WORK/other "$KILN" load -i "$WORK/save.tar" >"$WORK/load.out"
[ "$(cat "$WORK/load.out")" = "$(printf 'Loaded image: app:1\nLoaded image: app:2')" ] ||
  fail "load's output: $(cat "$WORK/load.out")"
[ "$(KILN_ROOT=$WORK/other "$KILN" inspect --format '{{.Id}}' app:2)" = "$config" ] ||
  fail "the loaded image has another config"
# The round trip keeps the image: ID, size, digest (the archive carries its own manifest in an
# OCI view, which skopeo reads as an oci-archive too).
for root in "$KILN_ROOT" "$WORK/other"; do
  KILN_ROOT=$root "$KILN" images --format '{{.ID}} {{.Size}}' app:1
done | uniq | wc -l | grep -qx 1 || fail "save/load changed the image's ID or size"
[ "$(skopeo inspect --raw oci-archive:"$WORK/save.tar":app:2 | sha256sum | cut -c1-64)" = \
  "$("$KILN" inspect app:2 | jq -r .digest | cut -d: -f2)" ] || fail "the archive's OCI view is not the image's manifest"
# kiln copy docker-archive:FILE with no destination: the store, under the archive's names.
"$KILN" save -o "$WORK/one.tar" app:2 >/dev/null
KILN_ROOT=$WORK/third "$KILN" copy -q docker-archive:"$WORK/one.tar" >/dev/null || fail "copy docker-archive:F"
[ "$(KILN_ROOT=$WORK/third "$KILN" images --format '{{.Repository}}:{{.Tag}} {{.ID}}')" = \
  "app:2 $("$KILN" images --format '{{.ID}}' app:2)" ] || fail "copy docker-archive:F: $(KILN_ROOT=$WORK/third "$KILN" images)"
expect_fail 2 'DST is required' "$KILN" copy app:2
expect_fail 1 'holds 2 images' "$KILN" copy docker-archive:"$WORK/two.tar"
skopeo copy -q docker-archive:"$WORK/save.tar":app:1 oci-archive:"$WORK/sk.tar":skopeo-made:1
KILN_ROOT=$WORK/other "$KILN" load <"$WORK/sk.tar" | grep -qx 'Loaded image: skopeo-made:1' ||
  fail "load of an oci-archive skopeo made"
echo junk >"$WORK/junk"
expect_fail 1 'neither a docker-archive .* nor an oci-archive' "$KILN" load -i "$WORK/junk"
ok "save (several names, stdout) read by skopeo; load of docker- and oci-archives with their names, the same ID and size; copy docker-archive:F takes its names"

# rmi by ID.
id=$("$KILN" images --format '{{.ID}}' app:1)
expect_fail 1 'must be forced' "$KILN" rmi "$id"
"$KILN" rmi -f "$id" | sort | tr '\n' ' ' | grep -qx 'Untagged: app:1 Untagged: app:2 ' || fail "rmi -f ID"
"$KILN" images app | tail -n +2 | grep -q . && fail "rmi -f left a name"
"$KILN" rmi -f not-there:1 || fail "rmi -f of a missing image"
expect_fail 1 'no such image: not-there:1' "$KILN" rmi not-there:1
ok "rmi by image ID (-f for several names), -f passes over missing images"

# EXPOSE as BuildKit checks it.
printf 'FROM scratch\nEXPOSE 80 8000-8010/udp\nEXPOSE abc\n' >"$WORK/app/expose.Dockerfile"
rc=0
"$KILN" build -f "$WORK/app/expose.Dockerfile" "$WORK/app" >/dev/null 2>"$WORK/expose.err" || rc=$?
[ "$rc" = 1 ] && head -n 1 "$WORK/expose.err" | grep -q 'expose.Dockerfile:3:1: invalid containerPort: abc$' ||
  fail "EXPOSE abc: rc $rc, $(cat "$WORK/expose.err")"
ok "EXPOSE abc is refused with file:line"

# login and logout as docker's: a prompt on a terminal, docker's words for a wrong password, a
# warning for -p, and a second logout that is not an error.
export REGISTRY_AUTH_FILE=$WORK/auth.json
htpasswd -Bbn alice s3cret >"$WORK/htpasswd"
start_registry basic "auth:
  htpasswd:
    realm: kiln-test
    path: $WORK/htpasswd"
B=127.0.0.1:$PORT
expect_fail 1 "^kiln: login to $B: unauthorized: incorrect username or password$" \
  sh -c "echo wrong | '$KILN' login -u alice --password-stdin $B"
"$KILN" login -u alice -p s3cret "$B" >"$WORK/login.out" 2>"$WORK/login.err" || fail "login -p"
grep -qx 'WARNING! Using --password via the CLI is insecure. Use --password-stdin.' "$WORK/login.err" ||
  fail "login -p: no warning: $(cat "$WORK/login.err")"
"$KILN" logout "$B" | grep -qx "Removed login credentials for $B" || fail logout
"$KILN" logout "$B" | grep -qx "Not logged in to $B" || fail "a second logout"
# On a terminal (script's pty): the user name asked, then the password without echo.
printf 'alice\ns3cret\n' | script -qec "'$KILN' login $B" /dev/null >"$WORK/tty.out" 2>&1 ||
  fail "login on a terminal: $(cat "$WORK/tty.out")"
grep -q 'Username: ' "$WORK/tty.out" && grep -q 'Password: ' "$WORK/tty.out" && grep -q 'Login Succeeded' "$WORK/tty.out" ||
  fail "login prompts: $(cat "$WORK/tty.out")"
jq -e --arg h "$B" '.auths[$h].auth' "$REGISTRY_AUTH_FILE" >/dev/null || fail "the prompted login was not saved"
expect_fail 1 'a user name is required: -u USER' sh -c "'$KILN' login $B </dev/null"
"$KILN" login --help | grep -q -- '--jobs' && fail "login --help lists --jobs"
ok "login: prompts on a terminal, docker's words for a wrong password, -p warns; logout twice"

# pull by digest, as docker pull REPO@sha256:... : kept under the digest reference.
echo s3cret | "$KILN" login -u alice --password-stdin "$B" >/dev/null
"$KILN" build -q -t app:1 "$WORK/app" >/dev/null
"$KILN" push -q --tls-verify=false app:1 "$B/app:1" >/dev/null
pinned=$B/app@$("$KILN" inspect app:1 | jq -r .digest)
got=$(KILN_ROOT=$WORK/pinned "$KILN" pull -q --tls-verify=false "$pinned") || fail "pull by digest"
[ "$got" = "${pinned#*@}" ] || fail "pull by digest printed $got"
KILN_ROOT=$WORK/pinned "$KILN" images --digests --format '{{.Repository}} {{.Tag}} {{.Digest}}' |
  grep -qx "$B/app <none> ${pinned#*@}" || fail "the pinned image's name: $(KILN_ROOT=$WORK/pinned "$KILN" images)"
[ "$(KILN_ROOT=$WORK/pinned "$KILN" run --rm "$pinned" 'cat greeting' | head -n 1)" = "hello from /srv/app" ] ||
  fail "run REPO@DIGEST"
"$KILN" logout "$B" >/dev/null
ok "pull REPO@sha256:... keeps the image under its digest reference (images shows <none>), run takes it"

# run: a throwaway container over the image, typed as docker run is.
"$KILN" build -q -t app:1 "$WORK/app" >/dev/null
[ "$("$KILN" run --rm app:1)" = "$(printf 'hello from /srv/app\nhello from a script')" ] ||
  fail "run: the image's ENTRYPOINT and CMD: $("$KILN" run --rm app:1 2>&1)"
rc=0
"$KILN" run app:1 'id -un; pwd; echo "$APP_HOME $X $FROMHOST"; exit 7' >"$WORK/run.out" 2>&1 || rc=$?
[ "$rc" = 7 ] || fail "run: the command's exit status is kiln's: $rc"
[ "$(cat "$WORK/run.out")" = "$(printf 'app\n/srv/app\n/srv/app  ')" ] || fail "run: USER, WORKDIR, ENV: $(cat "$WORK/run.out")"
out=$(FROMHOST=here "$KILN" run --rm -e X=1 -e FROMHOST -e NOTSET -u root -w /tmp --entrypoint /bin/sh app:1 \
  -c 'id -u; pwd; echo "$X $FROMHOST ${NOTSET-unset}"')
[ "$out" = "$(printf '0\n/tmp\n1 here unset')" ] || fail "run -e -u -w --entrypoint: $out"
printf 'A=from-file\n# comment\n\nB=2\n' >"$WORK/env"
[ "$("$KILN" run --env-file "$WORK/env" -e B=3 app:1 'echo $A $B')" = "from-file 3" ] || fail "run --env-file"
[ "$(echo piped | "$KILN" run -i --entrypoint cat app:1)" = piped ] || fail "run -i: stdin"
[ -z "$(echo piped | "$KILN" run --entrypoint cat app:1)" ] || fail "run without -i reads stdin"
# Volumes: a host directory read and written (as root, the host sees root's files), :ro,
# one made when missing, a scratch directory; the image's VOLUME exists.
mkdir -p "$WORK/vol"
echo in >"$WORK/vol/in"
"$KILN" run -v "$WORK/vol:/mnt" -v "$WORK/vol:/ro:ro" -v "$WORK/made/here:/made" -v /scratch -u root \
  app:1 'cat /mnt/in && echo out >/mnt/out && touch /made/x && touch /scratch/y && test -d /data &&
    ! touch /ro/z 2>/dev/null' || fail "run -v"
[ "$(cat "$WORK/vol/out")" = out ] && [ "$(stat -c %u "$WORK/vol/out")" = 0 ] || fail "run -v: the host's file"
[ -f "$WORK/made/here/x" ] || fail "run -v: a missing host directory is made"
[ ! -e "$WORK/vol/z" ] || fail "run -v :ro wrote"
expect_fail 125 'the host path must be absolute' "$KILN" run -v data:/data app:1 true
# Networks: none has only lo; the container's writes are gone afterwards.
[ "$("$KILN" run --network none --entrypoint ip app:1 -o addr | awk '{print $2}' | sort -u | tr '\n' ' ')" = "lo " ] ||
  fail "run --network none"
"$KILN" run app:1 'touch /srv/app/left-behind'
"$KILN" run app:1 'test ! -e /srv/app/left-behind' || fail "run kept a container's write"
# docker run's exit codes: 125 kiln's own failure, 126 not executable, 127 not found.
expect_fail 127 'exec nosuch: No such file or directory' "$KILN" run --entrypoint nosuch app:1
expect_fail 126 'exec /etc/passwd: Permission denied' "$KILN" run --entrypoint /etc/passwd app:1
expect_fail 125 'no image missing:1 in the store' "$KILN" run missing:1
expect_fail 125 'kiln keeps no containers' "$KILN" run -d app:1
expect_fail 125 'no terminal' "$KILN" run -it app:1
ok "run: ENTRYPOINT/CMD, exit status, -e/--env-file/-u/-w/--entrypoint, -i, -v (rw, ro, made, scratch), --network none, nothing kept, docker's exit codes"

# system df: what the store holds, in docker's columns; system prune / builder prune / image
# prune are gc's.
D=$WORK/df
KILN_ROOT=$D "$KILN" build -q -t app:1 "$WORK/app" >/dev/null
"$KILN" --root "$D" system df | head -n 1 | grep -q '^TYPE  *TOTAL  *SIZE  *RECLAIMABLE$' || fail "system df header"
m=$(skopeo inspect --raw "oci:$D:app:1")
want=$(( $(echo "$m" | wc -c) - 1 + $(echo "$m" | jq '[.config.size, .layers[].size] | add') ))
[ "$(KILN_ROOT=$D "$KILN" system df --format json | jq -r 'select(.Type == "Images") | "\(.TotalCount) \(.Bytes)"')" = "1 $want" ] ||
  fail "system df Images: $(KILN_ROOT=$D "$KILN" system df --format json | head -n 1), want 1 $want"
snap=$(du -scB1 "$D"/snapshots/*/ | tail -n 1 | cut -f1)
[ "$(KILN_ROOT=$D "$KILN" system df --format json | jq -r 'select(.Type == "Unpacked layers") | .Bytes')" = "$snap" ] ||
  fail "system df Unpacked layers: not du's $snap"
KILN_ROOT=$D "$KILN" rmi app:1 >/dev/null
KILN_ROOT=$D "$KILN" system df --format json | jq -se '.[0].TotalCount == 0 and .[1].TotalCount > 0 and
  .[1].Bytes > 0 and .[1].ReclaimableBytes == .[1].Bytes and .[3].ReclaimableBytes == .[3].Bytes' >/dev/null ||
  fail "system df after rmi: $(KILN_ROOT=$D "$KILN" system df)"
KILN_ROOT=$D "$KILN" image prune -f | grep -q ' 0 build cache records; kept [1-9][0-9]* blobs$' ||
  fail "image prune is kiln gc (the build cache keeps its layers)"
KILN_ROOT=$D "$KILN" system prune -f | grep -q 'build cache records' || fail "system prune"
KILN_ROOT=$D "$KILN" system df --format json | jq -se 'map(.Bytes) | add == 0' >/dev/null ||
  fail "system prune left: $(KILN_ROOT=$D "$KILN" system df)"
"$KILN" builder prune --help | grep -q -- '--build-cache' || fail "builder prune is gc --build-cache"
ok "system df (docker's columns; sizes match the manifest and du), image/system/builder prune are kiln gc"

# An interrupted build or container leaves nothing in the store's run/ and dies of the signal.
printf 'FROM app:1\nRUN sleep 61\n' >"$WORK/app/sleep.Dockerfile"
root=${KILN_ROOT}
for what in build run; do
  if [ "$what" = build ]; then
    "$KILN" build --no-cache -f "$WORK/app/sleep.Dockerfile" "$WORK/app" >/dev/null 2>&1 &
  else
    "$KILN" run app:1 'sleep 61' >/dev/null 2>&1 &
  fi
  pid=$!
  for _ in $(seq 100); do
    [ -n "$(ls "$root/run" 2>/dev/null)" ] && pgrep -f '^sleep 61$' >/dev/null && break
    sleep 0.1
  done
  pgrep -f '^sleep 61$' >/dev/null || fail "$what: the sleep did not start"
  if [ "$what" = build ]; then kill -INT "$pid"; else kill -TERM "$pid"; fi
  rc=0
  wait "$pid" || rc=$?
  [ "$rc" = "$([ "$what" = build ] && echo 130 || echo 143)" ] || fail "interrupted $what: rc $rc"
  [ -z "$(ls "$root/run")" ] || fail "interrupted $what left $(ls "$root/run")"
  pgrep -f '^sleep 61$' >/dev/null && fail "interrupted $what left its process"
done
ok "Ctrl-C or SIGTERM: a build or container is cleaned up at once, the exit status says the signal"

# Shell completion made from kiln's own verbs and flags, run in bash and zsh.
mkdir -p "$WORK/bin"
ln -sf "$KILN" "$WORK/bin/kiln"
"$KILN" build -q -t app:1 "$WORK/app" >/dev/null
"$KILN" completion bash >"$WORK/kiln.bash"
"$KILN" completion zsh >"$WORK/_kiln"
cat >"$WORK/comp.bash" <<'SH'
source "$1"
c() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); _kiln; echo "${COMPREPLY[*]}"; }
c kiln bu; c kiln run --en; c kiln --root /x rm; c kiln rmi ap; c kiln system ''; c kiln system df --f
SH
cat >"$WORK/comp.zsh" <<'SH'
compdef() { :; }
_files() { print files; }
compadd() { shift $(( ${@[(i)--]} )); print -- "$*"; }
source "$1"
c() { words=("$@"); CURRENT=$#; _kiln; }
c kiln bu; c kiln run --en; c kiln --root /x rm; c kiln rmi ap; c kiln system ''; c kiln system df --f
SH
want="build
--env --env-file --entrypoint
rmi
app:1
df
--format"
for sh in bash zsh; do
  script=$WORK/kiln.bash
  [ "$sh" = zsh ] && script=$WORK/_kiln
  got=$(PATH="$WORK/bin:$PATH" "$sh" "$WORK/comp.$sh" "$script" 2>&1 | sed 's/ *$//')
  # zsh's compadd gets every candidate and filters itself: keep those that match the word.
  [ "$sh" = zsh ] && got=$(echo "$got" | paste -d'|' - <(printf 'bu\n--en\nrm\nap\n\n--f\n') |
    while IFS='|' read -r line prefix; do
      printf '%s\n' "$(for w in $line; do case $w in "$prefix"*) printf '%s ' "$w" ;; esac; done | sed 's/ $//')"
    done)
  [ "$got" = "$want" ] || fail "$sh completion: $(echo "$got" | tr '\n' '|')"
done
# kiln --help: every verb, one line each (the verbs the completion offers are the same tree's).
"$KILN" --help | sed -n '/^Subcommands:/,$p' | tail -n +2 >"$WORK/verbs"
for v in build run copy pull push images inspect history save load tag rmi gc system completion; do
  grep -q "^  $v  *[A-Z]" "$WORK/verbs" || fail "kiln --help lacks a line for $v"
done
awk 'NF > 0 && NF < 3 {exit 1}' "$WORK/verbs" || fail "a verb without its line in kiln --help"
ok "kiln completion bash|zsh: verbs, sub-verbs, each verb's flags, image names from the store; --help lists every verb"

# The README's table: every kiln command it names exists, with the flags it shows.
sed -n '/^### Coming from docker/,/^Image locations/p' "$README" | grep -o '`kiln [a-z]\+' |
  sort -u | while read -r _ verb; do
    "$KILN" "$verb" --help >/dev/null 2>&1 || fail "the README's table names kiln $verb, which has no --help"
  done
for flag in "images -q" "images --digests" "history --no-trunc" "rmi -f" "gc --build-cache" \
  "inspect --format" "load -i" "save -o" "run --rm" "run -v" "run -e" "run --network" "system df" "completion bash"; do
  # shellcheck disable=SC2086
  "$KILN" ${flag%% *} --help | grep -q -- "${flag#* }" || fail "kiln $flag is not in its --help"
done
ok "the README's docker table: each kiln verb and flag exists"

echo "$PASSED passed"
