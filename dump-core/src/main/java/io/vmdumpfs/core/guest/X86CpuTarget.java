package io.vmdumpfs.core.guest;

import io.vmdumpfs.core.elf.HostMemory;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;

/**
 * The x86 CPU of qemu-system-x86_64 and qemu-system-i386: the register file head ({@link X86EnvLayout}) read and
 * checked by shape, plus KERNEL_GS_BASE, the one register of QEMU's note that lies outside that head.
 *
 * <p>KERNEL_GS_BASE's offset changes with every QEMU version (fields are added before it). It follows STAR in a block
 * that has kept its order since QEMU 2.x: {@code star, vm_hsave, lstar, cstar, fmask, kernelgsbase}. A 64-bit kernel
 * sets STAR (kernel and user code selectors in bits 32-63, low half 0), LSTAR (a kernel address) and FMASK (eflags
 * bits, below 2^22) at boot, so that block is found by its values; exactly one match is required. When the guest never
 * set them, a table keyed by the build's type sizes gives the offset for the builds we measured.
 */
final class X86CpuTarget implements CpuTarget {

    /**
     * Offset of kernelgsbase in CPUX86State for QEMU builds told apart by {sizeof(CPUState), sizeof(X86CPU)}.
     * 7.2 (Debian 12): the STAR block at env+11312 on the fixtures' cores, kernelgsbase 40 bytes after it.
     */
    static final Map<CpuSizes, Integer> KERNEL_GS_BASE_BY_BUILD = Map.of(new CpuSizes(824, 20480), 11352);

    private final String qomType;
    private final X86EnvLayout layout;

    X86CpuTarget(String qomType, X86EnvLayout layout) {
        this.qomType = qomType;
        this.layout = layout;
    }

    @Override
    public String qomType() {
        return qomType;
    }

    @Override
    public int envBytes() {
        return layout.headBytes();
    }

    @Override
    public Hop<CpuRegisters> registers(HostMemory mem, long env, long objectEnd, CpuSizes evidence) {
        if (!mem.isPresent(env, layout.headBytes())) {
            return Hop.missing("register file 0x" + Long.toHexString(env) + " not in the core");
        }
        X86Registers head = X86Registers.read(mem.read(env, layout.headBytes()), layout, OptionalLong.empty());
        List<String> wrong = head.shapeFailures();
        if (!wrong.isEmpty()) {
            return Hop.corrupt("register file 0x" + Long.toHexString(env) + " fails its shape check ("
                    + String.join(", ", wrong) + ")");
        }
        OptionalLong kgs = layout.wordBytes() == 8 ? kernelGsBase(mem, env, objectEnd, head, evidence)
                : OptionalLong.empty();
        return Hop.found(new X86Registers(layout, head.regs(), head.eip(), head.eflags(), head.hflags(), head.segs(),
                head.ldt(), head.tr(), head.gdt(), head.idt(), head.cr(), kgs));
    }

    /** Returns KERNEL_GS_BASE: after the one STAR block in the register file, else from the build table. */
    private OptionalLong kernelGsBase(HostMemory mem, long env, long objectEnd, X86Registers head, CpuSizes evidence) {
        long len = objectEnd - env;
        if (len > layout.headBytes() + 48 && len < (1 << 20) && mem.isPresent(env, len)) {
            ByteBuffer b = mem.read(env, (int) len);
            int csSel = head.segs()[X86Registers.R_CS].selector();
            int hit = -1;
            for (int off = layout.headBytes(); off + 48 <= len; off += 8) {
                long star = b.getLong(off);
                long lstar = b.getLong(off + 16);
                long fmask = b.getLong(off + 32);
                if (star == 0 || (star & 0xffffffffL) != 0 || ((star >>> 32) & 0xfffc) == 0 || ((star >>> 48) & 3) != 3
                        || lstar >>> 47 != 0x1ffff || fmask == 0 || fmask >>> 22 != 0) {
                    continue;
                }
                // In kernel mode the current CS is STAR's kernel CS.
                if ((csSel & 3) == 0 && csSel != 0 && ((star >>> 32) & 0xfffc) != (csSel & 0xfffc)) {
                    continue;
                }
                if (hit >= 0) {
                    hit = -2;
                    break;
                }
                hit = off;
            }
            if (hit >= 0) {
                return OptionalLong.of(b.getLong(hit + 40));
            }
        }
        Integer off = KERNEL_GS_BASE_BY_BUILD.get(evidence);
        if (off != null && Long.compareUnsigned(off + 8L, len) <= 0 && mem.isPresent(env + off, 8)) {
            return OptionalLong.of(mem.u64(env + off));
        }
        return OptionalLong.empty();
    }
}
