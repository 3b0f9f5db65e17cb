#!/usr/bin/env bash
# make-qemu-core.sh - build REAL test fixtures for vmdumpfs.
#
# Boots a tiny busybox initramfs under qemu-system-* (TCG), waits until the guest has put recognisable data into
# RAM (and, with --load, is busy or panicked), stops the VM and captures:
#   qemu.core            core of the QEMU *process* (what vmdumpfs mounts): gdb's gcore (--core gcore) or the
#                        host kernel's own core dumper (--core kernel: sparse, untouched pages are holes)
#   qemu-dump.elf        QEMU's own dump-guest-memory, ELF, paging:false (ground truth)
#   qemu-dump.kdump-zlib QEMU's dump-guest-memory kdump-zlib (QEMU 7.2: *flattened* format)
#   qemu-dump-range-N.elf  (--boot none) QEMU's ELF dump filtered (begin/length) to loader write N's pages
#   qemu-pages.txt, qemu-dump-data-N.elf, qemu-dump-hole-N.elf   (--qemu-dump present) QEMU's ELF dumps filtered to
#                        the guest-physical ranges the host held pages of when QEMU stopped (/proc/PID/pagemap), and
#                        to sampled ranges it held none of: every other page reads as zero (see ram_tool)
#   qemu-mtree.txt, qemu-ramblock.txt, qemu-registers.txt   HMP `info mtree -f`, `info ramblock`,
#                        `info registers -a` of the stopped VM (cheap ground truth for every fixture)
#   guest-facts.txt      what the guest said about itself, "KEY VALUE" lines: uname-r, uname-v, uname-m,
#                        nodename, domainname, nproc, kallsyms (address type name), iomem (range : name),
#                        vmcoreinfo (paddr size), cmdline, busy (cpu N pid P), panic-cpu N
#   loader.txt, loader-N.bin   (--boot none) "GUEST_PADDR_HEX SIZE SHA256 FILE" of each -device loader write
#   serial.log           guest console
#   meta.env             KEY=VALUE description of the fixture (written last = "complete")
#
# The guest writes, with TOKEN a random hex string chosen here:
#   /dev/kmsg            "VMDUMPFS-MARKER TOKEN"  (lands in the printk ring buffer)
#   console              "VMDUMPFS-UNAME <release>", "VMDUMPFS-FACT ...", "VMDUMPFS-READY", ...
#   tmpfs file           PATTERN_MIB MiB of 64-byte lines
#                        "VMDUMPFS-PATTERN-TOKEN-%08x-" + '.' padding + '\n'
#                        (%08x = line counter, so every line/page is distinct)
#   tmpfs files          optional FILL_MIB MiB: 1/3 urandom, 1/3 text, 1/3 repetitive
#   hostname             "vmdumpfs-" + the first 8 hex digits of TOKEN; domainname "vmdumpfs.test"
#
# x86_64 guests run the host's kernel from /boot; other architectures run Debian's kernel and busybox-static of
# that architecture, downloaded with apt-get into the cache (dpkg --add-architecture; nothing is installed).
#
# The last line on stdout is the absolute fixture directory; progress goes to stderr:
#   dir=$(scripts/make-qemu-core.sh --machine q35 --mem 3072 | tail -1)
set -euo pipefail

SCRIPT_PATH=$(readlink -f "${BASH_SOURCE[0]}")
PROG=$(basename "$SCRIPT_PATH")

usage() {
    cat >&2 <<EOF
usage: $PROG [options]
  --arch A                  guest architecture: x86_64 i386 aarch64 s390x ppc64le (default: x86_64)
  --machine M               QEMU machine type (default per arch: pc, pc, virt, s390-ccw-virtio, pseries;
                            x86 also takes q35)
  --mem MIB                 guest RAM in MiB (default: 256)
  --smp N                   vCPUs (default: 2)
  --kaslr on|off            kernel address space randomisation (default: on)
  --fill MIB                extra tmpfs data: 1/3 random, 1/3 text, 1/3 repetitive (default: 0)
  --pattern MIB             size of the VMDUMPFS-PATTERN file (default: 4)
  --load idle|busy|panic|memory
                            idle; busy = one dd if=/dev/zero of=/dev/null loop pinned to each vCPU (busy in the
                            kernel when QEMU stops); panic = echo c >/proc/sysrq-trigger on the last vCPU with
                            panic=0, dumped once the panic is on the console; memory = RAM in use every way
                            makedumpfile's dump levels tell apart: page cache (ext4 on a RAM disk, with and
                            without buffer heads), a process's anonymous memory, tmpfs, hugetlbfs (x86_64,
                            --mem >= 256) (default: idle)
  --core gcore|kernel       who writes qemu.core: gdb's gcore, or the host kernel's core dumper (SIGABRT to the
                            stopped QEMU after its own dumps; sparse) (default: gcore)
  --backend default|reserve-off
                            reserve-off: RAM is -object memory-backend-ram,id=m,reserve=off (x86 only), so a
                            big guest costs only what it touches (default: default)
  --boot linux|none         none: x86 only; the VM never runs (-S, no kernel); -device loader writes put some
                            data into RAM, recorded in loader.txt (default: linux)
  --qemu-dump LIST          QEMU's own dumps, comma separated: elf, kdump-zlib, kdump-lzo, kdump-snappy,
                            ranges (--boot none: ELF filtered to each loader write), present (ELF filtered to
                            the ranges the host holds pages of, and to sampled ranges it holds none of), or none
                            (default: elf,kdump-zlib; present,kdump-zlib above 16 GiB; ranges with --boot none)
  --cpu MODEL               QEMU -cpu (default: cortex-a57 on aarch64, qemu64,phys-bits=46 on x86 guests
                            above 512 GiB, else QEMU's default)
  --flavour F               Debian kernel flavour of a foreign --arch (default: 686-pae, cloud-arm64, s390x,
                            powerpc64le)
  --dump-guest-core on|off  QEMU -machine dump-guest-core=; off => guest RAM is
                            MADV_DONTDUMP and absent from qemu.core (default: on)
  --kver RELEASE            x86_64 guest kernel (default: newest /boot/vmlinuz-* with modules)
  --out DIR                 write the fixture to DIR (must be absent or empty; no cache)
  --cache-dir DIR           fixture cache when --out is not given
                            (default: \${VMDUMPFS_FIXTURE_CACHE:-\$HOME/.cache/vmdumpfs/fixtures})
  --timeout SEC             max seconds to wait for the guest (boot, panic) and for each dump (default: 300)
  -h, --help                this help
Environment: VMDUMPFS_FIXTURE_CACHE (cache dir), VMDUMPFS_KEEP_PARTIAL=1 (keep
partial output on failure, for debugging).
Exit status: 0 made or cached, 3 a prerequisite is missing (tool, kernel, package download), 1 anything else.
The absolute fixture directory is printed as the last line of stdout.
EOF
}

log() { printf '[%s %s] %s\n' "$PROG" "$(date +%T)" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
# A prerequisite of this machine is missing (a tool, a kernel, a package that cannot be fetched): exit 3, so test
# harnesses can report a skip outside CI rather than a broken fixture.
die_missing() { printf '%s: missing: %s\n' "$PROG" "$*" >&2; exit 3; }

# ---------------------------------------------------------------- options
ARCH=x86_64 MACHINE="" MEM_MIB=256 SMP=2 KASLR=on FILL_MIB=0 PATTERN_MIB=4 DUMP_GUEST_CORE=on
LOAD=idle CORE_KIND=gcore BACKEND=default BOOT=linux QEMU_DUMPS="" CPU="" FLAVOUR=""
OUT="" KVER="" TIMEOUT=300
CACHE_DIR="${VMDUMPFS_FIXTURE_CACHE:-$HOME/.cache/vmdumpfs/fixtures}"
while [ $# -gt 0 ]; do
    case "$1" in
        --arch)            ARCH=${2:?}; shift 2 ;;
        --machine)         MACHINE=${2:?}; shift 2 ;;
        --mem)             MEM_MIB=${2:?}; shift 2 ;;
        --smp)             SMP=${2:?}; shift 2 ;;
        --kaslr)           KASLR=${2:?}; shift 2 ;;
        --fill)            FILL_MIB=${2:?}; shift 2 ;;
        --pattern)         PATTERN_MIB=${2:?}; shift 2 ;;
        --load)            LOAD=${2:?}; shift 2 ;;
        --core)            CORE_KIND=${2:?}; shift 2 ;;
        --backend)         BACKEND=${2:?}; shift 2 ;;
        --boot)            BOOT=${2:?}; shift 2 ;;
        --qemu-dump)       QEMU_DUMPS=${2:?}; shift 2 ;;
        --cpu)             CPU=${2:?}; shift 2 ;;
        --flavour)         FLAVOUR=${2:?}; shift 2 ;;
        --dump-guest-core) DUMP_GUEST_CORE=${2:?}; shift 2 ;;
        --kver)            KVER=${2:?}; shift 2 ;;
        --out)             OUT=${2:?}; shift 2 ;;
        --cache-dir)       CACHE_DIR=${2:?}; shift 2 ;;
        --timeout)         TIMEOUT=${2:?}; shift 2 ;;
        -h|--help)         usage; exit 0 ;;
        *)                 usage; die "unknown option: $1" ;;
    esac
done

