#!/usr/bin/env bash
# Installs the system tools rootforge's tests and benchmarks use (Debian 12, as root): the install step of .ci/run.
set -euo pipefail
exec bash "$(dirname "$0")/run" --packages-only
