#!/usr/bin/env bash
# Install everything the tests need (Python packages into ./.venv; Chromium, HAProxy and podman via apt when root)
# and run every test. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
# System packages the tests drive: Chromium (browser tests), HAProxy (the load balancer's config check
# and the two-process test behind it), and podman with runc and debootstrap (tests/test_container.py
# builds the image on a stand-in base and runs it, and its replicas behind HAProxy).
missing=""
[ -x /usr/bin/chromium ] || missing="$missing chromium"
[ -x /usr/sbin/haproxy ] || missing="$missing haproxy"
for tool in podman:podman runc:runc debootstrap:debootstrap netavark:/usr/lib/podman/netavark \
            aardvark-dns:/usr/lib/podman/aardvark-dns iptables:iptables; do
    package=${tool%%:*} path=${tool#*:}
    command -v "$path" >/dev/null 2>&1 || [ -x "$path" ] || [ -x "/usr/sbin/$path" ] || missing="$missing $package"
done
command -v npm >/dev/null || missing="$missing npm"
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
        lock="-o DPkg::Lock::Timeout=900"      # others may hold apt's lock: wait for it
        apt-get $lock update -qq
        DEBIAN_FRONTEND=noninteractive apt-get $lock install -y -qq --no-install-recommends $missing >/dev/null
    else
        echo "error: the tests need$missing from apt: run 'sudo apt-get install$missing' first" >&2
        exit 1
    fi
fi
# podman's settings for this host: runc, capped default ulimits (scripts/containers.conf says why)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/scripts/containers.conf}
. scripts/setup-env.sh requirements-dev.txt
# axe-core, injected by the accessibility tests (tests/test_browser_a11y.py) into every page
AXE_VERSION=4.14.1
grep -qs "\"version\": \"$AXE_VERSION\"" tests/.npm/node_modules/axe-core/package.json ||
    npm install --prefix tests/.npm --no-audit --no-fund --no-save --silent "axe-core@$AXE_VERSION" >/dev/null
# The linter first (ruff.toml), then the type checker on the engine and the server's pieces (mypy.ini): a style
# or type error fails the run before the long tests start.
.venv/bin/ruff check --quiet .
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