# Per architecture: QEMU binary and its Debian package, Debian's architecture name, machines, the console the
# kernel and /init write to, and the default kernel flavour.  HAS_FWCFG: machines with fw_cfg get
# -device vmcoreinfo (the guest's qemu_fw_cfg driver hands it the VMCOREINFO note); s390x and pseries have none.
case "$ARCH" in
    x86_64)  QEMU_BIN=qemu-system-x86_64  QEMU_DEB=qemu-system-x86  DEBARCH=amd64   MACHINES="pc q35"
             CONSOLE=ttyS0    DEF_FLAVOUR="" ;;
    i386)    QEMU_BIN=qemu-system-i386    QEMU_DEB=qemu-system-x86  DEBARCH=i386    MACHINES="pc q35"
             CONSOLE=ttyS0    DEF_FLAVOUR=686-pae ;;
    aarch64) QEMU_BIN=qemu-system-aarch64 QEMU_DEB=qemu-system-arm  DEBARCH=arm64   MACHINES="virt"
             CONSOLE=ttyAMA0  DEF_FLAVOUR=cloud-arm64 ;;
    s390x)   QEMU_BIN=qemu-system-s390x   QEMU_DEB=qemu-system-misc DEBARCH=s390x   MACHINES="s390-ccw-virtio"
             CONSOLE=ttysclp0 DEF_FLAVOUR=s390x ;;
    ppc64le) QEMU_BIN=qemu-system-ppc64   QEMU_DEB=qemu-system-ppc  DEBARCH=ppc64el MACHINES="pseries"
             CONSOLE=hvc0     DEF_FLAVOUR=powerpc64le ;;
    *)       die "--arch must be one of x86_64 i386 aarch64 s390x ppc64le" ;;
esac
[ -n "$MACHINE" ] || MACHINE=${MACHINES%% *}
[[ " $MACHINES " == *" $MACHINE "* ]] || die "--machine for --arch $ARCH must be one of: $MACHINES"
case "$MACHINE" in pc|q35|virt) HAS_FWCFG=yes ;; *) HAS_FWCFG=no ;; esac
[ -n "$FLAVOUR" ] || FLAVOUR=$DEF_FLAVOUR
[ "$ARCH" = x86_64 ] && [ -n "$FLAVOUR" ] && die "--flavour is for foreign --arch; x86_64 takes --kver"
[ "$ARCH" != x86_64 ] && [ -n "$KVER" ] && die "--kver is for x86_64; a foreign --arch takes --flavour"
case "$KASLR" in on|off) ;; *) die "--kaslr must be on or off" ;; esac
case "$DUMP_GUEST_CORE" in on|off) ;; *) die "--dump-guest-core must be on or off" ;; esac
case "$LOAD" in idle|busy|panic|memory) ;; *) die "--load must be idle, busy, panic or memory" ;; esac
case "$CORE_KIND" in gcore|kernel) ;; *) die "--core must be gcore or kernel" ;; esac
case "$BACKEND" in default|reserve-off) ;; *) die "--backend must be default or reserve-off" ;; esac
case "$BOOT" in linux|none) ;; *) die "--boot must be linux or none" ;; esac
for v in MEM_MIB FILL_MIB PATTERN_MIB TIMEOUT SMP; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer"
done
# --load memory: its RAM disk module comes from the host's x86_64 kernel; it uses about 90 MiB of the guest's RAM.
if [ "$LOAD" = memory ]; then
    [ "$ARCH" = x86_64 ] || die "--load memory is for x86_64 guests"
    [ "$MEM_MIB" -ge 256 ] || die "--load memory needs --mem >= 256"
fi
[ "$SMP" -ge 1 ] || die "--smp must be >= 1"
if [ "$BACKEND" = reserve-off ] || [ "$BOOT" = none ]; then
    case "$ARCH" in x86_64|i386) ;; *) die "--backend reserve-off and --boot none are for x86 guests" ;; esac
fi
if [ "$BOOT" = linux ]; then
    [ "$MEM_MIB" -ge 128 ] || die "--mem must be >= 128 (the kernel + initramfs need ~100 MiB)"
    # The guest needs room for kernel, initramfs and tmpfs data; keep ~128 MiB headroom.
    [ $((FILL_MIB + PATTERN_MIB + 128)) -le "$MEM_MIB" ] ||
        die "--fill $FILL_MIB + --pattern $PATTERN_MIB does not fit into --mem $MEM_MIB (need 128 MiB headroom)"
else
    [ "$LOAD" = idle ] || die "--load $LOAD needs a running guest (--boot linux)"
    [ "$MEM_MIB" -ge 16 ] || die "--mem must be >= 16 with --boot none"
fi
# gdb writes every page of the guest's RAM mapping, untouched or not.
if [ "$CORE_KIND" = gcore ] && [ "$MEM_MIB" -gt 16384 ]; then
    die "--core gcore would write all $MEM_MIB MiB of guest RAM (zeros included); use --core kernel"
fi
if [ -z "$QEMU_DUMPS" ]; then
    if [ "$BOOT" = none ]; then QEMU_DUMPS=ranges
    # An ELF would hold every byte of guest RAM; a host without a zero page cannot even make the kdump file (see
    # HOST_ZERO_PAGE): "present" dumps only what the host holds, which still says what every page is.
    elif [ "$MEM_MIB" -gt 16384 ]; then QEMU_DUMPS=present,kdump-zlib
    else QEMU_DUMPS=elf,kdump-zlib; fi
fi
for d in ${QEMU_DUMPS//,/ }; do
    case "$d" in
        elf|kdump-zlib|kdump-lzo|kdump-snappy|none) ;;
        ranges) [ "$BOOT" = none ] || die "--qemu-dump ranges is for --boot none (the loader writes)" ;;
        present) ;;
        *) die "--qemu-dump: unknown dump '$d'" ;;
    esac
done
if [ -z "$CPU" ]; then
    case "$ARCH" in
        aarch64) CPU=cortex-a57 ;;
        # QEMU's default 40 physical address bits end at 1 TiB: RAM above 4 GiB of a 1 TiB guest ends higher.
        x86_64) [ "$MEM_MIB" -le 524288 ] || CPU=qemu64,phys-bits=46 ;;
    esac
fi

# ---------------------------------------------------------------- tools
# One line per missing tool with the Debian package that provides it.
missing=()
need() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }
need "$QEMU_BIN" "$QEMU_DEB"
need cpio cpio
need gzip gzip
need python3 python3
need modinfo kmod
need depmod kmod
need readelf binutils
need flock util-linux
need sha256sum coreutils
need dpkg-query dpkg
# Whether the pages the host holds of guest RAM are recorded before QEMU's dumps (ram_tool): for "present", and for
# full dumps of a reserve-off guest, whose untouched pages the dumps may fault in and give_back then returns.
RAM_SNAPSHOT=no
if [[ ",$QEMU_DUMPS," == *,present,* ]] ||
    { [ "$BACKEND" = reserve-off ] && [[ ",$QEMU_DUMPS," =~ ,(elf|kdump-[a-z]+), ]]; }; then
    RAM_SNAPSHOT=yes
fi
{ [ "$CORE_KIND" = gcore ] || [ "$RAM_SNAPSHOT" = yes ]; } && need gdb gdb
if [ "$ARCH" = x86_64 ]; then
    need busybox busybox-static
else
    need apt-get apt
    need dpkg-deb dpkg
