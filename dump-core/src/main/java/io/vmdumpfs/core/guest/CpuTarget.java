package io.vmdumpfs.core.guest;

import io.vmdumpfs.core.elf.HostMemory;
import java.util.Optional;

/**
 * What vCPU discovery needs to know of one QEMU target's CPU: the QOM type every CPU of the target derives from,
 * and how to read and check its register file. One implementation per target family (x86, aarch64).
 */
interface CpuTarget {

    /** Returns the target's abstract CPU type, e.g. "x86_64-cpu" (TYPE_X86_CPU of qemu-system-x86_64). */
    String qomType();

    /** Returns how many bytes of the register file {@link #registers} reads at least. */
    int envBytes();

    /**
     * Returns the registers of the register file at {@code env}, whose CPU object ends at {@code objectEnd}, or why
     * the bytes there are not a register file.
     *
     * @param evidence a short description of the QEMU build (sizes of its CPU types), which selects version tables
     */
    Hop<CpuRegisters> registers(HostMemory mem, long env, long objectEnd, CpuSizes evidence);

    /**
     * Sizes read from QEMU's type registry, which tell QEMU builds apart without a version string.
     *
     * @param cpuState sizeof(CPUState): TypeImpl "cpu" instance_size
     * @param cpu      sizeof of the target's CPU object (X86CPU, ARMCPU): the leaf type's instance_size
     */
    record CpuSizes(long cpuState, long cpu) {
    }

    /** Returns the target of {@code arch}'s QEMU, if we can read its vCPUs. */
    static Optional<CpuTarget> of(GuestArch arch) {
        return switch (arch) {
            case X86_64 -> Optional.of(new X86CpuTarget("x86_64-cpu", X86EnvLayout.X86_64));
            case I386 -> Optional.of(new X86CpuTarget("i386-cpu", X86EnvLayout.I386));
            case AARCH64 -> Optional.of(new Aarch64CpuTarget());
            default -> Optional.empty();
        };
    }
}
