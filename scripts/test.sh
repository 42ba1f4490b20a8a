#!/usr/bin/env bash
# make test: the whole suite (pytest settings live in pyproject.toml). Extra arguments go to pytest.
# "No tests collected" (pytest exit code 5) is a failure, never a silent pass.
set -uo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-uv}

"$UV" run --frozen pytest "$@"
rc=$?
if [ $rc -eq 5 ]; then
  echo "" >&2
  echo "test: ERROR: pytest collected no tests (exit code 5) - refusing to call that a pass" >&2
fi
exit $rc
