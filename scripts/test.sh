#!/usr/bin/env bash
# Install everything (scripts/bootstrap.sh), then run the test suite. Extra arguments go to pytest
# (e.g. `bash scripts/test.sh -m slow` for the slow statistical tests).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/bootstrap.sh" || exit 1
# The transcript browser's tests drive headless Chromium: install it when missing (as root), else stop.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing chromium (tests/test_transcripts.py needs it)" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
      || { echo "test.sh: apt-get install chromium failed" >&2; exit 1; }
  else
    echo "test.sh: chromium is missing and cannot be installed here (not root, or no apt-get); install it" \
         "(e.g. sudo apt-get install chromium): tests/test_transcripts.py needs it" >&2
    exit 1
  fi
fi
set +e
cd "$ROOT"
export MPLBACKEND=Agg PYTHONHASHSEED=0
python -m pytest -m "not slow" "$@"
rc=$?
if [ "$rc" -eq 5 ]; then echo "pytest collected no tests: failing on purpose" >&2; exit 1; fi
exit "$rc"
