#!/usr/bin/env python3
"""Tries every mutating file-system operation on a vmdumpfs mount and prints one line per operation:
"<operation> <errno name>" ("OK" when it succeeded, which it must not). Used by ReadOnlyIT.

usage: erofs.py MOUNTPOINT
"""
import errno
import os
import sys

mnt = sys.argv[1]
f = os.path.join(mnt, "vmcore.elf")
small = os.path.join(mnt, "blocks.txt")
new = os.path.join(mnt, "new-file")


def attempt(name, fn):
    try:
        fn()
        print(name, "OK")
    except OSError as e:
        print(name, errno.errorcode.get(e.errno, str(e.errno)))


def open_close(path, flags, mode=0o644):
    os.close(os.open(path, flags, mode))


attempt("open-wronly", lambda: open_close(f, os.O_WRONLY))
attempt("open-rdwr", lambda: open_close(f, os.O_RDWR))
attempt("open-append", lambda: open_close(small, os.O_WRONLY | os.O_APPEND))
attempt("open-trunc", lambda: open_close(small, os.O_RDONLY | os.O_TRUNC))
attempt("create", lambda: open_close(new, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
attempt("mknod-fifo", lambda: os.mkfifo(os.path.join(mnt, "fifo")))
attempt("truncate", lambda: os.truncate(small, 0))
attempt("truncate-grow", lambda: os.truncate(small, 1 << 20))
attempt("unlink", lambda: os.unlink(small))
attempt("mkdir", lambda: os.mkdir(os.path.join(mnt, "dir")))
attempt("rmdir-file", lambda: os.rmdir(small))
attempt("rmdir-missing", lambda: os.rmdir(os.path.join(mnt, "nodir")))
attempt("rename", lambda: os.rename(small, os.path.join(mnt, "renamed")))
attempt("rename-over", lambda: os.rename(small, f))
attempt("chmod", lambda: os.chmod(f, 0o666))
attempt("chown", lambda: os.chown(f, 1, 1))
attempt("utimens", lambda: os.utime(f, (0, 0)))
attempt("touch-now", lambda: os.utime(f, None))
attempt("symlink", lambda: os.symlink("vmcore.elf", os.path.join(mnt, "link")))
attempt("link", lambda: os.link(f, os.path.join(mnt, "hardlink")))
attempt("setxattr", lambda: os.setxattr(f, "user.test", b"x"))
attempt("removexattr", lambda: os.removexattr(f, "user.test"))
attempt("chmod-root", lambda: os.chmod(mnt, 0o777))
attempt("utimens-root", lambda: os.utime(mnt, (0, 0)))


def write_through_readonly_fd():
    fd = os.open(f, os.O_RDONLY)
    try:
        os.write(fd, b"x")
    finally:
        os.close(fd)


attempt("write-on-rdonly-fd", write_through_readonly_fd)
