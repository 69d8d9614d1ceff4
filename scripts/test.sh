#!/usr/bin/env bash
# Install everything the tests need (Python packages into ./.venv, Chromium via apt when root)
# and run every test. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
    else
        echo "error: the browser tests need Chromium at /usr/bin/chromium: run 'sudo apt-get install chromium' first" >&2
        exit 1
    fi
fi
. scripts/setup-env.sh requirements-dev.txt
exec .venv/bin/python -m pytest "$@"
