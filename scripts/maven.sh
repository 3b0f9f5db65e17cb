#!/usr/bin/env bash
# maven.sh - mvn ARGS, offline when the local repository (~/.m2) holds everything the build needs, else online.
#
# Offline first keeps a rebuild from waiting on the network. On a fresh machine that attempt fails with a block of
# "Cannot access central in offline mode" errors that are nobody's problem: they are kept back, and one line says
# what happens instead. Any other failure is shown as Maven printed it. Used by ./vmdumpfs and scripts/install.sh.
# Debian's Maven 3.8.7 writes colour resets (ESC[0m) even with -B -q and -Dstyle.color=never: they are taken out.
set -uo pipefail

plain() { sed 's/\x1b\[[0-9;]*m//g'; }

log=$(mktemp "${TMPDIR:-/tmp}/vmdumpfs-mvn.XXXXXX") || exec mvn "$@"
trap 'rm -f "$log"' EXIT
if mvn -o "$@" >"$log" 2>&1; then
    plain <"$log"
    exit 0
fi
if grep -q 'in offline mode' "$log"; then
    echo "maven.sh: fetching the build's dependencies from Maven Central (not all in ~/.m2 yet)" >&2
    mvn "$@" 2>&1 | plain
    exit
fi
plain <"$log"
exit 1
