package io.vmdumpfs.fuse;

import io.vmdumpfs.core.elf.CoreFile;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * What the mount shows: the root directory's files in listing order, their owner and modes, and the core's size
 * (statfs reports it as the file system's size). Immutable.
 */
final class FsContent {

    private final List<VirtualFile> files;
    private final Map<String, Integer> byPath = new HashMap<>();
    private final Ownership own;
    private final long coreBytes;
    private final CoreFile core;

    FsContent(List<VirtualFile> files, Ownership own, long coreBytes) {
        this(files, own, coreBytes, null);
    }

    /** @param core the core that views' {@link io.vmdumpfs.core.format.CoreSpan}s point into, or null */
    FsContent(List<VirtualFile> files, Ownership own, long coreBytes, CoreFile core) {
        this.files = List.copyOf(files);
        this.own = own;
        this.coreBytes = coreBytes;
        this.core = core;
        for (int i = 0; i < this.files.size(); i++) {
            if (byPath.put("/" + this.files.get(i).name(), i) != null) {
                throw new IllegalArgumentException("two files named " + this.files.get(i).name());
            }
        }
    }

    List<VirtualFile> files() {
        return files;
    }

    Ownership own() {
        return own;
    }

    long coreBytes() {
        return coreBytes;
    }

    /** Returns the core that views' spans point into, or null to serve every byte through the views. */
    CoreFile core() {
        return core;
    }

    /** Returns the index of the file at {@code path} ("/vmcore.elf"), or -1. */
    int indexOf(String path) {
        Integer i = byPath.get(path);
        return i == null ? -1 : i;
    }
}
