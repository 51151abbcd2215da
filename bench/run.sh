#!/usr/bin/env bash
# The benchmark in one command: builds the server, the load generator and the raw fan-out server,
# installs the Node peer's dependencies, then runs bench (the driver) with the given options.
#
#   bench/run.sh            full run: 3 cycles of Node/Rust/Rust/Node (+ Rust with 2 workers),
#                           writes bench/results/<date>.json and .md (1.5-2 hours on 2 cores)
#   bench/run.sh --smoke --profile debug
#                           tiny configuration, ~30 s, writes target/bench-smoke/ (the test command runs it)
#   bench/run.sh --help     every option (--cycles, --order, --only, --ping-interval, ...)
#
# Needs: taskset (util-linux), redis-server, node >= 20 with npm, two cores.
set -euo pipefail
cd "$(dirname "$0")/.."

# `--profile debug` (what the test command uses for --smoke) runs unoptimised binaries: quicker to
# build, and the smoke run's numbers mean nothing anyway.
profile=release
if [[ " $* " == *" --profile debug "* ]]; then
  profile=debug
fi

for tool in taskset redis-server node npm; do
  command -v "$tool" >/dev/null || { echo "bench/run.sh: $tool is required" >&2; exit 2; }
done

if [ "$profile" = release ]; then
  cargo build --release -p server -p loadgen --bins
else
  cargo build -p server -p loadgen --bins
fi

if [ ! -d bench/node/node_modules/socket.io ] || [ bench/node/package-lock.json -nt bench/node/node_modules/.package-lock.json ]; then
  (cd bench/node && npm ci --no-audit --no-fund)
fi

exec "target/$profile/bench" "$@"
