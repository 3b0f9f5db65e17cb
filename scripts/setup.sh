#!/usr/bin/env bash
# setup.sh - install what vmdumpfs needs to build, make real QEMU fixtures and run its clients.
# Idempotent: packages already present are not fetched again. Needs root (or sudo) for apt-get.
set -euo pipefail

KVER_PKG=linux-image-cloud-amd64
PKGS=(
    maven default-jdk-headless      # build (Java 17)
    libfuse2 fuse3                  # jnr-fuse binds libfuse2; fusermount from fuse3
    qemu-system-x86 busybox-static cpio gdb socat zstd   # real fixtures: boot a guest, gcore QEMU
    qemu-system-arm qemu-system-misc qemu-system-ppc     # foreign guests: aarch64, s390x, ppc64le (i386: -x86)
    "$KVER_PKG"                     # the guest kernel and its modules (qemu_fw_cfg)
    crash makedumpfile binutils     # real clients: crash, makedumpfile, readelf
    python3-drgn python3-libkdumpfile   # real clients: drgn and libkdumpfile (run with /usr/bin/python3)
    libdeflate0                     # fast zlib for vmcore.kdump-zlib (optional at run time)
    kmod xz-utils python3
    systemd systemd-container       # systemd-analyze verify; a real systemd in a container for the unit tests
)

log() { printf '[setup %s] %s\n' "$(date +%T)" "$*" >&2; }

SUDO=
if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
fi

# Foreign guests' kernels and busybox-static are downloaded (apt-get download PKG:ARCH, never installed) into the
# fixture cache by make-qemu-core.sh; dpkg must know those architectures and apt their package lists.
FOREIGN_ARCHS=(i386 arm64 s390x ppc64el)
update=no
for a in "${FOREIGN_ARCHS[@]}"; do
    if ! dpkg --print-foreign-architectures | grep -qx "$a"; then
        log "dpkg --add-architecture $a"
        $SUDO dpkg --add-architecture "$a"
        update=yes
    fi
done

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] || [ $update = yes ]; then
    log "apt-get update${missing[*]:+, then install: ${missing[*]}}"
    $SUDO apt-get update -qq
fi
if [ ${#missing[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# crash needs the guest kernel's debug vmlinux (about 300 MB download); match the installed cloud kernel.
kver=$(ls /lib/modules | grep -- '-cloud-amd64$' | sort -V | tail -1)
if [ -n "$kver" ] && [ ! -e "/usr/lib/debug/boot/vmlinux-$kver" ] && [ "${VMDUMPFS_NO_DBG:-0}" != 1 ]; then
    log "installing linux-image-$kver-dbg for crash"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "linux-image-$kver-dbg" >/dev/null
fi

if [ ! -e /dev/fuse ]; then
    $SUDO modprobe fuse 2>/dev/null || log "warning: /dev/fuse is missing; mounting will not work here"
fi
log "ready (kernel $kver)"
