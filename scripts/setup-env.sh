# Sourced by run.sh and test.sh: create ./.venv if needed and install a requirements file into it.
# Usage: . scripts/setup-env.sh requirements.lock (the app) or requirements-dev.txt (the tests).
# torch 2.13.0+cpu comes from PyTorch's CPU index (or a local wheel); where pip does not know that index,
# run with PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
stamp=".venv/.installed-$(basename "$1")"
if [ ! -f "$stamp" ] || [ "$1" -nt "$stamp" ] || [ requirements.lock -nt "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$1"
    touch "$stamp"
fi
