package io.vmdumpfs.core.guest;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.BadCoreException.Kind;
import io.vmdumpfs.core.elf.ProcessCore;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Finds the {@link GuestPlatform} of the guest in a QEMU process core from three kinds of evidence, and refuses the
 * core when they disagree, rather than write files labelled with the wrong machine:
 * <ol>
 *   <li>the QEMU executable (each target is its own binary, qemu-system-TARGET; NT_FILE, else the process name);</li>
 *   <li>the guest kernel's VMCOREINFO: the byte order its note header was written in (the best evidence of the byte
 *       order the guest really ran in: ppc64 and arm64 kernels run either way), PAGESIZE, the pointer size
 *       ({@code SIZE(list_head)} is two pointers) and the NUMBERs and SYMBOLs only one architecture's kernel exports
 *       (arch_crash_save_vmcoreinfo: arm64's VA_BITS and kimage_voffset, x86_64's phys_base, i386's X86_PAE,
 *       s390x's lowcore_ptr, ppc64's mmu_psize_defs);</li>
 *   <li>the names of the RAM blocks, where a machine's default RAM id (pc.ram, mach-virt.ram, s390.ram,
 *       ppc_spapr.ram) belongs to another target.</li>
 * </ol>
 *
 * <p>One combination is not a disagreement: a 32-bit kernel in qemu-system-x86_64 is an i386 guest, as QEMU's own
 * dump sees it (target/i386/arch_dump.c: EM_386 unless the first vCPU is in long mode).
 *
 * <p>The host process's own structures (AddressSpace, RAMBlock, …) look the same whatever the target, so a core of
 * an unknown target would otherwise yield dump files labelled with the wrong machine: we refuse it instead.
 */
public final class PlatformFinder {

    /** Architectures whose dump files we write. */
    static final Set<GuestArch> SERVED = EnumSet.allOf(GuestArch.class);

    private static final Pattern QEMU_SYSTEM = Pattern.compile("qemu-system-([A-Za-z0-9_]+)");

    private PlatformFinder() {
    }

    /** The architecture the executable emulates, and why we believe it. */
    public record ArchEvidence(GuestArch arch, String evidence) {
    }

    /**
     * What the guest kernel's VMCOREINFO says about the architecture it was built for.
     *
     * @param arch      the architecture only its kernels export {@code marker} for, or null when no marker is there
     * @param marker    the VMCOREINFO key that tells, or null
     * @param wordBytes the kernel's pointer size from SIZE(list_head), or 0 when absent
     */
    record KernelEvidence(GuestArch arch, String marker, int wordBytes) {
    }

    /**
     * Returns the guest's architecture from the executable's name (NT_FILE), or from the process name when the core
     * lacks NT_FILE.
     *
     * @throws BadCoreException UNSUPPORTED for a QEMU target we do not serve (riscv64, …)
     */
    public static ArchEvidence arch(ProcessCore core) {
        Optional<String> exe = core.executablePath();
        String name = exe.map(p -> p.substring(p.lastIndexOf('/') + 1)).or(core::programName).orElse("");
        Matcher m = QEMU_SYSTEM.matcher(name);
        if (m.find()) {
            String target = m.group(1);
            for (GuestArch a : GuestArch.values()) {
                if (a.qemuTarget.equals(target)) {
                    return served(core, new ArchEvidence(a, "executable " + name));
                }
            }
            // NT_PRPSINFO's pr_fname keeps 15 characters: "qemu-system-aar"
            if (exe.isEmpty()) {
                for (GuestArch a : GuestArch.values()) {
                    if (a.qemuTarget.startsWith(target) && target.length() >= 3) {
                        return served(core, new ArchEvidence(a, "process name " + name));
                    }
                }
            }
            throw new BadCoreException(Kind.UNSUPPORTED, core.path(), "core of " + name + ": " + target
                    + " guests are not supported (supported: " + supportedList() + ")");
        }
        // qemu-kvm (RHEL), kvm, or a renamed binary: KVM runs guests of the host's own architecture only, and a core
        // of any other program fails discovery later with its own message.
        return new ArchEvidence(GuestArch.X86_64, name.isEmpty() ? "an x86_64 host process"
                : "executable " + name + " on an x86_64 host");
    }

