#!/usr/bin/env bash
# Container images without a registry or a Docker engine, for the e2e node (make node-images):
#   base OUT.tar               a Debian bookworm root filesystem from debootstrap (Python 3.11 and pip from
#                              Debian), the stand-in for python:3.11-slim-bookworm
#   pause OUT.tar BINARY       a FROM-scratch image holding the static pause program (the pod sandbox)
#   golang STAMP               the base plus the host's Go toolchain, the stand-in for golang:*-bookworm
#                              (kept in the build storage only; STAMP records its reference)
#   dockerfile OUT.tar FILE CONTEXT REF [--build-arg ...]
#                              one of the project's Dockerfiles, built on the images above
# Each writes a docker-archive tarball (the format `ctr images import` reads) named with the image's
# reference. Builds use buildah with its own storage under $IMAGE_STORE; network only for the package indexes.
set -euo pipefail

: "${IMAGE_STORE:?set IMAGE_STORE to the directory of the build storage}"
BUILDAH=(buildah --root "$IMAGE_STORE/root" --runroot "$IMAGE_STORE/run" --storage-driver overlay)
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE_REF=localhost/debian-python:3.11-bookworm
PAUSE_REF=localhost/pause:e2e

scratch=$(mktemp -d)
# No mount outlives the build: debootstrap's /proc and /sys, buildah's working containers and the private
# bind mount its overlay driver keeps on its own directory.
cleanup() {
  umount -R "$scratch/rootfs/proc" "$scratch/rootfs/sys" 2>/dev/null || true
  rm -rf "$scratch"
  "${BUILDAH[@]}" rm --all >/dev/null 2>&1 || true
  umount "$IMAGE_STORE/root/overlay" 2>/dev/null || true
}
trap cleanup EXIT

# Push REF to a docker-archive at OUT, atomically (a killed build leaves no half tarball behind).
export_image() {
  local ref=$1 out=$2
  rm -f "$out.partial"
  "${BUILDAH[@]}" push --quiet "$ref" "docker-archive:$out.partial:$ref"
  mv "$out.partial" "$out"
}

base() {
  local out=$1
  # minbase: no systemd, no docs; python3-venv for `python -m venv`, ca-certificates for pip and uv.
  debootstrap --variant=minbase --include=python3,python3-pip,python3-venv,ca-certificates \
    bookworm "$scratch/rootfs" "$DEBIAN_MIRROR"
  # An image is a whole system: pip may install into it (as python:*-slim allows; PEP 668's marker is
  # for hosts whose apt owns /usr). No apt indexes or caches in the layer.
  rm -f "$scratch"/rootfs/usr/lib/python3.*/EXTERNALLY-MANAGED
  rm -rf "$scratch"/rootfs/var/lib/apt/lists/* "$scratch"/rootfs/var/cache/apt/*.bin
  tar --numeric-owner --exclude='./proc/*' --exclude='./sys/*' --exclude='./dev/*' \
    -C "$scratch/rootfs" -cf "$scratch/rootfs.tar" .
  local container
  container=$("${BUILDAH[@]}" from scratch)
  "${BUILDAH[@]}" add "$container" "$scratch/rootfs.tar" /
  "${BUILDAH[@]}" config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env LANG=C.UTF-8 --cmd python3 "$container"
  "${BUILDAH[@]}" commit --quiet --rm "$container" "$BASE_REF" >/dev/null
  export_image "$BASE_REF" "$out"
}

pause() {
  local out=$1 binary=$2 container
  container=$("${BUILDAH[@]}" from scratch)
  "${BUILDAH[@]}" copy "$container" "$binary" /pause
  "${BUILDAH[@]}" config --entrypoint '["/pause"]' --user 65535:65535 "$container"
  "${BUILDAH[@]}" commit --quiet --rm "$container" "$PAUSE_REF" >/dev/null
  export_image "$PAUSE_REF" "$out"
}

golang() {
  local stamp=$1 container ref
  ref="localhost/golang:$(go env GOVERSION | sed 's/^go//')-bookworm"
  container=$("${BUILDAH[@]}" from --pull-never "$BASE_REF")
  "${BUILDAH[@]}" copy "$container" "$(go env GOROOT)" /usr/local/go >/dev/null
  "${BUILDAH[@]}" config --env PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env GOTOOLCHAIN=local "$container"
  "${BUILDAH[@]}" commit --quiet --rm "$container" "$ref" >/dev/null
  echo "$ref" >"$stamp"
}

dockerfile() {
  local out=$1 file=$2 context=$3 ref=$4
  shift 4
  local uv_cache=${UV_CACHE_DIR:-$HOME/.cache/uv}
  mkdir -p "$uv_cache"
  # The host's CA bundle and uv's cache are mounted into the build's RUN steps only, never into a layer.
  "${BUILDAH[@]}" bud --quiet --pull-never --network host --layers \
    --volume /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro \
    --volume "$uv_cache:/root/.cache/uv" \
    --file "$file" --tag "$ref" "$@" "$context" >/dev/null
  export_image "$ref" "$out"
}

"$@"
