#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what is missing, checks formatting and lints,
# runs the Rust unit and integration tests, then the end-to-end suites with real clients.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
step() { printf '\n==> %s (+%ss)\n' "$*" "$(( $(date +%s) - started ))"; }

step "install dependencies"
scripts/install-deps.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test"
cargo test --workspace

step "build the server binary"
cargo build -p server

step "end-to-end: client-test (socket.io-client against the binary)"
(cd client-test && npm test)

if [ -x scripts/validate-deploy.sh ]; then
  step "offline validation of docker/ and k8s/"
  scripts/validate-deploy.sh
  step "offline validation self-test (a typo in each kind of file must fail)"
  scripts/validate-deploy.sh --self-test --no-install
fi

step "all tests passed in $(( $(date +%s) - started ))s"
