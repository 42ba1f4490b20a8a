#!/usr/bin/env bash
# make install: make sure uv exists (bootstrapped into .tools/ when it is not on PATH), install the locked
# Python workspace (uv sync --frozen, dev group included) and, when package.json exists, the node tools (buf).
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.8
if [ -n "${UV:-}" ] && [ -x "$(command -v "$UV" 2>/dev/null || true)" ]; then
  :
elif command -v uv >/dev/null 2>&1; then
  UV=uv
else
  UV=.tools/bin/uv
  if [ ! -x "$UV" ]; then
    echo "install: uv is not on PATH; bootstrapping uv==$UV_VERSION into .tools/"
    python3 -m venv .tools
    .tools/bin/python -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
  fi
fi

"$UV" sync --frozen

if [ -f package.json ]; then
  stamp=node_modules/.crm-npm-install.stamp
  if ! command -v npm >/dev/null 2>&1; then
    echo "install: warning: npm not found; skipping node tools (buf is needed only by 'make lint')" >&2
  elif [ -f "$stamp" ] && [ ! package.json -nt "$stamp" ] && { [ ! -f package-lock.json ] || [ ! package-lock.json -nt "$stamp" ]; }; then
    : # node_modules is up to date
  else
    npm install --no-audit --no-fund
    touch "$stamp"
  fi
fi
