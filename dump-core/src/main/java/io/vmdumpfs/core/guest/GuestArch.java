package io.vmdumpfs.core.guest;

import java.nio.ByteOrder;

/** The guest's architecture as the dump formats need it: ELF machine, class, byte order and utsname machine. */
public enum GuestArch {
    X86_64(62, 2, ByteOrder.LITTLE_ENDIAN, "x86_64", 4096);

    /** ELF e_machine (EM_X86_64 = 62). */
    public final int elfMachine;
    /** ELF class: 1 = ELFCLASS32, 2 = ELFCLASS64. */
    public final int elfClass;
    public final ByteOrder byteOrder;
    /** utsname.machine as kdump headers carry it. */
    public final String utsMachine;
    /** The target page size (QEMU's TARGET_PAGE_SIZE). */
    public final int pageSize;

    GuestArch(int elfMachine, int elfClass, ByteOrder byteOrder, String utsMachine, int pageSize) {
        this.elfMachine = elfMachine;
        this.elfClass = elfClass;
        this.byteOrder = byteOrder;
        this.utsMachine = utsMachine;
        this.pageSize = pageSize;
    }
}
