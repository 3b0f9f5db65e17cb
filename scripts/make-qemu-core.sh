#!/usr/bin/env bash
# make-qemu-core.sh - build REAL test fixtures for vmdumpfs.
#
# Boots a tiny busybox initramfs under qemu-system-x86_64 (TCG), waits until the
# guest has put recognisable data into RAM, then captures:
#   qemu.core            gdb/gcore core dump of the QEMU *process* (what vmdumpfs mounts)
#   qemu-dump.elf        QEMU's own dump-guest-memory, ELF, paging:false (ground truth)
#   qemu-dump.kdump-zlib QEMU's dump-guest-memory kdump-zlib (QEMU 7.2: *flattened* format)
#   serial.log           guest serial console
#   meta.env             KEY=VALUE description of the fixture (written last = "complete")
#
# The guest writes, with TOKEN a random hex string chosen here:
#   /dev/kmsg            "VMDUMPFS-MARKER TOKEN"  (lands in the printk ring buffer)
#   serial console       "VMDUMPFS-UNAME <release>", "VMDUMPFS-READY", ...
#   tmpfs file           PATTERN_MIB MiB of 64-byte lines
#                        "VMDUMPFS-PATTERN-TOKEN-%08x-" + '.' padding + '\n'
#                        (%08x = line counter, so every line/page is distinct)
#   tmpfs files          optional FILL_MIB MiB: 1/3 urandom, 1/3 text, 1/3 repetitive
#
# The last line on stdout is the absolute fixture directory; progress goes to stderr:
#   dir=$(scripts/make-qemu-core.sh --machine q35 --mem 3072 | tail -1)
set -euo pipefail

SCRIPT_PATH=$(readlink -f "${BASH_SOURCE[0]}")
PROG=$(basename "$SCRIPT_PATH")

usage() {
    cat >&2 <<EOF
usage: $PROG [options]
  --machine pc|q35          QEMU machine type (default: pc)
  --mem MIB                 guest RAM in MiB (default: 256)
  --kaslr on|off            kernel address space randomisation (default: on)
  --fill MIB                extra tmpfs data: 1/3 random, 1/3 text, 1/3 repetitive (default: 0)
  --pattern MIB             size of the VMDUMPFS-PATTERN file (default: 4)
  --dump-guest-core on|off  QEMU -machine dump-guest-core=; off => guest RAM is
                            MADV_DONTDUMP and absent from qemu.core (default: on)
  --kver RELEASE            guest kernel (default: newest /boot/vmlinuz-* with modules)
  --out DIR                 write the fixture to DIR (must be absent or empty; no cache)
  --cache-dir DIR           fixture cache when --out is not given
                            (default: \${VMDUMPFS_FIXTURE_CACHE:-\$HOME/.cache/vmdumpfs/fixtures})
  --timeout SEC             max seconds to wait for the guest to become ready (default: 300)
  -h, --help                this help
Environment: VMDUMPFS_FIXTURE_CACHE (cache dir), VMDUMPFS_KEEP_PARTIAL=1 (keep
partial output on failure, for debugging).
The absolute fixture directory is printed as the last line of stdout.
EOF
}

log() { printf '[%s %s] %s\n' "$PROG" "$(date +%T)" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }

# ---------------------------------------------------------------- options
MACHINE=pc MEM_MIB=256 KASLR=on FILL_MIB=0 PATTERN_MIB=4 DUMP_GUEST_CORE=on
OUT="" KVER="" TIMEOUT=300
CACHE_DIR="${VMDUMPFS_FIXTURE_CACHE:-$HOME/.cache/vmdumpfs/fixtures}"
while [ $# -gt 0 ]; do
    case "$1" in
        --machine)         MACHINE=${2:?}; shift 2 ;;
        --mem)             MEM_MIB=${2:?}; shift 2 ;;
        --kaslr)           KASLR=${2:?}; shift 2 ;;
        --fill)            FILL_MIB=${2:?}; shift 2 ;;
        --pattern)         PATTERN_MIB=${2:?}; shift 2 ;;
        --dump-guest-core) DUMP_GUEST_CORE=${2:?}; shift 2 ;;
        --kver)            KVER=${2:?}; shift 2 ;;
        --out)             OUT=${2:?}; shift 2 ;;
        --cache-dir)       CACHE_DIR=${2:?}; shift 2 ;;
        --timeout)         TIMEOUT=${2:?}; shift 2 ;;
        -h|--help)         usage; exit 0 ;;
        *)                 usage; die "unknown option: $1" ;;
    esac
