#!/usr/bin/env bash
# install.sh - install vmdumpfs: the jar, the `vmdumpfs` command, the mount(8) helpers and the systemd units.
#
#   scripts/install.sh [--prefix DIR] [--mount-helper-dir DIR|none] [--destdir DIR] [--no-build] [--no-cds]
#   scripts/install.sh --uninstall [--prefix DIR] [--mount-helper-dir DIR|none]
#
# --prefix DIR            where to install (default /usr/local):
#                           DIR/bin/vmdumpfs                       the command (a shell launcher running java)
#                           DIR/lib/vmdumpfs/vmdumpfs.jar           the program (built first when missing or stale)
#                           DIR/lib/vmdumpfs/vmdumpfs.jsa           its class-data archive (faster start-up)
#                           DIR/lib/vmdumpfs/jvm-options            its JVM options and heap on this machine
#                           DIR/lib/vmdumpfs/launch.sh              how the command runs java
#                           DIR/sbin/mount.vmdumpfs                 mount -t vmdumpfs helper
#                           DIR/sbin/mount.fuse.vmdumpfs            mount -t fuse.vmdumpfs / fstab helper (a link)
#                           DIR/libexec/vmdumpfs/coredump-scan      used by vmdumpfs-coredump.service
#                           DIR/lib/systemd/system/vmdumpfs@.service, vmdumpfs-coredump.{path,service}
#                           DIR/share/doc/vmdumpfs/README.md        systemd/README.md
# --mount-helper-dir DIR  mount(8) looks for helpers only in /sbin (and /sbin/fs.d, /sbin/fs), whatever the
#                         prefix: unless DIR/sbin is that directory, symbolic links to the two helpers are made
#                         in DIR (default /sbin). "none" makes none: then `mount -t vmdumpfs` does not work, and
#                         `mount -t fuse.vmdumpfs` works through mount.fuse only if DIR/bin is /usr/local/bin,
#                         /usr/bin or /bin (mount.fuse looks the program up in sh's default PATH).
# --destdir DIR           stage everything under DIR (for packages); paths inside the files stay those of --prefix.
#                         jvm-options then holds the heap for this machine's RAM; on a machine with another, each
#                         mount restarts its JVM once with its own heap (~0.3 s) until `vmdumpfs --print-jvm-options
#                         > DIR/lib/vmdumpfs/jvm-options` is run there (a package's postinst would).
# --no-build              install fusefs/target/vmdumpfs.jar as it is (tests running inside a Maven build use this:
#                         a nested build would rewrite target/ under them); fail when it is missing.
# --no-cds                do not make the class-data archive.
# --uninstall             remove what an install with the same options made (links only if they point into it).
#
# Needs root for the default prefix. Environment: JAVA (the java to train the archive with; default java).
set -euo pipefail

ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
PREFIX=/usr/local
HELPER_DIR=/sbin
DESTDIR=
CDS=1
BUILD=1
UNINSTALL=

die() { printf 'install.sh: %s\n' "$*" >&2; exit 2; }
log() { printf 'install.sh: %s\n' "$*" >&2; }

while [ $# -gt 0 ]; do
    case $1 in
        --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; PREFIX=$2; shift 2 ;;
        --prefix=*) PREFIX=${1#*=}; shift ;;
        --mount-helper-dir) [ $# -ge 2 ] || die "--mount-helper-dir needs a directory or none"; HELPER_DIR=$2; shift 2 ;;
        --mount-helper-dir=*) HELPER_DIR=${1#*=}; shift ;;
        --destdir) [ $# -ge 2 ] || die "--destdir needs a directory"; DESTDIR=$2; shift 2 ;;
        --destdir=*) DESTDIR=${1#*=}; shift ;;
        --no-cds) CDS=; shift ;;
        --no-build) BUILD=; shift ;;
        --uninstall) UNINSTALL=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done

PREFIX=$(realpath -m -- "$PREFIX")
[ -n "$DESTDIR" ] && DESTDIR=$(realpath -m -- "$DESTDIR")
BINDIR=$PREFIX/bin
SBINDIR=$PREFIX/sbin
LIBDIR=$PREFIX/lib/vmdumpfs
LIBEXECDIR=$PREFIX/libexec
UNITDIR=$PREFIX/lib/systemd/system
DOCDIR=$PREFIX/share/doc/vmdumpfs
UNITS=(vmdumpfs@.service vmdumpfs-coredump.path vmdumpfs-coredump.service)
HELPERS=(mount.vmdumpfs mount.fuse.vmdumpfs)

