#!/usr/bin/env bash
# Builds the runtime images on this machine from Debian's archive only (no Docker, no Docker Hub):
# a debootstrap base per architecture, then `buildah bud` of Dockerfile.<arch> on top of it.
#   tools/build-images.sh [amd64|arm32v7|all]      (default: all)
# Tags localhost/<module name>:<version>-<arch>. Skips an image whose inputs (Dockerfile, requirements,
# module code, base) are unchanged. Env: EMA_CACHE_DIR (debootstrap bases; default
# /var/cache/edge-model-agent), DEBIAN_MIRROR (default: this machine's apt source for bookworm).
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/image-common.sh

cache=${EMA_CACHE_DIR:-/var/cache/edge-model-agent}
mkdir -p "$cache"

debian_mirror() {
  if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
  # The first URI serving the plain "bookworm" suite (deb822 .sources or one-line .list files).
  local found
  found=$(awk '/^URIs:/ {u=$2} /^Suites:/ && / bookworm( |$)/ && u {print u; exit}' \
    /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [ -z "$found" ] && found=$(grep -hE '^deb +(\[[^]]*\] +)?[a-z]+://[^ ]+ +bookworm +' \
    /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -1 | sed -E 's/^deb +(\[[^]]*\] +)?([^ ]+).*/\2/' || true)
  echo "${found:-http://deb.debian.org/debian}"
}

# The base image: a minbase debootstrap of bookworm, tarred without apt's caches, committed with buildah.
build_base() {
  local arch=$1 deb_arch base rootfs tarball
  deb_arch=$(deb_arch_of "$arch"); base=$(base_ref "$arch")
  if "${BUILDAH[@]}" inspect --type image "$base" >/dev/null 2>&1; then return; fi
  tarball="$cache/bookworm-minbase-$deb_arch.tar"
  if [ ! -s "$tarball" ]; then
    rootfs="$cache/rootfs-$deb_arch.tmp"
    rm -rf "$rootfs"
    echo "build-images: debootstrap bookworm ($deb_arch) from $(debian_mirror)"
    if [ "$deb_arch" = amd64 ]; then
      debootstrap --variant=minbase bookworm "$rootfs" "$(debian_mirror)" >"$cache/debootstrap-$deb_arch.log"
    else
      debootstrap --variant=minbase --arch="$deb_arch" --foreign bookworm "$rootfs" "$(debian_mirror)" \
        >"$cache/debootstrap-$deb_arch.log"
      chroot "$rootfs" /debootstrap/debootstrap --second-stage >>"$cache/debootstrap-$deb_arch.log"
    fi
    # The mirror the image's apt uses; the same one debootstrap used.
    echo "deb $(debian_mirror) bookworm main" >"$rootfs/etc/apt/sources.list"
    tar -C "$rootfs" --numeric-owner --exclude='./var/cache/apt/archives/*.deb' \
      --exclude='./var/lib/apt/lists/*' -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf "$rootfs"
  fi
  local ctr
  ctr=$("${BUILDAH[@]}" from scratch)
  "${BUILDAH[@]}" add "$ctr" "$tarball" / >/dev/null
  "${BUILDAH[@]}" config --arch "$(oci_arch_of "$arch")" $(variant_flag "$arch") \
    --cmd '["bash"]' --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$ctr"
  "${BUILDAH[@]}" commit --quiet --timestamp 0 "$ctr" "$base" >/dev/null
  "${BUILDAH[@]}" rm "$ctr" >/dev/null
}

inputs_hash() {
  local arch=$1
  {
    sha256sum "Dockerfile.$arch" .dockerignore requirements/runtime.txt tools/build-images.sh
    find module -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha256sum
    "${BUILDAH[@]}" inspect --type image --format '{{.FromImageID}}' "$(base_ref "$arch")"
  } | sha256sum | cut -d' ' -f1
}

build_image() {
  local arch=$1 tag want have started
  tag=$(image_ref "$arch")
  want=$(inputs_hash "$arch")
  have=$("${BUILDAH[@]}" inspect --type image --format '{{index .Docker.Config.Labels "inputs.sha256"}}' \
    "$tag" 2>/dev/null || true)
  if [ "$want" = "$have" ]; then
    echo "build-images: $tag is up to date (inputs $want)"
    return
  fi
  started=$(date +%s)
  echo "build-images: building $tag"
  # This machine's trusted CAs (e.g. a TLS-inspecting proxy in front of PyPI) for pip during RUN only:
  # mounted, not copied, so nothing of the host ends up in the image.
  local mounts=()
  if [ -s /etc/ssl/certs/ca-certificates.crt ]; then
    printf '[global]\ncert = /etc/pip-host-ca.crt\n' >"$cache/pip.conf"
    mounts=(-v /etc/ssl/certs/ca-certificates.crt:/etc/pip-host-ca.crt:ro -v "$cache/pip.conf:/etc/pip.conf:ro")
  fi
  # No --timestamp 0: it sets every file's mtime to 0, which invalidates the .pyc files Debian and the
  # Dockerfile compiled (their headers hold the real mtimes), so every start would recompile in memory.
  "${BUILDAH[@]}" bud --isolation chroot --format docker --quiet "${mounts[@]}" \
    --platform "$(platform_of "$arch")" --build-arg BASE_IMAGE="$(base_ref "$arch")" \
    --label inputs.sha256="$want" -f "Dockerfile.$arch" -t "$tag" . >/dev/null
  echo "build-images: built $tag in $(( $(date +%s) - started )) s"
}

report() {
  local arch=$1 tag
  tag=$(image_ref "$arch")
  echo "build-images: $tag size $("${BUILDAH[@]}" images --format '{{.Size}}' "$tag" | head -1)"
  # Largest layers (uncompressed), each with the instruction that made it.
  python3 tools/image-layers.py "$tag"
}

main() {
  local which=${1:-all} archs=()
  case "$which" in
    all) archs=(amd64 arm32v7) ;;
    amd64|arm32v7) archs=("$which") ;;
    *) echo "usage: $0 [amd64|arm32v7|all]" >&2; exit 2 ;;
  esac
  for arch in "${archs[@]}"; do
    [ "$arch" = arm32v7 ] && enable_qemu_arm
    build_base "$arch"
    build_image "$arch"
  done
  # Bound the vfs store: drop the untagged images earlier builds left behind.
  "${BUILDAH[@]}" rmi --prune >/dev/null 2>&1 || true
  for arch in "${archs[@]}"; do report "$arch"; done
}

main "$@"
