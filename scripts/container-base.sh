#!/usr/bin/env bash
# A local stand-in for python:3.11-slim, for building the Dockerfile where no image registry answers
# (the container tests: tests/test_container.py). Debian bookworm (debootstrap --variant=minbase) with
# Debian's python3.11 in a venv at /opt/venv that comes first on PATH, so `python`, `pip` and the
# scripts pip installs behave as in the official image; it trusts this host's CA certificates, so pip
# reaches PyPI through whatever TLS proxy the host itself trusts.
#
#     bash scripts/container-base.sh        # prints the image name, e.g. localhost/gfl-base:3f2a...
#
# Needs root, podman and debootstrap (scripts/test.sh installs them). Cached: the image is named after
# a hash of its inputs (this script and the host's CA bundle); when podman has it, nothing is done;
# when only the cached tarball (~/.cache/gradient-flow-lab/) is left, it is imported again.
set -euo pipefail

SUITE=bookworm
DEBIAN_MIRROR=${GFL_DEBIAN_MIRROR:-http://deb.debian.org/debian}
PACKAGES=python3.11,python3.11-venv,python3-distutils,ca-certificates,passwd   # python3.11-venv needs distutils
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
VENV=/opt/venv
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/gradient-flow-lab
REPO=localhost/gfl-base

hash=$( (cat "$0" "$CA_BUNDLE"; echo "$DEBIAN_MIRROR") | sha256sum | cut -c1-16)
image=$REPO:$hash
tarball=$CACHE/base-$hash.tar

if podman image exists "$image"; then
    echo "$image"
    exit 0
fi

if [ ! -s "$tarball" ]; then
    [ "$(id -u)" = 0 ] || { echo "error: building the base image needs root (debootstrap, chroot)" >&2; exit 1; }
    mkdir -p "$CACHE"
    root=$(mktemp -d "$CACHE/root.XXXXXX")
    trap 'rm -rf "$root"' EXIT
    echo "container-base: debootstrap $SUITE into $root" >&2
    debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$root" "$DEBIAN_MIRROR" >&2
    cp "$CA_BUNDLE" "$root$CA_BUNDLE"
    chroot "$root" /usr/bin/python3.11 -m venv "$VENV" >&2
    # what the official slim image leaves out too: package lists, downloaded .debs, docs and manuals
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/usr/share/doc/* "$root"/usr/share/man/* \
        "$root"/usr/share/info/* "$root"/var/log/*.log
    tar -C "$root" --numeric-owner -cf "$tarball.part" .
    mv "$tarball.part" "$tarball"
    rm -rf "$root"
    trap - EXIT
fi

echo "container-base: importing $tarball as $image" >&2
podman import \
    --change "ENV PATH=$VENV/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --change "ENV LANG=C.UTF-8" \
    --change 'CMD ["python"]' \
    "$tarball" "$image" >&2
# older stand-ins (other inputs) are no longer used
for old in $(podman images --noheading --format '{{.Repository}}:{{.Tag}}' "$REPO" | grep -vx "$image" || true); do
    podman rmi "$old" >/dev/null 2>&1 || true
done
find "$CACHE" -maxdepth 1 -name 'base-*.tar' ! -name "base-$hash.tar" -delete
echo "$image"