# Does mount(8) find helpers in $SBINDIR already? (/sbin is /usr/sbin on merged-/usr systems.)
helpers_need_links() {
    [ "$HELPER_DIR" != none ] && [ "$(realpath -m -- "$SBINDIR")" != "$(realpath -m -- "$HELPER_DIR")" ]
}

if [ -n "$UNINSTALL" ]; then
    if helpers_need_links; then
        for h in "${HELPERS[@]}"; do
            link=$DESTDIR$HELPER_DIR/$h
            if [ -L "$link" ] && [ "$(readlink -- "$link")" = "$SBINDIR/$h" ]; then
                rm -f -- "$link"
            fi
        done
    fi
    rm -f -- "$DESTDIR$BINDIR/vmdumpfs" "$DESTDIR$SBINDIR/mount.vmdumpfs" "$DESTDIR$SBINDIR/mount.fuse.vmdumpfs" \
        "$DESTDIR$LIBEXECDIR/vmdumpfs/coredump-scan" "$DESTDIR$DOCDIR/README.md" \
        "$DESTDIR$LIBDIR/vmdumpfs.jar" "$DESTDIR$LIBDIR/vmdumpfs.jsa" "$DESTDIR$LIBDIR/launch.sh" \
        "$DESTDIR$LIBDIR/jvm-options"
    for u in "${UNITS[@]}"; do
        rm -f -- "$DESTDIR$UNITDIR/$u"
    done
    rmdir -- "$DESTDIR$LIBDIR" "$DESTDIR$LIBEXECDIR/vmdumpfs" "$DESTDIR$DOCDIR" 2>/dev/null || true
    log "removed vmdumpfs from $PREFIX (the core cache in /var/cache/vmdumpfs and ~/.cache/vmdumpfs stays)"
    exit 0
fi

# 1. The jar: build it when missing, or older than a source (a stale jar installed is a bug hunt later).
JAR=$ROOT/fusefs/target/vmdumpfs.jar
stale() {
    [ -f "$JAR" ] || return 0
    [ -n "$(find "$ROOT" \( -name .git -o -name target \) -prune -o \
        \( -name '*.java' -o -name pom.xml -o -path '*/src/main/resources/*' \) -type f -newer "$JAR" -print -quit)" ]
}
if [ -n "$BUILD" ] && stale; then
    command -v mvn >/dev/null 2>&1 || die "$JAR is missing or stale and mvn is not installed: apt-get install maven"
    log "building $JAR"
    (cd "$ROOT" && scripts/maven.sh -B -q -DskipTests package) >&2 || die "build failed; run: mvn -DskipTests package"
fi
[ -f "$JAR" ] || die "$JAR not found; build it: mvn -DskipTests package"

# 2. Files. install(1) -D makes the parent directories.
subst() {
    sed -e "s|@bindir@|$BINDIR|g" -e "s|@sbindir@|$SBINDIR|g" -e "s|@libdir@|$LIBDIR|g" \
        -e "s|@libexecdir@|$LIBEXECDIR|g" -e "s|@docdir@|$DOCDIR|g" "$1"
}
put() { # put MODE SOURCE-FILE-OR-- DEST [stdin]
    local mode=$1 src=$2 dest=$DESTDIR$3 tmp
    mkdir -p -- "$(dirname -- "$dest")"
    tmp=$(mktemp "$dest.XXXXXX")
    if [ "$src" = - ]; then cat >"$tmp"; else cat -- "$src" >"$tmp"; fi
    chmod "$mode" -- "$tmp"
    mv -f -- "$tmp" "$dest"    # atomic: a mount running the old launcher is not disturbed
}

