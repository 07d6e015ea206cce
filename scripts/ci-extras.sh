#!/usr/bin/env bash
# CI steps beyond `dotnet test` for deploy/ and the operator docs (run after scripts/test.sh):
#   1. lint deploy/container/Dockerfile with dockerfile-utils (npm; hadolint is not on our registries);
#   2. the README's dotnet-trace recipe against a real worker process: `dotnet-trace collect` with the
#      System.Diagnostics.Metrics provider for the Triage meter, then check the instruments are in the trace.
# Needs: the .NET SDK, npx (Debian: npm), strings (Debian: binutils, which gcc already pulls in).
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

need=()
command -v npx >/dev/null 2>&1 || need+=(npm)
command -v strings >/dev/null 2>&1 || need+=(binutils)
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || { echo "Missing packages: ${need[*]} — apt-get install ${need[*]}" >&2; exit 1; }
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

echo "== dockerfile-utils lint deploy/container/Dockerfile"
npx --yes dockerfile-utils@0.16.3 lint deploy/container/Dockerfile
echo "ok: Dockerfile lint clean"

echo "== dotnet-trace collect on a running worker"
tools=.tools
[ -x "$tools/dotnet-trace" ] || dotnet tool install --tool-path "$tools" dotnet-trace --version 10.0.750501 >/dev/null
dotnet build src/Worker -c Release -v quiet -nologo >/dev/null
triage=src/Worker/bin/Release/net10.0/triage
work=$(mktemp -d)
worker=
cleanup() { [ -n "$worker" ] && kill "$worker" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

TRIAGE_Logging__LogLevel__Default=Warning "$triage" --data-dir "$work/data" run >"$work/worker.log" 2>&1 &
worker=$!
for _ in $(seq 100); do ls "${TMPDIR:-/tmp}"/dotnet-diagnostic-"$worker"-* >/dev/null 2>&1 && break; sleep 0.1; done
"$tools/dotnet-trace" collect -p "$worker" -o "$work/metrics.nettrace" --duration 00:00:00:10 \
  --providers 'System.Diagnostics.Metrics:0x2:4:SessionId=ci;Metrics=Triage;RefreshInterval=1;MaxTimeSeries=1000;MaxHistograms=20' \
  >"$work/trace.log" 2>&1 &
trace=$!
sleep 2
"$triage" --data-dir "$work/data" enqueue samples >/dev/null
wait "$trace" || { cat "$work/trace.log" >&2; exit 1; }

strings -el "$work/metrics.nettrace" | sort -u >"$work/strings.txt"
missing=0
for instrument in triage.documents.processed triage.tokens.input triage.tokens.attended triage.batch.size \
                  triage.batch.fill_ratio triage.inference.duration messaging.process.duration triage.queue.lag \
                  triage.model.info triage.messages.in_flight; do
  grep -qx "$instrument" "$work/strings.txt" || { echo "missing in the trace: $instrument" >&2; missing=1; }
done
[ "$missing" -eq 0 ] || { cat "$work/worker.log" >&2; exit 1; }
echo "ok: every Triage instrument is in the dotnet-trace metrics trace"
echo "2 passed, 0 failed"
