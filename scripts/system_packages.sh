#!/usr/bin/env bash
# Install the Debian packages named as arguments that dpkg does not have yet: directly when run as root,
# else with sudo, else print the one apt-get line to run and fail. Nothing happens when all are there.
# Used by the Makefile (`make system-packages`, `make test-packages`); `tests/portal/test_makefile_setup.py`
# runs it against fake dpkg-query, apt-get, sudo and id.
set -uo pipefail

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "Not a Debian system (no dpkg-query): make sure these or their equivalents are installed: $*" >&2
  exit 0
fi

missing=()
for pkg in "$@"; do
  status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" || status=""
  [[ "$status" == *"install ok installed"* ]] || missing+=("$pkg")
done
((${#missing[@]})) || exit 0

line="apt-get install -y --no-install-recommends ${missing[*]}"
echo "Debian packages missing: ${missing[*]}" >&2
if [[ "$(id -u)" == 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
  echo "Installing them with sudo." >&2
else
  echo "Not root and no sudo: install them as root, then run make again:" >&2
  echo "  $line"
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q || echo "apt-get update failed; trying the install anyway" >&2
if ! "${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"; then
  echo "Installing failed; as root, run:" >&2
  echo "  $line"
  exit 1
fi
