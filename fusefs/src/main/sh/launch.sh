# launch.sh - sourced by the vmdumpfs launchers (./vmdumpfs in a checkout, bin/vmdumpfs when installed). POSIX sh.
#
# `vmdumpfs CORE MNT` returns once the files are visible and keeps serving in the background. A JVM cannot fork, so
# on its own it re-executes itself detached and waits for the child: two JVM start-ups, ~0.6 s more. For a plain
# background mount the launcher starts the one serving JVM in the background itself and returns when that JVM
# writes READY on a pipe (fd 3), or with its exit status when it exits first (its errors go straight to stderr).
# The JVM checks what the launcher decided (heap, uncompressed core) and falls back to re-executing when it differs.
#
#   vmdumpfs_plain_mount ARGS...   succeeds for "[mount] [--debug] [-o OPTS] [--] CORE MNT" (no -f, -d, help);
#                                  sets VMDUMPFS_CORE and VMDUMPFS_CACHE_SIZE (the last cache_size= given, or empty)
#   vmdumpfs_heap_mib CORE CACHE   prints the serving JVM's -Xmx in MiB (MountCommand.heapMib is the same rule)
#   vmdumpfs_spawn_mount HEAP_MIB JAVA ARGS...  runs the mount as described above (ARGS include -Xmx/-Xmn for
#                                  HEAP_MIB, see vmdumpfs_heap_flags); exits, or returns 1 when it cannot set up
#                                  the pipe (the caller then runs the JVM as usual)
#   vmdumpfs_heap_flags HEAP_MIB   prints the JVM heap flags for HEAP_MIB

# The young generation of the serving JVM: small and fixed, so the old generation holds the chunk cache (with
# NewRatio's default a third of the heap would be young, and a full cache would not fit in the rest).
VMDUMPFS_YOUNG_MIB=48
# Heap beyond the chunk cache and the kdump indexes: young generation, other live objects, room for garbage.
VMDUMPFS_HEAP_HEADROOM_MIB=128

vmdumpfs_plain_mount() {
    VMDUMPFS_CORE= VMDUMPFS_CACHE_SIZE=
    _vm_n=0 _vm_opts=1
    case ${1-} in
        mount) shift ;;
        blocks | info | convert | help | '') return 1 ;;
    esac
    while [ $# -gt 0 ]; do
        _vm_a=$1
        shift
        if [ -n "$_vm_opts" ]; then
            case $_vm_a in
                --) _vm_opts=; continue ;;
                --debug) continue ;;
                -o)
                    [ $# -gt 0 ] || return 1
                    _vm_cache_option "$1"
                    shift
                    continue
                    ;;
                -o?*) _vm_cache_option "${_vm_a#-o}"; continue ;;
                -?*) return 1 ;; # -f, -d, -h, --help, --version, clusters, unknown: the JVM answers those
            esac
        fi
        _vm_n=$((_vm_n + 1))
        [ $_vm_n = 1 ] && VMDUMPFS_CORE=$_vm_a
    done
    [ $_vm_n = 2 ]
}

_vm_cache_option() { # OPT[,OPT...]: remembers the last cache_size=
    _vm_rest=$1
    while [ -n "$_vm_rest" ]; do
        _vm_item=${_vm_rest%%,*}
        case $_vm_rest in *,*) _vm_rest=${_vm_rest#*,} ;; *) _vm_rest= ;; esac
        case $_vm_item in cache_size=*) VMDUMPFS_CACHE_SIZE=${_vm_item#cache_size=} ;; esac
    done
}

_vm_bytes() { # SIZE as MountOptions.parseSize reads it (digits, optional K/M/G/T, optional B or iB) -> bytes
    _vm_s=$(printf '%s' "$1" | tr '[:lower:]' '[:upper:]')
    _vm_s=${_vm_s%IB}
    _vm_s=${_vm_s%B}
    _vm_shift=0
    case $_vm_s in
        *K) _vm_shift=10 ;;
        *M) _vm_shift=20 ;;
        *G) _vm_shift=30 ;;
        *T) _vm_shift=40 ;;
    esac
    [ $_vm_shift = 0 ] || _vm_s=${_vm_s%?}
    case $_vm_s in '' | *[!0-9]*) return 1 ;; esac
    [ ${#_vm_s} -le 12 ] || return 1 # beyond this the JVM decides (and re-executes if it must)
    echo $((_vm_s << _vm_shift))
}

vmdumpfs_heap_mib() {
    _vm_size=$(stat -L -c %s -- "$1" 2>/dev/null) || return 1
    if [ -n "$2" ]; then
        _vm_cache=$(_vm_bytes "$2") || return 1
    else
        # CaffeineChunkCache.defaultBytes(): 1/16 of RAM, 256 MiB to 1 GiB
        _vm_cache=$(($(awk '/^MemTotal:/ { print $2; exit }' /proc/meminfo) * 1024 / 16))
        [ "$_vm_cache" -ge $((256 << 20)) ] || _vm_cache=$((256 << 20))
        [ "$_vm_cache" -le $((1 << 30)) ] || _vm_cache=$((1 << 30))
    fi
    # kdump indexes: 2 bytes per 4 KiB page of the core, four files
    echo $(((_vm_cache + _vm_size / 4096 * 8) / 1048576 + VMDUMPFS_HEAP_HEADROOM_MIB))
}

vmdumpfs_heap_flags() {
    echo "-Xmx${1}m -Xmn${VMDUMPFS_YOUNG_MIB}m"
}

vmdumpfs_spawn_mount() {
    _vm_heap=$1
    shift
    # No temporary directory: return, and the caller runs the JVM as usual (it re-executes itself instead).
    _vm_dir=$(mktemp -d "${TMPDIR:-/tmp}/vmdumpfs.XXXXXX" 2>/dev/null) || return 1
    mkfifo -m 600 "$_vm_dir/ready" 2>/dev/null || { rm -rf "$_vm_dir"; return 1; }
    # The pipe's ends are opened here, before the JVM starts, so that it inherits its end: then only it can write,
    # and its exit (even a failed start) ends our read. Opening a FIFO blocks until the other end is open, except
    # read-write, which holds both ends for the moment.
    exec 6<>"$_vm_dir/ready" 3>"$_vm_dir/ready" 4<"$_vm_dir/ready"
    exec 6<&-
    rm -rf "$_vm_dir"
    # A non-interactive shell starts background commands with SIGINT/SIGQUIT ignored (the JVM would then never
    # unmount on SIGINT) and stdin from /dev/null (a decompression prompt or progress bar wants the terminal).
    _vm_reset=
    env --default-signal=INT true 2>/dev/null && _vm_reset=--default-signal=INT,QUIT
    { command exec 5<&0; } 2>/dev/null || exec 5</dev/null # stdin may be closed
    # shellcheck disable=SC2086 # _vm_reset is one flag or nothing
    env $_vm_reset VMDUMPFS_READY_FD=3 VMDUMPFS_HEAP_MIB="$_vm_heap" "$@" <&5 5<&- 4<&- &
    _vm_pid=$!
    exec 3>&- 5<&-
    # Interrupted before READY: take the half-made mount down with us (the JVM unmounts on SIGTERM).
    trap 'kill -TERM "$_vm_pid" 2>/dev/null; exit 130' INT
    trap 'kill -TERM "$_vm_pid" 2>/dev/null; exit 143' TERM HUP
    if IFS= read -r _vm_line <&4 && [ "$_vm_line" = READY ]; then
        exit 0
    fi
    wait "$_vm_pid"
    exit $?
}
