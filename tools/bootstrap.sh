#!/usr/bin/env bash
# Installs what the agent needs into .venv (Python 3.11 + the pinned requirements).
# With --test: also Debian's packages the tests start for real (mosquitto, docker-registry, skopeo,
# buildah, umoci, debootstrap, qemu), the test requirements and the Node tools the tests start (Azurite,
# pinned in tools/node/package-lock.json, installed into tools/node/node_modules: nothing global).
set -euo pipefail
cd "$(dirname "$0")/.."
want_test=0
[ "${1:-}" = "--test" ] && want_test=1

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
}

python=${PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3
if ! "$python" -c 'import sys, venv; assert sys.version_info[:2] == (3, 11)' 2>/dev/null; then
  apt_install python3 python3-venv
  python=/usr/bin/python3
fi

if [ $want_test = 1 ]; then
  apt_install mosquitto docker-registry skopeo buildah umoci debootstrap qemu-user-static binfmt-support \
    openssl ca-certificates curl
  command -v npm >/dev/null || apt_install nodejs npm
  if [ ! -x tools/node/node_modules/.bin/azurite-blob ] || ! cmp -s tools/node/package-lock.json tools/node/node_modules/.installed-lock.json; then
    # --ignore-scripts: no install hook runs; Azurite needs none.
    npm ci --prefix tools/node --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null
    cp tools/node/package-lock.json tools/node/node_modules/.installed-lock.json
  fi
fi

[ -x .venv/bin/python ] || "$python" -m venv .venv
req=requirements/runtime.txt
[ $want_test = 1 ] && req=requirements/dev.txt
.venv/bin/pip install -q -r "$req"
# Build isolation fetches setuptools and wheel for the editable install (a fresh venv has no wheel).
.venv/bin/pip install -q --no-deps -e . >/dev/null
echo "bootstrap: .venv ready ($req)"