    /**
     * Returns the platform the evidence agrees on: the architecture of {@code exe} (or i386 for a 32-bit kernel in
     * qemu-system-x86_64), the byte order of the guest's VMCOREINFO note, its PAGESIZE.
     *
     * @param core       the core, for error messages
     * @param exe        what the executable says ({@link #arch})
     * @param vmcoreinfo the guest kernel's VMCOREINFO, if found
     * @param blocks     the guest's RAM blocks
     * @throws BadCoreException UNSUPPORTED when the evidence disagrees, when the guest is of a kind we do not serve
     *                          (a 32-bit Arm or PowerPC kernel), or when the byte order cannot be known
     */
    public static GuestPlatform platform(Path core, ArchEvidence exe, Optional<VmcoreInfo> vmcoreinfo,
            List<GuestPhysBlock> blocks) {
        List<String> why = new ArrayList<>();
        why.add(exe.evidence());
        GuestArch arch = exe.arch();
        VmcoreInfo vi = vmcoreinfo.orElse(null);
        if (vi != null) {
            arch = kernelArch(core, exe, kernelEvidence(vi), why);
        }
        checkRamBlocks(core, exe, arch, blocks, why);

        ByteOrder order;
        if (vi != null) {
            order = vi.byteOrder();
            if (!arch.byteOrders.contains(order)) {
                throw disagree(core, exe, "the guest's VMCOREINFO note is " + name(order) + ", and "
                        + arch.qemuTarget + " guests run " + name(arch.byteOrders.get(0)));
            }
            why.add("VMCOREINFO note " + name(order));
        } else {
            order = arch.orderWithoutEvidence();
            if (order == null) {
                throw new BadCoreException(Kind.UNSUPPORTED, core, "cannot tell whether the " + arch.qemuTarget
                        + " guest ran big- or little-endian: its kernel's VMCOREINFO note is not in its RAM");
            }
            why.add(arch.byteOrders.size() == 1 ? name(order) + " (the only byte order of " + arch.qemuTarget + ")"
                    : name(order) + " assumed (no VMCOREINFO)");
        }

        int pageSize = arch.defaultPageSize();
        String pageSizeText = vi == null ? null : vi.get("PAGESIZE");
        if (pageSizeText != null) {
            pageSize = vi.pageSize(-1);
            if (!arch.pageSizes.contains(pageSize)) {
                throw new BadCoreException(Kind.UNSUPPORTED, core, "the guest's VMCOREINFO says PAGESIZE="
                        + pageSizeText.trim() + ", not a page size of " + arch.qemuTarget + " kernels "
                        + arch.pageSizes.stream().sorted().toList());
            }
            why.add("PAGESIZE=" + pageSize);
        } else {
            why.add((pageSize / 1024) + " KiB pages assumed (no PAGESIZE)");
        }
        return new GuestPlatform(arch, order, pageSize, String.join("; ", why));
    }

    /**
     * Returns the architecture once the kernel's evidence is weighed against the executable's, adding what decided
     * it to {@code why}.
     */
    private static GuestArch kernelArch(Path core, ArchEvidence exe, KernelEvidence k, List<String> why) {
        GuestArch arch = exe.arch();
        boolean kernel32 = k.wordBytes() == 4 || k.arch() == GuestArch.I386;
        if (arch == GuestArch.X86_64 && kernel32 && (k.arch() == null || k.arch() == GuestArch.I386)) {
            why.add("a 32-bit kernel (" + (k.marker() != null ? k.marker() : "SIZE(list_head)=8")
                    + "): an i386 guest, as QEMU's dump sees a vCPU outside long mode");
            return GuestArch.I386;
        }
        if (k.arch() != null && k.arch() != arch) {
            throw disagree(core, exe, "the guest's VMCOREINFO was written by a kernel for " + k.arch().qemuTarget
                    + " (" + k.marker() + ")");
        }
        if (k.wordBytes() != 0 && k.wordBytes() * 8 != arch.wordBits) {
            throw new BadCoreException(Kind.UNSUPPORTED, core, "core of " + exe.evidence() + " with a "
                    + (k.wordBytes() * 8) + "-bit guest kernel (VMCOREINFO SIZE(list_head)=" + (2 * k.wordBytes())
                    + "): " + (k.wordBytes() * 8) + "-bit guests of " + arch.qemuTarget + " are not supported");
        }
        if (k.marker() != null) {
            why.add("VMCOREINFO " + k.marker());
        }
        return arch;
    }

