#!/usr/bin/env bash
# Build secrets and ssh agents end to end: --secret from a file and from the environment, RUN
# --mount=type=secret as a file (default and given targets, mode and owner) and as a variable.
# A secret's bytes are in no blob (layers decompressed), no cache record, no file of the store,
# and not in the progress output, even from a step that prints it; a changed secret does not
# change any step's key. Missing secrets, bad --secret values and secret-looking ARG, ENV and
# --build-arg names get one clear message each. RUN --mount=type=ssh reaches an ssh-agent
# (the user's, through $SSH_AUTH_SOCK, and one of the build's own for a key file) through a
# socket of the step's own; no key and no socket is left in the image.
source "$(dirname "$0")/lib.sh" "$1"

ctx=$WORK/ctx
app_context "$ctx"
"$KILN" build -q --target base -t base:1 "$ctx" >/dev/null 2>"$WORK/base.log" \
  || fail "base image: $(tail -3 "$WORK/base.log")"

secret="file-secret-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
env_secret="env-secret-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
printf '%s' "$secret" >"$WORK/token.txt"
sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

mkdir -p "$WORK/s"
cat >"$WORK/s/Dockerfile" <<'DEOF'
FROM base:1
RUN --mount=type=secret,id=tok sh -c 'sha256sum /run/secrets/tok | cut -d" " -f1 > /tok.sha; stat -c "%a %u:%g" /run/secrets/tok > /tok.stat'
RUN --mount=type=secret,id=tok,target=/etc/app/token,mode=0440,uid=1000,gid=1000 stat -c "%a %u:%g" /etc/app/token > /target.stat
RUN --mount=type=secret,id=envsec,env=MY_TOKEN sh -c 'printf %s "$MY_TOKEN" | sha256sum | cut -d" " -f1 > /env.sha; test ! -e /run/secrets/envsec && echo no-file > /env.file'
RUN --mount=type=secret,id=absent sh -c 'test ! -e /run/secrets/absent && echo skipped > /absent'
RUN --mount=type=secret,id=tok sh -c 'echo "the token is $(cat /run/secrets/tok)"'
DEOF
export KILN_TEST_ENV_SECRET=$env_secret
"$KILN" build --progress plain -t s:1 --secret "id=tok,src=$WORK/token.txt" \
  --secret id=envsec,env=KILN_TEST_ENV_SECRET "$WORK/s" >/dev/null 2>"$WORK/s.log" \
  || fail "secret build: $(tail -5 "$WORK/s.log")"
"$KILN" copy s:1 "oci:$WORK/s-out:1" >/dev/null 2>&1
umoci raw unpack --image "$WORK/s-out:1" "$WORK/s-root" >/dev/null
r=$WORK/s-root
[ "$(cat "$r/tok.sha")" = "$(sha "$secret")" ] || fail "the file secret's content is wrong in the step"
[ "$(cat "$r/tok.stat")" = "400 0:0" ] || fail "default secret mode/owner: $(cat "$r/tok.stat")"
[ "$(cat "$r/target.stat")" = "440 1000:1000" ] || fail "target/mode/uid/gid: $(cat "$r/target.stat")"
[ "$(cat "$r/env.sha")" = "$(sha "$env_secret")" ] && [ "$(cat "$r/env.file")" = no-file ] \
  || fail "env= secret: $(cat "$r/env.file")"
[ "$(cat "$r/absent")" = skipped ] || fail "a secret not given was mounted"
[ ! -e "$r/run/secrets" ] && [ ! -e "$r/etc/app/token" ] || fail "a secret's mount point is in the image"
ok "RUN --mount=type=secret: file (default and given target, mode, owner) and env, from --secret src= and env="

