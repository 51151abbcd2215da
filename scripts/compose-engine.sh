#!/usr/bin/env bash
# A container engine with the Docker API for scripts/compose-e2e.sh on a machine that has none: Debian's
# Podman, serving the Docker API on /var/run/docker.sock (`podman system service`), so that Docker Compose v2,
# the docker CLI and Traefik's Docker provider (which mounts that socket) work unchanged.
#
#   scripts/compose-engine.sh --plan   print what `start` would install, one `apt <package>` line each
#   scripts/compose-engine.sh start    use the engine that answers on DOCKER_HOST or /var/run/docker.sock if
#                                      there is one; otherwise install Podman, configure it and start its
#                                      API and the health-check runner (below). Prints `engine: ...`
#   scripts/compose-engine.sh stop     stop what `start` started (nothing when it found an engine running)
#
# Exit status of `start`: 0 ready, 3 no engine can run here (not root, no apt-get, no podman package: the
# caller skips), anything else a failure.
#
# Podman as this machine kind needs it (each setting is in the containers.conf written below, with why):
# runc (crun fails on the hybrid cgroup hierarchy), cgroupfs (no systemd), file events and logs (no journald),
# default ulimits within this host's hard limits (Podman's defaults exceed them and containers fail to start).
# Root here cannot raise a hard limit, and Podman asks for 1048576 processes in every container whose
# ulimits do not name nproc (a compose service that sets `nofile` only): runc is called through a wrapper
# that lowers each requested limit to this host's hard limit, which is what the container can get anyway.
# Health checks: Podman runs them from systemd timers, and without systemd nothing runs them, so a container
# would stay `starting` for ever (Traefik only routes healthy containers, `compose up --wait` waits for them).
# The health-check runner does what Docker's daemon does: it runs each running container's check every
# `interval` (first one `interval` after the container is seen running) through Podman's API.
set -euo pipefail

SOCK=/var/run/docker.sock
STATE=/run/sio-compose-engine
RUNC_CLAMP=/usr/local/libexec/sio-compose-engine/runc
CONF=/etc/containers/containers.conf
MARK='# Written by scripts/compose-engine.sh'
PACKAGES=(podman runc netavark aardvark-dns iptables debootstrap)

say() { echo "engine: $*"; }
die() { echo "compose-engine: $*" >&2; exit 1; }
cannot() { echo "compose-engine: no container engine can run here: $*" >&2; exit 3; }

# An engine answers on DOCKER_HOST (unix sockets only) or the default socket.
engine_socket() { local h="${DOCKER_HOST:-unix://$SOCK}"; [ "${h#unix://}" != "$h" ] && echo "${h#unix://}"; }
engine_answers() {
  local s; s="$(engine_socket)" || return 1
  [ -S "$s" ] && [ "$(curl -s --max-time 5 --unix-socket "$s" http://engine/_ping 2>/dev/null)" = OK ]
}

missing_packages() {
  local p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
  done
}

plan() {
  engine_answers && return 0
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || return 0
  missing_packages | sed 's/^/apt /'
}

