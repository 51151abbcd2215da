#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine that has Rust and Node:
# Debian packages (Redis, HAProxy, nginx, Chromium for the browser tests), the rustfmt/clippy
# components, and the npm dependencies of client-test/, web/ and admin-ui/ (exactly as locked).
#
#   scripts/install-deps.sh          install what is missing
#   scripts/install-deps.sh --plan   only print what the test command will install on this machine: this
#                                    script's part, and what cargo, bench/run.sh, scripts/validate-deploy.sh and
#                                    scripts/compose-e2e.sh fetch later in the run
set -euo pipefail
cd "$(dirname "$0")/.."
PATH="$PATH:/usr/sbin:/sbin" # haproxy and nginx live there; a non-root user's PATH may lack it

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v haproxy >/dev/null || missing+=(haproxy)
command -v nginx >/dev/null || missing+=(nginx-light)
command -v curl >/dev/null || missing+=(curl)
[ -x /usr/bin/chromium ] || missing+=(chromium)

missing_components=()
if command -v rustup >/dev/null; then
  installed="$(rustup component list --installed 2>/dev/null || true)"
  grep -q '^rustfmt' <<<"$installed" || missing_components+=(rustfmt)
  grep -q '^clippy' <<<"$installed" || missing_components+=(clippy)
fi

if [ "${1:-}" = "--plan" ]; then
  list() { if [ $# -gt 0 ]; then echo "$*"; else echo "nothing (all present)"; fi; }
  apt=("${missing[@]}") tools=()
  if [ -x scripts/validate-deploy.sh ]; then
    while read -r kind rest; do
      case "$kind" in
        apt) [[ " ${apt[*]} " == *" $rest "* ]] || apt+=("$rest") ;;
        pip) tools+=("pip install into ${rest%% *}: ${rest#* }") ;;
        npm) tools+=("npm install into ${rest%% *}: ${rest#* }") ;;
      esac
    done < <(scripts/validate-deploy.sh --plan)
  fi
  echo "This run installs:"
  echo "  apt-get install:        $(list "${apt[@]}")"
  if command -v rustup >/dev/null; then
    echo "  rustup component add:   $(list "${missing_components[@]}")"
  else
    echo "  rustup component add:   (no rustup here: cargo fmt and cargo clippy must already work)"
  fi
  host="$(rustc -vV 2>/dev/null | sed -n 's/^host: //p')"
  if [ -n "$host" ] && cargo fetch --locked --offline --target "$host" >/dev/null 2>&1; then
    echo "  crates (Cargo.lock):    nothing (all in cargo's cache)"
  else
    echo "  crates (Cargo.lock):    downloaded from crates.io by the first cargo command"
  fi
  echo "  npm ci in client-test/: always (node_modules reinstalled exactly as locked, from npm's cache when it has them)"
  echo "  npm ci in web/:         always (the chat page's build tools, exactly as locked)"
  echo "  npm ci in admin-ui/:    always (the Admin UI and its fonts, exactly as locked)"
  if [ ! -d bench/node/node_modules/socket.io ] || [ bench/node/package-lock.json -nt bench/node/node_modules/.package-lock.json ]; then
    echo "  npm ci in bench/node/:  yes, by bench/run.sh (node_modules missing or older than its lock file)"
  else
    echo "  npm ci in bench/node/:  nothing (up to date)"
  fi
  if [ "${#tools[@]}" -gt 0 ]; then
    for t in "${tools[@]}"; do echo "  validate-deploy tools:  $t"; done
  else
    echo "  validate-deploy tools:  nothing (.tools/ up to date)"
  fi
  # scripts/compose-e2e.sh: Podman when no Docker engine answers, local base images, then the image build.
  if [ -x scripts/compose-e2e.sh ]; then
    engine=() images=()
    while read -r kind rest; do
      case "$kind" in
        apt) engine+=("$rest") ;;
        pip) images+=("pip install into ${rest%% *}: ${rest#* }") ;;
        images) images+=("build locally (debootstrap, podman build): $rest") ;;
      esac
    done < <(scripts/compose-e2e.sh --plan)
    echo "  compose e2e engine:     $(if [ "${#engine[@]}" -gt 0 ]; then echo "apt-get install ${engine[*]}"; else echo "nothing (an engine answers, or Podman is installed)"; fi)"
    if [ "${#images[@]}" -gt 0 ]; then
      for t in "${images[@]}"; do echo "  compose e2e images:     $t"; done
    else
      echo "  compose e2e images:     nothing (the base images are in the engine)"
    fi
    echo "  compose e2e build:      crates and npm packages inside the image build, unless its cached layers cover them"
  fi
  exit 0
fi

if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

for c in "${missing_components[@]}"; do
  rustup component add "$c"
done

(cd client-test && npm ci --no-audit --no-fund --loglevel=error)
(cd web && npm ci --no-audit --no-fund --loglevel=error)
(cd admin-ui && npm ci --no-audit --no-fund --loglevel=error)
