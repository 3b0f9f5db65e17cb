package io.vmdumpfs.core.format;

import io.vmdumpfs.core.guest.GuestArch;
import io.vmdumpfs.core.guest.GuestPhysBlock;
import io.vmdumpfs.core.guest.GuestPlatform;
import java.util.List;

/**
 * The ELF class of a guest's dump files: the class of vmcore.elf, and the layout of the kdump header (QEMU dump.c
 * writes {@code create_header32} for ELFCLASS32 and {@code create_header64} otherwise, whatever the guest's word
 * size). Chosen exactly as QEMU's {@code cpu_get_dump_info()} chooses {@code d_class}, so our files and QEMU's agree.
 *
 * <p>Sizes of the ELF structures (System V gABI): {@code Elf32_Ehdr} 52, {@code Elf32_Phdr} 32, {@code Elf32_Shdr}
 * 40 bytes; {@code Elf64_Ehdr} 64, {@code Elf64_Phdr} 56, {@code Elf64_Shdr} 64. Notes are the same in both.
 */
public enum ElfClass {
    /** ELFCLASS32: 32-bit addresses and offsets. */
    ELF32(1, 52, 32, 40),
    /** ELFCLASS64. */
    ELF64(2, 64, 56, 64);

    /** e_ident[EI_CLASS]. */
    public final int eiClass;
    /** sizeof(ElfN_Ehdr). */
    public final int ehdrSize;
    /** sizeof(ElfN_Phdr). */
    public final int phdrSize;
    /** sizeof(ElfN_Shdr). */
    public final int shdrSize;

    ElfClass(int eiClass, int ehdrSize, int phdrSize, int shdrSize) {
        this.eiClass = eiClass;
        this.ehdrSize = ehdrSize;
        this.phdrSize = phdrSize;
        this.shdrSize = shdrSize;
    }

    /** The largest address or offset an ELF32 file can hold (UINT_MAX in QEMU's test). */
    static final long ELF32_MAX = 0xFFFF_FFFFL;

    /**
     * Returns the class of {@code platform}'s dump of {@code blocks}. Every 64-bit guest's is ELF64. An i386 guest's
     * is ELF32 unless a block's exclusive end exceeds UINT_MAX: target/i386/arch_dump.c tests
     * {@code block->target_end > UINT_MAX}, so a block that merely ends at 4 GiB (the PC BIOS at
     * 0xfffc0000-0x100000000, in every pc and q35 guest) already makes it ELF64, although ELF32 could describe it.
     * QEMU's rule, followed exactly: readers of QEMU's dumps of i386 guests know ELF64 ones.
     */
    public static ElfClass of(GuestPlatform platform, List<GuestPhysBlock> blocks) {
        if (platform.arch() != GuestArch.I386) {
            return ELF64;
        }
        for (GuestPhysBlock b : blocks) {
            if (Long.compareUnsigned(b.guestPaddrEnd(), ELF32_MAX) > 0) {
                return ELF64;
            }
        }
        return ELF32;
    }
}
