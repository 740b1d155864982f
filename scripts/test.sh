#!/usr/bin/env bash
# Command 2: set up, make sure both models are assembled (the slow tests use them), run the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/kefu models install --llm all
.venv/bin/ruff check src tests benchmarks
.venv/bin/lint-imports  # the layers (pyproject.toml, docs/architecture.md)
.venv/bin/mypy  # every module; strictly types, config, errors, agent/, retrieval/
exec .venv/bin/python -m pytest "$@"
