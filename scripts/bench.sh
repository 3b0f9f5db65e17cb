#!/usr/bin/env bash
# bench.sh - measure vmdumpfs against its performance goals, next to baselines measured in the same run.
#
#   scripts/bench.sh            full run: pc 256 MiB, q35 3 GiB, and a q35 3 GiB guest with 2 GiB of tmpfs data
#   scripts/bench.sh --quick    skip the filled guest (the kdump section then runs on the pc 256 MiB guest) and the
#                               big guests
#
# Sections (goals from the issues "Find the guest's RAM", "Mount it", "kdump files"):
#   discovery  GuestDumps.open in a warm JVM (median), and `vmdumpfs blocks` wall time (a new JVM each run)
#   vcpus      vCPU discovery (VcpuDiscovery.discover) in a warm JVM, on both guests: flat in guest size
#   mount      `vmdumpfs CORE MNT` until it returns (mounted), next to a trivial jnr-fuse file system
#   read       dd of vmcore.elf after drop_caches, next to dd of qemu.core and of the trivial file; then re-read
#   kdump      first cp of each vmcore.kdump-*, next to QEMU's dump-guest-memory and makedumpfile; after a
#              remount (persisted index): stat time, crash start-up on kdump-zlib vs vmcore.elf; peak RSS
#   big        big guests with kernel-written (sparse) cores, one run each: a 12 GiB and a 64 GiB q35 guest
#              (reserve-off, booted): mount, first cat of vmcore.kdump-zlib (stat included) and ls -l of a fresh
#              mount next to QEMU's dump-guest-memory kdump-zlib of the 12 GiB guest (see the section for why not of
#              the 64 GiB one); a 1 TiB guest stopped before it ran: mount, ls -l; peak RSS of each
#   filter     (issue "Filtered kdump files") on the pc 256 MiB guest whose RAM holds page cache, anonymous memory,
#              tmpfs and hugetlbfs (make-qemu-core.sh --load memory): first cp of vmcore.kdump-zlib mounted with
#              -o dump_level=31 next to makedumpfile -c -d 31 of /MNT/vmcore.elf (time and size) and to the
#              unfiltered file's first cp; sizes at dump levels 1, 2, 4, 8 and 16 next to makedumpfile's
#
# What it runs: the jar as it is when the bench starts (copied, so builds by others do not change it mid-run) with
# the launcher's own script and JVM flags (also copied), fixtures from make-qemu-core.sh (cached), and the
# benchmark's helpers in fusefs/src/test/java/io/vmdumpfs/fuse/bench (compiled against that jar). Mounts go under a
# private temporary directory and are unmounted on exit. Indexes go to a private XDG_CACHE_HOME, so the first cp
# always builds its index and nobody else's cache is touched.
#
# Needs root for `echo 3 > /proc/sys/vm/drop_caches` ("cold" reads); without it, says so next to each cold number.
set -euo pipefail
export LC_ALL=C

SCRIPT_PATH=$(readlink -f "${BASH_SOURCE[0]}")
ROOT=$(dirname "$(dirname "$SCRIPT_PATH")")
PROG=$(basename "$SCRIPT_PATH")

usage() {
    cat >&2 <<EOF
usage: $PROG [options]
  --quick          skip the q35 3 GiB guest with 2 GiB of data (kdump section on the pc guest instead) and the
                   big guests
  --pc DIR         use this fixture directory for the pc 256 MiB guest (default: make-qemu-core.sh, cached)
  --q35 DIR        ... for the q35 3 GiB guest
  --fill DIR       ... for the q35 3 GiB guest with --fill 2048
  --big12 DIR      ... for the q35 12 GiB reserve-off guest (kernel core, QEMU's kdump-zlib)
  --big64 DIR      ... for the q35 64 GiB reserve-off guest (kernel core)
  --big1t DIR      ... for the q35 1 TiB guest stopped before it ran (kernel core)
  --memory DIR     ... for the pc 256 MiB guest with --load memory (section filter)
  --only LIST      run only these sections, comma-separated: discovery,vcpus,mount,read,kdump,big,filter
  --runs N         repetitions for medians of mount and blocks times (default: 5)
  --no-build       use fusefs/target/vmdumpfs.jar as it is, even if sources are newer
  --keep           keep the work directory (outputs, logs) instead of deleting it
  -h, --help       this help
The table goes to stdout; progress and logs to stderr.
EOF
}

log() { printf '[%s %s] %s\n' "$PROG" "$(date +%T)" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }

QUICK=0 PC_DIR="" Q35_DIR="" FILL_DIR="" B12_DIR="" B64_DIR="" B1T_DIR="" MEM_DIR="" ONLY="" RUNS=5 BUILD=1 KEEP=0
while [ $# -gt 0 ]; do
    case "$1" in
        --quick)    QUICK=1; shift ;;
        --pc)       PC_DIR=$(readlink -f "${2:?}"); shift 2 ;;
        --q35)      Q35_DIR=$(readlink -f "${2:?}"); shift 2 ;;
        --fill)     FILL_DIR=$(readlink -f "${2:?}"); shift 2 ;;
        --big12)    B12_DIR=$(readlink -f "${2:?}"); shift 2 ;;
        --big64)    B64_DIR=$(readlink -f "${2:?}"); shift 2 ;;
        --big1t)    B1T_DIR=$(readlink -f "${2:?}"); shift 2 ;;
        --memory)   MEM_DIR=$(readlink -f "${2:?}"); shift 2 ;;
        --only)     ONLY=${2:?}; shift 2 ;;
        --runs)     RUNS=${2:?}; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --keep)     KEEP=1; shift ;;
        -h|--help)  usage; exit 0 ;;
        *)          usage; die "unknown option: $1" ;;
    esac
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive integer"
if [ -z "$ONLY" ]; then
    ONLY="discovery,vcpus,mount,read,kdump,filter"
    [ "$QUICK" = 1 ] || ONLY+=",big"
fi
want() { [[ ",$ONLY," == *",$1,"* ]]; }
for s in ${ONLY//,/ }; do
    case "$s" in discovery|vcpus|mount|read|kdump|big|filter) ;; *) die "--only: unknown section $s" ;; esac
done

# ---------------------------------------------------------------- tools (installed only through setup.sh)
have_all() {
    local c
    for c in java javac fusermount dd crash makedumpfile qemu-system-x86_64 gdb pgrep unzip; do
        command -v "$c" >/dev/null 2>&1 || return 1
    done
    [ -e /dev/fuse ]
}
if ! have_all; then
    log "tools missing; running scripts/setup.sh"
    "$ROOT/scripts/setup.sh" >&2
    have_all || die "still missing tools after setup.sh (java, javac, fusermount, crash, makedumpfile, qemu, gdb, unzip, /dev/fuse)"
