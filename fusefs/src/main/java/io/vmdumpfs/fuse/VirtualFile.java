package io.vmdumpfs.fuse;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.format.View;
import java.nio.charset.StandardCharsets;
import java.util.function.Supplier;

/**
 * One file in the mount's root directory: a name and a {@link View} opened on first use. Opening may be slow (a kdump
 * view builds its page index), so a directory listing does not open anything; the first {@code stat} or
 * {@code open} does, and waits for it. Thread-safe.
 */
final class VirtualFile {

    private final String name;
    private final byte[] nameNul;
    private final Supplier<View> opener;
    private final boolean changing;
    private volatile View view;
    /** A failure to open, kept because the core is immutable: the same open would fail the same way again. */
    private volatile BadCoreException failure;

    VirtualFile(String name, Supplier<View> opener) {
        this(name, opener, false);
    }

    /**
     * @param changing true for a file whose content changes while mounted (the status file): it is served with
     *                 direct I/O, bypassing the kernel's page cache that holds every other (immutable) file
     */
    VirtualFile(String name, Supplier<View> opener, boolean changing) {
        if (name.isEmpty() || name.contains("/") || name.equals(".") || name.equals("..")) {
            throw new IllegalArgumentException("bad file name '" + name + "'");
        }
        this.name = name;
        this.nameNul = (name + '\0').getBytes(StandardCharsets.UTF_8);
        this.opener = opener;
        this.changing = changing;
    }

    /** Returns true when the content may change while mounted. */
    boolean changing() {
        return changing;
    }

    String name() {
        return name;
    }

    /** Returns the name as NUL-terminated UTF-8, for readdir's filler (a C string). */
    byte[] nameBytes() {
        return nameNul.clone();
    }

    /** Returns true once the view has been opened successfully. */
    boolean isOpen() {
        return view != null;
    }

    /**
     * Returns the view, opening it on the first call.
     *
     * @throws BadCoreException if the format cannot be built from this core (the same error on every call)
     */
    View view() {
        View v = view;
        if (v != null) {
            return v;
        }
        // One opener per file: two concurrent stats must not build the same kdump index twice.
        synchronized (this) {
            if (view == null) {
                if (failure != null) {
                    throw failure;
                }
                try {
                    view = opener.get();
                } catch (BadCoreException e) {
                    failure = e;
                    throw e;
                }
            }
            return view;
        }
    }
}