fi
if [ ${#missing[@]} -gt 0 ]; then
    die_missing "tools; try: apt-get install $(printf '%s\n' "${missing[@]}" | sort -u | xargs)"
fi

# ---------------------------------------------------------------- state + cleanup
QEMU_PID=""
WORK=""        # private temp dir (QMP socket, initramfs staging, downloads)
STAGE=""       # partial output dir; renamed into place only on success
CORE_PATTERN_SAVED=""   # set while core_pattern is changed; restored by cleanup
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
    restore_core_pattern
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
restore_core_pattern() {
    if [ -n "$CORE_PATTERN_SAVED" ]; then
        printf '%s\n' "$CORE_PATTERN_SAVED" >/proc/sys/kernel/core_pattern ||
            log "warning: could not restore /proc/sys/kernel/core_pattern to '$CORE_PATTERN_SAVED'"
        CORE_PATTERN_SAVED=""
        exec 7>&-   # releases the core_pattern lock
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
WORK=$(mktemp -d /tmp/vmdumpfs-fixture.XXXXXX)   # short path: unix socket names max 107 bytes
mkdir -p "$CACHE_DIR"
CACHE_DIR=$(readlink -f "$CACHE_DIR")

# ---------------------------------------------------------------- foreign packages (cached)
# apt-get download of PKG:DEBARCH, extracted with dpkg-deb -x: nothing is installed.  Needs the architecture
# in dpkg (root adds it here; scripts/setup.sh does it too).
apt_q() { apt-get -o APT::Sandbox::User=root -o DPkg::Lock::Timeout=120 -qq "$@"; }
ensure_foreign_arch() {
    if ! dpkg --print-foreign-architectures | grep -qx "$DEBARCH"; then
        [ "$(id -u)" = 0 ] ||
            die_missing "dpkg does not know architecture $DEBARCH; as root: dpkg --add-architecture $DEBARCH && apt-get update"
        log "dpkg --add-architecture $DEBARCH; apt-get update"
        dpkg --add-architecture "$DEBARCH"
        apt_q update || die "apt-get update failed after adding architecture $DEBARCH"
    fi
}
# Sets pkg, ver (the kernel package and version) and bbver (busybox-static's) for $FLAVOUR on $DEBARCH.
# The flavour's meta package pins the newest kernel ABI this architecture has in the archive (not every 6.1
# upload is built for every architecture: s390x lags behind), so its candidate's Depends names both.  One
# apt-cache call: without a pkgcache.bin (Debian's container images disable it) each call parses every package
# list of every architecture, 5-25 s here.  The answer is kept until apt's lists change (apt-get update).
resolve_foreign() {
    local res="$1/resolved-$DEBARCH-$FLAVOUR" show
    if [ -s "$res" ] && [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -newer "$res" -print -quit 2>/dev/null)" ]; then
        read -r pkg ver bbver <"$res"
        return 0
    fi
    show=$(apt-cache show --no-all-versions "linux-image-$FLAVOUR:$DEBARCH" "busybox-static:$DEBARCH" 2>/dev/null || true)
    if [ -z "$show" ]; then
        [ "$(id -u)" = 0 ] || die_missing "no package lists for $DEBARCH; as root: apt-get update"
        log "apt-get update (no package lists for $DEBARCH yet)"
        apt_q update || die "apt-get update failed"
        show=$(apt-cache show --no-all-versions "linux-image-$FLAVOUR:$DEBARCH" "busybox-static:$DEBARCH" 2>/dev/null || true)
    fi
    read -r pkg ver bbver < <(awk -v meta="linux-image-$FLAVOUR" '
        /^Package: / { p = $2 }
        /^Version: / && p == "busybox-static" { bb = $2 }
        /^Depends: / && p == meta && match($0, /linux-image-[0-9][^ ,]* \(= [^)]*\)/) {
            split(substr($0, RSTART, RLENGTH), w, /[ ()=]+/); k = w[1]; kv = w[2] }
        END { print k, kv, bb }' <<<"$show")
    [ -n "$pkg" ] && [ -n "$ver" ] || die_missing "no kernel found for linux-image-$FLAVOUR:$DEBARCH (apt-cache show)"
    [ -n "$bbver" ] || die_missing "no busybox-static:$DEBARCH (apt-cache show)"
    printf '%s %s %s\n' "$pkg" "$ver" "$bbver" >"$res.tmp" && mv "$res.tmp" "$res"
}
# Sets KVER, KERNEL, MODROOT, BUSYBOX, KPKG_VER for a foreign --arch.
fetch_foreign() {
    local debs="$CACHE_DIR/debs" pkg ver bbver kdir bbdir tmp
    mkdir -p "$debs"
    exec 8>"$debs/.lock"
    flock 8
    ensure_foreign_arch
    resolve_foreign "$debs"
    KVER=${pkg#linux-image-}
    case "$KVER" in 6.1.*) ;; *) die "linux-image-$FLAVOUR:$DEBARCH depends on $pkg, not a 6.1 kernel" ;; esac
    KPKG_VER="$pkg:$DEBARCH=$ver"
    kdir="$debs/$DEBARCH-$pkg-${ver//:/%3a}"
    bbdir="$debs/$DEBARCH-busybox-static-${bbver//:/%3a}"
    if [ ! -f "$kdir/.complete" ]; then
        tmp=$(mktemp -d "$WORK/kernel.XXXXXX")
        log "downloading $pkg:$DEBARCH=$ver"
        (cd "$tmp" && apt_q download "$pkg:$DEBARCH=$ver") || die_missing "apt-get download $pkg:$DEBARCH=$ver failed"
        dpkg-deb -x "$tmp"/*.deb "$tmp/root" || die "dpkg-deb -x of $pkg failed"
        depmod -b "$tmp/root" "$KVER" || die "depmod -b for $KVER failed"
        # Keep the kernel image and what the initramfs takes (drivers/firmware: qemu_fw_cfg); the rest of the
        # modules (100-300 MB) would only fill the cache.
        rm -rf "$kdir"
        mkdir -p "$kdir/boot" "$kdir/lib/modules/$KVER/kernel/drivers"
        cp -a "$tmp/root/boot/." "$kdir/boot/"
        cp -a "$tmp/root/lib/modules/$KVER/"modules.* "$kdir/lib/modules/$KVER/"
        if [ -d "$tmp/root/lib/modules/$KVER/kernel/drivers/firmware" ]; then   # (s390x has none)
            cp -a "$tmp/root/lib/modules/$KVER/kernel/drivers/firmware" "$kdir/lib/modules/$KVER/kernel/drivers/"
        fi
        touch "$kdir/.complete"
        rm -rf "$tmp"
    fi
    if [ ! -f "$bbdir/.complete" ]; then
        tmp=$(mktemp -d "$WORK/busybox.XXXXXX")
        log "downloading busybox-static:$DEBARCH=$bbver"
        (cd "$tmp" && apt_q download "busybox-static:$DEBARCH=$bbver") || die_missing "apt-get download busybox-static:$DEBARCH failed"
        dpkg-deb -x "$tmp"/*.deb "$tmp/root" || die "dpkg-deb -x of busybox-static:$DEBARCH failed"
        rm -rf "$bbdir"; mkdir -p "$bbdir"
        cp "$tmp/root/bin/busybox" "$bbdir/busybox"
        touch "$bbdir/.complete"
        rm -rf "$tmp"
    fi
    exec 8>&-
    MODROOT=$kdir
    BUSYBOX=$bbdir/busybox
    if [ -e "$kdir/boot/vmlinuz-$KVER" ]; then KERNEL=$kdir/boot/vmlinuz-$KVER
    else KERNEL=$kdir/boot/vmlinux-$KVER; fi   # ppc64el ships the ELF vmlinux, which SLOF loads
    [ -r "$KERNEL" ] || die "no kernel image in $kdir/boot"
}

# ---------------------------------------------------------------- kernel + busybox
if [ "$BOOT" = none ]; then
    KVER="" KERNEL="" MODROOT="" KPKG_VER="none"
    BUSYBOX=""
elif [ "$ARCH" = x86_64 ]; then
    if [ -z "$KVER" ]; then
        # Newest kernel that has both an image and its modules.
        for k in $(ls /boot/vmlinuz-* 2>/dev/null | sed 's|^/boot/vmlinuz-||' | sort -V -r); do
            if [ -d "/lib/modules/$k" ]; then KVER=$k; break; fi
        done
        [ -n "$KVER" ] || die_missing "no kernel in /boot with modules; try: apt-get install linux-image-cloud-amd64"
    fi
    KERNEL=/boot/vmlinuz-$KVER
    [ -r "$KERNEL" ] || die_missing "$KERNEL not readable; try: apt-get install linux-image-$KVER"
    [ -d "/lib/modules/$KVER" ] || die_missing "/lib/modules/$KVER missing; try: apt-get install linux-image-$KVER"
    MODROOT=/
    BUSYBOX=$(command -v busybox)
    KPKG=$(dpkg-query -S "$KERNEL" 2>/dev/null | cut -d: -f1 | head -1 || true)
    KPKG_VER=$( { [ -n "$KPKG" ] && dpkg-query -W -f='${Package}=${Version}' "$KPKG"; } 2>/dev/null || echo "kernel=unknown")
else
    fetch_foreign
fi
# The initramfs has no libc: busybox must be the static build.
if [ -n "$BUSYBOX" ] && readelf -l "$BUSYBOX" 2>/dev/null | grep -q 'Requesting program interpreter'; then
    die_missing "$BUSYBOX is dynamically linked; try: apt-get install busybox-static"
fi

QEMU_VERSION=$("$QEMU_BIN" --version | head -1)
QEMU_PKG=$(dpkg-query -W -f='${Package}=${Version}' "$QEMU_DEB" 2>/dev/null || echo "$QEMU_DEB=unknown")
SCRIPT_SHA=$(sha256sum "$SCRIPT_PATH" | cut -c1-64)
BUSYBOX_SHA=$( [ -n "$BUSYBOX" ] && sha256sum "$BUSYBOX" | cut -c1-64 || echo none)

# ---------------------------------------------------------------- output dir / cache
if [ -n "$OUT" ]; then
    OUT=$(readlink -m "$OUT")
    if [ -e "$OUT" ] && [ -n "$(ls -A "$OUT" 2>/dev/null)" ]; then
        die "--out $OUT exists and is not empty"
    fi
    mkdir -p "$(dirname "$OUT")"
    STAGE=$(mktemp -d "$OUT.partial.XXXXXX")
else
    # Everything that can change the fixture goes into the key.
    KEY_SRC="arch=$ARCH machine=$MACHINE mem=$MEM_MIB smp=$SMP kaslr=$KASLR fill=$FILL_MIB pattern=$PATTERN_MIB"
    KEY_SRC+=" dgc=$DUMP_GUEST_CORE load=$LOAD core=$CORE_KIND backend=$BACKEND boot=$BOOT dumps=$QEMU_DUMPS"
    KEY_SRC+=" cpu=$CPU flavour=$FLAVOUR kver=$KVER script=$SCRIPT_SHA busybox=$BUSYBOX_SHA"
    KEY_SRC+=" $QEMU_PKG $KPKG_VER"
    KEY=$(printf '%s' "$KEY_SRC" | sha256sum | cut -c1-12)
    NAME="$MACHINE-${MEM_MIB}m-kaslr$KASLR-fill${FILL_MIB}-dgc$DUMP_GUEST_CORE"
    # The x86_64 defaults keep their old names; anything else says what it is.
    [ "$ARCH" = x86_64 ] || NAME="$ARCH-$NAME"
    [ "$SMP" = 2 ] || NAME+="-smp$SMP"
    [ "$LOAD" = idle ] || NAME+="-$LOAD"
    [ "$CORE_KIND" = gcore ] || NAME+="-core$CORE_KIND"
    [ "$BACKEND" = default ] || NAME+="-$BACKEND"
    [ "$BOOT" = linux ] || NAME+="-boot$BOOT"
    OUT="$CACHE_DIR/$NAME-$KEY"
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
NODENAME="vmdumpfs-${TOKEN:0:8}"
DOMAINNAME=vmdumpfs.test
log "fixture: arch=$ARCH machine=$MACHINE mem=${MEM_MIB}MiB smp=$SMP kaslr=$KASLR fill=${FILL_MIB}MiB" \
    "dump-guest-core=$DUMP_GUEST_CORE load=$LOAD core=$CORE_KIND backend=$BACKEND boot=$BOOT" \
    "qemu-dump=$QEMU_DUMPS kernel=${KVER:-none} token=$TOKEN"

# ---------------------------------------------------------------- initramfs (cached)
# Copy a module (and, recursively first, its dependencies) into $1/lib/modules,
# decompressing .ko.xz/.ko.zst/.ko.gz because busybox insmod takes plain ELF only.
# Appends the load order to $1/lib/modules/load-order.
add_module() {
    local root=$1 name=$2 file dep base
    base=${name//-/_}
    grep -qx "$base.ko" "$root/lib/modules/load-order" 2>/dev/null && return 0
    file=$(modinfo -b "$MODROOT" -k "$KVER" -F filename "$name" 2>/dev/null) ||
        die "kernel module $name not found for $KVER"
    for dep in $(modinfo -b "$MODROOT" -k "$KVER" -F depends "$name" | tr ',' ' '); do
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
need_tool() { command -v "$1" >/dev/null 2>&1 || die_missing "$1; try: apt-get install $2"; }

build_initramfs() {
    local root="$WORK/initramfs" fwcfg
    mkdir -p "$root"/{bin,lib/modules,proc,sys,dev,tmp}
    cp "$BUSYBOX" "$root/bin/busybox"
    : >"$root/lib/modules/load-order"
    if [ "$HAS_FWCFG" = yes ]; then
        fwcfg=$(ls "$MODROOT/lib/modules/$KVER/kernel/drivers/firmware/"qemu_fw_cfg.ko* 2>/dev/null | head -1 || true)
        if [ -n "$fwcfg" ]; then
            add_module "$root" qemu_fw_cfg
        elif grep -q '^CONFIG_FW_CFG_SYSFS=y' "$MODROOT/boot/config-$KVER" 2>/dev/null; then
            log "qemu_fw_cfg is built into $KVER"
        else
            die "qemu_fw_cfg module not found for $KVER (needed so -device vmcoreinfo gets VMCOREINFO)"
        fi
    fi
    # --load memory's RAM disk (brd): in the initramfs, loaded only by that load (not in load-order).
    if [ "$ARCH" = x86_64 ]; then
        local brd
        mkdir -p "$root/lib/modules/extra"
        brd=$(modinfo -b "$MODROOT" -k "$KVER" -F filename brd 2>/dev/null) || die "kernel module brd not found for $KVER"
        case "$brd" in
            *.ko)     cp "$brd" "$root/lib/modules/extra/brd.ko" ;;
            *.ko.xz)  need_tool xz xz-utils; xz -dc "$brd" >"$root/lib/modules/extra/brd.ko" ;;
            *.ko.zst) need_tool zstd zstd;   zstd -qdc "$brd" >"$root/lib/modules/extra/brd.ko" ;;
            *.ko.gz)  gzip -dc "$brd" >"$root/lib/modules/extra/brd.ko" ;;
            *)        die "unsupported module file $brd" ;;
        esac
    fi
    # /init runs as busybox sh. Why each step:
    #  - dmesg -n 1: keep kernel messages from interleaving with our parsable lines (a panic still prints:
    #    its lines are KERN_EMERG)
    #  - qemu_fw_cfg: on load it writes the kernel's VMCOREINFO note address to the
    #    fw_cfg file etc/vmcoreinfo, which QEMU's -device vmcoreinfo exposes to dumps
    #  - hostname/domainname: so utsname's nodename and domainname are not the defaults ("(none)")
    #  - the facts: ground truth for kernel-address checks, collected into guest-facts.txt
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
arg() { tr ' ' '\n' </proc/cmdline | sed -n "s/^vmdumpfs\.$1=//p" | tail -1; }
TTY=/dev/$(tr ' ' '\n' </proc/cmdline | sed -n 's/^console=//p' | tail -1 | cut -d, -f1)
say() { echo "$*" >"$TTY"; }
fact() { say "VMDUMPFS-FACT $*"; }
stamp() { cut -d' ' -f1 /proc/uptime; }
TOKEN=$(arg marker); PATTERN_MIB=$(arg pattern); FILL_MIB=$(arg fill); LOAD=$(arg load)
: "${TOKEN:=none}" "${PATTERN_MIB:=4}" "${FILL_MIB:=0}" "${LOAD:=idle}"
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
hostname "$(arg nodename)"
echo "$(arg domainname)" >/proc/sys/kernel/domainname
echo "VMDUMPFS-MARKER $TOKEN" >/dev/kmsg
say "VMDUMPFS-MARKER $TOKEN"
say "VMDUMPFS-UNAME $(uname -r)"
fact uname-r "$(uname -r)"
fact uname-v "$(uname -v)"
fact uname-m "$(uname -m)"
fact nodename "$(uname -n)"
fact domainname "$(cat /proc/sys/kernel/domainname)"
fact nproc "$(nproc)"
fact cmdline "$(cat /proc/cmdline)"
[ -r /sys/kernel/vmcoreinfo ] && fact vmcoreinfo "$(cat /sys/kernel/vmcoreinfo)"
# Kernel symbols whose addresses tests check against the dump (core kernel only: NF == 3 drops modules').
# Debian's foreign kernels have no CONFIG_KALLSYMS_ALL: only their text symbols are listed.
awk '$3 ~ /^(_text|_stext|_etext|_end|start_kernel|panic|init_uts_ns|jiffies|jiffies_64|init_task|init_mm|swapper_pg_dir|init_top_pgt|linux_banner|page_offset_base|vmemmap_base|vmalloc_base|phys_base|kimage_voffset|memstart_addr|vmcoreinfo_note|runqueues)$/ && NF == 3 {
    print "VMDUMPFS-FACT kallsyms " $0 }' /proc/kallsyms >"$TTY"
grep -E 'Kernel code|Kernel data|Kernel bss|System RAM' /proc/iomem | sed 's/^ *//' | while read -r l; do
    fact iomem "$l"
done
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
case "$LOAD" in
busy)
    # One loop per vCPU, pinned: read(2) of /dev/zero clears 1 MiB in the kernel per call, so each vCPU is
    # almost always inside the kernel when QEMU stops.
    i=0
    while [ $i -lt $(nproc) ]; do
        taskset -c $i sh -c 'while :; do dd if=/dev/zero of=/dev/null bs=1048576 2>/dev/null; done' &
        fact busy "cpu $i pid $!"
        i=$((i + 1))
    done
    say "VMDUMPFS-READY"
    ;;
memory)
    # Guest RAM in use every way makedumpfile's dump levels (-d) tell apart, so filtered kdump files can be checked
    # against makedumpfile's on each kind of page (besides the kernel's own, free pages and the tmpfs pattern file):
    #  - page cache: an ext4 file system (ext2 on disk) on a 64 MiB RAM disk. disk-a is written, synced, dropped
    #    from the cache and read back: clean page cache without buffer heads (bit 2). disk-b is written and synced
    #    only: its pages keep their buffer heads, PG_private (bit 4), as does the file system's metadata.
    #  - anonymous memory (bit 8): an awk process holding some 60 MiB of strings, partly transparent huge pages.
    #  - hugetlbfs (bit 8): 4 huge pages in the pool, 2 of them a file's (fallocate), 2 free.
    #  - tmpfs (shmem): page cache too (bit 2): /tmp/pattern, and a 4 MiB file.
    insmod /lib/modules/extra/brd.ko rd_nr=1 rd_size=65536 || say "VMDUMPFS-WARN insmod brd failed"
    mke2fs -q -b 4096 /dev/ram0 >/dev/null 2>&1 || say "VMDUMPFS-WARN mke2fs /dev/ram0 failed"
    mkdir -p /mnt/disk /mnt/huge
    mount -t ext4 /dev/ram0 /mnt/disk || say "VMDUMPFS-WARN mount /dev/ram0 failed"
    { cat /proc/kallsyms; dmesg; } | head -c 1048576 >/tmp/mem-text
    for i in 0 1 2 3 4 5 6 7 8 9 10 11; do
        { echo "VMDUMPFS-DISK-A-$TOKEN-$i"; cat /tmp/mem-text; } | head -c 1048576 >/mnt/disk/disk-a-$i
    done
    sync
    echo 3 >/proc/sys/vm/drop_caches
    cat /mnt/disk/disk-a-* >/dev/null
    for i in 0 1 2 3 4 5 6 7; do
        { echo "VMDUMPFS-DISK-B-$TOKEN-$i"; cat /tmp/mem-text; } | head -c 1048576 >/mnt/disk/disk-b-$i
    done
    sync
    rm -f /tmp/mem-text
    head -c 4194304 /dev/urandom >/tmp/shmem-random
    # the kernel turns transparent huge pages off below 512 MiB of RAM; "the admin can still enable it through /sys"
    echo always >/sys/kernel/mm/transparent_hugepage/enabled
    awk -v t="$TOKEN" 'BEGIN {
        s = "VMDUMPFS-ANON-" t "-"
        while (length(s) < 8388608) s = s s
        for (i = 0; i < 3; i++) held[i] = s i
        printf "" > "/tmp/anon-ready"; close("/tmp/anon-ready")
        while (1) system("sleep 3600")
    }' &
    fact anon-pid "$!"
    while [ ! -e /tmp/anon-ready ]; do sleep 0.2; done
    echo 4 >/proc/sys/vm/nr_hugepages
    mount -t hugetlbfs none /mnt/huge && fallocate -l 4194304 /mnt/huge/data || say "VMDUMPFS-WARN hugetlbfs failed"
    sync
    grep -E '^(MemFree|Buffers|Cached|AnonPages|AnonHugePages|Shmem|HugePages_Total|HugePages_Free|Hugepagesize):' \
        /proc/meminfo | tr -s ' ' | while read -r l; do fact meminfo "$l"; done
    say "VMDUMPFS-READY"
    ;;
