#!/usr/bin/env bash
# Runs the protocol checker by hand: tests/conformance/run.sh --binary PATH --config CONFIG.json
# (its environment is created on first use by setup.py; see README.md in this folder).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
python=$(python3 "$here/setup.py")
exec "$python" "$here/check.py" "$@"
