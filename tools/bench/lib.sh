# Shared by the benchmark scripts. Source it after setting `work` (the run's directory).

# start_registry NAME: starts Debian's docker-registry on loopback, its data in $work/NAME;
# prints its port. Its pid goes to $work/NAME.pid (the caller prints the port from a
# subshell), for stop_registries.
start_registry() {
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
    "$work/$1" "$port" >"$work/$1.yml"
  env -u REGISTRY_AUTH_FILE docker-registry serve "$work/$1.yml" >"$work/$1.log" 2>&1 &
  echo $! >"$work/$1.pid"
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/v2/" && break; sleep 0.1; done
  echo "$port"
}

stop_registries() {
  local f
  for f in "$work"/*.pid; do [ -e "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
}
