#!/usr/bin/env bash
# make lint: ruff (lint + format check), mypy on the platform and service sources, buf lint on the protos.
# Runs every check and fails at the end if any failed, so one run shows all problems.
set -uo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-uv}

failed=()
check() {
  echo "+ $*"
  "$@" || failed+=("$*")
}

check "$UV" run --frozen ruff check .
check "$UV" run --frozen ruff format --check .
shopt -s nullglob
check "$UV" run --frozen mypy -p crm_platform -p crm_leads -p crm_deals -p crm_billing -p crm_notify -p crm_telephony
if [ -f package.json ]; then
  check npx buf lint
fi

if [ ${#failed[@]} -gt 0 ]; then
  printf 'lint: FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "lint: all checks passed"
