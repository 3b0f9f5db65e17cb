package io.vmdumpfs.fuse;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.BadCoreException.Kind;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import jnr.constants.platform.Errno;
import org.junit.jupiter.api.Test;

class FuseErrorsTest {

    private static BadCoreException bad(Kind kind) {
        return new BadCoreException(kind, Path.of("/c"), "problem");
    }

    @Test
    void errno_corrupt_eio() {
        assertEquals(Errno.EIO.intValue(), FuseErrors.errno(bad(Kind.CORRUPT)));
    }

    @Test
    void errno_unsupported_eopnotsupp() {
        assertEquals(Errno.EOPNOTSUPP.intValue(), FuseErrors.errno(bad(Kind.UNSUPPORTED)));
    }

    @Test
    void errno_missing_enodata() {
        assertEquals(Errno.ENODATA.intValue(), FuseErrors.errno(bad(Kind.MISSING)));
    }

    @Test
    void errno_io_eio() {
        assertEquals(Errno.EIO.intValue(), FuseErrors.errno(bad(Kind.IO)));
    }

    @Test
    void errno_outOfMemory_enomem() {
        assertEquals(Errno.ENOMEM.intValue(), FuseErrors.errno(new OutOfMemoryError()));
    }

    @Test
    void errno_noSuchFile_enoent() {
        assertEquals(Errno.ENOENT.intValue(), FuseErrors.errno(new NoSuchFileException("x")));
    }

    @Test
    void errno_anythingElse_eio() {
        assertEquals(Errno.EIO.intValue(), FuseErrors.errno(new IllegalStateException("bug")));
        assertEquals(Errno.EIO.intValue(), FuseErrors.errno(new StackOverflowError()));
    }

    @Test
    void fail_returnsNegatedErrno() {
        Log.configure(java.util.logging.Level.OFF, false);
        assertEquals(-Errno.EOPNOTSUPP.intValue(), FuseErrors.fail("read", "/vmcore.elf", bad(Kind.UNSUPPORTED)));
        // Logged once; the second identical failure must still map the same way.
        assertEquals(-Errno.EOPNOTSUPP.intValue(), FuseErrors.fail("read", "/vmcore.elf", bad(Kind.UNSUPPORTED)));
    }

    @Test
    void constants_matchLinux() {
        assertEquals(2, FuseErrors.ENOENT);
        assertEquals(5, FuseErrors.EIO);
        assertEquals(30, FuseErrors.EROFS);
        assertEquals(22, FuseErrors.EINVAL);
    }
}
