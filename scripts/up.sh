#!/usr/bin/env bash
# Set up and run the local stack on a fresh Debian machine (as root):
# installs packages and the venv, then `flirt-admin dev up`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/flirt-admin dev up