panic)
    # The last vCPU panics (panic=0 on the command line: it stays panicked); the others are stopped by it.
    c=$(($(nproc) - 1))
    fact panic-cpu "$c"
    say "VMDUMPFS-READY"
    taskset -c $c sh -c 'echo c >/proc/sysrq-trigger'
    ;;
*)
    say "VMDUMPFS-READY"
    ;;
esac
while :; do sleep 3600; done
INIT
    chmod 755 "$root/init"
    local tmp
    tmp=$(mktemp "$INITRD.XXXXXX")
    (cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet | gzip -1) >"$tmp"
    mv -f "$tmp" "$INITRD"   # atomic: concurrent builders just race harmlessly
    log "built initramfs $INITRD ($(cat "$root/lib/modules/load-order" | tr '\n' ' '))"
}
if [ "$BOOT" = linux ]; then
    # The initramfs depends only on this script, busybox, the kernel modules and whether fw_cfg is there.
    INITRD_KEY=$(printf '%s' "$SCRIPT_SHA $KPKG_VER $BUSYBOX_SHA $HAS_FWCFG" | sha256sum | cut -c1-12)
    INITRD="$CACHE_DIR/initramfs-$KVER-$INITRD_KEY.cpio.gz"
    if [ ! -s "$INITRD" ]; then build_initramfs; else log "cached initramfs $INITRD"; fi
fi

