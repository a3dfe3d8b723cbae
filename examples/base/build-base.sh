#!/usr/bin/env bash
# Build the local base image `enclave/base:bookworm` from the Debian archive.
# No registry is reachable, so the root filesystem comes from debootstrap and
# is turned into an image with `docker import`. Cached: a second run is a no-op.
set -euo pipefail
TAG="${ENCLAVE_BASE_IMAGE:-enclave/base:bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
if docker image inspect "$TAG" >/dev/null 2>&1; then
  echo "base image $TAG: cached"
  exit 0
fi
command -v debootstrap >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap; }
ROOT="$(mktemp -d /var/tmp/enclave-rootfs.XXXXXX)"
trap 'rm -rf "$ROOT"' EXIT
echo "base image $TAG: debootstrap bookworm (a few minutes, once)..."
debootstrap --variant=minbase --include=python3,ca-certificates bookworm "$ROOT" "$MIRROR" >/dev/null
rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/*
tar -C "$ROOT" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --platform linux/amd64 - "$TAG" >/dev/null
echo "base image $TAG: built"