done
case "$MACHINE" in pc|q35) ;; *) die "--machine must be pc or q35" ;; esac
case "$KASLR" in on|off) ;; *) die "--kaslr must be on or off" ;; esac
case "$DUMP_GUEST_CORE" in on|off) ;; *) die "--dump-guest-core must be on or off" ;; esac
for v in MEM_MIB FILL_MIB PATTERN_MIB TIMEOUT; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer"
done
[ "$MEM_MIB" -ge 128 ] || die "--mem must be >= 128 (the kernel + initramfs need ~100 MiB)"
# The guest needs room for kernel, initramfs and tmpfs data; keep ~128 MiB headroom.
[ $((FILL_MIB + PATTERN_MIB + 128)) -le "$MEM_MIB" ] ||
    die "--fill $FILL_MIB + --pattern $PATTERN_MIB does not fit into --mem $MEM_MIB (need 128 MiB headroom)"

# ---------------------------------------------------------------- tools
# One line per missing tool with the Debian package that provides it.
missing=()
need() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }
need qemu-system-x86_64 qemu-system-x86
need busybox busybox-static
need cpio cpio
need gzip gzip
need gdb gdb
need python3 python3
need modinfo kmod
need readelf binutils
need flock util-linux
need sha256sum coreutils
need dpkg-query dpkg
if [ ${#missing[@]} -gt 0 ]; then
    die "missing tools; try: apt-get install $(printf '%s\n' "${missing[@]}" | sort -u | xargs)"
fi
# The initramfs has no libc: busybox must be the static build.
BUSYBOX=$(command -v busybox)
if readelf -l "$BUSYBOX" 2>/dev/null | grep -q 'Requesting program interpreter'; then
    die "$BUSYBOX is dynamically linked; try: apt-get install busybox-static"
fi

# ---------------------------------------------------------------- kernel
if [ -z "$KVER" ]; then
    # Newest kernel that has both an image and its modules.
    for k in $(ls /boot/vmlinuz-* 2>/dev/null | sed 's|^/boot/vmlinuz-||' | sort -V -r); do
        if [ -d "/lib/modules/$k" ]; then KVER=$k; break; fi
    done
    [ -n "$KVER" ] || die "no kernel in /boot with modules; try: apt-get install linux-image-cloud-amd64"
fi
KERNEL=/boot/vmlinuz-$KVER
[ -r "$KERNEL" ] || die "$KERNEL not readable; try: apt-get install linux-image-$KVER"
[ -d "/lib/modules/$KVER" ] || die "/lib/modules/$KVER missing; try: apt-get install linux-image-$KVER"

QEMU_VERSION=$(qemu-system-x86_64 --version | head -1)
QEMU_PKG=$(dpkg-query -W -f='${Package}=${Version}' qemu-system-x86 2>/dev/null || echo "qemu-system-x86=unknown")
KPKG=$(dpkg-query -S "$KERNEL" 2>/dev/null | cut -d: -f1 | head -1 || true)
KPKG_VER=$( { [ -n "$KPKG" ] && dpkg-query -W -f='${Package}=${Version}' "$KPKG"; } 2>/dev/null || echo "kernel=unknown")
SCRIPT_SHA=$(sha256sum "$SCRIPT_PATH" | cut -c1-64)
BUSYBOX_SHA=$(sha256sum "$BUSYBOX" | cut -c1-64)

# ---------------------------------------------------------------- state + cleanup
QEMU_PID=""
WORK=""        # private temp dir (QMP socket, initramfs staging)
STAGE=""       # partial output dir; renamed into place only on success
cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    if [ -n "$QEMU_PID" ] && kill -0 "$QEMU_PID" 2>/dev/null; then
        log "killing qemu (pid $QEMU_PID)"
        kill -TERM "$QEMU_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$QEMU_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$QEMU_PID" 2>/dev/null || true
        wait "$QEMU_PID" 2>/dev/null || true
    fi
    [ -n "$WORK" ] && rm -rf "$WORK"
    if [ -n "$STAGE" ] && [ -d "$STAGE" ]; then
        if [ -n "${VMDUMPFS_KEEP_PARTIAL:-}" ]; then
            log "keeping partial output $STAGE (VMDUMPFS_KEEP_PARTIAL set)"
        else
            [ $rc -ne 0 ] && log "removing partial output $STAGE"
            rm -rf "$STAGE"
        fi
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
WORK=$(mktemp -d /tmp/vmdumpfs-fixture.XXXXXX)   # short path: unix socket names max 107 bytes

# ---------------------------------------------------------------- output dir / cache
mkdir -p "$CACHE_DIR"
CACHE_DIR=$(readlink -f "$CACHE_DIR")
if [ -n "$OUT" ]; then
    OUT=$(readlink -m "$OUT")
    if [ -e "$OUT" ] && [ -n "$(ls -A "$OUT" 2>/dev/null)" ]; then
        die "--out $OUT exists and is not empty"
    fi
    mkdir -p "$(dirname "$OUT")"
    STAGE=$(mktemp -d "$OUT.partial.XXXXXX")
else
    # Everything that can change the fixture goes into the key.
    KEY_SRC="machine=$MACHINE mem=$MEM_MIB kaslr=$KASLR fill=$FILL_MIB pattern=$PATTERN_MIB"
    KEY_SRC+=" dgc=$DUMP_GUEST_CORE kver=$KVER script=$SCRIPT_SHA busybox=$BUSYBOX_SHA"
    KEY_SRC+=" $QEMU_PKG $KPKG_VER"
    KEY=$(printf '%s' "$KEY_SRC" | sha256sum | cut -c1-12)
    OUT="$CACHE_DIR/$MACHINE-${MEM_MIB}m-kaslr$KASLR-fill${FILL_MIB}-dgc$DUMP_GUEST_CORE-$KEY"
    # Serialise concurrent builders of the same fixture (parallel test forks).
    exec 9>"$CACHE_DIR/.lock-$(basename "$OUT")"
    flock 9
    if [ -f "$OUT/meta.env" ]; then
        log "cached fixture: $OUT"
        echo "$OUT"
        exit 0
    fi
    rm -rf "$OUT"   # incomplete leftover (no meta.env)
    STAGE=$(mktemp -d "$OUT.partial.XXXXXX")
fi

START=$(date +%s.%N)
TOKEN=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
log "fixture: machine=$MACHINE mem=${MEM_MIB}MiB kaslr=$KASLR fill=${FILL_MIB}MiB dump-guest-core=$DUMP_GUEST_CORE kernel=$KVER token=$TOKEN"

# ---------------------------------------------------------------- initramfs (cached)
# The initramfs depends only on this script, busybox and the kernel modules.
INITRD_KEY=$(printf '%s' "$SCRIPT_SHA $KPKG_VER $BUSYBOX_SHA" | sha256sum | cut -c1-12)
INITRD="$CACHE_DIR/initramfs-$KVER-$INITRD_KEY.cpio.gz"

# Copy a module (and, recursively first, its dependencies) into $1/lib/modules,
# decompressing .ko.xz/.ko.zst/.ko.gz because busybox insmod takes plain ELF only.
# Appends the load order to $1/lib/modules/load-order.
add_module() {
    local root=$1 name=$2 file dep base
    base=${name//-/_}
    grep -qx "$base.ko" "$root/lib/modules/load-order" 2>/dev/null && return 0
    file=$(modinfo -k "$KVER" -F filename "$name" 2>/dev/null) ||
        die "kernel module $name not found for $KVER"
    for dep in $(modinfo -k "$KVER" -F depends "$name" | tr ',' ' '); do
        add_module "$root" "$dep"
    done
    case "$file" in
        "(builtin)") return 0 ;;
        *.ko)     cp "$file" "$root/lib/modules/$base.ko" ;;
        *.ko.xz)  need_tool xz xz-utils;  xz -dc "$file" >"$root/lib/modules/$base.ko" ;;
        *.ko.zst) need_tool zstd zstd;    zstd -qdc "$file" >"$root/lib/modules/$base.ko" ;;
        *.ko.gz)  gzip -dc "$file" >"$root/lib/modules/$base.ko" ;;
        *)        die "unsupported module file $file" ;;
    esac
    echo "$base.ko" >>"$root/lib/modules/load-order"
}
need_tool() { command -v "$1" >/dev/null 2>&1 || die "missing $1; try: apt-get install $2"; }

