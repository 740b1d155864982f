#!/usr/bin/env bash
# Command 1: set up, assemble the default model, import the demo shop and serve it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/kefu models install
exec .venv/bin/kefu serve --demo "$@"
