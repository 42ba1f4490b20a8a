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

# Debian's hylafax-server (faxq + hfaxd) for the fax tests against a real HylaFAX
# (services/notify/tests/integration/test_hylafax.py starts its own private instance; they skip without it).
# Only as root with apt-get; anything else is a warning, never a failed install. The maintainer scripts must
# not start daemons (hfaxd on 4559, exim from the mail dependency): a policy-rc.d that denies every start is
# in place while apt runs, unless the system already has its own.
install_hylafax() {
  if [ "$(dpkg-query -W -f='${Status}' hylafax-server 2>/dev/null || true)" = "install ok installed" ]; then
    return 0
  fi
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install: warning: hylafax-server is not installed and needs root with apt-get; the HylaFAX tests will skip" >&2
    return 0
  fi
  echo "install: installing Debian's hylafax-server (faxq + hfaxd for the fax tests)"
  local policy=/usr/sbin/policy-rc.d made_policy="" ok=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# scripts/install.sh: no daemon starts while hylafax-server is installed\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    made_policy=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT # also when apt-get is interrupted
  fi
  local apt=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends hylafax-server)
  # the retry covers stale package lists and a postinst that stopped half-way: on a first install faxsetup
  # refuses to go on while any faxq runs (a test's private one, say); the second run skips faxsetup
  if "${apt[@]}"; then
    ok=1
  elif apt-get update -q && "${apt[@]}"; then
    ok=1
  fi
  if [ -n "$made_policy" ]; then
    rm -f "$policy"
    trap - EXIT
  fi
  if [ -z "$ok" ]; then
    echo "install: warning: apt-get could not install hylafax-server; the HylaFAX tests will skip" >&2
  fi
}
install_hylafax

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
