#!/usr/bin/env bash
# Install what the local stack and the tests need on Debian 12 (idempotent):
# PostgreSQL 15 with pg_cron, pgTAP and plpgsql_check, pg_prove, PgBouncer (the pooler
# tests), and a Python venv in .venv.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(postgresql-15 postgresql-15-cron postgresql-15-pgtap postgresql-15-plpgsql-check libtap-parser-sourcehandler-pgtap-perl pgbouncer)
# Debian's python3 needs python3-venv for `python3 -m venv`
python3 -c 'import ensurepip' 2>/dev/null || packages+=(python3-venv)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "missing packages; as root run: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [[ ! -f $stamp ]]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[dev]'
  touch "$stamp"
fi

# Node tools (package.json): the types generator and the TypeScript compiler for
# examples/frontend. `npm ci` installs exactly what package-lock.json pins.
if ! command -v npm >/dev/null; then
  echo "npm not found: install Node.js 20 and npm" >&2
  exit 1
fi
node_stamp=node_modules/.installed-$(sha256sum package-lock.json | cut -c1-16)
if [[ ! -f $node_stamp ]]; then
  npm ci --no-audit --no-fund --loglevel=error
  touch "$node_stamp"
fi
# npm tools of the Postman collection (openapi-to-postmanv2, newman), pinned by the lockfile
postman=docs/postman
if [[ ! -f $postman/node_modules/.installed-$(sha256sum $postman/package-lock.json | cut -c1-16) ]]; then
  (cd $postman && npm ci --no-audit --no-fund --loglevel=error)
  touch "$postman/node_modules/.installed-$(sha256sum $postman/package-lock.json | cut -c1-16)"
fi
