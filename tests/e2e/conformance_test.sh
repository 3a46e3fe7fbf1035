#!/usr/bin/env bash
# The conformance suite: cases ported from BuildKit's Dockerfile frontend tests
# (testdata/conformance/, one directory a case; its README lists every BuildKit test and
# what became of it). Each case is built with kiln and checked against what BuildKit's test
# checks; then, unless the case says why not, built with buildah too, and the two images'
# unpacked trees and config fields must be identical.
#
# A case is a Dockerfile and a `case` file of lines:
#   origin FILE FUNCTION          the BuildKit test it ports
#   file PATH MODE TEXT           a context file (TEXT takes printf's \n escapes)
#   dir PATH MODE | symlink PATH TARGET | socket PATH (a listening-less unix socket, 0600)
#   dockerfile PATH               the Dockerfile's own path in the context
#   tar PATH ENTRY...             a tar archive (gzipped when PATH ends in .gz) of entries
#                                 NAME=f:MODE:TEXT | NAME=d:MODE | NAME=l:TARGET | NAME=h:TARGET
#   http URLPATH TEXT             served at @HTTP@/URLPATH (the Dockerfile's @HTTP@ is the
#                                 address), Last-Modified 2023-11-14 22:13:20 UTC; "/" is _root
#   http-file URLPATH FILE        a context file moved to the server instead
#   args ARG...                   options for both builds (--build-arg, --target, -f ...)
#   prebuild FILE NAME            first build FILE (of the case) as image NAME, for FROM NAME
#   kiln-args ARG...              options for kiln only
#   expect-file PATH TEXT | expect-contains PATH TEXT | expect-missing PATH
#   expect-dir PATH | expect-mode PATH MODE | expect-owner PATH UID:GID
#   expect-link PATH TARGET | expect-mtime PATH EPOCH
#   expect-config JQ | expect-image JQ  true for the container config (Env, Cmd ...) | for
#                                 the whole image config JSON (history, rootfs ...)
#   expect-error REGEX            the build fails with one error line matching REGEX
#   rebuild                       the lines after it change the context (remove PATH deletes)
#                                 for a second build in the same store, cache on; then
#   phase-args ARG...             options for kiln's build of this phase only
#   expect-unchanged PATH | expect-changed PATH   compare a file with the first build's
#   buildah skip|differs REASON   no differential build, and why
#   # TEXT                        a comment
# Usage: conformance_test.sh KILN [CASE...]; CASES_DIR (a directory under testdata/, default
# conformance) picks another set of cases in the same form, such as the real-world corpus.
source "$(dirname "$0")/lib.sh" "$1"
shift
cases_dir=$(cd "$(dirname "$0")/../../testdata/${CASES_DIR:-conformance}" && pwd)
BUILDAH_ROOT=$WORK/buildah
# TMPDIR: buildah keeps RUN --mount=type=cache directories under it, which must not outlive
# the run (or be shared with another).
mkdir -p "$BUILDAH_ROOT/tmp"
bah() {
  TMPDIR="$BUILDAH_ROOT/tmp" buildah --root "$BUILDAH_ROOT/root" --runroot "$BUILDAH_ROOT/run" \
    --storage-driver vfs "$@"
}
cleanup_buildah() {
  [ -z "${HTTP_PID:-}" ] || kill "$HTTP_PID" 2>/dev/null || true
  bah rmi -a -f >/dev/null 2>&1 || true
  # CONFORMANCE_KEEP=1 keeps the work directory (contexts, stores, unpacked images) to look at.
  if [ -n "${CONFORMANCE_KEEP:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup_buildah EXIT

# The base images cases name: `busybox` laid out as Docker Hub's (users, groups, /tmp).
base=$WORK/base
mkdir -p "$base"/{bin,etc,tmp,root,home,usr/sbin,var/spool/mail,var/www}
cp /bin/busybox "$base/bin/busybox"
for applet in $(/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -f "$base/bin/busybox" "$base/bin/$applet"
done
# Debian's busybox-static lacks adduser and addgroup: scripts of the suite's stand in.
for tool in adduser addgroup; do
  rm -f "$base/bin/$tool"
  install -m 755 "$(dirname "$0")/conformance_base/$tool" "$base/bin/$tool"
done
chmod 1777 "$base/tmp"
chmod 700 "$base/root"
cat >"$base/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
EOF
cat >"$base/etc/group" <<'EOF'
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
wheel:x:10:root
mail:x:8:
www-data:x:33:
operator:x:37:
staff:x:50:
users:x:100:
nobody:x:65534:
EOF
"$KILN" image create "$base" -t busybox:latest --cmd '["sh"]' \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin >/dev/null
"$KILN" copy busybox:latest "oci-archive:$WORK/busybox.tar:latest" >/dev/null
bah pull -q "oci-archive:$WORK/busybox.tar" >/dev/null 2>&1 || fail "buildah cannot pull the base"
bah tag "$(bah images -q | head -1)" docker.io/library/busybox:latest >/dev/null

# The web server ADD <url> cases fetch from.
HTTP_ROOT=$WORK/http
mkdir -p "$HTTP_ROOT"
python3 "$(dirname "$0")/conformance_base/http_server.py" "$HTTP_ROOT" "$WORK/http.port" &
HTTP_PID=$!
for _ in $(seq 100); do [ -s "$WORK/http.port" ] && break; sleep 0.05; done
[ -s "$WORK/http.port" ] || fail "the web server did not start"
HTTP_URL=http://127.0.0.1:$(cat "$WORK/http.port")
HTTP_MTIME=1700000000

# make_tar PATH ENTRY...: see `tar` above.
make_tar() {
  python3 - "$@" <<'PY'
import io, sys, tarfile, codecs
path, entries = sys.argv[1], sys.argv[2:]
with tarfile.open(path, 'w:gz' if path.endswith('.gz') else 'w', format=tarfile.PAX_FORMAT) as t:
    for e in entries:
        name, spec = e.split('=', 1)
        kind, _, rest = spec.partition(':')
        info = tarfile.TarInfo(name)
        info.mtime = 1700000000
        data = b''
        if kind == 'f':
            mode, _, text = rest.partition(':')
            info.mode = int(mode, 8)
            data = codecs.escape_decode(text.encode())[0]
            info.size = len(data)
        elif kind == 'd':
            info.type, info.mode = tarfile.DIRTYPE, int(rest, 8)
        elif kind in 'lh':
            info.type = tarfile.SYMTYPE if kind == 'l' else tarfile.LNKTYPE
            info.linkname, info.mode = rest, 0o777 if kind == 'l' else 0o644
        t.addfile(info, io.BytesIO(data) if kind == 'f' else None)
PY
}

# unescape TEXT: printf's escapes, for file contents written on one line.
unescape() { printf '%b' "$1"; }

# The listing the differential compares: type, mode, owner, size, link target, content;
# not the stub files and mount points builders add for RUN, nor mtimes.
listing() {
  (cd "$1" && find . -mindepth 1 \( -path ./dev -o -path './dev/*' -o -path ./run -o -path './run/*' \
      -o -path ./proc -o -path ./sys -o -path ./etc/hosts -o -path ./etc/resolv.conf \
      -o -path ./etc/hostname \) -prune -o -printf '%p %y %m %U:%G %s %l\n' | sort
   find . -type f ! -path './etc/hosts' ! -path './etc/resolv.conf' ! -path './etc/hostname' \
      ! -path './dev/*' ! -path './run/*' -print0 | sort -z | xargs -0r sha256sum)
}

# The config fields the differential compares, with empty values dropped. A WorkingDir of
# "/" is the same as none (both run in the root): BuildKit's scratch image has "/", buildah's
# nothing, and kiln follows BuildKit.
config_fields() {
  jq -S '{User, Env, Entrypoint, Cmd, WorkingDir, ExposedPorts, Volumes, Labels, StopSignal,
          Healthcheck, Shell, OnBuild}
         | .Labels |= (if . then del(.["io.buildah.version"]) else . end)
         | .WorkingDir |= (if . == "/" then null else . end)
         | with_entries(select(.value != null and .value != "" and .value != {} and .value != []))'
}

# setup_phase FILE: the context lines of one phase of a case (and, in the first, its options).
setup_phase() {
  phase_args=()
  while IFS= read -r line || [ -n "$line" ]; do
    read -r kind rest <<<"$line"
    case $kind in
      file)
        read -r path mode text <<<"$rest"
        mkdir -p "$(dirname "$ctx/$path")"
        unescape "$text" >"$ctx/$path"
        chmod "$mode" "$ctx/$path"
        ;;
      dir)
        read -r path mode <<<"$rest"
        mkdir -p "$ctx/$path"
        chmod "$mode" "$ctx/$path"
        ;;
      symlink)
        read -r path target <<<"$rest"
        mkdir -p "$(dirname "$ctx/$path")"
        ln -s "$target" "$ctx/$path"
        ;;
      socket)
        mkdir -p "$(dirname "$ctx/$rest")"
        python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$ctx/$rest"
        chmod 600 "$ctx/$rest"
        ;;
      dockerfile) dockerfile=$rest ;;
      remove) rm -rf "${ctx:?}/$rest" ;;
      tar)
        read -r path entries <<<"$rest"
        read -r -a e <<<"$entries"
        mkdir -p "$(dirname "$ctx/$path")"
        make_tar "$ctx/$path" "${e[@]}"
        ;;
      http)
        read -r path text <<<"$rest"
        [ "$path" = / ] && path=_root
        mkdir -p "$(dirname "$HTTP_ROOT/$path")"
        unescape "$text" >"$HTTP_ROOT/$path"
        touch -d "@$HTTP_MTIME" "$HTTP_ROOT/$path"
        ;;
      http-file)
        read -r path file <<<"$rest"
        mkdir -p "$(dirname "$HTTP_ROOT/$path")"
        mv "$ctx/$file" "$HTTP_ROOT/$path"
        touch -d "@$HTTP_MTIME" "$HTTP_ROOT/$path"
        ;;
      args) read -r -a a <<<"$rest"; args+=("${a[@]}") ;;
      kiln-args) read -r -a a <<<"$rest"; kiln_args+=("${a[@]}") ;;
      phase-args) read -r -a a <<<"$rest"; phase_args+=("${a[@]}") ;;
      expect-error) err_re=$rest ;;
      buildah) read -r m _ <<<"$rest"; buildah_mode=$m ;;
      prebuild) prebuilds+=("$rest") ;;
    esac
  done <"$1"
}