build_initramfs() {
    local root="$WORK/initramfs" fwcfg
    mkdir -p "$root"/{bin,lib/modules,proc,sys,dev,tmp}
    cp "$BUSYBOX" "$root/bin/busybox"
    : >"$root/lib/modules/load-order"
    fwcfg=$(ls "/lib/modules/$KVER/kernel/drivers/firmware/"qemu_fw_cfg.ko* 2>/dev/null | head -1 || true)
    if [ -n "$fwcfg" ]; then
        add_module "$root" qemu_fw_cfg
    elif grep -q '^CONFIG_FW_CFG_SYSFS=y' "/boot/config-$KVER" 2>/dev/null; then
        log "qemu_fw_cfg is built into $KVER"
    else
        die "qemu_fw_cfg module not found for $KVER (needed so -device vmcoreinfo gets VMCOREINFO)"
    fi
    # /init runs as busybox sh. Why each step:
    #  - dmesg -n 1: keep kernel messages from interleaving with our parsable lines
    #  - qemu_fw_cfg: on load it writes the kernel's VMCOREINFO note address to the
    #    fw_cfg file etc/vmcoreinfo, which QEMU's -device vmcoreinfo exposes to dumps
    #  - the marker/pattern data are what the tests look for in the dumps
    cat >"$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o size=95% tmpfs /tmp
dmesg -n 1
say() { echo "$*" >/dev/ttyS0; }
stamp() { cut -d' ' -f1 /proc/uptime; }
arg() { tr ' ' '\n' </proc/cmdline | sed -n "s/^vmdumpfs\.$1=//p" | tail -1; }
TOKEN=$(arg marker); PATTERN_MIB=$(arg pattern); FILL_MIB=$(arg fill)
: "${TOKEN:=none}" "${PATTERN_MIB:=4}" "${FILL_MIB:=0}"
say ""
say "VMDUMPFS-BOOTED"
for m in $(cat /lib/modules/load-order); do
    insmod "/lib/modules/$m" || say "VMDUMPFS-WARN insmod $m failed"
done
if [ -e /sys/firmware/qemu_fw_cfg/by_name/etc/vmcoreinfo ]; then
    say "VMDUMPFS-VMCOREINFO present"
else
    say "VMDUMPFS-VMCOREINFO absent"
fi
echo "VMDUMPFS-MARKER $TOKEN" >/dev/kmsg
say "VMDUMPFS-MARKER $TOKEN"
say "VMDUMPFS-UNAME $(uname -r)"
# 64-byte lines, each unique thanks to the counter.
awk -v t="$TOKEN" -v n=$((PATTERN_MIB * 16384)) 'BEGIN {
    pad = ""
    while (length(sprintf("VMDUMPFS-PATTERN-%s-%08x-", t, 0) pad) < 63) pad = pad "."
    for (i = 0; i < n; i++) printf "VMDUMPFS-PATTERN-%s-%08x-%s\n", t, i, pad
}' >/tmp/pattern
say "VMDUMPFS-PATTERN $(stat -c %s /tmp/pattern) bytes at $(stamp)s"
# Make file $1 exactly $2 MiB by repeating its first MiB.  Copies use dd with
# 1 MiB blocks in place: under TCG every syscall and every kernel memcpy is
# expensive, and cat/head with small buffers were ~10x slower.
grow() {
    while [ $(stat -c %s "$1") -lt 1048576 ]; do cat "$1" "$1" >"$1.tmp"; mv "$1.tmp" "$1"; done
    truncate -s 1048576 "$1"
    have=1
    while [ $have -lt $2 ]; do
        n=$have; [ $((have + n)) -le $2 ] || n=$(($2 - have))
        dd if="$1" of="$1" bs=1048576 count=$n seek=$have conv=notrunc 2>/dev/null
        have=$((have + n))
    done
}
if [ "$FILL_MIB" -gt 0 ]; then
    third=$((FILL_MIB / 3))
    # incompressible
    dd if=/dev/urandom of=/tmp/fill-random bs=1048576 count=$((FILL_MIB - 2 * third)) 2>/dev/null
    say "VMDUMPFS-FILL random done at $(stamp)s"
    if [ $third -gt 0 ]; then
        # text-like: kernel symbol table (+ log), 1 MiB of it repeated
        { cat /proc/kallsyms; dmesg; } | head -c 1048576 >/tmp/fill-text
        grow /tmp/fill-text $third
        say "VMDUMPFS-FILL text done at $(stamp)s"
        # repetitive: one short line over and over
        yes "VMDUMPFS-REPEAT-$TOKEN" | head -c 65536 >/tmp/fill-repeat
        grow /tmp/fill-repeat $third
    fi
    # (stat, not "cat | wc -c": piping 100s of MiB costs ~30 s under TCG)
    say "VMDUMPFS-FILL $(stat -c %s /tmp/fill-* | awk '{ t += $1 } END { print t }') bytes at $(stamp)s"
