# launch.sh - how the vmdumpfs launchers (./vmdumpfs in a checkout, bin/vmdumpfs when installed) run java. POSIX sh,
# sourced. The launcher sets JAR (the jar to run), OPTIONS (its options file) and JSA (its class-data archive; may be
# missing or empty), optionally calls vmdumpfs_prepare, then vmdumpfs_launch "$@".
#
# The launchers know nothing of vmdumpfs's arguments, heap or JVM flags. OPTIONS is what `vmdumpfs
# --print-jvm-options` printed once per build or install (io.vmdumpfs.fuse.JvmOptions says why each option is
# there): one option per line after the Java version it needs, the heap among them that of a default mount on this
# machine. A mount that needs another heap restarts its JVM in place with its own (io.vmdumpfs.fuse.Restart).
#
# `vmdumpfs CORE MNT` returns once the files are visible and keeps serving in the background. A JVM cannot fork, so
# the launcher starts the JVM in the background itself, with a pipe on fd 3 (VMDUMPFS_READY_FD), and returns 0 when
# the JVM writes READY there, or with its exit status when it exits first (its errors go straight to stderr); every
# other command just runs to its end. Without a pipe (no temporary directory, VMDUMPFS_NO_LAUNCH=1) java runs as
# usual, and a background mount re-executes itself as a detached child instead (~0.5 s more).
#
#   vmdumpfs_launch ARGS...   runs vmdumpfs ARGS as described; never returns
#   vmdumpfs_prepare          makes OPTIONS, and JSA unless it is empty, when missing (one JVM run each)
#   vmdumpfs_find_java        sets JAVA (default: java on PATH, else where Debian links it) or exits 2
#   vmdumpfs_java_major       prints JAVA's feature version (17, 21, ...)
#   vmdumpfs_jvm_options FILE MAJOR   prints the options in FILE that Java MAJOR accepts, separated by spaces
#
# Environment: JAVA, VMDUMPFS_JAVA_OPTS (extra JVM flags, after ours: a user's -Xmx wins), VMDUMPFS_NO_LAUNCH=1.

_vm_die() {
    printf 'vmdumpfs: %s\n' "$*" >&2
    exit 2
}

vmdumpfs_find_java() {
    JAVA=${JAVA:-java}
    if ! command -v "$JAVA" >/dev/null 2>&1; then
        # mount(8) runs helpers without PATH; look where Debian and most distributions link java.
        for _vm_j in /usr/bin/java /usr/local/bin/java; do [ -x "$_vm_j" ] && JAVA=$_vm_j && break; done
    fi
    command -v "$JAVA" >/dev/null 2>&1 ||
        _vm_die "java not found; install a JDK 17 or newer: apt-get install openjdk-17-jre-headless"
}

vmdumpfs_java_major() {
    # From the JDK's release file: reading it costs nothing, `java -version` starts a JVM.
    _vm_home=$(dirname "$(dirname "$(readlink -f "$(command -v "$JAVA")")")")
    _vm_major=
    [ -r "$_vm_home/release" ] && _vm_major=$(sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$_vm_home/release")
    [ -n "$_vm_major" ] || _vm_major=$("$JAVA" -version 2>&1 | sed -n '1s/.*version "\([0-9]*\).*/\1/p')
    case $_vm_major in '' | *[!0-9]*) _vm_major=17 ;; esac
    echo "$_vm_major"
}

vmdumpfs_jvm_options() {
    while read -r _vm_since _vm_option; do
        case $_vm_since in
            '' | *[!0-9]*) ;; # comments
            *) if [ "$2" -ge "$_vm_since" ]; then printf '%s ' "$_vm_option"; fi ;;
        esac
    done <"$1"
}

vmdumpfs_prepare() {
    vmdumpfs_find_java
    if [ ! -s "$OPTIONS" ]; then
        "$JAVA" -jar "$JAR" --print-jvm-options >"$OPTIONS.$$" 2>/dev/null && mv -f "$OPTIONS.$$" "$OPTIONS" ||
            rm -f "$OPTIONS.$$"
    fi
    # The class-data archive of the classes a run loads: the JVM maps them instead of parsing and verifying them
    # (-XX:ArchiveClassesAtExit, JDK 13+; picocli and jnr's ASM are Java 5 class files, which CDS skips). Made by a
    # training run that walks a mount's start-up path without mounting.
    if [ -n "$JSA" ] && [ ! -f "$JSA" ]; then
        _vm_tmp=$JSA.$$
        (JSA='' VMDUMPFS_JAVA_OPTS="-XX:ArchiveClassesAtExit=$_vm_tmp" vmdumpfs_launch --x-cds-train) >/dev/null 2>&1 &&
            [ -f "$_vm_tmp" ] && chmod 0644 "$_vm_tmp" && mv -f "$_vm_tmp" "$JSA" || rm -f "$_vm_tmp"
    fi
}

vmdumpfs_launch() {
    vmdumpfs_find_java
    _vm_major=$(vmdumpfs_java_major)
    [ "$_vm_major" -ge 17 ] ||
        _vm_die "needs Java 17 or newer, found Java $_vm_major ($JAVA); install openjdk-17-jre-headless"
    VMDUMPFS_JVM_OPTIONS=
    [ -r "$OPTIONS" ] && VMDUMPFS_JVM_OPTIONS=$(vmdumpfs_jvm_options "$OPTIONS" "$_vm_major")
    export VMDUMPFS_JVM_OPTIONS # the JVM's heap came from them; a mount that needs another restarts
    # java OPTIONS [-XX:SharedArchiveFile=JSA] VMDUMPFS_JAVA_OPTS -jar JAR ARGS: built from the end, as "$@" is
    # the only list POSIX sh has. The option lists are split at spaces, never globbed.
    set -- -jar "$JAR" "$@"
    set -f
    # shellcheck disable=SC2086 # lists of options
    set -- ${VMDUMPFS_JAVA_OPTS:-} "$@"
    if [ -n "${JSA:-}" ] && [ -r "$JSA" ]; then
        set -- "-XX:SharedArchiveFile=$JSA" "$@"
    fi
    # shellcheck disable=SC2086
    set -- $VMDUMPFS_JVM_OPTIONS "$@"
    set +f
    [ -n "${VMDUMPFS_NO_LAUNCH:-}" ] || _vm_run_in_background "$@"
    exec "$JAVA" "$@"
}

# Runs JAVA ARGS in the background with the READY pipe; exits, or returns when it cannot make the pipe.
_vm_run_in_background() {
    _vm_dir=$(mktemp -d "${TMPDIR:-/tmp}/vmdumpfs.XXXXXX" 2>/dev/null) || return 0
    mkfifo -m 600 "$_vm_dir/ready" 2>/dev/null || { rm -rf "$_vm_dir"; return 0; }
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
    env $_vm_reset VMDUMPFS_READY_FD=3 "$JAVA" "$@" <&5 5<&- 4<&- &
    _vm_pid=$!
    exec 3>&- 5<&-
    # Interrupted: take the JVM (a half-made mount, a foreground one) down with us, and wait until it is gone.
    trap '_vm_stop 130' INT
    trap '_vm_stop 143' TERM HUP
    if IFS= read -r _vm_line <&4 && [ "$_vm_line" = READY ]; then
        exit 0
    fi
    wait "$_vm_pid"
    exit $?
}

_vm_stop() {
    kill -TERM "$_vm_pid" 2>/dev/null
    wait "$_vm_pid" 2>/dev/null
    exit "$1"
}
