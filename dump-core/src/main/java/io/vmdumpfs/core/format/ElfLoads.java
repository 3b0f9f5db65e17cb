package io.vmdumpfs.core.format;

import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.guest.GuestPhysBlock;
import io.vmdumpfs.core.kernel.DirectMap;
import io.vmdumpfs.core.kernel.GuestKernel;
import io.vmdumpfs.core.kernel.KernelAddressException;
import io.vmdumpfs.core.kernel.KernelUnavailableException;
import io.vmdumpfs.core.kernel.Translation;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Chooses vmcore.elf's PT_LOAD program headers: what kexec's /proc/vmcore gives every reader, as far as the guest
 * kernel's own page tables confirm it.
 * <ol>
 *   <li>The kernel image: {@code p_vaddr} = its first kernel virtual address ({@code _stext}; on x86_64
 *       {@code __START_KERNEL_map + (p_paddr − phys_base)}), covering what the page tables map of the image
 *       ({@link GuestKernel#imageMapping()}), over the same file bytes as the RAM that holds it. Without it drgn
 *       cannot read the page tables it needs to read anything ("recursive address translation"), and gdb cannot
 *       read a kernel variable. First, as /proc/vmcore has it.</li>
 *   <li>Guest RAM, one header per block, {@code p_vaddr} = the block's direct-map address: where the kernel's
 *       own pointers to it point, so gdb follows them and makedumpfile (without a vmlinux) takes the direct map's
 *       base from such a header, as from /proc/vmcore. Also for a block, or the part of one, that the guest keeps
 *       out of its direct map (reserved firmware tables at the end of RAM, the BIOS ROM): no kernel pointer leads
 *       there, so the address is never asked for; while 0, the alternative, is not "no address" to drgn and gdb:
 *       they would read these bytes for user addresses near 0 (drgn, unwinding a task's user frames, then prints
 *       a thousand bogus frames). Only where the guest maps the direct-map address to other memory
 *       ({@link GuestKernel#directMapConflicts}; no real kernel does) is the part split off with 0.</li>
 * </ol>
 * Without a readable kernel (no VMCOREINFO, an architecture not implemented yet, damaged page tables) the file has
 * one header per block and {@code p_vaddr} 0, as before: never a guessed mapping (drgn then maps those bytes at user
 * addresses near 0, as it does with QEMU's own dumps, whose {@code p_vaddr = p_paddr} claims the same). With a
 * kernel whose direct map is not found, the kernel image header is there and RAM keeps 0.
 */
public final class ElfLoads {

    private static final System.Logger LOG = System.getLogger(ElfLoads.class.getName());

    private ElfLoads() {
    }

    /** Returns one PT_LOAD per block, without virtual addresses. */
    public static List<LoadSegment> physicalOnly(List<GuestPhysBlock> blocks) {
        List<LoadSegment> out = new ArrayList<>(blocks.size());
        for (GuestPhysBlock b : blocks) {
            out.add(new LoadSegment(b.guestPaddrStart(), b.size(), 0));
        }
        return out;
    }

    /**
     * Returns the PT_LOADs for {@code dump}: with the kernel image and direct-map addresses when {@code kernel} is
     * present and its page tables can be read, else {@link #physicalOnly}.
     */
    public static List<LoadSegment> of(GuestDump dump, Optional<GuestKernel> kernel) {
        List<GuestPhysBlock> blocks = dump.memory().blocks();
        if (kernel.isEmpty()) {
            return physicalOnly(blocks);
        }
        GuestKernel k = kernel.get();
        try {
            List<LoadSegment> out = new ArrayList<>();
            Optional<Translation> image = k.imageMapping();
            image.ifPresent(t -> out.add(new LoadSegment(t.guestPaddr(), t.size(), t.kernelVaddr())));
            Optional<DirectMap> direct = k.directMap();
            List<long[]> clashes = direct.isEmpty() ? List.of() : k.directMapConflicts(direct.get(), blocks);
            int c = 0;
            for (GuestPhysBlock b : blocks) {
                if (direct.isEmpty()) {
                    out.add(new LoadSegment(b.guestPaddrStart(), b.size(), 0));
                    continue;
                }
                long p = b.guestPaddrStart();
                for (; c < clashes.size() && b.contains(clashes.get(c)[0]); c++) {
                    long[] clash = clashes.get(c);
                    if (clash[0] != p) {
                        out.add(new LoadSegment(p, clash[0] - p, direct.get().kernelVaddrOf(p)));
                    }
                    out.add(new LoadSegment(clash[0], clash[1] - clash[0], 0));
                    p = clash[1];
                }
                if (p != b.guestPaddrEnd()) {
                    out.add(new LoadSegment(p, b.guestPaddrEnd() - p, direct.get().kernelVaddrOf(p)));
                }
            }
            return out;
        } catch (KernelUnavailableException | KernelAddressException e) {
            LOG.log(System.Logger.Level.INFO, dump.core().path() + ": vmcore.elf without kernel virtual addresses: "
                    + e.getMessage());
            return physicalOnly(blocks);
        } catch (RuntimeException e) {
            // A fault in reading the kernel must not cost the user the file: its physical view is still right.
            LOG.log(System.Logger.Level.WARNING, dump.core().path() + ": vmcore.elf without kernel virtual addresses",
                    e);
            return physicalOnly(blocks);
        }
    }
}
