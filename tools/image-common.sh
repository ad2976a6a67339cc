# Shared by tools/build-images.sh and tools/run-in-image.sh: names of the local images and buildah flags.
# shellcheck shell=bash
BUILDAH=(buildah --storage-driver vfs)
# vfs: works in any container or VM (no overlay mounts needed); chroot isolation: crun's cgroup setup
# fails on this kind of host ("cgroups in hybrid mode not supported").

module_field() {  # module_field name|version
  python3 -c 'import json,sys; m=json.load(open("module.json"))["image"]
print(m["repository"].rsplit("/",1)[-1] if sys.argv[1]=="name" else m["tag"]["version"])' "$1"
}

image_ref() { echo "localhost/$(module_field name):$(module_field version)-$1"; }
base_ref() { echo "localhost/debian-bookworm-minbase:$1"; }

deb_arch_of() { case "$1" in amd64) echo amd64 ;; arm32v7) echo armhf ;; *) return 1 ;; esac; }
oci_arch_of() { case "$1" in amd64) echo amd64 ;; arm32v7) echo arm ;; *) return 1 ;; esac; }
variant_flag() { [ "$1" = arm32v7 ] && echo "--variant v7" || true; }
platform_of() { case "$1" in amd64) echo linux/amd64 ;; arm32v7) echo linux/arm/v7 ;; *) return 1 ;; esac; }

enable_qemu_arm() {
  # Idempotent: binfmt_misc is not mounted at boot here; the F flag means no qemu copy in the chroot.
  [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  [ -e /proc/sys/fs/binfmt_misc/qemu-arm ] || update-binfmts --enable qemu-arm
  grep -q '^enabled' /proc/sys/fs/binfmt_misc/qemu-arm
}
