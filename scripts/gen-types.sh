#!/usr/bin/env bash
# Regenerate supabase/types/database.types.ts (the frontend's Database type) from a
# throwaway, freshly migrated database; `--check` only says whether it is stale.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/python -m pyworker.typegen "$@"
