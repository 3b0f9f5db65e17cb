#!/usr/bin/env bash
# hardening.sh - the hardening suite in its long version, then what it counted:
#   - the bad-input corpus (~830 damaged, truncated and foreign cores) through `vmdumpfs blocks` and a mount, in
#     process and through the real jar (BadInputCorpusIT)
#   - fuzzing: every Jazzer target on its own plus all together (FuzzIT), and the saved inputs replayed
#   - faults under a live mount: truncated, deleted, replaced core; killed readers; SIGTERM/SIGINT; 1 MiB cache
#   - 8 parallel readers against one sequential reader
#   - the read-only proof: EROFS for every mutation, O_RDONLY, other users refused, the core's SHA-256 unchanged
# CI runs the same tests shortened (mvn -Pit verify); this sets -Dhardening.full=true.
#
# usage: scripts/hardening.sh [--quick] [--fuzz-seconds N] [-- MAVEN_ARGS...]
#   --quick           the CI-sized run (a few minutes) instead of the long one
#   --fuzz-seconds N  per fuzzing run (default 60 long, 30 quick)
# Needs what scripts/setup.sh installs (QEMU, gdb, FUSE, ...); run that first on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

FULL=true
FUZZ=""
MVN_ARGS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) FULL=false; shift ;;
        --fuzz-seconds) FUZZ=${2:?}; shift 2 ;;
        --) shift; MVN_ARGS=("$@"); break ;;
        -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "hardening.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
[ -n "$FUZZ" ] || { [ "$FULL" = true ] && FUZZ=60 || FUZZ=30; }

# The fixture the suite uses (made once, then cached): its checksum before and after the whole run.
FIXTURE=$(bash scripts/make-qemu-core.sh --machine pc --mem 256 | tail -1)
CORE="$FIXTURE/qemu.core"
echo "hardening.sh: fixture $CORE; sha256 before the run ..." >&2
SHA_BEFORE=$(sha256sum "$CORE" | cut -c1-64)

rm -rf dump-core/target/hardening fusefs/target/hardening
MARKER=$(mktemp)
trap 'rm -f "$MARKER"' EXIT
START=$(date +%s)
set +e
mvn -B -ntp -Pit verify -Dhardening.full="$FULL" -Dfuzz.seconds="$FUZZ" \
    -Dtest='io.vmdumpfs.core.fuzz.*Test' -Dsurefire.failIfNoSpecifiedTests=false \
    -Dit.test='FuzzIT,BadInputCorpusIT,LiveMountFaultIT,ParallelReadersIT,ReadOnlyIT' \
    -Dit.failIfNoSpecifiedTests=false "${MVN_ARGS[@]}"
RC=$?
set -e
ELAPSED=$(( $(date +%s) - START ))
SHA_AFTER=$(sha256sum "$CORE" | cut -c1-64)

# ---------------------------------------------------------------- summary from the tests' own counts
get() {   # get FILE KEY [DEFAULT]
    local v
    v=$(grep -s "^$2=" "$1" | tail -1 | cut -d= -f2-) || true
    echo "${v:-${3:-?}}"
}
C=fusefs/target/hardening/corpus.properties
F=dump-core/target/hardening/fuzz.properties
P=fusefs/target/hardening/parallel.properties
X=fusefs/target/hardening/faults.properties
R=fusefs/target/hardening/readonly.properties
JVM_CRASHES=$(find . -name 'hs_err_pid*.log' -newer "$MARKER" 2>/dev/null | wc -l)
CRASHES=$(( JVM_CRASHES + $(get $C corpus.crashes 0) + $(get $C process.crashes 0) ))

echo
echo "================================ hardening summary ($( [ "$FULL" = true ] && echo long || echo quick ), ${ELAPSED}s)"
printf 'bad inputs tried:     %s in process (blocks + mount) + %s through the jar and a real mount\n' \
    "$(get $C corpus.cases)" "$(get $C process.cases)"
printf '                      crashes = %s, hangs = %s, stack traces = %s, wrong verdicts = %s\n' \
    "$CRASHES" "$(( $(get $C corpus.hangs 0) + $(get $C process.hangs 0) ))" "$(get $C corpus.stack_traces)" \
    "$(( $(get $C corpus.failures 0) + $(get $C process.failures 0) ))"
printf '                      categories: %s\n' "$(get $C corpus.categories)"
printf '                      clean one-line errors %s, harmless damage served as before %s, accepted with another block table %s\n' \
    "$(get $C corpus.clean_errors)" "$(get $C corpus.accepted_same_table)" "$(get $C corpus.accepted_different_table)"
printf '                      how accepted tables differ: %s (remapped = the damage described another valid memory map)\n' \
    "$(get $C corpus.accepted_different_kinds)"
printf '                      slowest: blocks %s ms (%s), mount %s ms in process; blocks %s ms, mount %s ms (jar)\n' \
    "$(get $C corpus.max_blocks_ms)" "$(get $C corpus.slowest_case)" "$(get $C corpus.max_mount_ms)" \
    "$(get $C process.max_blocks_ms)" "$(get $C process.max_mount_ms)"
printf 'fuzzing:              %s executions (%s s per run), findings = %s; %s saved inputs replayed by mvn test\n' \
    "$(get $F fuzz.executions)" "$(get $F fuzz.seconds_per_run)" "$(get $F fuzz.findings)" "$(get $F fuzz.regression_inputs)"
grep -s '^fuzz.target.*executions=' "$F" | sed 's/^fuzz.target.\(.*\).executions=\(.*\)/                      \1: \2/' || true
printf 'parallel readers:     %s threads, %s reads (%s bytes), mismatches = %s\n' \
    "$(get $P parallel.threads)" "$(get $P parallel.reads)" "$(get $P parallel.bytes)" "$(get $P parallel.mismatches)"
printf 'faults under a mount: %s of 8 passed (%s)\n' "$(get $X faults.passed)" \
    "$(grep -s '=passed' "$X" | cut -d= -f1 | sed 's/faults.//' | paste -sd, - || true)"
printf 'read-only:            EROFS %s of %s; core open O_RDONLY: %s; other user refused: %s\n' \
    "$(get $R erofs.passed)" "$(get $R erofs.cases)" "$(get $R readonly.core_open_flags_rdonly)" \
    "$(get $R permissions.other_user_denied)"
if [ "$SHA_BEFORE" = "$SHA_AFTER" ]; then
    echo "fixture core sha256:  unchanged over the whole run ($SHA_BEFORE)"
else
    echo "fixture core sha256:  CHANGED: $SHA_BEFORE -> $SHA_AFTER"
    RC=1
fi
echo "maven exit status:    $RC"
exit "$RC"