fi
sync
say "VMDUMPFS-READY"
while :; do sleep 3600; done
INIT
    chmod 755 "$root/init"
    local tmp
    tmp=$(mktemp "$INITRD.XXXXXX")
    (cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet | gzip -1) >"$tmp"
    mv -f "$tmp" "$INITRD"   # atomic: concurrent builders just race harmlessly
    log "built initramfs $INITRD ($(cat "$root/lib/modules/load-order" | tr '\n' ' '))"
}
if [ ! -s "$INITRD" ]; then build_initramfs; else log "cached initramfs $INITRD"; fi

# ---------------------------------------------------------------- boot
SERIAL="$STAGE/serial.log"
QMP_SOCK="$WORK/qmp.sock"
APPEND="console=ttyS0 panic=-1 vmdumpfs.marker=$TOKEN vmdumpfs.pattern=$PATTERN_MIB vmdumpfs.fill=$FILL_MIB"
[ "$KASLR" = off ] && APPEND+=" nokaslr"
# tb-size: TCG's translation cache is a 1 GiB anonymous mapping by default; it
# would bloat qemu.core with a mostly-zero GiB, 64 MiB is plenty for this guest.
qemu-system-x86_64 \
    -machine "$MACHINE,dump-guest-core=$DUMP_GUEST_CORE" \
    -accel tcg,tb-size=64 \
    -m "$MEM_MIB" -smp 2 \
    -device vmcoreinfo \
    -kernel "$KERNEL" -initrd "$INITRD" -append "$APPEND" \
    -display none -monitor none -no-reboot \
    -serial "file:$SERIAL" \
    -qmp "unix:$QMP_SOCK,server=on,wait=off" \
    -nodefaults -vga none \
    </dev/null >"$STAGE/qemu.log" 2>&1 9>&- &
