#!/usr/bin/env bash
# Install everything the tests need (Python packages into ./.venv, Chromium and HAProxy via apt when root)
# and run every test. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
# System packages the tests drive: Chromium (browser tests) and HAProxy (the load balancer's config check
# and the two-process test behind it).
missing=""
[ -x /usr/bin/chromium ] || missing="$missing chromium"
[ -x /usr/sbin/haproxy ] || missing="$missing haproxy"
command -v npm >/dev/null || missing="$missing npm"
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
    else
        echo "error: the tests need$missing from apt: run 'sudo apt-get install$missing' first" >&2
        exit 1
    fi
fi
. scripts/setup-env.sh requirements-dev.txt
# axe-core, injected by the accessibility tests (tests/test_browser_a11y.py) into every page
AXE_VERSION=4.14.1
grep -qs "\"version\": \"$AXE_VERSION\"" tests/.npm/node_modules/axe-core/package.json ||
    npm install --prefix tests/.npm --no-audit --no-fund --no-save --silent "axe-core@$AXE_VERSION" >/dev/null
exec .venv/bin/python -m pytest "$@"