# ---------------------------------------------------------------- QMP
# Minimal QMP client: one command per call, skips asynchronous events.  With --hmp the last argument is an HMP
# command line whose output is printed.  Bounded by --timeout so a hung QEMU cannot hang the build.
qmp() {
    timeout "$TIMEOUT" python3 - "$QMP_SOCK" "$@" <<'PY'
import json, socket, sys
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.connect(sys.argv[1])
f = sock.makefile("rw")
def recv():
    while True:
        line = f.readline()
        if not line:
            sys.exit("QMP: connection closed by QEMU")
        msg = json.loads(line)
        if "event" not in msg:
            return msg
recv()  # greeting
args = sys.argv[2:]
hmp = args[:1] == ["--hmp"]
if hmp:
    args = [json.dumps({"execute": "human-monitor-command", "arguments": {"command-line": args[1]}})]
for cmd in ["qmp_capabilities"] + args:
    req = json.loads(cmd) if cmd.startswith("{") else {"execute": cmd}
    f.write(json.dumps(req) + "\n"); f.flush()
    resp = recv()
    if "error" in resp:
        sys.exit("QMP %s failed: %s" % (req["execute"], resp["error"]))
if hmp:
    sys.stdout.write(resp["return"])
PY
}

# ---------------------------------------------------------------- guest RAM as the host holds it
# ram_tool CMD ...: which guest pages QEMU's RAM mappings hold, from /proc/PID/pagemap, for a stopped VM.
#   snapshot SOCK MTREE OUT      the RAM FlatRanges of AddressSpace "memory" (from `info mtree -f`), each one's host
#                                address (HMP gpa2hva) and the runs of its host pages that are present (JSON)
#   present SOCK SNAPSHOT DIR    QEMU's ELF dumps (paging:false, begin/length) of every guest-physical range holding
#                                present pages (runs merged across gaps under 1 MiB) and of 16 sampled 1 MiB windows
#                                holding none, spread over guest RAM; the list goes to DIR/qemu-pages.txt
#   newly-present SNAPSHOT       "HOST_ADDR LENGTH" (hex) of the pages present now that were not in SNAPSHOT
# A page not present was never written (and there is no swap here): it reads as zero, and the kernel's core dumper
# leaves it a hole.  Which pages are present is what the guest and QEMU touched, found without reading guest RAM, so
# QEMU's dumps of the present ranges (about as big as the data in a sparse core) are the ground truth for every page
# of a guest too big to dump whole, and every page outside them must read as zero.
ram_tool() {
    timeout "$TIMEOUT" python3 - "$QEMU_PID" "$@" <<'PY'
import bisect, json, os, re, socket, sys
from array import array

PAGE = os.sysconf("SC_PAGE_SIZE")
PRESENT_OR_SWAPPED = (1 << 63) | (1 << 62)   # pagemap bits: page present, page swapped
MERGE_GAP = 1 << 20
HOLE_WINDOW = 1 << 20
HOLE_SAMPLES = 16
pid = int(sys.argv[1])
cmd = sys.argv[2]
args = sys.argv[3:]

class Qmp:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.f = self.sock.makefile("rw")
        self.recv()
        self.run("qmp_capabilities")
    def recv(self):
        while True:
            line = self.f.readline()
            if not line:
                sys.exit("QMP: connection closed by QEMU")
            msg = json.loads(line)
            if "event" not in msg:
                return msg
    def run(self, execute, **arguments):
        self.f.write(json.dumps({"execute": execute, "arguments": arguments}) + "\n")
        self.f.flush()
        resp = self.recv()
        if "error" in resp:
            sys.exit("QMP %s %s failed: %s" % (execute, arguments, resp["error"]))
        return resp["return"]
    def hmp(self, line):
        return self.run("human-monitor-command", **{"command-line": line})

def ram_ranges(mtree):
    """[start, end) of each RAM FlatRange of AddressSpace "memory", with its kind and MemoryRegion name."""
    for view in re.split(r"^FlatView #\d+\n", mtree, flags=re.M):
        if re.search(r'^ AS "memory", ', view, re.M):
            return [(int(m.group(1), 16), int(m.group(2), 16) + 1, m.group(3), m.group(4))
                    for m in re.finditer(r"^\s+([0-9a-f]+)-([0-9a-f]+) \(prio -?\d+, (ram|rom|romd)\): (\S+)",
                                         view, re.M)]
    sys.exit("no FlatView of AddressSpace memory in info mtree -f")

masks = {}
def present_runs(pm, hva, pages):
    """Runs [first, end) of present pages among the `pages` host pages from hva, as page indices."""
    runs = []
    step = 1 << 16   # pagemap entries per read (512 KiB)
    for base in range(0, pages, step):
        n = min(step, pages - base)
        buf = os.pread(pm, 8 * n, (hva // PAGE + base) * 8)
        if len(buf) != 8 * n:
            sys.exit("short read of /proc/%d/pagemap at 0x%x" % (pid, hva + base * PAGE))
        mask = masks.get(n)
        if mask is None:
            mask = masks[n] = int.from_bytes(PRESENT_OR_SWAPPED.to_bytes(8, "little") * n, "little")
        if int.from_bytes(buf, "little") & mask == 0:
            continue   # none present: the common case, checked without a loop
        entries = array("Q")
        entries.frombytes(buf)
        if sys.byteorder != "little":
            entries.byteswap()
        for i, e in enumerate(entries):
            if e & PRESENT_OR_SWAPPED:
                p = base + i
                if runs and runs[-1][1] == p:
                    runs[-1][1] = p + 1
                else:
                    runs.append([p, p + 1])
    return runs

def snapshot(sock, mtree_file, out):
    q = Qmp(sock)
    ranges = []
    pm = os.open("/proc/%d/pagemap" % pid, os.O_RDONLY)
    for start, end, kind, name in ram_ranges(open(mtree_file).read()):
        m = re.search(r" is (0x[0-9a-f]+)", q.hmp("gpa2hva 0x%x" % start))
        if not m:
            sys.exit("gpa2hva 0x%x: no host address" % start)
        hva = int(m.group(1), 16)
        if start % PAGE or end % PAGE or hva % PAGE:
            sys.exit("RAM range 0x%x-0x%x at host 0x%x is not page aligned" % (start, end, hva))
        ranges.append({"start": start, "end": end, "kind": kind, "name": name, "hva": hva,
                       "present": present_runs(pm, hva, (end - start) // PAGE)})
    os.close(pm)
    json.dump({"page": PAGE, "ranges": ranges}, open(out, "w"))
    total = sum(r["end"] - r["start"] for r in ranges)
    held = sum(b - a for r in ranges for a, b in r["present"]) * PAGE
    print("%d RAM ranges, %d MiB, %d MiB present" % (len(ranges), total >> 20, held >> 20), file=sys.stderr)

def overlaps(sorted_ranges, a, b):
    i = bisect.bisect_right(sorted_ranges, [a, float("inf")]) - 1
    for j in (i, i + 1):
        if 0 <= j < len(sorted_ranges) and sorted_ranges[j][0] < b and a < sorted_ranges[j][1]:
            return True
    return False

def present(sock, snap_file, out_dir):
    snap = json.load(open(snap_file))
    ram = sorted((r["start"], r["end"]) for r in snap["ranges"])
    held = sorted([r["start"] + a * PAGE, r["start"] + b * PAGE] for r in snap["ranges"] for a, b in r["present"])
    data = []
    for a, b in held:
        if data and a - data[-1][1] < MERGE_GAP:
            data[-1][1] = max(data[-1][1], b)
        else:
            data.append([a, b])
    # Hole samples: 1 MiB windows inside one RAM range, touching no dumped range, near evenly spread points.
    total = sum(b - a for a, b in ram)
    holes = []
    for k in range(HOLE_SAMPLES):
        target, at = total * (2 * k + 1) // (2 * HOLE_SAMPLES), None
        for a, b in ram:
            if target < b - a:
                at = a + target
                break
            target -= b - a
        centre = at // HOLE_WINDOW * HOLE_WINDOW
        for step in range(4096):
            found = None
            for w in (centre + step * HOLE_WINDOW, centre - step * HOLE_WINDOW):
                if w < 0 or [w, w + HOLE_WINDOW] in holes:
                    continue
                if any(a <= w and w + HOLE_WINDOW <= b for a, b in ram) and not overlaps(data, w, w + HOLE_WINDOW):
                    found = w
                    break
            if found is not None:
                holes.append([found, found + HOLE_WINDOW])
                break
    holes.sort()
    q = Qmp(sock)
    lines = []
    for kind, ranges in (("data", data), ("hole", holes)):
        for n, (a, b) in enumerate(ranges):
            name = "qemu-dump-%s-%d.elf" % (kind, n)
            q.run("dump-guest-memory", paging=False, begin=a, length=b - a,
                  protocol="file:" + os.path.join(out_dir, name))
            lines.append("%s 0x%x %d %s\n" % (kind, a, b - a, name))
    with open(os.path.join(out_dir, "qemu-pages.txt"), "w") as f:
        f.write("# KIND GUEST_PADDR LENGTH FILE: QEMU's ELF dump (paging:false, begin/length) of that range.\n"
                "# data: together these hold every guest page the host had present when QEMU stopped (pagemap);\n"
                "# hole: a window of RAM with no present page. A page in neither was never written: it reads as zero.\n")
        f.writelines(lines)
    print("%d data ranges (%d MiB), %d hole windows dumped" % (len(data), sum(b - a for a, b in data) >> 20,
                                                               len(holes)), file=sys.stderr)

def subtract(runs, minus):
    """The parts of sorted [a, b) runs not in sorted `minus`."""
    out, j = [], 0
    for a, b in runs:
        while j < len(minus) and minus[j][1] <= a:
            j += 1
        k = j
        while a < b:
            if k < len(minus) and minus[k][0] < b:
                if minus[k][0] > a:
                    out.append((a, minus[k][0]))
                a = max(a, minus[k][1])
                k += 1
            else:
                out.append((a, b))
                break
    return out

def newly_present(snap_file):
    snap = json.load(open(snap_file))
    pm = os.open("/proc/%d/pagemap" % pid, os.O_RDONLY)
    seen = set()
    for r in snap["ranges"]:
        if r["hva"] in seen:
            continue
        seen.add(r["hva"])
        now = present_runs(pm, r["hva"], (r["end"] - r["start"]) // PAGE)
        for a, b in subtract(now, r["present"]):
            print("0x%x 0x%x" % (r["hva"] + a * PAGE, (b - a) * PAGE))

if cmd == "snapshot":
    snapshot(*args)
elif cmd == "present":
    present(*args)
elif cmd == "newly-present":
    newly_present(*args)
else:
    sys.exit("ram_tool: unknown command " + cmd)
PY
}
# give_back LIST: madvise(MADV_DONTNEED) in QEMU (through gdb) of each "HOST_ADDR LENGTH" in LIST: pages QEMU's
# dumps faulted in only to read zeros (a host without a zero page allocates them) become untouched again, so the
# kernel's core leaves them holes as it would have without those dumps.  The VM is stopped; the pages read zero
# either way.
give_back() {
    local cmds="$WORK/give-back.gdb" out
    awk '{ printf "call (int) madvise((void *) %s, (unsigned long) %s, 4)\n", $1, $2 }' "$1" >"$cmds"
    out=$(gdb </dev/null --nx --batch --readnever -iex 'set debuginfod enabled off' -ex 'set pagination off' \
        -ex "attach $QEMU_PID" -x "$cmds" -ex detach -ex quit 2>&1 7>&- 8>&- 9>&-) ||
        { printf '%s\n' "$out" >&2; die "gdb could not give QEMU's untouched pages back"; }
    [ "$(grep -c '^\$[0-9]* = 0$' <<<"$out")" = "$(wc -l <"$1")" ] ||
        { printf '%s\n' "$out" >&2; die "madvise(MADV_DONTNEED) in QEMU failed"; }
}

# ---------------------------------------------------------------- boot
SERIAL="$STAGE/serial.log"
QMP_SOCK="$WORK/qmp.sock"
QEMU_CWD="$STAGE/.cwd"     # the host kernel writes the core here (--core kernel)
mkdir -p "$QEMU_CWD"
MACHINE_OPT="$MACHINE,dump-guest-core=$DUMP_GUEST_CORE"
# tb-size: TCG's translation cache is a 1 GiB anonymous mapping by default; it
# would bloat qemu.core with a mostly-zero GiB, 64 MiB is plenty for this guest.
QEMU_ARGS=(-accel tcg,tb-size=64 -m "$MEM_MIB" -smp "$SMP")
if [ "$BACKEND" = reserve-off ]; then
    # QEMU reserves no swap for the RAM (MAP_NORESERVE): a 64 GiB or 1 TiB guest costs what it touches.
    QEMU_ARGS+=(-object "memory-backend-ram,id=m,size=${MEM_MIB}M,reserve=off,dump=$DUMP_GUEST_CORE")
    MACHINE_OPT+=",memory-backend=m"
fi
QEMU_ARGS=(-machine "$MACHINE_OPT" "${QEMU_ARGS[@]}")
[ -n "$CPU" ] && QEMU_ARGS+=(-cpu "$CPU")
if [ "$BOOT" = linux ]; then
    [ "$HAS_FWCFG" = yes ] && QEMU_ARGS+=(-device vmcoreinfo)
    # panic=-1 reboots at once (and -no-reboot makes QEMU exit): a panic while booting fails fast.
    # --load panic wants the guest to stay panicked: panic=0.
    PANIC_ARG=-1; [ "$LOAD" = panic ] && PANIC_ARG=0
    APPEND="console=$CONSOLE panic=$PANIC_ARG vmdumpfs.marker=$TOKEN vmdumpfs.pattern=$PATTERN_MIB"
    APPEND+=" vmdumpfs.fill=$FILL_MIB vmdumpfs.load=$LOAD vmdumpfs.nodename=$NODENAME vmdumpfs.domainname=$DOMAINNAME"
    [ "$KASLR" = off ] && APPEND+=" nokaslr"
    QEMU_ARGS+=(-kernel "$KERNEL" -initrd "$INITRD" -append "$APPEND")
fi
QEMU_ARGS+=(-display none -monitor none -no-reboot -serial "file:$SERIAL" -nodefaults)
case "$MACHINE" in
    pc|q35) QEMU_ARGS+=(-vga none) ;;
    # pseries has a VGA by default: its vga.vram is RAM mapped high above guest RAM, which QEMU's dump includes.
    pseries) QEMU_ARGS+=(-device VGA) ;;
esac

# Loader writes (--boot none): data put into the RAM of a guest that never runs.  Each write is a file QEMU's
# generic loader copies to a guest-physical address at reset.  They go to the first and last pages of each RAM
# range, an unaligned spot and the middle of the biggest range, so a reader that gets the layout wrong misses
# them.  The layout is asked from the same QEMU (a first run, -S, `info mtree -f`) rather than assumed: QEMU 7.1+
# moves RAM above 4 GiB to 1 TiB on an AMD CPU model (qemu64 is one) when it would reach the HyperTransport hole.
plan_loader_writes() {
    local sock="$WORK/plan.sock" pid n addr size f hdr
    "$QEMU_BIN" "${QEMU_ARGS[@]}" -S -qmp "unix:$sock,server=on,wait=off" </dev/null >"$WORK/plan.log" 2>&1 7>&- 8>&- 9>&- &
    pid=$!
    QEMU_PID=$pid   # so that cleanup ends it if we die here
    for _ in $(seq 100); do [ -S "$sock" ] && break; kill -0 $pid 2>/dev/null || break; sleep 0.1; done
    QMP_SOCK=$sock qmp --hmp "info mtree -f" >"$WORK/plan-mtree.txt" ||
        { cat "$WORK/plan.log" >&2; die "QEMU -S did not answer info mtree"; }
    QMP_SOCK=$sock qmp quit >/dev/null 2>&1 || true
    wait $pid 2>/dev/null || true
    QEMU_PID=""
    python3 - "$WORK/plan-mtree.txt" >"$WORK/plan-writes.txt" <<'PY' || die "no RAM ranges in QEMU's info mtree -f"
import re, sys
ranges = []
for line in open(sys.argv[1]):
    if line.startswith("FlatView") and ranges:
        break   # the first FlatView is the "memory" address space's
    m = re.match(r"\s+([0-9a-f]+)-([0-9a-f]+) \(prio \d+, ram\): (\S+)", line)
    if m:
        ranges.append((int(m.group(1), 16), int(m.group(2), 16) + 1, m.group(3)))
if not ranges:
    sys.exit(1)
name = max(ranges, key=lambda r: r[1] - r[0])[2]   # the RAM backend's name (pc.ram, m)
ram = [r for r in ranges if r[2] == name]
writes = {}
for start, end, _ in ram:
    if end - start >= 2 << 20:
        writes[max(start, 0x1000)] = 8192
        writes[end - 4096] = 4096
for start, end, _ in ram:
    if start <= 0x12345678 and 0x12345678 + 10000 <= end:
        writes[0x12345678] = 10000
start, end, _ = max(ram, key=lambda r: r[1] - r[0])
mid = (start + (end - start) // 2) & ~((1 << 30) - 1)
if mid > start + (2 << 20) and mid + (1 << 20) < end - 8192:
    writes[mid] = 1 << 20
for addr in sorted(writes):
    print(addr, writes[addr])
PY
    : >"$STAGE/loader.txt"
    n=0
    while read -r addr size; do
        f="$STAGE/loader-$n.bin"
        hdr=$(printf 'VMDUMPFS-LOADER-%s-%d addr=0x%x size=%d' "$TOKEN" "$n" "$addr" "$size")
        { printf '%s\n' "$hdr"; head -c $((size - ${#hdr} - 1)) /dev/urandom; } >"$f"
        printf '0x%x %d %s %s\n' "$addr" "$size" "$(sha256sum "$f" | cut -c1-64)" "loader-$n.bin" >>"$STAGE/loader.txt"
        LOADER_ARGS+=(-device "loader,file=$f,addr=$addr,force-raw=on")
        n=$((n + 1))
    done <"$WORK/plan-writes.txt"
    log "loader writes: $(awk '{ printf "%s+%s ", $1, $2 }' "$STAGE/loader.txt")"
}
LOADER_ARGS=()
if [ "$BOOT" = none ]; then
    plan_loader_writes
    QEMU_ARGS+=(-S "${LOADER_ARGS[@]}")
fi
QEMU_ARGS+=(-qmp "unix:$QMP_SOCK,server=on,wait=off")
printf '%q ' "$QEMU_BIN" "${QEMU_ARGS[@]}" >"$STAGE/qemu.cmdline"; echo >>"$STAGE/qemu.cmdline"
# coredump_filter 0x33 is the kernel's default (anonymous and ELF header pages; what QEMU's RAM is), set
# explicitly because a parent's value is inherited.  Only --core kernel wants a core from the kernel.
# (A function body in braces: "launch_qemu &" forks once and the exec replaces that child, so $! is QEMU's pid.)
launch_qemu() {
    cd "$QEMU_CWD"
    if [ "$CORE_KIND" = kernel ]; then
        ulimit -c unlimited || { echo "cannot raise RLIMIT_CORE (ulimit -Hc is $(ulimit -Hc))" >&2; exit 1; }
        echo 0x33 >/proc/self/coredump_filter
    else
        ulimit -c 0
    fi
    exec "$QEMU_BIN" "${QEMU_ARGS[@]}"
}
launch_qemu </dev/null >"$STAGE/qemu.log" 2>&1 7>&- 8>&- 9>&- &
QEMU_PID=$!
QEMU_PID_RECORDED=$QEMU_PID
log "started $QEMU_BIN pid $QEMU_PID"

qemu_died() {
    log "qemu exited early; qemu.log:"; cat "$STAGE/qemu.log" >&2 || true
    log "serial log tail:"; tail -n 30 "$SERIAL" >&2 2>/dev/null || true
    die "$1"
}
# wait_for PATTERN WHAT: until an extended regexp matches a line of the serial log.
wait_for() {
    local deadline=$((SECONDS + TIMEOUT))
    until grep -Eq -e "$1" "$SERIAL" 2>/dev/null; do
        kill -0 "$QEMU_PID" 2>/dev/null || qemu_died "guest did not reach $2"
        if [ $SECONDS -ge $deadline ]; then
            log "serial log tail:"; tail -n 30 "$SERIAL" >&2 2>/dev/null || true
            die "timeout after ${TIMEOUT}s waiting for $2 in $SERIAL"
        fi
        sleep 0.2
    done
}
if [ "$BOOT" = linux ]; then
    wait_for '^VMDUMPFS-READY' VMDUMPFS-READY
else
    # The VM never runs: QEMU is ready when its QMP socket is.
    deadline=$((SECONDS + TIMEOUT))
    until [ -S "$QMP_SOCK" ]; do
        kill -0 "$QEMU_PID" 2>/dev/null || qemu_died "qemu did not start"
        [ $SECONDS -lt $deadline ] || die "timeout after ${TIMEOUT}s waiting for QMP socket $QMP_SOCK"
        sleep 0.1
    done
fi
BOOT_SECONDS=$(awk -v s="$START" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}')
# gcore, SIGABRT and the RSS below go to this pid: it must be QEMU itself, not a shell around it.  (By name:
# Debian's /usr/bin/qemu-system-i386 is a wrapper script that execs /usr/libexec/qemu-system-i386.)
[ "$(basename "$(readlink "/proc/$QEMU_PID/exe")")" = "$QEMU_BIN" ] ||
    die "pid $QEMU_PID is $(readlink "/proc/$QEMU_PID/exe"), not $QEMU_BIN"
rss_kib() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$QEMU_PID/status" 2>/dev/null || true; }
QEMU_RSS_KIB_READY=$(rss_kib)
fact() { sed -n "s/^VMDUMPFS-FACT $1 //p" "$SERIAL" | tr -d '\r' | head -1; }
UNAME="" NPROC="" KASLR_EFFECTIVE=none
if [ "$BOOT" = linux ]; then
    UNAME=$(sed -n 's/^VMDUMPFS-UNAME \([^[:space:]]*\).*/\1/p' "$SERIAL" | head -1)
    if [ "$HAS_FWCFG" = yes ]; then
        grep -q '^VMDUMPFS-VMCOREINFO present' "$SERIAL" ||
            die "guest has no fw_cfg etc/vmcoreinfo (qemu_fw_cfg not loaded?); see serial log"
    fi
    [ "$(fact nodename)" = "$NODENAME" ] || die "guest nodename is '$(fact nodename)', not $NODENAME"
    NPROC=$(fact nproc)
    [ "$NPROC" = "$SMP" ] || die "guest sees $NPROC CPUs, not --smp $SMP"
    log "guest ready after ${BOOT_SECONDS}s, uname $UNAME"
    # Whether the kernel really randomised itself: not without CONFIG_RANDOMIZE_BASE (ppc64le), nor on an s390x
    # CPU model without a PRNG ("KASLR disabled: CPU has no PRNG").
    KASLR_EFFECTIVE=$KASLR
    grep -q '^CONFIG_RANDOMIZE_BASE=y' "$MODROOT/boot/config-$KVER" 2>/dev/null || KASLR_EFFECTIVE=off
    grep -q 'KASLR disabled' "$SERIAL" && KASLR_EFFECTIVE=off
    case "$LOAD" in
        busy) sleep 2 ;;   # the loops have been spinning for a while: every vCPU in the kernel
        panic) wait_for '---\[ end Kernel panic' "the end of the kernel panic"
               log "guest panicked" ;;
    esac
fi

# ---------------------------------------------------------------- dumps over QMP
qmp stop || die "QMP stop failed"
# Does reading untouched anonymous memory map the kernel's shared zero page, as Linux normally does?  Some hosts
# turn it off (a VM host kernel booted with pvm_no_zero_page=1 here): then every page QEMU's dump-guest-memory reads
# is allocated, the guest's whole RAM ends up resident, and a kernel-written core taken after it is no longer
# sparse.  A full dump of a guest bigger than the free memory would get QEMU OOM-killed: it is skipped (and
# said so in meta.env), so tests needing it skip locally and fail in CI.
HOST_ZERO_PAGE=$(python3 - <<'PY'
import mmap, re
size = 64 << 20
m = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
sum(m[off] for off in range(0, size, 4096))
rss, cur = None, None
for line in open("/proc/self/smaps"):
    r = re.match(r"^([0-9a-f]+)-([0-9a-f]+) ", line)
    if r:
        cur = int(r.group(2), 16) - int(r.group(1), 16)
    elif cur == size and line.startswith("Rss:") and rss is None:
        rss = int(line.split()[1])
print("yes" if rss is not None and rss < 1024 else "no")
PY
) || HOST_ZERO_PAGE=unknown
MEM_AVAILABLE_MIB=$(awk '$1 == "MemAvailable:" { print int($2 / 1024) }' /proc/meminfo)
QEMU_DUMPS_SKIPPED=""
# Each dump is timed (QMP's dump-guest-memory returns when the file is written): scripts/bench.sh compares
# vmdumpfs's kdump files against QEMU's own. Includes one QMP connection (~50 ms of python start-up).
since() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN{printf "%.2f", e-s}'; }
DUMP_LOADAVG=$(cut -d' ' -f1 /proc/loadavg)   # the times mean little on a busy machine; say how busy
ELF_DUMP_SECONDS="" KDUMP_ZLIB_SECONDS="" PRESENT_DUMP_SECONDS="" RAM_GIVEN_BACK_BYTES=""
if [ "$RAM_SNAPSHOT" = yes ]; then
    t=$(date +%s.%N)
    qmp --hmp "info mtree -f" >"$WORK/mtree-stopped.txt" || die "QMP info mtree failed"
    ram_tool snapshot "$QMP_SOCK" "$WORK/mtree-stopped.txt" "$WORK/ram-snapshot.json" ||
        die "cannot record which guest pages QEMU holds (/proc/$QEMU_PID/pagemap)"
    log "recorded the guest pages QEMU holds ($(since "$t")s)"
fi
for d in ${QEMU_DUMPS//,/ }; do
    t=$(date +%s.%N)
    if [ "$d" != none ] && [ "$d" != ranges ] && [ "$d" != present ] && [ "$HOST_ZERO_PAGE" != yes ] &&
        [ $((MEM_MIB * 4)) -gt $((MEM_AVAILABLE_MIB * 3)) ]; then
        QEMU_DUMPS_SKIPPED+="$d "
        log "skipping dump-guest-memory $d: this host has no zero page, and it would fault in all $MEM_MIB MiB" \
            "of guest RAM with $MEM_AVAILABLE_MIB MiB available"
        continue
    fi
    case "$d" in
        none) continue ;;
        elf)
            # ELF, physical addresses only (paging:false): the ground truth for vmdumpfs.
            qmp '{"execute":"dump-guest-memory","arguments":{"paging":false,"protocol":"file:'"$STAGE"'/qemu-dump.elf"}}' ||
                die "QEMU dump-guest-memory elf failed"
            ELF_DUMP_SECONDS=$(since "$t") ;;
        ranges)
            # One ELF per loader write, filtered (begin/length) to the pages it touches: what QEMU itself
            # reads there, without scanning all of a huge guest.
            n=0
            while read -r addr size _; do
                begin=$(( addr & ~0xfff )); end=$(( (addr + size + 0xfff) & ~0xfff ))
                qmp '{"execute":"dump-guest-memory","arguments":{"paging":false,"begin":'"$begin"',"length":'"$((end - begin))"',"protocol":"file:'"$STAGE"'/qemu-dump-range-'"$n"'.elf"}}' ||
                    die "QEMU dump-guest-memory of loader range $n failed"
                n=$((n + 1))
            done <"$STAGE/loader.txt" ;;
        present)
            ram_tool present "$QMP_SOCK" "$WORK/ram-snapshot.json" "$STAGE" ||
                die "QEMU dump-guest-memory of the present ranges failed"
            PRESENT_DUMP_SECONDS=$(since "$t") ;;
        *)
            qmp '{"execute":"dump-guest-memory","arguments":{"paging":false,"format":"'"$d"'","protocol":"file:'"$STAGE"'/qemu-dump.'"$d"'"}}' ||
                die "QEMU dump-guest-memory $d failed"
            [ "$d" = kdump-zlib ] && KDUMP_ZLIB_SECONDS=$(since "$t") ;;
    esac
    log "dump-guest-memory $d done ($(since "$t")s)"
done
if [ -e "$STAGE/qemu-dump.elf" ] && [ "$HAS_FWCFG" = yes ] && [ "$BOOT" = linux ]; then
    # Proof that -device vmcoreinfo received the guest's note.  (Capture first:
    # "readelf | grep -q" under pipefail fails randomly with SIGPIPE.)
    notes=$(readelf -n "$STAGE/qemu-dump.elf" 2>/dev/null || true)
    [[ $notes == *VMCOREINFO* ]] || die "qemu-dump.elf has no VMCOREINFO note"
fi
QEMU_RSS_KIB_DUMPED=$(rss_kib)
log "QEMU's RSS: $QEMU_RSS_KIB_READY KiB when ready, $QEMU_RSS_KIB_DUMPED KiB after its dumps"
if [ "$RAM_SNAPSHOT" = yes ]; then
    # Pages the dumps faulted in (holes read on a host without a zero page, gaps between present ranges) go back,
    # so the core is what it would have been without the dumps; then no page may differ from the record.
    ram_tool newly-present "$WORK/ram-snapshot.json" >"$WORK/given-back.txt" || die "cannot read QEMU's pagemap"
    RAM_GIVEN_BACK_BYTES=0
    while read -r _ len; do RAM_GIVEN_BACK_BYTES=$((RAM_GIVEN_BACK_BYTES + len)); done <"$WORK/given-back.txt"
    if [ -s "$WORK/given-back.txt" ]; then
        give_back "$WORK/given-back.txt"
        ram_tool newly-present "$WORK/ram-snapshot.json" >"$WORK/still-present.txt" || die "cannot read QEMU's pagemap"
        [ ! -s "$WORK/still-present.txt" ] ||
            die "pages QEMU's dumps faulted in are still present after MADV_DONTNEED: $(head -3 "$WORK/still-present.txt" | tr '\n' ' ')"
    fi
    log "gave back $((RAM_GIVEN_BACK_BYTES >> 20)) MiB the dumps faulted in; QEMU's RSS now $(rss_kib) KiB"
fi
# Cheap ground truth for every fixture, also the huge ones without an ELF dump.
qmp --hmp "info mtree -f" >"$STAGE/qemu-mtree.txt" || die "QMP info mtree failed"
qmp --hmp "info ramblock" >"$STAGE/qemu-ramblock.txt" || die "QMP info ramblock failed"
qmp --hmp "info registers -a" >"$STAGE/qemu-registers.txt" || die "QMP info registers failed"

# Checks a process core: ELF core, not truncated (every segment's data inside the file); prints the size of its
# largest LOAD segment (p_filesz), which is the guest RAM mapping when it was dumped.
core_check() {
    python3 - "$1" <<'PY'
import os, struct, sys
path = sys.argv[1]
with open(path, "rb") as f:
    h = f.read(64)
    if len(h) < 64 or h[:4] != b"\x7fELF" or h[4] != 2 or h[5] != 1:
        sys.exit("%s: not a little-endian ELF64 file" % path)
    e_type, = struct.unpack_from("<H", h, 16)
    if e_type != 4:
        sys.exit("%s: e_type %d, not ET_CORE" % (path, e_type))
    phoff, = struct.unpack_from("<Q", h, 32)
    phentsize, phnum = struct.unpack_from("<HH", h, 54)
    f.seek(phoff)
    ph = f.read(phentsize * phnum)
size = os.path.getsize(path)
end = largest = 0
for i in range(phnum):
    p_type, _, off, _, _, filesz, _, _ = struct.unpack_from("<IIQQQQQQ", ph, i * phentsize)
    end = max(end, off + filesz)
    if p_type == 1:
        largest = max(largest, filesz)
if size < end:
    sys.exit("%s: truncated: %d bytes, segments end at %d" % (path, size, end))
print(largest)
PY
}

# Core of the QEMU process itself.
t=$(date +%s.%N)
if [ "$CORE_KIND" = gcore ]; then
    # Default gdb settings (use-coredump-filter on, dump-excluded-mappings off) dump anonymous RAM unless it is
    # MADV_DONTDUMP, which QEMU sets exactly when dump-guest-core=off - so both variants use the same command and
    # the "off" fixture really lacks the guest RAM.  Same flags as gcore(1).
    gdb </dev/null --nx --batch --readnever -iex 'set debuginfod enabled off' \
        -ex 'set pagination off' -ex 'set height 0' -ex 'set width 0' \
        -ex "attach $QEMU_PID" -ex "gcore $STAGE/qemu.core" -ex detach -ex quit \
        >"$STAGE/gcore.log" 2>&1 7>&- 8>&- 9>&- || { cat "$STAGE/gcore.log" >&2; die "gcore failed"; }
    [ -s "$STAGE/qemu.core" ] || { cat "$STAGE/gcore.log" >&2; die "gcore wrote no core"; }
    log "gcore done ($(since "$t")s)"
    qmp quit || true
    for _ in $(seq 100); do kill -0 "$QEMU_PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$QEMU_PID" 2>/dev/null && die "qemu did not exit after QMP quit"   # cleanup kills it
    wait "$QEMU_PID" 2>/dev/null || true
    QEMU_PID=""
else
    # The host kernel's core dumper, as a QEMU that crashed would leave it.  core_pattern decides where it goes:
    # a plain file name lands in QEMU's working directory; a pipe (systemd-coredump, apport) or a path is
    # replaced by "core" while QEMU dies, then restored (a lock keeps two builders from interleaving that).
    pattern=$(cat /proc/sys/kernel/core_pattern)
    if [[ $pattern == \|* || $pattern == */* || -z $pattern ]]; then
        [ "$(id -u)" = 0 ] || die "core_pattern is '$pattern' (not a plain file name); --core kernel needs root to set it to 'core' for a moment"
        exec 7>/tmp/vmdumpfs-core-pattern.lock
        flock 7
        CORE_PATTERN_SAVED=$(cat /proc/sys/kernel/core_pattern)
        echo core >/proc/sys/kernel/core_pattern
        log "core_pattern '$CORE_PATTERN_SAVED' set to 'core' until QEMU has dumped"
    fi
    COREDUMP_FILTER=$(cat "/proc/$QEMU_PID/coredump_filter")
    kill -ABRT "$QEMU_PID"
    deadline=$((SECONDS + TIMEOUT))
    while kill -0 "$QEMU_PID" 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || die "QEMU still writing its core after ${TIMEOUT}s"
        sleep 0.2
    done
    rc=0; wait "$QEMU_PID" 2>/dev/null || rc=$?
    QEMU_PID=""
    restore_core_pattern
    [ "$rc" = 134 ] || die "QEMU exited with status $rc after SIGABRT, not 134 (killed by SIGABRT)"
    cores=("$QEMU_CWD"/*)
    [ -e "${cores[0]}" ] || die "no core in $QEMU_CWD after SIGABRT (core_pattern '$pattern', ulimit -c unlimited)"
    [ ${#cores[@]} = 1 ] || die "several files in $QEMU_CWD after SIGABRT: ${cores[*]}"
    mv "${cores[0]}" "$STAGE/qemu.core"
    log "kernel core done ($(since "$t")s, $(basename "${cores[0]}"), coredump_filter $COREDUMP_FILTER)"
fi
rmdir "$QEMU_CWD" 2>/dev/null || die "QEMU left files in $QEMU_CWD: $(ls "$QEMU_CWD")"
CORE_SECONDS=$(since "$t")
CORE_BYTES=$(stat -c %s "$STAGE/qemu.core")
CORE_DISK_BYTES=$(du -B1 "$STAGE/qemu.core" | cut -f1)
CORE_RAM_BYTES=$(core_check "$STAGE/qemu.core") || die "qemu.core is not a complete ELF core"
# The guest RAM is one anonymous mapping of exactly MEM_MIB (even when the guest
# sees it split below/above 4 GiB), so look for a LOAD segment carrying that much
# data.  The total core size says nothing: QEMU's heap, thread stacks and
# glibc's PROT_NONE arena reservations (which gdb writes out as zeros) add
# hundreds of MiB.
MEM_BYTES=$((MEM_MIB * 1024 * 1024))
if [ "$DUMP_GUEST_CORE" = on ] && [ "$CORE_RAM_BYTES" -lt "$MEM_BYTES" ]; then
    die "qemu.core has no LOAD segment >= guest RAM ($MEM_BYTES bytes): the RAM was not dumped"
fi
if [ "$DUMP_GUEST_CORE" = off ] && [ "$CORE_RAM_BYTES" -ge "$MEM_BYTES" ]; then
    die "dump-guest-core=off but qemu.core still has a RAM-sized LOAD segment"
fi
log "qemu.core: $CORE_BYTES bytes ($CORE_DISK_BYTES on disk), largest LOAD segment $CORE_RAM_BYTES bytes"

if [ "$BOOT" = linux ]; then
    sed -n 's/^VMDUMPFS-FACT //p' "$SERIAL" | tr -d '\r' >"$STAGE/guest-facts.txt"
fi

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
    q ARCH "$ARCH"
    q MACHINE "$MACHINE"
    q MEM_MIB "$MEM_MIB"
    q SMP "$SMP"
    q KASLR "$KASLR"
    q KASLR_EFFECTIVE "$KASLR_EFFECTIVE"
    q LOAD "$LOAD"
    q CORE_KIND "$CORE_KIND"
    q BACKEND "$BACKEND"
    q BOOT "$BOOT"
    q QEMU_DUMPS "$QEMU_DUMPS"
    q CPU "$CPU"
    q CONSOLE "$CONSOLE"
    q TOKEN "$TOKEN"
    q UNAME "$UNAME"
    q UNAME_V "$(fact uname-v)"
    q UNAME_M "$(fact uname-m)"
    q NODENAME "$(fact nodename)"
    q DOMAINNAME "$(fact domainname)"
    q NPROC "$NPROC"
    q QEMU_BINARY "$QEMU_BIN"
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
    q CORE_DISK_BYTES "$CORE_DISK_BYTES"
    q CORE_LARGEST_LOAD_BYTES "$CORE_RAM_BYTES"
    q BOOT_SECONDS "$BOOT_SECONDS"
    q CORE_SECONDS "$CORE_SECONDS"
    q ELAPSED_SECONDS "$ELAPSED"
    q ELF_DUMP_SECONDS "$ELF_DUMP_SECONDS"
    q KDUMP_ZLIB_SECONDS "$KDUMP_ZLIB_SECONDS"
    q PRESENT_DUMP_SECONDS "$PRESENT_DUMP_SECONDS"
    q RAM_GIVEN_BACK_BYTES "$RAM_GIVEN_BACK_BYTES"
    q DUMP_LOADAVG "$DUMP_LOADAVG"
    q QEMU_DUMPS_SKIPPED "${QEMU_DUMPS_SKIPPED% }"
    q HOST_ZERO_PAGE "$HOST_ZERO_PAGE"
    q QEMU_RSS_KIB_READY "$QEMU_RSS_KIB_READY"
    q QEMU_RSS_KIB_DUMPED "$QEMU_RSS_KIB_DUMPED"
} >"$STAGE/meta.env.tmp"
mv "$STAGE/meta.env.tmp" "$STAGE/meta.env"

rmdir "$OUT" 2>/dev/null || true   # --out may name an existing empty dir
# QEMU creates its dumps 0400; tests may run as another user.
chmod 755 "$STAGE"; chmod a+r "$STAGE"/*
mv "$STAGE" "$OUT"
STAGE=""
log "fixture complete in ${ELAPSED}s: $OUT"
echo "$OUT"