QEMU_PID=$!
log "started qemu pid $QEMU_PID"

deadline=$((SECONDS + TIMEOUT))
until grep -q '^VMDUMPFS-READY' "$SERIAL" 2>/dev/null; do
    if ! kill -0 "$QEMU_PID" 2>/dev/null; then
        log "qemu exited early; qemu.log:"; cat "$STAGE/qemu.log" >&2 || true
        log "serial log tail:"; tail -n 30 "$SERIAL" >&2 2>/dev/null || true
        die "guest did not become ready"
    fi
    if [ $SECONDS -ge $deadline ]; then
        log "serial log tail:"; tail -n 30 "$SERIAL" >&2 2>/dev/null || true
        die "timeout after ${TIMEOUT}s waiting for VMDUMPFS-READY in $SERIAL"
    fi
    sleep 0.2
done
BOOT_SECONDS=$(awk -v s="$START" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}')
UNAME=$(sed -n 's/^VMDUMPFS-UNAME \([^[:space:]]*\).*/\1/p' "$SERIAL" | head -1)
grep -q '^VMDUMPFS-VMCOREINFO present' "$SERIAL" ||
    die "guest has no fw_cfg etc/vmcoreinfo (qemu_fw_cfg not loaded?); see serial log"
log "guest ready after ${BOOT_SECONDS}s, uname $UNAME"

