package io.vmdumpfs.core.format.kdump;

import jnr.ffi.LibraryLoader;
import jnr.ffi.Pointer;
import jnr.ffi.annotations.In;
import jnr.ffi.annotations.Out;

/**
 * Debian's libdeflate (package libdeflate0) through jnr-ffi: the same zlib format crash and makedumpfile read with
 * {@code uncompress()}, made about three times as fast as zlib's level 1 (see {@link KdumpCodec} for the levels). zlib
 * is the codec users pick for kdump files, and its speed decides how long the first read of vmcore.kdump-zlib takes.
 *
 * <p>Optional: when the library is absent, {@link #INSTANCE} is null and the JDK's Deflater is used instead.
 */
final class LibDeflate {

    /** The C API we use (libdeflate.h). A compressor is not thread-safe: one per thread. */
    public interface Api {
        Pointer libdeflate_alloc_compressor(int compressionLevel);

        long libdeflate_zlib_compress(Pointer compressor, @In byte[] in, long inNbytes, @Out byte[] out,
                long outNbytesAvail);

        void libdeflate_free_compressor(Pointer compressor);
    }

    /** The library, or null when it cannot be loaded (or {@code -Dvmdumpfs.libdeflate=false}). */
    static final Api INSTANCE = load();

    private LibDeflate() {
    }

    private static Api load() {
        if (!Boolean.parseBoolean(System.getProperty("vmdumpfs.libdeflate", "true"))) {
            return null;
        }
        try {
            // The runtime package ships only the versioned name (no libdeflate.so without -dev).
            return LibraryLoader.create(Api.class).failImmediately().load("libdeflate.so.0");
        } catch (LinkageError | RuntimeException e) {
            return null;
        }
    }
}