grep -q 'the token is \*\*\*\*' "$WORK/s.log" || fail "a step's printed secret is not masked: $(grep 'token is' "$WORK/s.log")"
for value in "$secret" "$env_secret"; do
  grep -rqF "$value" "$WORK/s.log" && fail "a secret is in the progress output"
  grep -rqF "$value" "$KILN_ROOT" && fail "a secret is in a file of the store: $(grep -rlF "$value" "$KILN_ROOT")"
  for blob in "$KILN_ROOT"/blobs/sha256/*; do
    if zcat -f "$blob" 2>/dev/null | grep -qaF "$value"; then fail "a secret is in blob $blob"; fi
  done
done
"$KILN" inspect s:1 | grep -qF "$secret" && fail "a secret is in the config"
ok "the secrets are in no blob, record, store file or progress line (a printed one is masked)"

printf 'another-%s' "$secret" >"$WORK/token2.txt"
"$KILN" build --progress plain -t s:2 --secret "id=tok,src=$WORK/token2.txt" \
  --secret id=envsec,env=KILN_TEST_ENV_SECRET "$WORK/s" >/dev/null 2>"$WORK/s2.log" \
  || fail "rebuild with another secret: $(tail -3 "$WORK/s2.log")"
grep -q '(0 steps run' "$WORK/s2.log" || fail "a changed secret changed a key: $(tail -1 "$WORK/s2.log")"
ok "a step's key records that a secret is mounted, not its content"

printf 'FROM base:1\nRUN --mount=type=secret,id=needed,required cat /run/secrets/needed\n' >"$WORK/s/Dockerfile.req"
expect_fail 1 'Dockerfile.req:2: RUN: secret needed: not provided' \
  "$KILN" build -q -f "$WORK/s/Dockerfile.req" "$WORK/s"
expect_fail 1 'secret id=x: .*nonexistent' "$KILN" build -q --secret id=x,src=/nonexistent "$WORK/s"
expect_fail 1 '--secret "id=x,env=KILN_NOT_SET_ANYWHERE": the variable KILN_NOT_SET_ANYWHERE is not set' \
  "$KILN" build -q --secret id=x,env=KILN_NOT_SET_ANYWHERE "$WORK/s"
expect_fail 1 '--secret "id=x,colour=red": unknown key' "$KILN" build -q --secret id=x,colour=red "$WORK/s"
ok "a required secret not given, and bad --secret values, are one clear error"

printf 'FROM base:1\nARG API_TOKEN\nENV DB_PASSWORD=x PUBLIC_KEY=y\nRUN true\n' >"$WORK/s/Dockerfile.warn"
"$KILN" build --progress plain -f "$WORK/s/Dockerfile.warn" --build-arg GITHUB_TOKEN=z "$WORK/s" >/dev/null 2>"$WORK/warn.log" \
  || fail "warning build: $(tail -3 "$WORK/warn.log")"
grep -q 'Dockerfile.warn:2: ARG "API_TOKEN" looks like a secret.*--secret' "$WORK/warn.log" \
  && grep -q 'Dockerfile.warn:3: ENV "DB_PASSWORD" looks like a secret' "$WORK/warn.log" \
  && grep -q -- '--build-arg "GITHUB_TOKEN" looks like a secret' "$WORK/warn.log" \
  || fail "no secret-name warnings: $(head -5 "$WORK/warn.log")"
grep -q '"PUBLIC_KEY" looks like' "$WORK/warn.log" && fail "PUBLIC_KEY was warned about"
ok "ARG, ENV and --build-arg names that look like secrets are warned about"

# ssh: a real agent with one key; a second key given as a file; ssh-add (with its libraries)
# in the image asks each for its keys.
ssh-keygen -q -t ed25519 -N '' -C kiln-user-key -f "$WORK/user_key"
ssh-keygen -q -t ed25519 -N '' -C kiln-file-key -f "$WORK/file_key"
eval "$(ssh-agent -s -a "$WORK/agent.sock")" >/dev/null
trap 'kill "$SSH_AGENT_PID" 2>/dev/null; rm -rf "$WORK"' EXIT
ssh-add -q "$WORK/user_key"
mkdir -p "$WORK/s/sshroot"
for f in /usr/bin/ssh-add $(ldd /usr/bin/ssh-add | grep -o '/[^ ]*'); do cp --parents -L "$f" "$WORK/s/sshroot/"; done
cat >"$WORK/s/Dockerfile.ssh" <<'DEOF'
FROM base:1
COPY sshroot/ /
RUN --mount=type=ssh sh -c 'ssh-add -l > /keys-default; echo "$SSH_AUTH_SOCK" > /default-env'
RUN --mount=type=ssh,id=own,target=/tmp/agent.sock,uid=1000,mode=0660 sh -c 'stat -c "%a %u" /tmp/agent.sock > /own.stat; ssh-add -l > /keys-own'
RUN --mount=type=ssh,id=absent sh -c 'echo "[$SSH_AUTH_SOCK]" > /absent-env'
DEOF
"$KILN" build --progress plain -t ssh:1 -f "$WORK/s/Dockerfile.ssh" --ssh default --ssh "own=$WORK/file_key" "$WORK/s" \
  >/dev/null 2>"$WORK/ssh.log" || fail "ssh build: $(tail -5 "$WORK/ssh.log")"
"$KILN" copy ssh:1 "oci:$WORK/ssh-out:1" >/dev/null 2>&1
umoci raw unpack --image "$WORK/ssh-out:1" "$WORK/ssh-root" >/dev/null
r=$WORK/ssh-root
user_fp=$(ssh-keygen -lf "$WORK/user_key.pub" | cut -d' ' -f2)
file_fp=$(ssh-keygen -lf "$WORK/file_key.pub" | cut -d' ' -f2)
grep -qF "$user_fp" "$r/keys-default" || fail "the user's agent was not reached: $(cat "$r/keys-default")"
grep -qF "$file_fp" "$r/keys-own" && ! grep -qF "$user_fp" "$r/keys-own" || fail "the key file's agent: $(cat "$r/keys-own")"
[ "$(cat "$r/default-env")" = /run/buildkit/ssh_agent.0 ] || fail "SSH_AUTH_SOCK: $(cat "$r/default-env")"
[ "$(cat "$r/own.stat")" = "660 1000" ] || fail "ssh socket mode/owner: $(cat "$r/own.stat")"
[ "$(cat "$r/absent-env")" = "[]" ] || fail "an agent not given was mounted: $(cat "$r/absent-env")"
[ ! -e "$r/run/buildkit" ] && [ ! -e "$r/tmp/agent.sock" ] || fail "an agent socket is in the image"
key_line=$(sed -n 2p "$WORK/file_key")
grep -rqF "$key_line" "$KILN_ROOT" && fail "the key file is in the store"
ok "RUN --mount=type=ssh reaches the user's agent and an agent of the build's own for a key file"

printf 'FROM base:1\nRUN --mount=type=ssh,id=needed,required true\n' >"$WORK/s/Dockerfile.sshreq"
expect_fail 1 'Dockerfile.sshreq:2: RUN: ssh agent needed: not provided' \
  "$KILN" build -q -f "$WORK/s/Dockerfile.sshreq" "$WORK/s"
expect_fail 1 '--ssh x: .*/nonexistent' "$KILN" build -q --ssh x=/nonexistent "$WORK/s"
expect_fail 1 '--ssh default: SSH_AUTH_SOCK is not set' env -u SSH_AUTH_SOCK "$KILN" build -q --ssh default "$WORK/s"
ok "a required agent not given, and bad --ssh values, are one clear error"
finish
