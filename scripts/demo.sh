#!/usr/bin/env bash
# demo.sh - the main job, end to end on this machine: install what is missing, build, boot a small guest in QEMU,
# capture a core of the qemu process, mount it with vmdumpfs, and let crash read the guest's kernel from it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "installing what is missing (apt-get)"
bash scripts/setup.sh

step "building and installing vmdumpfs"
PREFIX=${VMDUMPFS_DEMO_PREFIX:-$ROOT/target/demo-prefix}
if [ -x scripts/install.sh ]; then
    bash scripts/install.sh --prefix "$PREFIX" --mount-helper-dir none >/dev/null
    VMDUMPFS=$PREFIX/bin/vmdumpfs
else
    VMDUMPFS=$ROOT/vmdumpfs
fi

step "booting a 256 MiB guest under QEMU, stopping it, and taking a core of the qemu process (gcore)"
fixture=$(bash scripts/make-qemu-core.sh --machine pc --mem 256 | tail -1)
core=$fixture/qemu.core
# shellcheck disable=SC1091
. "$fixture/meta.env"
ls -lh "$core"

mnt=$(mktemp -d /tmp/vmdumpfs-demo.XXXXXX)
cleanup() {
    fusermount -u "$mnt" 2>/dev/null || true
    rmdir "$mnt" 2>/dev/null || true
}
trap cleanup EXIT

step "vmdumpfs $core $mnt"
start=$(date +%s%N)
"$VMDUMPFS" "$core" "$mnt"
echo "mounted in $(( ($(date +%s%N) - start) / 1000000 )) ms"
ls -l "$mnt"

step "the guest's RAM blocks (blocks.txt)"
cat "$mnt/blocks.txt"

step "crash on $mnt/vmcore.elf: sys, and the tail of the kernel log (the guest wrote: $MARKER)"
vmlinux=/usr/lib/debug/boot/vmlinux-$UNAME
printf 'sys\nlog | tail -8\nquit\n' | crash -s "$vmlinux" "$mnt/vmcore.elf" 2>&1 | grep -v '^bt: '

step "unmounting"
fusermount -u "$mnt"
rmdir "$mnt"
trap - EXIT
grep -q " $mnt " /proc/self/mountinfo && { echo "still mounted!"; exit 1; }
echo "done: nothing left mounted."
