#!/usr/bin/env bash
# The main job on the embedded defaults: enqueue the sample documents in samples/ on the embedded SQLite queue, run
# the worker with the shipped model (models/bbc-news) until the queue is drained, results into SQLite, then print the
# summary and the queue status. Usage: scripts/demo.sh [DATA_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
data_dir=${1:-./data}
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
command -v gcc >/dev/null 2>&1 || { [ "$(id -u)" -eq 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc libc6-dev >/dev/null; }
dotnet build src/Worker -c Release -v quiet -nologo >/dev/null
triage=src/Worker/bin/Release/net10.0/triage
"$triage" --data-dir "$data_dir" enqueue samples/
"$triage" --data-dir "$data_dir" run --drain
"$triage" --data-dir "$data_dir" status
