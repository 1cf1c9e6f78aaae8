#!/usr/bin/env bash
# Run every check: lint (ruff, mypy, squawk), pgTAP (through pytest) and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy"
.venv/bin/mypy
echo "== squawk (migrations)"
.venv/bin/squawk --config .squawk.toml supabase/migrations/*.sql
echo "== pytest (starts its own PostgreSQL cluster; runs pg_prove on tests/sql)"
.venv/bin/pytest "$@"