# ---------------------------------------------------------------- dumps over QMP
# Minimal QMP client: one command per call, skips asynchronous events.
qmp() {
    python3 - "$QMP_SOCK" "$@" <<'PY'
import json, socket, sys
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.connect(sys.argv[1])
f = sock.makefile("rw")
def recv():
    while True:
        msg = json.loads(f.readline())
        if "event" not in msg:
            return msg
recv()  # greeting
for cmd in ["qmp_capabilities"] + sys.argv[2:]:
    req = json.loads(cmd) if cmd.startswith("{") else {"execute": cmd}
    f.write(json.dumps(req) + "\n"); f.flush()
    resp = recv()
    if "error" in resp:
        sys.exit("QMP %s failed: %s" % (req["execute"], resp["error"]))
PY
}

qmp stop
# Each dump is timed (QMP's dump-guest-memory returns when the file is written): scripts/bench.sh compares
# vmdumpfs's kdump files against QEMU's own. Includes one QMP connection (~50 ms of python start-up).
since() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN{printf "%.2f", e-s}'; }
DUMP_LOADAVG=$(cut -d' ' -f1 /proc/loadavg)   # the times mean little on a busy machine; say how busy
t=$(date +%s.%N)
# ELF, physical addresses only (paging:false): the ground truth for vmdumpfs.
qmp '{"execute":"dump-guest-memory","arguments":{"paging":false,"protocol":"file:'"$STAGE"'/qemu-dump.elf"}}'
ELF_DUMP_SECONDS=$(since "$t")
log "dump-guest-memory elf done (${ELF_DUMP_SECONDS}s)"
t=$(date +%s.%N)
qmp '{"execute":"dump-guest-memory","arguments":{"paging":false,"format":"kdump-zlib","protocol":"file:'"$STAGE"'/qemu-dump.kdump-zlib"}}'
KDUMP_ZLIB_SECONDS=$(since "$t")
log "dump-guest-memory kdump-zlib done (${KDUMP_ZLIB_SECONDS}s)"
# Proof that -device vmcoreinfo received the guest's note.  (Capture first:
# "readelf | grep -q" under pipefail fails randomly with SIGPIPE.)
notes=$(readelf -n "$STAGE/qemu-dump.elf" 2>/dev/null || true)
[[ $notes == *VMCOREINFO* ]] || die "qemu-dump.elf has no VMCOREINFO note"

# Core of the QEMU process itself.  Default gdb settings (use-coredump-filter on,
# dump-excluded-mappings off) dump anonymous RAM unless it is MADV_DONTDUMP, which
# QEMU sets exactly when dump-guest-core=off - so both variants use the same
# command and the "off" fixture really lacks the guest RAM.  Same flags as gcore(1).
t=$SECONDS
gdb </dev/null --nx --batch --readnever -iex 'set debuginfod enabled off' \
    -ex 'set pagination off' -ex 'set height 0' -ex 'set width 0' \
    -ex "attach $QEMU_PID" -ex "gcore $STAGE/qemu.core" -ex detach -ex quit \
    >"$STAGE/gcore.log" 2>&1 9>&- || { cat "$STAGE/gcore.log" >&2; die "gcore failed"; }
