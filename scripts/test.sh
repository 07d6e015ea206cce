#!/usr/bin/env bash
# The one test command (README, .ci/run): installs what the tests need on a fresh Debian 12 with only the .NET SDK,
# then runs every test project. Real servers (PostgreSQL, RabbitMQ) are started by the tests themselves.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)                       # builds the TorchSharp libstdc++ shim
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)     # real PostgreSQL for storage tests
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || need+=(rabbitmq-server)       # real AMQP 1.0 broker for transport tests
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)                 # systemd-analyze verify of deploy/systemd units
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "Missing packages: ${need[*]} — install them (apt-get install ${need[*]}) or run as root." >&2
    exit 1
  fi
  echo "Installing ${need[*]} …"
  apt-get update -qq
  # The packages try to start system services; with no init system that is refused, which is fine: tests start their own.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
log=$(mktemp)
set +e
# A hung test fails the run with a dump instead of eating the CI budget.
dotnet test Triage.sln --blame-hang-timeout 8m --blame-hang-dump-type none "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# Checks outside dotnet test: Dockerfile lint and dotnet-trace reading the Triage meter from a running worker.
extras_passed=0 extras_failed=0
if [ "$status" -eq 0 ]; then
  if bash scripts/ci-extras.sh; then extras_passed=2; else extras_failed=1; status=1; fi
fi
set -e

# One closing line for CI: the sum over all test assemblies and the extra checks.
awk -v ep="$extras_passed" -v ef="$extras_failed" '/(Passed|Failed)! +- +Failed: /{
       gsub(/,/, ""); for (i = 1; i <= NF; i++) { if ($i == "Failed:") f += $(i+1); if ($i == "Passed:") p += $(i+1); if ($i == "Skipped:") s += $(i+1) }
     } END { printf "%d passed, %d failed, %d skipped\n", p + ep, f + ef, s }' "$log"
rm -f "$log"
exit "$status"
