package io.vmdumpfs.fuse;

import java.nio.file.attribute.FileTime;
import java.util.concurrent.TimeUnit;

/**
 * Owner, modes and times shared by every entry of the mount: nothing in it changes while mounted.
 *
 * @param uid       owner of all entries
 * @param gid       group of all entries
 * @param fileMode  permission bits of the files (0400, or 0444 with allow_other)
 * @param dirMode   permission bits of the root directory (0500, or 0555 with allow_other)
 * @param mtimeSec  the core's mtime, seconds since the epoch; also used as atime and ctime
 * @param mtimeNsec nanoseconds part of the mtime
 */
record Ownership(long uid, long gid, int fileMode, int dirMode, long mtimeSec, long mtimeNsec) {

    /**
     * Returns the ownership for a mount by {@code uid}/{@code gid} with {@code options} applied: uid=/gid= replace
     * the owner, and allow_other opens read access to everybody (otherwise only the owner may read, as with a core
     * file, which is usually 0600).
     */
    static Ownership of(MountOptions options, long uid, long gid, FileTime coreMtime) {
        long sec = coreMtime.to(TimeUnit.SECONDS);
        long nsec = coreMtime.to(TimeUnit.NANOSECONDS) - TimeUnit.SECONDS.toNanos(sec);
        return new Ownership(options.uid().orElse(uid), options.gid().orElse(gid),
                options.allowOther() ? 0444 : 0400, options.allowOther() ? 0555 : 0500, sec, nsec);
    }
}