[ -s "$STAGE/qemu.core" ] || { cat "$STAGE/gcore.log" >&2; die "gcore wrote no core"; }
log "gcore done ($((SECONDS - t))s)"
CORE_BYTES=$(stat -c %s "$STAGE/qemu.core")
# The guest RAM is one anonymous mapping of exactly MEM_MIB (even when the guest
# sees it split below/above 4 GiB), so look for a LOAD segment carrying that much
# data.  The total core size says nothing: QEMU's heap, thread stacks and
# glibc's PROT_NONE arena reservations (which gdb writes out as zeros) add
# hundreds of MiB.
MEM_BYTES=$((MEM_MIB * 1024 * 1024))
CORE_RAM_BYTES=0
for h in $(readelf -lW "$STAGE/qemu.core" | awk '$1 == "LOAD" { print $5 }'); do
    if [ $((h)) -gt "$CORE_RAM_BYTES" ]; then CORE_RAM_BYTES=$((h)); fi
done
if [ "$DUMP_GUEST_CORE" = on ] && [ "$CORE_RAM_BYTES" -lt "$MEM_BYTES" ]; then
    die "qemu.core has no LOAD segment >= guest RAM ($MEM_BYTES bytes): gdb skipped the RAM"
fi
if [ "$DUMP_GUEST_CORE" = off ] && [ "$CORE_RAM_BYTES" -ge "$MEM_BYTES" ]; then
    die "dump-guest-core=off but qemu.core still has a RAM-sized LOAD segment"
fi
log "qemu.core: $CORE_BYTES bytes, largest LOAD segment $CORE_RAM_BYTES bytes"

qmp quit || true
for _ in $(seq 100); do kill -0 "$QEMU_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$QEMU_PID" 2>/dev/null && die "qemu did not exit after QMP quit"   # cleanup kills it
wait "$QEMU_PID" 2>/dev/null || true
QEMU_PID_RECORDED=$QEMU_PID
QEMU_PID=""

# ---------------------------------------------------------------- meta.env (last)
ELAPSED=$(awk -v s="$START" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}')
# Plain KEY=VALUE; values with spaces etc. in single quotes (valid shell, easy to parse).
q() {
    case "$2" in
        *"'"*) die "unquotable meta value for $1: $2" ;;
        *[!A-Za-z0-9._:/+=-]*|"") printf "%s='%s'\n" "$1" "$2" ;;
        *) printf '%s=%s\n' "$1" "$2" ;;
    esac
}
{
    q MACHINE "$MACHINE"
    q MEM_MIB "$MEM_MIB"
    q KASLR "$KASLR"
    q TOKEN "$TOKEN"
    q UNAME "$UNAME"
    q QEMU_VERSION "$QEMU_VERSION"
    q QEMU_PACKAGE "$QEMU_PKG"
    q KVER "$KVER"
    q KERNEL_PACKAGE "$KPKG_VER"
    q QEMU_PID "$QEMU_PID_RECORDED"
    q DUMP_GUEST_CORE "$DUMP_GUEST_CORE"
    q FILL_MIB "$FILL_MIB"
    q PATTERN_MIB "$PATTERN_MIB"
    q PATTERN_PREFIX "VMDUMPFS-PATTERN-$TOKEN-"
    q MARKER "VMDUMPFS-MARKER $TOKEN"
    q CORE_BYTES "$CORE_BYTES"
    q CORE_LARGEST_LOAD_BYTES "$CORE_RAM_BYTES"
    q BOOT_SECONDS "$BOOT_SECONDS"
    q ELAPSED_SECONDS "$ELAPSED"
    q ELF_DUMP_SECONDS "$ELF_DUMP_SECONDS"
    q KDUMP_ZLIB_SECONDS "$KDUMP_ZLIB_SECONDS"
    q DUMP_LOADAVG "$DUMP_LOADAVG"
} >"$STAGE/meta.env.tmp"
mv "$STAGE/meta.env.tmp" "$STAGE/meta.env"

rmdir "$OUT" 2>/dev/null || true   # --out may name an existing empty dir
# QEMU creates its dumps 0400; tests may run as another user.
chmod 755 "$STAGE"; chmod a+r "$STAGE"/*
mv "$STAGE" "$OUT"
STAGE=""
log "fixture complete in ${ELAPSED}s: $OUT"
echo "$OUT"