# build_and_check FILE: builds the case's context with kiln, unpacks the image to $root, and
# checks the phase's expectations.
build_and_check() {
  "$KILN" build -q "${cache_flag[@]}" -t "conf-$name:1" "${args[@]}" "${kiln_args[@]}" "${phase_args[@]}" "$ctx" \
    >"$WORK/out" 2>"$WORK/err" || fail "$name: build failed: $(tail -8 "$WORK/err" | tr "\n" " ")"
  rm -rf "$WORK/k" "$WORK/k.oci"
  "$KILN" copy "conf-$name:1" "oci:$WORK/k.oci:1" >/dev/null
  # raw: the root filesystem only (a USER the image's passwd lacks stops a bundle's config).
  mkdir -p "$WORK/k"
  umoci raw unpack --image "$WORK/k.oci:1" "$WORK/k/rootfs" >/dev/null 2>&1 ||
    fail "$name: umoci cannot unpack kiln's image"
  root=$WORK/k/rootfs
  "$KILN" inspect "conf-$name:1" | jq '.config' >"$WORK/k.config"
  while IFS= read -r line || [ -n "$line" ]; do
    read -r kind rest <<<"$line"
    local path want
    case $kind in
      expect-file)
        read -r path want <<<"$rest"
        [ -f "$root$path" ] || fail "$name: $path is not a file"
        [ "$(cat "$root$path"; echo x)" = "$(unescape "$want"; echo x)" ] ||
          fail "$name: $path holds '$(cat "$root$path")', want '$(unescape "$want")'"
        ;;
      expect-contains)
        read -r path want <<<"$rest"
        grep -qF -- "$(unescape "$want")" "$root$path" 2>/dev/null ||
          fail "$name: $path lacks '$want': '$(cat "$root$path" 2>&1)'"
        ;;
      expect-missing) [ ! -e "$root$rest" ] && [ ! -L "$root$rest" ] || fail "$name: $rest exists" ;;
      expect-dir) [ -d "$root$rest" ] && [ ! -L "$root$rest" ] || fail "$name: $rest is not a directory" ;;
      expect-mode)
        read -r path want <<<"$rest"
        [ "$(stat -c %04a "$root$path")" = "$want" ] ||
          fail "$name: $path has mode $(stat -c %04a "$root$path"), want $want"
        ;;
      expect-owner)
        read -r path want <<<"$rest"
        [ "$(stat -c %u:%g "$root$path")" = "$want" ] ||
          fail "$name: $path is owned by $(stat -c %u:%g "$root$path"), want $want"
        ;;
      expect-link)
        read -r path want <<<"$rest"
        [ "$(readlink "$root$path")" = "$want" ] ||
          fail "$name: $path links to '$(readlink "$root$path")', want '$want'"
        ;;
      expect-unchanged)
        cmp -s "$root$rest" "$WORK/prev-root$rest" ||
          fail "$name: $rest changed in the rebuild (a step ran that should have been cached)"
        ;;
      expect-changed)
        ! cmp -s "$root$rest" "$WORK/prev-root$rest" ||
          fail "$name: $rest did not change in the rebuild (a step was reused that should have run)"
        ;;
      expect-mtime)
        read -r path want <<<"$rest"
        [ "$(stat -c %Y "$root$path")" = "$want" ] ||
          fail "$name: $path has mtime $(stat -c %Y "$root$path"), want $want"
        ;;
      expect-config)
        jq -e ".config | $rest" "$WORK/k.config" >/dev/null ||
          fail "$name: config fails $rest: $(jq -c '.config' "$WORK/k.config")"
        ;;
      expect-image)
        jq -e "$rest" "$WORK/k.config" >/dev/null ||
          fail "$name: image config fails $rest: $(jq -c 'del(.rootfs)' "$WORK/k.config")"
        ;;
    esac
  done <"$1"
}

