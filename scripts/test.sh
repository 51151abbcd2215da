#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what is missing, checks formatting and lints,
# runs the Rust unit and integration tests, then the end-to-end suites with real clients.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin:/sbin" # haproxy, nginx
started=$(date +%s)
names=() starts=()
step() {
  names+=("$*") starts+=("$(date +%s)")
  printf '\n==> %s (+%ss)\n' "$*" "$(( starts[-1] - started ))"
}
# Each step's duration, also when a step fails (then the last one is the failing step).
summary() {
  local rc=$? now i end
  now=$(date +%s)
  printf '\n==> step durations (%s):\n' "$([ "$rc" = 0 ] && echo passed || echo "FAILED, exit $rc")"
  for i in "${!names[@]}"; do
    end=${starts[i + 1]:-$now}
    printf '%6ss  %s\n' "$(( end - starts[i] ))" "${names[i]}"
  done
  printf '%6ss  total\n' "$(( now - started ))"
}
trap summary EXIT

step "self-contained: no tracked file refers to a path outside the repository (then the check's self-test)"
scripts/check-self-contained.sh
scripts/check-self-contained.sh --self-test

step "what this run installs"
scripts/install-deps.sh --plan

step "install dependencies"
scripts/install-deps.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test"
cargo test --workspace

# `cargo test` has built target/debug/server (integration tests need it) with the same features;
# a separate `cargo build` would rebuild part of the tree with the non-test feature set.
if [ ! -x target/debug/server ]; then
  step "build the server binary"
  cargo build -p server
fi

step "build the chat page (web/ -> web/dist) and the Admin UI (admin-ui/ -> admin-ui/dist), served by the browser tests"
(cd web && npm run build --silent)
(cd admin-ui && npm run build --silent)

step "end-to-end: client-test (socket.io-client against the binary; the chat page and the Admin UI in Chromium)"
(cd client-test && npm test)

step "benchmark harness smoke (bench/run.sh --smoke: every workload runs; its numbers mean nothing)"
bench/run.sh --smoke --profile debug

if [ -x scripts/validate-deploy.sh ]; then
  step "offline validation of docker/ and k8s/"
  scripts/validate-deploy.sh
  step "offline validation self-test (a typo in each kind of file must fail)"
  scripts/validate-deploy.sh --self-test --no-install
fi

step "docker compose for real: scripts/compose-e2e.sh (image build, --scale, kill, stop behind Traefik, HAProxy and nginx)"
scripts/compose-e2e.sh

printf '\n==> all tests passed in %ss\n' "$(( $(date +%s) - started ))"
