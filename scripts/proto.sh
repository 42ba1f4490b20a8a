#!/usr/bin/env bash
# Regenerate the Python stubs (+ mypy stubs) for every proto into libs/crm-proto/src.
# With --check, regenerate into a temporary tree and fail if it differs from what is committed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=${PYTHON:-.venv/bin/python}
export PATH="$(pwd)/.venv/bin:$PATH"
OUT=libs/crm-proto/src
check=0
[ "${1:-}" = "--check" ] && check=1

gen() {
  local out
  mkdir -p "$1"; out=$(cd "$1" && pwd)
  mapfile -t protos < <(cd proto && find crm -name '*.proto' | sort)
  (cd proto && "$ROOT/$PY" -m grpc_tools.protoc -I . \
      --python_out="$out" --grpc_python_out="$out" \
      --mypy_out="$out" --mypy_grpc_out="$out" "${protos[@]}" >/dev/null)
  # package markers so that crm.<svc>.v1 imports as a regular package
  find "$out/crm" -type d -exec sh -c 'test -f "$1/__init__.py" || : > "$1/__init__.py"' _ {} \;
  find "$out/crm" -type d -exec sh -c 'test -f "$1/py.typed" || : > "$1/py.typed"' _ {} \;
}

if [ $check -eq 1 ]; then
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  gen "$tmp"
  if ! diff -r -x __pycache__ "$tmp/crm" "$OUT/crm" >/dev/null; then
    echo "proto-check: generated stubs are out of date; run 'make proto' and commit" >&2
    diff -r -x __pycache__ "$tmp/crm" "$OUT/crm" | head -40 >&2
    exit 1
  fi
  echo "proto-check: stubs match the protos"
else
  rm -rf "$OUT/crm"
  gen "$OUT"
  echo "proto: regenerated $(find "$OUT/crm" -name '*_pb2.py' | wc -l) modules into $OUT"
fi