run_case() {
  local dir=$1 name
  name=$(basename "$dir")
  local ctx=$WORK/cases/$name
  rm -rf "$ctx"
  mkdir -p "$ctx"
  local dockerfile=Dockerfile
  local -a args=() kiln_args=() phase_args=()
  local buildah_mode=compare
  local err_re=""
  local -a prebuilds=()
  # A case may have phases: the lines after `rebuild` change the context, which is built
  # again in the same store (caching on, so what is reused is checked too).
  rm -rf "$WORK"/phase* "$WORK/prev-root"
  awk -v d="$WORK/phase" 'BEGIN {n = 0} /^rebuild$/ {n++; next} {print > (d n)}' "$dir/case"
  local phases
  phases=$(ls "$WORK"/phase* | wc -l)
  local -a cache_flag=(--no-cache)
  [ "$phases" = 1 ] || cache_flag=()
  # The context first, so expectations may come in any order.
  setup_phase "$WORK/phase0"
  mkdir -p "$(dirname "$ctx/$dockerfile")"
  sed "s|@HTTP@|$HTTP_URL|g; s|@HTTP_PORT@|${HTTP_URL##*:}|g" "$dir/Dockerfile" >"$ctx/$dockerfile"
  [ "$dockerfile" = Dockerfile ] || args+=(-f "$ctx/$dockerfile")

  local pre
  for pre in "${prebuilds[@]}"; do
    read -r file image <<<"$pre"
    "$KILN" build -q -t "$image" -f "$dir/$file" "$ctx" >/dev/null 2>"$WORK/err" ||
      fail "$name: building $file failed: $(tail -5 "$WORK/err" | tr '\n' ' ')"
    if [ "$buildah_mode" = compare ]; then
      bah bud -q --format docker --isolation chroot --pull=never --layers=false -t "$image" \
        -f "$dir/$file" "$ctx" >/dev/null 2>"$WORK/berr" ||
        fail "$name: buildah failed on $file: $(tail -3 "$WORK/berr")"
    fi
  done
  if [ -n "$err_re" ]; then
    local rc=0
    "$KILN" build -q --no-cache "${args[@]}" "${kiln_args[@]}" "$ctx" >"$WORK/out" 2>"$WORK/err" || rc=$?
    [ "$rc" != 0 ] || fail "$name: the build succeeded, want an error /$err_re/"
    grep -qE -- "$err_re" "$WORK/err" || fail "$name: error $(cat "$WORK/err"), want /$err_re/"
    # One error: a line, or a Dockerfile error's three (message, source line, caret).
    [ "$(wc -l <"$WORK/err")" -le 3 ] || fail "$name: more than one error: $(cat "$WORK/err")"
    # The differential of an error: buildah must refuse the build too.
    [ "$buildah_mode" = compare ] || return 0
    if bah bud -q --format docker --isolation chroot --pull=never --layers=false \
      -t "conf-$name" "${args[@]}" "$ctx" >/dev/null 2>"$WORK/berr"; then
      fail "$name: buildah builds what kiln refuses (mark the case 'buildah differs REASON' if kiln is right)"
    fi
    DIFFERENTIAL=1
    return
  fi
  local phase root
  for ((phase = 0; phase < phases; phase++)); do
    if [ "$phase" -gt 0 ]; then
      rm -rf "$WORK/prev-root"
      cp -a "$root" "$WORK/prev-root"
      setup_phase "$WORK/phase$phase"
    fi
    build_and_check "$WORK/phase$phase"
  done
  [ "$buildah_mode" = compare ] || return 0

  # The differential: buildah builds the same context; trees and config must match.
  bah bud -q --format docker --isolation chroot --pull=never --layers=false \
    -t "conf-$name" "${args[@]}" "$ctx" >/dev/null 2>"$WORK/berr" ||
    fail "$name: buildah failed (mark the case 'buildah differs REASON' if kiln is right): $(tail -3 "$WORK/berr")"
  rm -rf "$WORK/b" "$WORK/b.oci"
  bah push -q "conf-$name" "oci:$WORK/b.oci:1" >/dev/null 2>&1
  mkdir -p "$WORK/b"
  umoci raw unpack --image "$WORK/b.oci:1" "$WORK/b/rootfs" >/dev/null 2>&1 ||
    fail "$name: umoci cannot unpack buildah's image"
  listing "$root" >"$WORK/k.list"
  listing "$WORK/b/rootfs" >"$WORK/b.list"
  diff "$WORK/k.list" "$WORK/b.list" >"$WORK/tree.diff" ||
    fail "$name: trees differ from buildah's (< kiln, > buildah): $(grep "^[<>]" "$WORK/tree.diff" | head -20 | tr "\n" ";")"
  jq '.config' "$WORK/k.config" | config_fields >"$WORK/k.fields"
  bah inspect --type image "conf-$name" | jq '.Docker.config' | config_fields >"$WORK/b.fields"
  diff "$WORK/k.fields" "$WORK/b.fields" >"$WORK/config.diff" ||
    fail "$name: config differs from buildah's (< kiln, > buildah): $(grep "^[<>]" "$WORK/config.diff" | tr "\n" " ")"
  DIFFERENTIAL=1
}