fi
CAN_DROP=0
if [ -w /proc/sys/vm/drop_caches ] && { sync; echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null; then
    CAN_DROP=1
else
    log "cannot write /proc/sys/vm/drop_caches (not root?): cold numbers will be page-cache warm"
fi

# ---------------------------------------------------------------- state + cleanup
WORK=$(mktemp -d /tmp/vmdumpfs-bench.XXXXXX)
STARTED_PIDS=()   # processes this script started (trivial FS); mounts are found under $WORK
cleanup() {
    local rc=$? m p
    trap - EXIT INT TERM HUP
    for m in $(awk -v w="$WORK/" 'index($2, w) == 1 { print $2 }' /proc/self/mounts); do
        fusermount -u "$m" 2>/dev/null || fusermount -uz "$m" 2>/dev/null || log "cannot unmount $m"
    done
    for p in "${STARTED_PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    if awk -v w="$WORK/" 'index($2, w) == 1 { f = 1 } END { exit !f }' /proc/self/mounts; then
        log "mounts remain under $WORK; not deleting it"
    elif [ "$KEEP" = 1 ] || { [ $rc -ne 0 ] && [ $rc -lt 129 ]; }; then   # kept after errors, not after signals
        log "work directory kept: $WORK"
    else
        rm -rf "$WORK"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# ---------------------------------------------------------------- build and freeze the jar
JAR=$ROOT/fusefs/target/vmdumpfs.jar
if [ "$BUILD" = 1 ]; then
    # The launcher builds when a source is newer than the jar (one build at a time, under its lock).
    "$ROOT/vmdumpfs" --version >/dev/null || log "build failed; measuring the existing jar"
fi
[ -f "$JAR" ] || die "$JAR missing (build failed?); try: mvn -DskipTests package"
# A private root with a copy of the launcher and of the jar: other engineers' builds rewrite the jar in place, and
# the launcher (its flags, its class-data archive, how it starts the server) is what users run.
mkdir -p "$WORK/root/fusefs/target" "$WORK/root/fusefs/src/main/sh"
cp "$ROOT/vmdumpfs" "$WORK/root/vmdumpfs"
cp "$ROOT/fusefs/src/main/sh/launch.sh" "$WORK/root/fusefs/src/main/sh/launch.sh"
for i in 1 2 3 4 5; do
    cp "$JAR" "$WORK/root/fusefs/target/vmdumpfs.jar" && unzip -tq "$WORK/root/fusefs/target/vmdumpfs.jar" >/dev/null 2>&1 && break
    [ $i = 5 ] && die "cannot get a consistent copy of $JAR (rewritten by a build?)"
    sleep 5
done
JAR_DESC="$(stat -c '%y' "$JAR" | cut -d. -f1), $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')+$(git -C "$ROOT" status --porcelain 2>/dev/null | wc -l) changed files"
VM=$WORK/root/vmdumpfs
export VMDUMPFS_NO_BUILD=1
"$VM" --version >/dev/null   # untimed: the launcher's first run makes its class-data archive
SNAP_JAR=$(ls "$WORK/root/fusefs/target/run/"vmdumpfs-*.jar | head -1)
mkdir -p "$WORK/classes"
javac -nowarn -d "$WORK/classes" -cp "$SNAP_JAR" "$ROOT"/fusefs/src/test/java/io/vmdumpfs/fuse/bench/*.java
BENCH_CP=$WORK/classes:$SNAP_JAR
# The launcher's JVM options for the helpers: those its first run above had the JVM write (io.vmdumpfs.fuse.JvmOptions).
# shellcheck source=fusefs/src/main/sh/launch.sh
. "$WORK/root/fusefs/src/main/sh/launch.sh"
vmdumpfs_find_java
read -ra JFLAGS <<<"$(vmdumpfs_jvm_options "${SNAP_JAR%.jar}.jvm-options" "$(vmdumpfs_java_major)")"

# ---------------------------------------------------------------- fixtures
fixture() { # machine mem fill [more options] -> dir
    "$ROOT/scripts/make-qemu-core.sh" --machine "$1" --mem "$2" --kaslr on --fill "$3" --timeout 1800 "${@:4}" | tail -1
}
meta() { sed -n "s/^$2=//p" "$1/meta.env" | tr -d "'"; }
label_of() { # fixture dir -> "q35 3 GiB" (", fill 2048 MiB" when filled)
    local m f
    m=$(meta "$1" MEM_MIB) f=$(meta "$1" FILL_MIB)
    if [ $((m % 1048576)) = 0 ]; then m="$((m / 1048576)) TiB"
    elif [ $((m % 1024)) = 0 ]; then m="$((m / 1024)) GiB"; else m="$m MiB"; fi
    printf '%s %s%s' "$(meta "$1" MACHINE)" "$m" "$([ "${f:-0}" = 0 ] || echo ", fill $f MiB")"
}
# The idle guests serve every section but filter (which needs only its own guest).
if want discovery || want vcpus || want mount || want read || want kdump || want big; then
    [ -n "$PC_DIR" ] || { log "fixture pc 256 MiB"; PC_DIR=$(fixture pc 256 0); }
    [ -n "$Q35_DIR" ] || { log "fixture q35 3 GiB"; Q35_DIR=$(fixture q35 3072 0); }
fi
if [ "$QUICK" = 0 ] && want kdump && [ -z "$FILL_DIR" ]; then
    log "fixture q35 3 GiB, 2 GiB filled (first time: several minutes of TCG)"
    FILL_DIR=$(fixture q35 3072 2048)
fi
[ "$QUICK" = 1 ] && [ -z "$FILL_DIR" ] && FILL_DIR=$PC_DIR
if want big; then
    # The same options as the tests' fixtures (QemuFixture.q35Mem64g, q35Mem1tStopped), so the cache is shared.
    big_fixture() { "$ROOT/scripts/make-qemu-core.sh" --machine q35 --kaslr on --backend reserve-off --core kernel \
        --timeout 1800 "$@" | tail -1; }
    # QEMU's own kdump-zlib: where the host has no zero page it faults in all 12 GiB while it dumps (and the script
    # gives the pages back afterwards, so the core stays sparse).
    [ -n "$B12_DIR" ] || { log "fixture q35 12 GiB reserve-off"; B12_DIR=$(big_fixture --mem 12288 --qemu-dump kdump-zlib); }
    [ -n "$B64_DIR" ] || { log "fixture q35 64 GiB reserve-off"; B64_DIR=$(big_fixture --mem 65536); }
    [ -n "$B1T_DIR" ] || { log "fixture q35 1 TiB stopped"; B1T_DIR=$(big_fixture --mem 1048576 --boot none); }
fi
if want filter && [ -z "$MEM_DIR" ]; then
    log "fixture pc 256 MiB, load memory"
    MEM_DIR=$(fixture pc 256 0 --load memory)
fi
for d in ${PC_DIR:+"$PC_DIR"} ${Q35_DIR:+"$Q35_DIR"} ${FILL_DIR:+"$FILL_DIR"} ${B12_DIR:+"$B12_DIR"} ${B64_DIR:+"$B64_DIR"} ${B1T_DIR:+"$B1T_DIR"} ${MEM_DIR:+"$MEM_DIR"}; do
    [ -f "$d/meta.env" ] && [ -f "$d/qemu.core" ] || die "$d is not a fixture directory (no meta.env or qemu.core)"
done

# ---------------------------------------------------------------- helpers
ROWS=$WORK/rows
: >"$ROWS"
section() { printf 'S\t%s (load %s)\n' "$1" "$(cut -d' ' -f1-3 /proc/loadavg)" >>"$ROWS"; log "== $1"; }
# row METRIC MEASURED [REFERENCE [RATIO [GOAL [RESULT]]]]
row() {
    printf 'R\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "${3:-}" "${4:-}" "${5:-}" "${6:-}" >>"$ROWS"
    log "$1: $2${3:+  (ref $3)}${6:+  $6}"
}
note() { printf 'N\t%s\n' "$1" >>"$ROWS"; }
f2() { awk -v x="$1" 'BEGIN { printf "%.2f", x }'; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2f", a / b }'; }
mul() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a * b }'; }
# proc_cpu PID -> the process's CPU seconds so far (user + system, all threads, exited ones included)
proc_cpu() { awk -v t="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.3f", ($12 + $13) / t }' "/proc/$1/stat"; }
# judge VALUE OP LIMIT -> PASS / MISS (n/a when VALUE is not a number)
judge() {
    awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
        if (v !~ /^[0-9.]+$/) { print "n/a"; exit }
        ok = (op == "<" && v + 0 < l + 0) || (op == "<=" && v + 0 <= l + 0) || (op == ">=" && v + 0 >= l + 0)
        print ok ? "PASS" : "MISS"
    }'
}
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
gbps() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.2f", b / s / 1e9 }'; } # decimal GB/s
drop_caches() {
    sync
    [ "$CAN_DROP" = 1 ] && echo 3 >/proc/sys/vm/drop_caches
    return 0
}
COLD_NOTE=""
[ "$CAN_DROP" = 1 ] || COLD_NOTE=" (caches NOT dropped: no root)"

# timed CMD... -> prints seconds; the command's output goes to $WORK/last.out
timed() {
    local t0=$EPOCHREALTIME
    "$@" >"$WORK/last.out" 2>&1 || { log "failed: $* ($(tail -3 "$WORK/last.out" | tr '\n' ' '))"; return 1; }
    sub "$t0" "$EPOCHREALTIME"
}

# The serving JVM of a mount: its arguments end with CORE MNT (started by the launcher) or -- CORE MNT (re-executed).
serving_pid() { pgrep -f -- "java .* $1\$" | head -1; }
MOUNT_ENV=()
# vm_mount CORE MNT [OPTIONS...] -> prints the seconds until `vmdumpfs OPTIONS CORE MNT` returned (mounted)
vm_mount() {
    mkdir -p "$2"
    local t0=$EPOCHREALTIME
    env "${MOUNT_ENV[@]}" "$VM" "${@:3}" "$1" "$2" >"$WORK/mount.out" 2>&1 || { cat "$WORK/mount.out" >&2; return 1; }
    sub "$t0" "$EPOCHREALTIME"
}
# mount_runs CORE MNT [VAR=VALUE...] -> the seconds of $RUNS mounts (each unmounted again), with those variables set
mount_runs() {
    local core=$1 mnt=$2 out=""
    shift 2
    MOUNT_ENV=("$@")
    for _ in $(seq "$RUNS"); do
        out+=" $(vm_mount "$core" "$mnt")"
        vm_umount "$mnt"
    done
    MOUNT_ENV=()
    echo "$out"
}
vm_umount() { # MNT: unmount and wait for the serving JVM to exit
    local pid
    pid=$(serving_pid "$1" || true)
    fusermount -u "$1"
    for _ in $(seq 200); do
        [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null && return 0
        sleep 0.05
    done
    log "serving JVM $pid still running 10 s after unmounting $1"
}
# fg_mount FILE CMD...: starts CMD (a file system serving in the foreground) in the background and waits until FILE
# exists; sets FG_SECS (start until FILE is visible) and FG_PID. Not for $(...): the server must stay our child.
fg_mount() {
    local file=$1
    shift
    local t0=$EPOCHREALTIME
    "$@" >"$WORK/fg.out" 2>&1 </dev/null &
    FG_PID=$!
    STARTED_PIDS+=("$FG_PID")
    until [ -e "$file" ]; do
        kill -0 "$FG_PID" 2>/dev/null || { cat "$WORK/fg.out" >&2; die "$* exited before $file appeared"; }
        sleep 0.005
    done
    FG_SECS=$(sub "$t0" "$EPOCHREALTIME")
}
fg_umount() { # MNT: unmount what fg_mount started and wait for it to exit
    fusermount -u "$1"
    wait "$FG_PID" 2>/dev/null || true
}
# trivial_mount MNT SIZE [JVM flags...]: the trivial FS via fg_mount; sets FG_SECS and FG_PID.
trivial_mount() {
    local mnt=$1 size=$2
    shift 2
    mkdir -p "$mnt"
    fg_mount "$mnt/data" java "${JFLAGS[@]}" "$@" -cp "$BENCH_CP" io.vmdumpfs.fuse.bench.TrivialFuse "$mnt" "$size"
    # the read-ahead vmdumpfs sets on its mounts as root (fusefs ReadAhead), so both read with the same
    local ra
    ra=/sys/class/bdi/$(mountpoint -d "$mnt")/read_ahead_kb
    [ -w "$ra" ] && echo 1024 >"$ra"
    return 0
}
trivial_umount() { fg_umount "$1"; }
# read_rate FILE -> prints "GB/s seconds" of one dd of FILE to /dev/null with 1 MiB blocks
read_rate() {
    local bytes s
    bytes=$(stat -c %s "$1")
    s=$(timed dd if="$1" of=/dev/null bs=1M)
    echo "$(gbps "$bytes" "$s") $s"
}
best_warm_rate() { # FILE -> the best GB/s of 3 re-reads (page-cache reads are short; one load spike would decide)
    local r best=0
    for _ in 1 2 3; do
        read -r r _ < <(read_rate "$1")
        best=$(awk -v a="$best" -v b="$r" 'BEGIN { print (b > a) ? b : a }')
    done
    echo "$best"
}
vmhwm() { awk '/^VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; } # MiB
vmrss() { awk '/^VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
crash_sys() { # VMLINUX DUMP -> seconds of `crash -s` running sys and quitting; fails unless sys printed RELEASE
    local s
    s=$(timed sh -c "printf 'sys\nquit\n' | crash -s '$1' '$2'") || return 1
    grep -q 'RELEASE:' "$WORK/last.out" || { log "crash on $2 printed no RELEASE:"; tail -5 "$WORK/last.out" >&2; return 1; }
    echo "$s"
}

PC_CORE=$PC_DIR/qemu.core
Q35_CORE=$Q35_DIR/qemu.core
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "work dir $WORK; pc: $PC_DIR; q35: $Q35_DIR; fill: $FILL_DIR; memory: $MEM_DIR"

# ================================================================ discovery
if want discovery; then
    section "Find the guest's RAM: discovery"
    cat "$PC_CORE" "$Q35_CORE" >/dev/null   # page cache warm: discovery cost, not disk
    java "${JFLAGS[@]}" -cp "$BENCH_CP" io.vmdumpfs.fuse.bench.DiscoveryTimer -w 5 -n 15 "$PC_CORE" "$Q35_CORE" \
        >"$WORK/discovery.out"
    read -r _ pc_med pc_min pc_max pc_first pc_parse pc_disc pc_vmci <"$WORK/discovery.out"
    read -r _ q_med q_min q_max q_first q_parse q_disc q_vmci < <(sed -n 2p "$WORK/discovery.out")
    row "in-process GuestDumps.open, $(label_of "$PC_DIR") (warm JVM, median of 15)" "$pc_med ms" "" "" "< 1000 ms" "$(judge "$pc_med" '<' 1000)"
    row "in-process GuestDumps.open, $(label_of "$Q35_DIR")" "$q_med ms" "pc: $pc_med ms" "$(div "$q_med" "$pc_med")x" "< 1000 ms, <= 1.20x pc" \
        "$(judge "$q_med" '<' 1000)/$(judge "$(div "$q_med" "$pc_med")" '<=' 1.2)"
    note "  spread pc: min $pc_min / max $pc_max ms, first open in the JVM $pc_first ms; q35: min $q_min / max $q_max, first $q_first ms"
    note "  phases (median ms) pc: ELF parse $pc_parse, RAM discovery $pc_disc, VMCOREINFO $pc_vmci; q35: $q_parse, $q_disc, $q_vmci"
    for which in pc q35; do
        core=$PC_CORE; [ $which = q35 ] && core=$Q35_CORE
        ts=""
        for _ in $(seq "$RUNS"); do ts+=" $(timed "$VM" blocks "$core")"; done
        med=$(median <<<"$ts")
        eval "blocks_$which=\$med"
        drop_caches
        cold=$(timed "$VM" blocks "$core")
        if [ $which = pc ]; then
            row "vmdumpfs blocks, $(label_of "$PC_DIR") (new JVM, median of $RUNS)" "$(f2 "$med") s" "" "" "< 1 s" "$(judge "$med" '<' 1)"
        else
            r=$(div "$med" "$blocks_pc")
            row "vmdumpfs blocks, $(label_of "$Q35_DIR")" "$(f2 "$med") s" "pc: $(f2 "$blocks_pc") s" "${r}x" "< 1 s, <= 1.20x pc" \
                "$(judge "$med" '<' 1)/$(judge "$r" '<=' 1.2)"
        fi
        note "  $which: runs$ts s; after drop_caches (core not cached): $cold s$COLD_NOTE"
    done
fi

# ================================================================ vcpus
if want vcpus; then
    section "Where every vCPU was: vCPU discovery"
    cat "$PC_CORE" "$Q35_CORE" >/dev/null   # page cache warm: discovery cost, not disk
    java "${JFLAGS[@]}" -cp "$BENCH_CP" io.vmdumpfs.fuse.bench.VcpuTimer -w 5 -n 15 "$PC_CORE" "$Q35_CORE" \
        >"$WORK/vcpus.out"
    read -r _ vp_med vp_min vp_max vp_first vp_n <"$WORK/vcpus.out"
    read -r _ vq_med vq_min vq_max vq_first vq_n < <(sed -n 2p "$WORK/vcpus.out")
    row "VcpuDiscovery.discover, $(label_of "$PC_DIR") (warm JVM, median of 15; $vp_n vCPUs)" "$vp_med ms" "" "" \
        "<= 50 ms" "$(judge "$vp_med" '<=' 50)"
    row "VcpuDiscovery.discover, $(label_of "$Q35_DIR") ($vq_n vCPUs)" "$vq_med ms" "pc: $vp_med ms" \
        "$(div "$vq_med" "$vp_med")x" "<= 50 ms, flat in guest size" "$(judge "$vq_med" '<=' 50)"
    note "  spread pc: min $vp_min / max $vp_max ms, first call in the JVM $vp_first ms; q35: min $vq_min / max $vq_max, first $vq_first ms"
fi

# ================================================================ mount
if want mount; then
    section "Mount it: mount-to-ready (vmdumpfs CORE MNT returns once the files are visible)"
    cat "$PC_CORE" "$Q35_CORE" >/dev/null
    # The trivial FS's class-data archive, made by one untimed mount like the launcher's training run.
    trivial_mount "$WORK/mnt-trivial" 1M -XX:ArchiveClassesAtExit="$WORK/trivial.jsa" -Xlog:cds=off -Xlog:cds+dynamic=off
    trivial_umount "$WORK/mnt-trivial"
    TCDS=(-XX:SharedArchiveFile="$WORK/trivial.jsa" -Xshare:auto -Xlog:cds=off -Xlog:cds+dynamic=off)
    ts=""
    for _ in $(seq "$RUNS"); do
        trivial_mount "$WORK/mnt-trivial" 1G "${TCDS[@]}"
        ts+=" $FG_SECS"
        trivial_umount "$WORK/mnt-trivial"
    done
    triv_mount=$(median <<<"$ts")
    note "  baseline: trivial jnr-fuse FS (one generated file, same options, with CDS), JVM start to file visible: runs$ts s"
    for which in pc q35; do
        core=$PC_CORE; [ $which = q35 ] && core=$Q35_CORE
        ts=$(mount_runs "$core" "$WORK/mnt-$which")
        tn=$(mount_runs "$core" "$WORK/mnt-$which" VMDUMPFS_NO_CDS=1)
        tr=$(mount_runs "$core" "$WORK/mnt-$which" VMDUMPFS_NO_LAUNCH=1)
        tf=""
        for _ in $(seq "$RUNS"); do
            mkdir -p "$WORK/mnt-$which"
            fg_mount "$WORK/mnt-$which/vmcore.elf" "$VM" -f "$core" "$WORK/mnt-$which"
            tf+=" $FG_SECS"
            fg_umount "$WORK/mnt-$which"
        done
        med=$(median <<<"$ts")
        eval "mount_$which=\$med"
        label=$(label_of "$(dirname "$core")")
        if [ $which = pc ]; then
            row "mount-to-ready, $label (median of $RUNS)" "$(f2 "$med") s" "trivial FS: $(f2 "$triv_mount") s" \
                "$(div "$med" "$triv_mount")x" "<= 1.0 s" "$(judge "$med" '<=' 1.0)"
        else
            r=$(div "$med" "$mount_pc")
            row "mount-to-ready, $label" "$(f2 "$med") s" "pc: $(f2 "$mount_pc") s" "${r}x" "<= 1.0 s, <= 1.20x pc" \
                "$(judge "$med" '<=' 1.0)/$(judge "$r" '<=' 1.2)"
        fi
        note "  $which: runs$ts s; without class-data sharing (VMDUMPFS_NO_CDS=1): median $(f2 "$(median <<<"$tn")") s"
        note "  $which: the JVM re-executing itself instead of the launcher starting the server (VMDUMPFS_NO_LAUNCH=1): median $(f2 "$(median <<<"$tr")") s"
        note "  $which: one JVM, vmdumpfs -f until vmcore.elf is visible: median $(f2 "$(median <<<"$tf")") s (runs$tf)"
    done
fi

# ================================================================ read
if want read; then
    section "Mount it: reading vmcore.elf (dd bs=1M to /dev/null)"
    for which in pc q35; do
        core=$PC_CORE; [ $which = q35 ] && core=$Q35_CORE
        mnt=$WORK/mnt-$which
        label=$(label_of "$(dirname "$core")")
        vm_mount "$core" "$mnt" >/dev/null
        elf_bytes=$(stat -c %s "$mnt/vmcore.elf")
        drop_caches
        read -r ours_cold _ < <(read_rate "$mnt/vmcore.elf")
        ours_warm=$(best_warm_rate "$mnt/vmcore.elf")
        bdi_ra=$(cat "/sys/class/bdi/$(mountpoint -d "$mnt")/read_ahead_kb" 2>/dev/null || echo '?')
        vm_umount "$mnt"
        drop_caches
        read -r core_cold _ < <(read_rate "$core")
        # core now in the page cache, vmcore.elf not (new mount): the FUSE path alone
        vm_mount "$core" "$mnt" >/dev/null
        read -r ours_hot _ < <(read_rate "$mnt/vmcore.elf")
        vm_umount "$mnt"
        trivial_mount "$WORK/mnt-trivial" "$elf_bytes"
        drop_caches
        read -r triv_cold _ < <(read_rate "$WORK/mnt-trivial/data")
        triv_warm=$(best_warm_rate "$WORK/mnt-trivial/data")
        trivial_umount "$WORK/mnt-trivial"
        r=$(div "$ours_cold" "$triv_cold")
        row "cold read vmcore.elf, $label ($(mib "$elf_bytes"))" "$ours_cold GB/s" "trivial FS: $triv_cold GB/s" "${r}x" ">= 0.80x trivial" "$(judge "$r" '>=' 0.8)"
        note "  same run: cat qemu.core after drop_caches $core_cold GB/s (disk; cold vmcore.elf = $(div "$ours_cold" "$core_cold")x that, and the goal asks $(div "$(awk -v t="$triv_cold" 'BEGIN { print 0.8 * t }')" "$core_cold")x); vmcore.elf with the core cached but not the file: $ours_hot GB/s ($(div "$ours_hot" "$triv_cold")x trivial); the mount's read-ahead (/sys/class/bdi/…/read_ahead_kb): $bdi_ra KiB$COLD_NOTE"
        # issue "Big guests and partial cores": against the disk itself on the 3 GiB guest, as the issue asks (the small
        # guest's 0.7 GB core came back at 4 GB/s after drop_caches here, cached below this VM: no disk figure), and the
        # FUSE path alone
        if [ $which = q35 ]; then
            r=$(div "$ours_cold" "$core_cold")
            row "cold read vmcore.elf, $label" "$ours_cold GB/s" "cat qemu.core, cold: $core_cold GB/s" "${r}x" ">= 0.90x cat of the core" "$(judge "$r" '>=' 0.9)"
        fi
        r=$(div "$ours_hot" "$triv_cold")
        row "read vmcore.elf, $label, core cached" "$ours_hot GB/s" "trivial FS: $triv_cold GB/s" "${r}x" ">= 0.80x trivial" "$(judge "$r" '>=' 0.8)"
        row "warm re-read vmcore.elf, $label (page cache; best of 3)" "$ours_warm GB/s" "trivial FS re-read: $triv_warm GB/s" \
            "$(div "$ours_warm" "$triv_warm")x" ">= 3 GB/s" "$(judge "$ours_warm" '>=' 3)"
    done
fi

# ================================================================ kdump
if want kdump; then
    FCORE=$FILL_DIR/qemu.core
    flabel=$(label_of "$FILL_DIR")
    section "kdump files on $flabel"
    VMLINUX=/usr/lib/debug/boot/vmlinux-$(meta "$FILL_DIR" UNAME)
    [ -r "$VMLINUX" ] || log "no $VMLINUX: crash rows will fail (scripts/setup.sh installs it)"
    # A private index directory: empty now, so the first cp builds; kept for the remount.
    MOUNT_ENV=(XDG_CACHE_HOME="$WORK/xdg")
    mkdir -p "$WORK/xdg"
    mnt=$WORK/mnt-kdump
    cat "$FCORE" >/dev/null   # as QEMU, which dumped from RAM: compression cost, not disk
    vm_mount "$FCORE" "$mnt" >/dev/null
    pid=$(serving_pid "$mnt")
    qemu_s=$(meta "$FILL_DIR" KDUMP_ZLIB_SECONDS)
    qemu_bytes=$(stat -c %s "$FILL_DIR/qemu-dump.kdump-zlib")
    for codec in zlib lzo snappy zstd; do
        f=$mnt/vmcore.kdump-$codec
        t0=$EPOCHREALTIME
        stat "$f" >/dev/null
        t1=$EPOCHREALTIME
        cp "$f" /dev/null
        t2=$EPOCHREALTIME
        s=$(sub "$t0" "$t2")
        bytes=$(stat -c %s "$f")
        split="index build (stat) $(f2 "$(sub "$t0" "$t1")") s + read $(f2 "$(sub "$t1" "$t2")") s"
        if [ $codec = zlib ]; then
            zlib_bytes=$bytes zlib_s=$s
            r=$(div "$s" "${qemu_s:-0}")
            row "first cp vmcore.kdump-zlib" "$(f2 "$s") s" "QEMU dump-guest-memory: ${qemu_s:-n/a} s" "${r}x" "<= 0.60x QEMU" "$(judge "$r" '<=' 0.6)"
            note "  $split; QEMU's time is from make-qemu-core.sh (1-min load then: $(meta "$FILL_DIR" DUMP_LOADAVG || true)), into a file; ours into /dev/null, core in the page cache"
            r=$(div "$bytes" "$qemu_bytes")
            row "size vmcore.kdump-zlib" "$(mib "$bytes")" "QEMU: $(mib "$qemu_bytes")" "${r}x" "<= QEMU" "$(judge "$r" '<=' 1)"
        else
            row "first cp vmcore.kdump-$codec" "$(f2 "$s") s" "size $(mib "$bytes")" "$(div "$bytes" "$zlib_bytes")x zlib size"
            note "  $split"
        fi
    done
    # makedumpfile -c (zlib), no page filtering, from our vmcore.elf (FUSE page cache cold for it)
    md_s=$(timed makedumpfile -c -d 0 "$mnt/vmcore.elf" "$WORK/makedumpfile.kdump-zlib") || md_s="FAILED"
    md_bytes=$(stat -c %s "$WORK/makedumpfile.kdump-zlib" 2>/dev/null || echo 0)
    rm -f "$WORK/makedumpfile.kdump-zlib"
    row "makedumpfile -c -d 0 vmcore.elf (zlib)" "$md_s s" "our first cp: $(f2 "$zlib_s") s" "$(div "$zlib_s" "$md_s")x (ours/it)" "" "size $(mib "$md_bytes")"
    hwm=$(vmhwm "$pid")
    # Goal: 256 MiB + the cache budget. The default cache_size is CaffeineChunkCache.defaultBytes(): 1/16 of the
    # host's memory, clamped to [256 MiB, 1 GiB] (keep in step with it; the mount above gives no cache_size).
    cache_mib=$(awk '/^MemTotal/ { m = int($2 / 1024 / 16); if (m < 256) m = 256; if (m > 1024) m = 1024; print m }' /proc/meminfo)
    budget=$((256 + cache_mib))
    xmx=$(tr '\0' '\n' <"/proc/$pid/cmdline" | grep -- '^-Xmx' | tail -1 || true)
    row "peak RSS (VmHWM) of the serving JVM, after the 4 first cps + makedumpfile" "$hwm MiB" "RSS now $(vmrss "$pid") MiB" "" "<= $budget MiB" "$(judge "$hwm" '<=' "$budget")"
    note "  budget = 256 MiB + default cache_size $cache_mib MiB (1/16 of RAM, 256 MiB..1 GiB); serving JVM heap flag: ${xmx:-none}"
    vm_umount "$mnt"

    # Remount: the persisted indexes make the kdump files ready at once.
    vm_mount "$FCORE" "$mnt" >/dev/null
    pid=$(serving_pid "$mnt")
    s=$(timed stat "$mnt/vmcore.kdump-zlib")
    row "after remount: stat vmcore.kdump-zlib (persisted index)" "$(f2 "$s") s" "" "" "<= 0.2 s" "$(judge "$s" '<=' 0.2)"
    if [ -r "$VMLINUX" ]; then
        # The copies above pushed the 300 MB vmlinux out of the page cache: whichever crash ran first paid for
        # reading it (16.5 s vs 11.7 s once). Both start with it and the core cached.
        cat "$VMLINUX" "$FCORE" >/dev/null
        ck=$(crash_sys "$VMLINUX" "$mnt/vmcore.kdump-zlib") || ck=FAILED
        ce=$(crash_sys "$VMLINUX" "$mnt/vmcore.elf") || ce=FAILED
        r=$(div "$ck" "$ce")
        row "after remount: crash -s, sys, quit on vmcore.kdump-zlib" "$(f2 "$ck") s" "on vmcore.elf: $(f2 "$ce") s" "${r}x" "<= 1.50x elf" "$(judge "$r" '<=' 1.5)"
        note "  crash ran on the kdump file first, each file FUSE-cold, vmlinux and the core in the page cache"
    fi
    row "peak RSS (VmHWM) after remount + crash" "$(vmhwm "$pid") MiB" "" "" "<= $budget MiB" "$(judge "$(vmhwm "$pid")" '<=' "$budget")"
    vm_umount "$mnt"
    MOUNT_ENV=()
fi

# ================================================================ big
# warm_data CORE: reads the runs of data of a sparse core (lseek SEEK_DATA/SEEK_HOLE) into the page cache, as cat
# would but without reading its holes (64 GiB of zeros for the 64 GiB guest).
warm_data() {
    python3 - "$1" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
size, off = os.fstat(fd).st_size, 0
while off < size:
    try:
        data = os.lseek(fd, off, os.SEEK_DATA)
    except OSError:
        break
    hole = os.lseek(fd, data, os.SEEK_HOLE)
    while data < hole:
        data += len(os.pread(fd, min(8 << 20, hole - data), data))
    off = hole
PY
}
if want big; then
    section "Big guests (q35, reserve-off, kernel-written sparse cores; one run each)"
    cache_mib=$(awk '/^MemTotal/ { m = int($2 / 1024 / 16); if (m < 256) m = 256; if (m > 1024) m = 1024; print m }' /proc/meminfo)
    budget=$((256 + cache_mib))
    # Baseline for mount and ls -l, this run: the pc 256 MiB guest (gcore), a fresh index directory each.
    n_big=0
    fresh_index_dir() { n_big=$((n_big + 1)); mkdir -p "$WORK/xdg-big-$n_big"; MOUNT_ENV=(XDG_CACHE_HOME="$WORK/xdg-big-$n_big"); }
    cat "$PC_CORE" >/dev/null
    fresh_index_dir
    pc_mount=$(vm_mount "$PC_CORE" "$WORK/mnt-big")
    pc_ls=$(timed ls -l "$WORK/mnt-big")
    vm_umount "$WORK/mnt-big"
    note "  baseline, same run: $(label_of "$PC_DIR") mounts in $(f2 "$pc_mount") s, ls -l of the fresh mount $(f2 "$pc_ls") s"
    # big_guest DIR -> sets BG_MOUNT BG_FIRST BG_STAT BG_LS BG_HWM BG_BYTES (seconds, MiB, bytes) for one guest
    big_guest() {
        local core=$1/qemu.core mnt=$WORK/mnt-big pid t0 t1 t2 h1 h2
        warm_data "$core"   # as QEMU, which dumps from RAM: the cost of the work, not of the disk
        fresh_index_dir
        BG_MOUNT=$(vm_mount "$core" "$mnt")
        pid=$(serving_pid "$mnt")
        BG_XMX=$(tr '\0' '\n' <"/proc/$pid/cmdline" | grep -- '^-Xmx' | tail -1 || true)
        BG_FIRST="" BG_STAT="" BG_BYTES=""
        # The clock starts before the first look at the file: the kernel's lookup already asks for its size, which
        # builds the index (a `[ -e ]` first hid the build from stat: 0.02 s where it took seconds).
        t0=$EPOCHREALTIME
        if stat "$mnt/vmcore.kdump-zlib" >/dev/null 2>&1; then
            t1=$EPOCHREALTIME
            cat "$mnt/vmcore.kdump-zlib" >/dev/null
            t2=$EPOCHREALTIME
            BG_FIRST=$(sub "$t0" "$t2") BG_STAT=$(sub "$t0" "$t1")
            BG_BYTES=$(stat -c %s "$mnt/vmcore.kdump-zlib")
        fi
        h1=$(vmhwm "$pid")
        vm_umount "$mnt"
        fresh_index_dir
        vm_mount "$core" "$mnt" >/dev/null
        pid=$(serving_pid "$mnt")
        BG_LS=$(timed ls -l "$mnt")
        h2=$(vmhwm "$pid")
        vm_umount "$mnt"
        BG_HWM=$(( h1 > h2 ? h1 : h2 ))
        MOUNT_ENV=()
    }
    qemu12=""
    if [ -n "$B12_DIR" ] && [ -f "$B12_DIR/qemu-dump.kdump-zlib" ]; then
        qemu12=$(meta "$B12_DIR" KDUMP_ZLIB_SECONDS)
    fi
    l12=$(label_of "$B12_DIR")
    big_guest "$B12_DIR"
    first12=$BG_FIRST ls12=$BG_LS
    row "mount-to-ready, $l12" "$(f2 "$BG_MOUNT") s" "pc 256 MiB: $(f2 "$pc_mount") s" "$(div "$BG_MOUNT" "$pc_mount")x" "<= 0.5 s" "$(judge "$BG_MOUNT" '<=' 0.5)"
    r=$(div "$BG_FIRST" "${qemu12:-0}")
    row "first cat vmcore.kdump-zlib (stat included), $l12" "$(f2 "$BG_FIRST") s" "QEMU dump-guest-memory: ${qemu12:-n/a} s" "${r}x" "<= 0.25x QEMU" "$(judge "$r" '<=' 0.25)"
    note "  index build (stat) $(f2 "$BG_STAT") s; QEMU's time from make-qemu-core.sh (1-min load then: $(meta "$B12_DIR" DUMP_LOADAVG)), into a file; on this host ($(meta "$B12_DIR" HOST_ZERO_PAGE | sed 's/^no$/no zero page/;s/^yes$/with a zero page/')) it includes faulting in every untouched page; ours into /dev/null, the core's data in the page cache"
    r=$(div "$BG_LS" "${qemu12:-0}")
    row "ls -l of a fresh mount (four kdump indexes), $l12" "$(f2 "$BG_LS") s" "QEMU dump-guest-memory: ${qemu12:-n/a} s" "${r}x" "<= 2x QEMU" "$(judge "$r" '<=' 2)"
    note "  ls -l = $(div "$BG_LS" "$BG_FIRST")x our first cat (the goal's \"2x that\" read as 2x QEMU's time above)"
    if [ -n "$qemu12" ]; then
        qb=$(stat -c %s "$B12_DIR/qemu-dump.kdump-zlib")
        r=$(div "$BG_BYTES" "$qb")
        row "size vmcore.kdump-zlib, $l12" "$(mib "$BG_BYTES")" "QEMU: $(mib "$qb")" "${r}x" "<= QEMU" "$(judge "$r" '<=' 1)"
    else
        note "  no QEMU kdump-zlib of $l12 (skipped when the host cannot fault in 12 GiB: QEMU_DUMPS_SKIPPED=$(meta "$B12_DIR" QEMU_DUMPS_SKIPPED))"
    fi
    row "peak RSS (VmHWM) of the serving JVM, $l12" "$BG_HWM MiB" "" "" "<= $budget MiB" "$(judge "$BG_HWM" '<=' "$budget")"
    note "  serving JVM heap flag: ${BG_XMX:-none}; budget = 256 MiB + default cache_size $cache_mib MiB"

    l64=$(label_of "$B64_DIR")
    big_guest "$B64_DIR"
    # QEMU cannot dump this guest whole here: it reads every page, and without a zero page each read allocates one,
    # so it is OOM-killed at ~24 GB. Its time grows with the guest's RAM (it reads all of it), ours with the data in
    # the core: QEMU's 12 GiB time scaled by 64/12 is printed as an estimate, and judged as one.
    est=""
    [ -n "$qemu12" ] && est=$(awk -v q="$qemu12" 'BEGIN { printf "%.1f", q * 65536 / 12288 }')
    row "mount-to-ready, $l64" "$(f2 "$BG_MOUNT") s" "pc 256 MiB: $(f2 "$pc_mount") s" "$(div "$BG_MOUNT" "$pc_mount")x" "<= 0.5 s" "$(judge "$BG_MOUNT" '<=' 0.5)"
    r=$(div "$BG_FIRST" "${est:-0}")
    row "first cat vmcore.kdump-zlib (stat included), $l64" "$(f2 "$BG_FIRST") s" "QEMU: est. ${est:-n/a} s" "${r}x est." "<= 0.25x QEMU" "est. $(judge "$r" '<=' 0.25)"
    note "  index build (stat) $(f2 "$BG_STAT") s; $(div "$BG_FIRST" "$first12")x the 12 GiB guest's, for $(awk -v a="$(meta "$B64_DIR" CORE_DISK_BYTES)" -v b="$(meta "$B12_DIR" CORE_DISK_BYTES)" 'BEGIN { printf "%.1f", a / b }')x its data on disk"
    note "  QEMU's dump-guest-memory of the 64 GiB guest cannot run here (this host has no zero page: each page it reads is allocated, OOM at ~24 GB); est. = QEMU's 12 GiB time x 64/12 (it reads every page)"
    r=$(div "$BG_LS" "${est:-0}")
    row "ls -l of a fresh mount (four kdump indexes), $l64" "$(f2 "$BG_LS") s" "QEMU: est. ${est:-n/a} s" "${r}x est." "<= 2x QEMU" "est. $(judge "$r" '<=' 2)"
    note "  ls -l = $(div "$BG_LS" "$BG_FIRST")x our first cat"
    row "peak RSS (VmHWM) of the serving JVM, $l64" "$BG_HWM MiB" "" "" "<= $budget MiB" "$(judge "$BG_HWM" '<=' "$budget")"
    note "  serving JVM heap flag: ${BG_XMX:-none}; size vmcore.kdump-zlib $(mib "$BG_BYTES")"

    l1t=$(label_of "$B1T_DIR")
    big_guest "$B1T_DIR"
    row "mount-to-ready, $l1t stopped before it ran" "$(f2 "$BG_MOUNT") s" "pc 256 MiB: $(f2 "$pc_mount") s" "$(div "$BG_MOUNT" "$pc_mount")x" "<= 0.5 s" "$(judge "$BG_MOUNT" '<=' 0.5)"
    row "ls -l of a fresh mount (four kdump indexes), $l1t" "$(f2 "$BG_LS") s" "pc 256 MiB: $(f2 "$pc_ls") s" "$(div "$BG_LS" "$pc_ls")x" "<= 5 s" "$(judge "$BG_LS" '<=' 5)"
    row "peak RSS (VmHWM) of the serving JVM, $l1t" "$BG_HWM MiB" "" "" "<= $budget MiB" "$(judge "$BG_HWM" '<=' "$budget")"
    note "  serving JVM heap flag: ${BG_XMX:-none}; first cat vmcore.kdump-zlib (stat included) $(f2 "$BG_FIRST") s, $(mib "$BG_BYTES")"
fi

# ================================================================ filter
if want filter; then
    MCORE=$MEM_DIR/qemu.core
    section "Filtered kdump files on $(label_of "$MEM_DIR"), RAM in use (page cache, anonymous, tmpfs, hugetlbfs)"
    # Private indexes, empty: each first cp decides the pages and builds its index.
    MOUNT_ENV=(XDG_CACHE_HOME="$WORK/xdg-filter")
    mkdir -p "$WORK/xdg-filter"
    cat "$MCORE" >/dev/null   # compression and filtering cost, not disk
    plain=$WORK/mnt-plain
    vm_mount "$MCORE" "$plain" >/dev/null
    # the mount's own time is not counted (as makedumpfile's is not: it starts on a vmcore.elf that is there)
    # first cp of our kdump file of level N: "seconds bytes cpu-seconds" (cpu: the serving JVM's, all threads)
    first_cp() {
        local m=$WORK/mnt-d$1 t0 s pid c0
        if [ "$1" = 0 ]; then vm_mount "$MCORE" "$m" >/dev/null; else vm_mount "$MCORE" "$m" -o "dump_level=$1" >/dev/null; fi
        pid=$(serving_pid "$m")
        c0=$(proc_cpu "$pid")
        t0=$EPOCHREALTIME
        cp "$m/vmcore.kdump-zlib" /dev/null
        s=$(sub "$t0" "$EPOCHREALTIME")
        echo "$s $(stat -c %s "$m/vmcore.kdump-zlib") $(sub "$c0" "$(proc_cpu "$pid")")"
        vm_umount "$m"
    }
    # makedumpfile -c -d N of our unfiltered vmcore.elf: "seconds bytes"
    md_level() {
        local out=$WORK/makedumpfile-d$1 s
        s=$(timed makedumpfile -c -d "$1" "$plain/vmcore.elf" "$out") || { echo "FAILED 0"; return 0; }
        echo "$s $(stat -c %s "$out")"
        rm -f "$out"
    }
    read -r p_s p_bytes _ < <(first_cp 0)
    read -r o_s o_bytes o_cpu < <(first_cp 31)
    read -r m_s m_bytes < <(md_level 31)
    r=$(div "$o_s" "$m_s")
    row "first cp vmcore.kdump-zlib, dump_level=31" "$(f2 "$o_s") s" "makedumpfile -c -d 31: $(f2 "$m_s") s" "${r}x" "<= 0.30x makedumpfile" "$(judge "$r" '<=' 0.3)"
    row "  its CPU time (serving JVM, all threads)" "$(f2 "$o_cpu") s" "wall x $(nproc) CPUs: $(f2 "$(mul "$o_s" "$(nproc)")") s" "$(div "$o_cpu" "$(mul "$o_s" "$(nproc)")")x busy" "" ""
    r=$(div "$o_bytes" "$m_bytes")
    row "size vmcore.kdump-zlib, dump_level=31" "$(mib "$o_bytes")" "makedumpfile -c -d 31: $(mib "$m_bytes")" "${r}x" "<= makedumpfile" "$(judge "$r" '<=' 1)"
    row "first cp vmcore.kdump-zlib, unfiltered (dump_level=0)" "$(f2 "$p_s") s" "dump_level=31: $(f2 "$o_s") s" "$(div "$o_s" "$p_s")x (31/0)" "" "size $(mib "$p_bytes")"
    note "  makedumpfile reads /MNT/vmcore.elf of an unfiltered mount (its FUSE cache cold), writes to $WORK; our first cp goes to /dev/null after a fresh mount, index built then"
    for n in 1 2 4 8 16; do
        read -r o_s o_bytes _ < <(first_cp "$n")
        read -r m_s m_bytes < <(md_level "$n")
        r=$(div "$o_bytes" "$m_bytes")
        row "size vmcore.kdump-zlib, dump_level=$n (first cp $(f2 "$o_s") s)" "$(mib "$o_bytes")" "makedumpfile -c -d $n: $(mib "$m_bytes"), $(f2 "$m_s") s" "${r}x" "<= makedumpfile" "$(judge "$r" '<=' 1)"
    done
    vm_umount "$plain"
    MOUNT_ENV=()
fi

# ================================================================ table
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
{
    echo "vmdumpfs benchmark, $(date '+%F %T'), $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -r)"
    echo "jar: $JAR_DESC; $(java -version 2>&1 | head -1); libdeflate (kdump-zlib): $(ldconfig -p | grep 'libdeflate\.so\.0' >/dev/null && echo installed || echo absent)"
    echo "load average: $LOAD_START at start, $LOAD_END at end (1/5/15 min); cold = after drop_caches$COLD_NOTE"
    echo "fixtures: pc=$(basename "${PC_DIR:-none}") q35=$(basename "${Q35_DIR:-none}") kdump=$(basename "${FILL_DIR:-none}")${B64_DIR:+ big: $(basename "$B12_DIR") $(basename "$B64_DIR") $(basename "$B1T_DIR")}${MEM_DIR:+ memory: $(basename "$MEM_DIR")}"
    awk -F'\t' '
        function line() { printf "%s\n", "-------------------------------------------------------------------------------------------------------------------------------------------------------------" }
        BEGIN { line(); printf "%-72s %-16s %-34s %-10s %-22s %s\n", "metric", "measured", "reference (same run)", "ratio", "goal", "result"; line() }
        $1 == "S" { print ""; print "## " $2 }
        $1 == "R" { printf "%-72s %-16s %-34s %-10s %-22s %s\n", $2, $3, $4, $5, $6, $7 }
        $1 == "N" { print $2 }
        END { line() }' "$ROWS"
} | tee "$WORK/table.txt"
if [ "$KEEP" = 1 ]; then log "table also in $WORK/table.txt"; fi