put 0644 "$JAR" "$LIBDIR/vmdumpfs.jar"
# Both belong to the old jar; made again below.
rm -f -- "$DESTDIR$LIBDIR/vmdumpfs.jsa" "$DESTDIR$LIBDIR/jvm-options"
put 0644 "$ROOT/fusefs/src/main/sh/launch.sh" "$LIBDIR/launch.sh"
put 0755 - "$BINDIR/vmdumpfs" <<EOF
#!/bin/sh
# vmdumpfs - run vmdumpfs (installed by scripts/install.sh from $ROOT); launch.sh says how.
# Environment: JAVA (the java binary; default: java on PATH), VMDUMPFS_JAVA_OPTS (extra JVM flags, e.g. -Xmx8g).
JAR='$LIBDIR/vmdumpfs.jar'
OPTIONS='$LIBDIR/jvm-options'
JSA='$LIBDIR/vmdumpfs.jsa'
. '$LIBDIR/launch.sh'
vmdumpfs_launch "\$@"
EOF

subst "$ROOT/systemd/mount.vmdumpfs" | put 0755 - "$SBINDIR/mount.vmdumpfs"
ln -sfn mount.vmdumpfs "$DESTDIR$SBINDIR/mount.fuse.vmdumpfs"
subst "$ROOT/systemd/coredump-scan" | put 0755 - "$LIBEXECDIR/vmdumpfs/coredump-scan"
for u in "${UNITS[@]}"; do
    subst "$ROOT/systemd/$u" | put 0644 - "$UNITDIR/$u"
done
put 0644 "$ROOT/systemd/README.md" "$DOCDIR/README.md"

# 3. Where mount(8) looks.
if helpers_need_links; then
    for h in "${HELPERS[@]}"; do
        link=$DESTDIR$HELPER_DIR/$h
        if [ -e "$link" ] && [ ! -L "$link" ]; then
            log "warning: $link exists and is not a link; left alone (mount -t may run it instead)"
            continue
        fi
        if [ -L "$link" ] && [ "$(readlink -- "$link")" != "$SBINDIR/$h" ]; then
            log "replacing $link -> $(readlink -- "$link")"
        fi
        mkdir -p -- "$(dirname -- "$link")"
        ln -sfn -- "$SBINDIR/$h" "$link"
    done
fi

# 4. The JVM options and heap for this machine (one JVM run: `vmdumpfs --print-jvm-options`), and the class-data
# archive: the classes of a mount's start-up, mapped instead of loaded; the archive only for the installed paths.
JAR=$DESTDIR$LIBDIR/vmdumpfs.jar OPTIONS=$DESTDIR$LIBDIR/jvm-options JSA=
if [ -n "$CDS" ] && [ -z "$DESTDIR" ]; then JSA=$LIBDIR/vmdumpfs.jsa; fi
# shellcheck source=fusefs/src/main/sh/launch.sh
. "$DESTDIR$LIBDIR/launch.sh"
vmdumpfs_prepare
[ -s "$OPTIONS" ] || log "note: could not write $OPTIONS; each mount starts java twice (~0.5 s more)"
if [ -n "$JSA" ] && [ ! -f "$JSA" ]; then
    log "note: no class-data archive (this java cannot make one); vmdumpfs starts a little slower"
fi

# 5. systemd: reload when it runs and reads this prefix's units (/usr/local/lib/systemd/system, /usr/lib/...).
if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    systemctl daemon-reload 2>/dev/null || true
fi

log "installed vmdumpfs in $PREFIX"
cat >&2 <<EOF
  mount:    vmdumpfs CORE DIR   |   mount -t fuse.vmdumpfs CORE DIR   |   mount -t vmdumpfs CORE DIR
  fstab:    /var/crash/qemu.core  /mnt/dump  fuse.vmdumpfs  ro,noauto  0 0
  systemd:  systemctl start "vmdumpfs@\$(systemd-escape --path /var/crash/qemu.core).service"
            systemctl enable --now vmdumpfs-coredump.path      (mount every QEMU core systemd-coredump stores)
  units in $UNITDIR; see $DOCDIR/README.md
EOF
case $UNITDIR in
    /etc/systemd/system|/usr/local/lib/systemd/system|/usr/lib/systemd/system|/lib/systemd/system) ;;
    *) log "note: systemd does not read $UNITDIR; link the units: systemctl link $UNITDIR/vmdumpfs@.service …" ;;
esac