write_config() {
  local nofile nproc pid_max
  nofile="$(ulimit -Hn)" nproc="$(ulimit -Hu)" pid_max="$(cat /proc/sys/kernel/pid_max)"
  [ "$nofile" = unlimited ] && nofile=1048576
  # Podman runs conmon (whose limits the containers inherit) with at most kernel.pid_max processes.
  if [ "$nproc" = unlimited ] || [ "$nproc" -gt "$pid_max" ]; then nproc="$pid_max"; fi
  if [ -f "$CONF" ] && ! head -1 "$CONF" | grep -qF "$MARK"; then
    say "keeping the existing $CONF (not written by this script)"
  else
    mkdir -p "$(dirname "$CONF")"
    cat > "$CONF" <<EOF
$MARK for Podman's Docker API on a host without systemd (overwritten by it).
[containers]
# Podman's defaults (1048576 files, 4194304 processes) exceed this host's hard limits (open files, and processes
# up to kernel.pid_max): containers fail to start.
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
# No journald: container logs to files (what \`docker compose logs\` reads).
log_driver = "k8s-file"

[engine]
# crun fails on this host's hybrid cgroup hierarchy; runc works. Through $RUNC_CLAMP: root here cannot
# raise a hard limit, and Podman asks for more processes than this host allows (see that file).
runtime = "runc"
# No systemd: cgroups are managed directly.
cgroup_manager = "cgroupfs"
# No journald: events to a file (Compose and Traefik's Docker provider follow the event stream).
events_logger = "file"

[engine.runtimes]
runc = ["$RUNC_CLAMP"]

[network]
# netavark with aardvark-dns: containers resolve service names (and \`server\` to every replica).
network_backend = "netavark"
EOF
  fi
  mkdir -p "$(dirname "$RUNC_CLAMP")"
  # (an absolute interpreter: runc is started with the engine's own PATH)
  printf '%s' "${RUNC_CLAMP_PY/PYTHON3/$(python3 -c 'import sys; print(sys.executable)')}" > "$RUNC_CLAMP.new" && chmod 755 "$RUNC_CLAMP.new" && mv -f "$RUNC_CLAMP.new" "$RUNC_CLAMP"
  # Short image names are Docker Hub's, as with Docker (compose files and Dockerfiles use `redis:7.2-alpine`).
  mkdir -p /etc/containers/registries.conf.d
  cat > /etc/containers/registries.conf.d/50-sio-compose-engine.conf <<EOF
$MARK: short image names mean docker.io, as with Docker.
unqualified-search-registries = ["docker.io"]
EOF
}

# The runc wrapper (see the header): `create`/`run` read the bundle's config.json, `exec` its --process file.
RUNC_CLAMP_PY='#!PYTHON3
# Written by scripts/compose-engine.sh: runc, with every resource limit a container asks for lowered to this
# host'"'"'s hard limit (root here cannot raise one, and Podman asks for 1048576 processes by default).
import json, os, resource, sys

REAL = "/usr/bin/runc"
args = sys.argv[1:]

def value(flags):
    for i, a in enumerate(args):
        for f in flags:
            if a == f and i + 1 < len(args):
                return args[i + 1]
            if a.startswith(f + "="):
                return a[len(f) + 1:]
    return None

def clamp(path, nested):
    with open(path) as f:
        spec = json.load(f)
    proc = spec.get("process") or {} if nested else spec
    changed = False
    for r in proc.get("rlimits") or []:
        res = getattr(resource, r.get("type", ""), None)
        if res is None:
            continue
        hard = resource.getrlimit(res)[1]
        if hard != resource.RLIM_INFINITY and r.get("hard", 0) > hard:
            r["hard"] = hard
            r["soft"] = min(r.get("soft", hard), hard)
            changed = True
    if changed:
        with open(path + ".clamp", "w") as f:
            json.dump(spec, f)
        os.replace(path + ".clamp", path)

command = next((a for a in args if not a.startswith("-") and a in ("create", "run", "exec")), None)
if command in ("create", "run"):
    clamp(os.path.join(value(["--bundle", "-b"]) or ".", "config.json"), True)
elif command == "exec" and value(["--process", "-p"]):
    clamp(value(["--process", "-p"]), False)
os.execv(REAL, [REAL] + args)
'

# The health-check runner (see the header). Reads the Docker API for the running containers and their health
# check interval, runs due checks through Podman's own API (GET /libpod/containers/ID/healthcheck runs one).
HEALTH_PY='
import http.client, json, socket, sys, threading, time

SOCK = sys.argv[1]

class Conn(http.client.HTTPConnection):
    def __init__(self, timeout):
        super().__init__("engine", timeout=timeout)
    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(SOCK)
        self.sock = s