    /** Refuses a core one of whose RAM blocks carries another target's machine RAM name. */
    private static void checkRamBlocks(Path core, ArchEvidence exe, GuestArch arch, List<GuestPhysBlock> blocks,
            List<String> why) {
        String own = null;
        for (GuestPhysBlock b : blocks) {
            if (arch.ramBlockNames.contains(b.name())) {
                own = own == null ? b.name() : own;
                continue;
            }
            for (GuestArch other : GuestArch.values()) {
                if (other.ramBlockNames.contains(b.name())) {
                    throw disagree(core, exe, "its RAM block " + b.name() + " is the RAM of qemu-system-"
                            + other.qemuTarget + " machines");
                }
            }
        }
        if (own != null) {
            why.add("RAM block " + own);
        }
    }

    /** Reads the architecture markers of {@code vi}. */
    static KernelEvidence kernelEvidence(VmcoreInfo vi) {
        int wordBytes = 0;
        String listHead = vi.get("SIZE(list_head)");
        if ("16".equals(listHead == null ? null : listHead.trim())) {
            wordBytes = 8;
        } else if ("8".equals(listHead == null ? null : listHead.trim())) {
            wordBytes = 4;
        }
        // Keys only one architecture's arch_crash_save_vmcoreinfo() writes (Linux 4.x to 6.x).
        String[][] markers = {
            {"NUMBER(kimage_voffset)", "AARCH64"}, {"NUMBER(VA_BITS)", "AARCH64"},
            {"NUMBER(phys_base)", "X86_64"}, {"SYMBOL(init_top_pgt)", "X86_64"},
            {"NUMBER(pgtable_l5_enabled)", "X86_64"},
            {"CONFIG_X86_PAE", "I386"},
            {"SYMBOL(lowcore_ptr)", "S390X"}, {"SAMODE31", "S390X"},
            {"SYMBOL(mmu_psize_defs)", "PPC64"}, {"SYMBOL(vmemmap_list)", "PPC64"},
        };
        for (String[] m : markers) {
            String v = vi.get(m[0]);
            if (v != null) {
                return new KernelEvidence(GuestArch.valueOf(m[1]), m[0] + "=" + v.trim(), wordBytes);
            }
        }
        return new KernelEvidence(null, null, wordBytes);
    }

    private static BadCoreException disagree(Path core, ArchEvidence exe, String problem) {
        return new BadCoreException(Kind.UNSUPPORTED, core, "core of " + exe.evidence() + ", but " + problem
                + ": the evidence disagrees, so no dump is written");
    }

    private static String name(ByteOrder order) {
        return order == ByteOrder.LITTLE_ENDIAN ? "little-endian" : "big-endian";
    }

    private static ArchEvidence served(ProcessCore core, ArchEvidence a) {
        if (!SERVED.contains(a.arch())) {
            throw new BadCoreException(Kind.UNSUPPORTED, core.path(), "core of a " + a.arch().qemuTarget
                    + " guest (" + a.evidence() + "): only " + supportedList() + " guests are supported");
        }
        return a;
    }

    private static String supportedList() {
        return String.join(", ", SERVED.stream().map(a -> a.qemuTarget).toList());
    }
}
