#!/usr/bin/env bash
# fuzz.sh - long fuzzing runs of dump-core's Jazzer targets (io.vmdumpfs.core.fuzz), each in its own JVM (Jazzer
# fuzzes one test per JVM). CI fuzzes all of them for 30 s in one JVM (FuzzIT); this is for hours.
#
# Findings land in dump-core/src/test/resources/io/vmdumpfs/core/fuzz/<Class>Inputs/<method>/crash-*, where every
# plain `mvn test` replays them from then on (Jazzer's regression mode): fix the bug, keep the file. The generated
# corpus grows in dump-core/target/fuzz-corpus/ and is reused by the next run.
#
# usage: scripts/fuzz.sh [--seconds N] [TARGET...]
#   --seconds N   per target (default 600)
#   TARGET        Class#method or Class, e.g. DiscoveryFuzzTest; default: every target
# Prints one line per target and a total; exits 1 if anything was found.
set -euo pipefail
cd "$(dirname "$0")/.."

PER=600
TARGETS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) PER=${2:?}; shift 2 ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
        *) TARGETS+=("$1"); shift ;;
    esac
done
[[ $PER =~ ^[0-9]+$ ]] || { echo "fuzz.sh: --seconds must be a number" >&2; exit 2; }

ALL=(ElfReaderFuzzTest#processCore_anyBytes DiscoveryFuzzTest#discover_damagedStructures
     VmcoreInfoFuzzTest#vmcoreinfo_anyNoteBytes VmcoreInfoFuzzTest#vmcoreinfo_damagedInGuestRam
     BlocksTextFuzzTest#parse_anyText)
RUN=()
if [ ${#TARGETS[@]} -eq 0 ]; then
    RUN=("${ALL[@]}")
else
    for t in "${TARGETS[@]}"; do
        found=0
        for a in "${ALL[@]}"; do
            if [ "$a" = "$t" ] || [ "${a%%#*}" = "$t" ]; then RUN+=("$a"); found=1; fi
        done
        [ $found = 1 ] || { echo "fuzz.sh: no target $t; known: ${ALL[*]}" >&2; exit 2; }
    done
fi

LOGS=dump-core/target/fuzz-logs
mkdir -p "$LOGS"
echo "fuzz.sh: building dump-core's test classes" >&2
if ! mvn -B -ntp -pl dump-core test-compile dependency:build-classpath -Dmdep.includeScope=test \
        -Dmdep.outputFile=target/fuzz-classpath.txt >"$LOGS/build.log" 2>&1; then
    tail -40 "$LOGS/build.log" >&2
    echo "fuzz.sh: build failed (full log: $LOGS/build.log)" >&2
    exit 2
fi
CP="dump-core/target/test-classes:dump-core/target/classes:$(cat dump-core/target/fuzz-classpath.txt)"
STARTED=$(mktemp)
trap 'rm -f "$STARTED"' EXIT

total=0 findings=0
for t in "${RUN[@]}"; do
    cls=${t%%#*} method=${t#*#}
    log="$LOGS/$cls-$method.log"
    echo "fuzz.sh: $cls#$method for ${PER}s (log: $log)" >&2
    # BASEDIR dump-core: Jazzer writes findings into its src/test/resources inputs directory.
    JAZZER_FUZZ=1 java -Xmx2g -cp "$CP" io.vmdumpfs.core.fuzz.FuzzMain "io.vmdumpfs.core.fuzz.$cls" "$method" \
        "$PER" dump-core "dump-core/target/fuzz-corpus/$cls/$method" >"$log" 2>&1 || true
    line=$(grep -a '^FUZZ-RESULT' "$log" | tail -1 || true)
    if [ -z "$line" ]; then
        echo "  $cls#$method: no result (see $log)"
        findings=$((findings + 1))
        continue
    fi
    n=$(sed 's/.*executions=\([0-9]*\).*/\1/' <<<"$line")
    f=$(sed 's/.*findings=\([0-9]*\).*/\1/' <<<"$line")
    total=$((total + n)) findings=$((findings + f))
    printf '  %-50s %10d executions  %d findings\n' "$cls#$method" "$n" "$f"
done
kept=$(find dump-core/src/test/resources/io/vmdumpfs/core/fuzz -name 'crash-*' 2>/dev/null | wc -l)
echo "fuzz: $total executions, $findings findings; $kept earlier findings kept as regression inputs"
if [ "$findings" -gt 0 ]; then
    echo "new findings (replayed by mvn test from now on):"
    find dump-core/src/test/resources/io/vmdumpfs/core/fuzz -name 'crash-*' -newer "$STARTED" 2>/dev/null | sed 's/^/  /'
    exit 1
fi
