#!/usr/bin/env bash
# Make .venv (Python 3.10 + the pinned lock + signpipe in editable mode) unless it is already
# up to date with requirements/lock.txt and setup.py. Safe to run before every command.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${SIGNPIPE_VENV:-.venv}"
stamp="$venv/.signpipe-lock-sha256"
# The stamp covers this script too: a changed install step rebuilds the venv once.
want="$(cat requirements/lock.txt setup.py scripts/bootstrap.sh | sha256sum | cut -d' ' -f1)"
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

is_python310() { "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' >/dev/null 2>&1; }

find_python310() {
  local candidate
  for candidate in "${SIGNPIPE_PYTHON:-}" python3.10 "$HOME"/.pyenv/versions/3.10*/bin/python \
      /usr/local/bin/python3.10 /usr/bin/python3.10 /opt/homebrew/bin/python3.10; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 && is_python310 "$candidate"; then
      command -v "$candidate"
      return 0
    fi
  done
  if command -v uv >/dev/null 2>&1; then
    candidate="$(uv python find 3.10 2>/dev/null || true)"
    if [ -n "$candidate" ] && is_python310 "$candidate"; then
      echo "$candidate"
      return 0
    fi
  fi
  return 1
}

if ! python="$(find_python310)"; then
  cat >&2 <<'MSG'
signpipe needs Python 3.10 (TFX 1.16 supports Python 3.9-3.10 only) and none was found.
Install one of these, then run the command again:
  uv:     pip install uv && uv python install 3.10
  pyenv:  pyenv install 3.10
  Debian/Ubuntu: apt-get install python3.10 python3.10-venv   (deadsnakes PPA on Ubuntu)
Or point SIGNPIPE_PYTHON at a Python 3.10 interpreter.
MSG
  exit 3
fi

echo "bootstrap: creating $venv with $python and the pinned lock (first run takes a few minutes)"
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip uv
# The lock pins every package, so the installer never resolves (pip alone backtracks for >10 min).
# Bytecode is compiled now, once: otherwise every process where PYTHONDONTWRITEBYTECODE is set
# (or the venv is read-only) compiles TensorFlow, TFX and Beam from source as it imports them.
"$venv/bin/uv" pip install --quiet --compile-bytecode --python "$venv/bin/python" \
  -r requirements/lock.txt
"$venv/bin/uv" pip install --quiet --python "$venv/bin/python" --no-deps -e .
echo "$want" > "$stamp"
echo "bootstrap: $venv is ready"