if [ $# -gt 0 ]; then
  selected=("$@")
else
  selected=()
  for d in "$cases_dir"/*/; do selected+=("$(basename "$d")"); done
fi
# Every case runs (in a subshell, so one failure does not hide the others).
failed=()
differential=0
for name in "${selected[@]}"; do
  # The conformance table lists every case by name.
  if [ "${CASES_DIR:-conformance}" = conformance ] && ! grep -qE -- "[ ,]$name( |,|$)" "$cases_dir/README.md"; then
    echo "FAIL: $name: not in testdata/conformance/README.md's table"
    failed+=("$name")
    continue
  fi
  if (DIFFERENTIAL=0; run_case "$cases_dir/$name"; exit $((DIFFERENTIAL == 1 ? 10 : 0))); then
    PASSED=$((PASSED + 1))
  else
    rc=$?
    if [ "$rc" = 10 ]; then
      PASSED=$((PASSED + 1))
      differential=$((differential + 1))
    else
      failed+=("$name")
    fi
  fi
  "$KILN" rmi "conf-$name:1" >/dev/null 2>&1 || true
  bah rmi -f "conf-$name" >/dev/null 2>&1 || true
done
echo "conformance: $PASSED of ${#selected[@]} cases pass, $differential identical to buildah's result"
echo "$PASSED passed, ${#failed[@]} failed"
[ ${#failed[@]} = 0 ] || { echo "failed: ${failed[*]}"; exit 1; }