def call(path, timeout=10):
    c = Conn(timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()

interval = {}   # container id -> seconds, or None without a health check
due = {}        # container id -> time of its next check
busy = set()
lock = threading.Lock()

def check(cid, name):
    try:
        status, body = call("/v4.0.0/libpod/containers/%s/healthcheck" % cid, timeout=60)
        if status != 200:
            print("%s: health check: HTTP %s %s" % (name, status, body[:200]), flush=True)
    except Exception as e:
        print("%s: health check: %s" % (name, e), flush=True)
    finally:
        with lock:
            busy.discard(cid)

failures = 0
while True:
    try:
        status, body = call("/v1.41/containers/json")
        running = {c["Id"]: c["Names"][0].lstrip("/") for c in json.loads(body)}
        failures = 0
    except Exception as e:
        failures += 1
        if failures > 60:
            sys.exit("the engine API has not answered for a minute: %s" % e)
        time.sleep(1)
        continue
    now = time.monotonic()
    for cid in list(due):
        if cid not in running:
            del due[cid]
    for cid, name in running.items():
        if cid not in interval:
            try:
                status, body = call("/v1.41/containers/%s/json" % cid)
                hc = (json.loads(body).get("Config") or {}).get("Healthcheck") or {}
                test = hc.get("Test") or []
                ok = bool(test) and test[0] != "NONE"
                interval[cid] = (hc.get("Interval") or 30_000_000_000) / 1e9 if ok else None
            except Exception:
                continue
        if interval[cid] is None:
            continue
        if cid not in due:  # newly running (started or restarted): first check one interval later
            due[cid] = now + interval[cid]
            continue
        with lock:
            if now < due[cid] or cid in busy:
                continue
            busy.add(cid)
        due[cid] = now + interval[cid]
        threading.Thread(target=check, args=(cid, name), daemon=True).start()
    time.sleep(0.25)
'

start() {
  if engine_answers; then
    say "using the engine that answers on $(engine_socket)"
    return 0
  fi
  [ "$(uname -s)" = Linux ] || cannot "not Linux"
  [ "$(id -u)" = 0 ] || cannot "Podman's rootful Docker API needs root (run as root, or start Docker)"
  command -v apt-get >/dev/null || cannot "no apt-get to install Podman (start Docker instead)"
  local missing
  missing="$(missing_packages | tr '\n' ' ')"
  if [ -n "${missing// /}" ]; then
    say "apt-get install $missing"
    # shellcheck disable=SC2086 # a list of package names
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null 2>&1; then
      apt-get update -qq >/dev/null 2>&1 || true
      apt-cache show podman >/dev/null 2>&1 || cannot "no podman package in this machine's apt sources"
      # shellcheck disable=SC2086
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null \
        || die "apt-get install $missing failed"
    fi
  fi
  write_config
  mkdir -p "$STATE"
  if [ -e "$SOCK" ]; then
    # A socket nobody answers on: ours from a run that was killed, or a stopped Docker's. Only ours is removed.
    if [ -f "$STATE/service.pid" ] && ! kill -0 "$(cat "$STATE/service.pid")" 2>/dev/null; then
      rm -f "$SOCK"
    else
      die "$SOCK exists but no engine answers on it (a stopped Docker?); start that engine or remove the socket"
    fi
  fi
  setsid podman system service --time=0 "unix://$SOCK" > "$STATE/service.log" 2>&1 < /dev/null &
  echo $! > "$STATE/service.pid"
  local deadline=$((SECONDS + 30))
  until engine_answers; do
    kill -0 "$(cat "$STATE/service.pid")" 2>/dev/null || { cat "$STATE/service.log" >&2; die "podman system service exited"; }
    [ "$SECONDS" -lt "$deadline" ] || { cat "$STATE/service.log" >&2; die "podman's API did not answer within 30 s"; }
    sleep 0.2 # polling a socket that has no readiness event
  done
  printf '%s' "$HEALTH_PY" > "$STATE/healthchecks.py"
  setsid python3 "$STATE/healthchecks.py" "$SOCK" > "$STATE/healthchecks.log" 2>&1 < /dev/null &
  echo $! > "$STATE/healthchecks.pid"
  touch "$STATE/started"
  say "podman $(podman version --format '{{.Client.Version}}' 2>/dev/null) serving the Docker API on $SOCK (health checks: $STATE/healthchecks.log)"
}

stop() {
  [ -f "$STATE/started" ] || return 0
  local f pid
  for f in healthchecks service; do
    [ -f "$STATE/$f.pid" ] || continue
    pid="$(cat "$STATE/$f.pid")"
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$STATE/$f.pid"
  done
  rm -f "$SOCK" "$STATE/started"
}

case "${1:-}" in
  --plan) plan ;;
  start) start ;;
  stop) stop ;;
  -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' ;;
  *) echo "usage: $0 --plan|start|stop (see --help)" >&2; exit 2 ;;
esac
