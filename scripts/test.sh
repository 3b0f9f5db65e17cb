#!/usr/bin/env bash
# test.sh - the whole test suite: unit tests, then integration tests on real QEMU cores (fixtures are made on the
# first run and cached under ~/.cache/vmdumpfs/fixtures), FUSE mounts, crash and makedumpfile.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec mvn -B -ntp -Pit verify "$@"
