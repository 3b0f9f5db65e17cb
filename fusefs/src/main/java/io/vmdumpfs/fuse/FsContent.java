package io.vmdumpfs.fuse;

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

    FsContent(List<VirtualFile> files, Ownership own, long coreBytes) {
        this.files = List.copyOf(files);
        this.own = own;
        this.coreBytes = coreBytes;
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

    /** Returns the index of the file at {@code path} ("/vmcore.elf"), or -1. */
    int indexOf(String path) {
        Integer i = byPath.get(path);
        return i == null ? -1 : i;
    }
}
