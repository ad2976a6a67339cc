#!/usr/bin/env bash
# Runs a command inside a runtime image built by tools/build-images.sh (buildah, chroot isolation; the
# arm32v7 image through qemu-arm and binfmt_misc), with host folders mounted; the container is removed after.
#   tools/run-in-image.sh ARCH [-v HOST:CONTAINER[:ro]]... [-e NAME=VALUE]... [-w DIR] [--] [CMD ARGS...]
# Without -v the current directory is mounted at /host. Without CMD the image's own CMD runs
# (python -m module). The network is the host's (chroot isolation), so a server inside listens on the host.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
source tools/image-common.sh

[ $# -ge 1 ] || { sed -n '2,7p' "$0" >&2; exit 2; }
arch=$1; shift
image=$(image_ref "$arch") || { echo "run-in-image: unknown ARCH $arch (amd64|arm32v7)" >&2; exit 2; }
mounts=() envs=() workdir=()
while [ $# -gt 0 ]; do
  case "$1" in
    -v) mounts+=(--volume "$2"); shift 2 ;;
    -e) envs+=(--env "$2"); shift 2 ;;
    -w) workdir=(--workingdir "$2"); shift 2 ;;
    --) shift; break ;;
    *) break ;;
  esac
done
[ ${#mounts[@]} -eq 0 ] && mounts=(--volume "$PWD:/host")
if ! "${BUILDAH[@]}" inspect --type image "$image" >/dev/null 2>&1; then
  echo "run-in-image: $image is not built; run tools/build-images.sh $arch" >&2
  exit 3
fi
[ "$arch" = arm32v7 ] && enable_qemu_arm

ctr=$("${BUILDAH[@]}" from --pull-never --quiet --platform "$(platform_of "$arch")" "$image")
cleanup() { "${BUILDAH[@]}" rm "$ctr" >/dev/null 2>&1 || true; }
trap cleanup EXIT
if [ $# -eq 0 ]; then
  # The image's own command, exactly as a container engine would start it.
  mapfile -t cmd < <("${BUILDAH[@]}" inspect --type container --format \
    '{{range .OCIv1.Config.Entrypoint}}{{println .}}{{end}}{{range .OCIv1.Config.Cmd}}{{println .}}{{end}}' "$ctr" | sed '/^$/d')
  set -- "${cmd[@]}"
fi
# In the background with the signals passed on, so `kill` of this script stops the command inside.
"${BUILDAH[@]}" run --isolation chroot "${mounts[@]}" "${envs[@]}" "${workdir[@]}" "$ctr" -- "$@" &
child=$!
trap 'kill -TERM $child 2>/dev/null' TERM INT
status=0
wait $child || status=$?
if kill -0 $child 2>/dev/null; then wait $child || status=$?; fi
exit $status
