package io.vmdumpfs.core.guest;

import java.nio.ByteOrder;
import java.util.Objects;

/**
 * What the guest runs on, as every format needs it: architecture, the byte order the guest really ran in and its
 * kernel's page size. Found from the core ({@link PlatformFinder}), never assumed, and passed down to every layer.
 *
 * @param arch      the architecture
 * @param byteOrder the guest's byte order (s390x: big-endian; ppc64: as its kernel ran)
 * @param pageSize  the guest kernel's page size (VMCOREINFO PAGESIZE), a power of two
 * @param evidence  why we believe it, for {@code vmdumpfs info} (e.g. "executable qemu-system-x86_64")
 */
public record GuestPlatform(GuestArch arch, ByteOrder byteOrder, int pageSize, String evidence) {

    public GuestPlatform {
        Objects.requireNonNull(arch, "arch");
        Objects.requireNonNull(byteOrder, "byteOrder");
        Objects.requireNonNull(evidence, "evidence");
        if (Integer.bitCount(pageSize) != 1 || pageSize < 512) {
            throw new IllegalArgumentException("page size " + pageSize + " is not a power of two >= 512");
        }
    }

    /** The x86_64 guest with 4 KiB pages; for tests and synthetic guests. */
    public static final GuestPlatform X86_64 = new GuestPlatform(GuestArch.X86_64, ByteOrder.LITTLE_ENDIAN, 4096,
            "x86_64");

    /** Returns utsname.machine as the guest kernel names itself ("x86_64", "i686", "aarch64", "ppc64le", …). */
    public String utsMachine() {
        if (arch == GuestArch.PPC64 && byteOrder == ByteOrder.LITTLE_ENDIAN) {
            return "ppc64le";
        }
        return arch.utsMachine;
    }

    /** Returns the guest's pointer size in bytes. */
    public int wordBytes() {
        return arch.wordBits / 8;
    }

    /** Returns a short description: "x86_64, little-endian, 4 KiB pages". */
    public String describe() {
        return utsMachine() + ", " + (byteOrder == ByteOrder.LITTLE_ENDIAN ? "little" : "big") + "-endian, "
                + (pageSize >= 1024 ? (pageSize / 1024) + " KiB" : pageSize + " B") + " pages";
    }
}
