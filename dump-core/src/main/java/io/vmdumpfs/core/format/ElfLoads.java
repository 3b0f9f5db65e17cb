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
 * kernel's own page tables confirm it, in guest-physical order.
 * <ul>
 *   <li>The kernel image: {@code p_vaddr} = its first kernel virtual address ({@code _stext}; on x86_64
 *       {@code __START_KERNEL_map + (p_paddr − phys_base)}), covering what the page tables map of the image
 *       ({@link GuestKernel#imageMapping()}). Without it drgn cannot read the page tables it needs to read anything
 *       ("recursive address translation"), crash and libkdumpfile take phys_base from it, and gdb reads kernel
 *       variables through it.</li>
 *   <li>Guest RAM, {@code p_vaddr} = its direct-map address: where the kernel's own pointers to it point, so gdb
 *       follows them and makedumpfile (without a vmlinux) takes the direct map's base from such a header, as from
 *       /proc/vmcore. Also for a block, or the part of one, that the guest keeps out of its direct map (reserved
 *       firmware tables at the end of RAM, the BIOS ROM): no kernel pointer leads there, so the address is never
 *       asked for; while 0, the alternative, is not "no address" to drgn and gdb: they would read these bytes for
 *       user addresses near 0 (drgn, unwinding a task's user frames, then prints a thousand bogus frames). Only
 *       where the guest maps the direct-map address to other memory ({@link GuestKernel#directMapConflicts}; no
 *       real kernel does) is the part split off with 0.</li>
 * </ul>
 * The RAM header is cut around the kernel image instead of also covering it (as /proc/vmcore's does), so that every
 * guest-physical byte is in exactly one PT_LOAD: makedumpfile counts each PT_LOAD's pages towards its statistics
 * (with the overlap its report says "Original pages" 0x2a00 more than RAM and a negative "Memory Hole"), and a
 * reader that sums PT_LOAD sizes would count the image twice. The image's direct-map alias is then in no header;
 * drgn reads it through the page tables, and the kernel itself addresses its image through the image mapping.
 * Every PT_LOAD's bytes are still its block's bytes in the file: nothing is copied.
 *
 * <p>Without a readable kernel (no VMCOREINFO, an architecture not implemented yet, damaged page tables) the file
 * has one header per block and {@code p_vaddr} 0, as before: never a guessed mapping (drgn then maps those bytes at
 * user addresses near 0, as it does with QEMU's own dumps, whose {@code p_vaddr = p_paddr} claims the same). With a
 * kernel whose direct map is not found, the kernel image header is there and the rest of RAM keeps 0.
 */
public final class ElfLoads {

    private static final System.Logger LOG = System.getLogger(ElfLoads.class.getName());

    private ElfLoads() {
    }

    /** Adds RAM {@code [guestPaddr, end)}, if not empty, at its direct-map address (0 when that is unknown). */
    private static void ram(List<LoadSegment> out, long guestPaddr, long end, Optional<DirectMap> direct) {
        if (guestPaddr != end) {
            long kernelVaddr = direct.map(d -> d.kernelVaddrOf(guestPaddr)).orElse(0L);
            out.add(new LoadSegment(guestPaddr, end - guestPaddr, kernelVaddr));
        }
    }

    /** Adds clash {@code [start, end)} with p_vaddr 0 to {@code special}, less the part the image covers. */
    private static void cutOut(List<LoadSegment> special, long start, long end, Optional<Translation> image) {
        long imageStart = image.map(Translation::guestPaddr).orElse(end);
        long imageEnd = image.map(t -> t.guestPaddr() + t.size()).orElse(end);
        if (Long.compareUnsigned(start, imageStart) < 0) {
            long e = Long.compareUnsigned(end, imageStart) < 0 ? end : imageStart;
            special.add(new LoadSegment(start, e - start, 0));
        }
        if (Long.compareUnsigned(end, imageEnd) > 0) {
            long s = Long.compareUnsigned(start, imageEnd) > 0 ? start : imageEnd;
            special.add(new LoadSegment(s, end - s, 0));
        }
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
            Optional<DirectMap> direct = k.directMap();
            // the parts of RAM whose p_vaddr is not their direct-map address, sorted: the image, then the clashes
            // outside it
            List<LoadSegment> special = new ArrayList<>();
            Optional<Translation> image = k.imageMapping();
            image.ifPresent(t -> special.add(new LoadSegment(t.guestPaddr(), t.size(), t.kernelVaddr())));
            if (direct.isPresent()) {
                for (long[] clash : k.directMapConflicts(direct.get(), blocks)) {
                    cutOut(special, clash[0], clash[1], image);
                }
            }
            special.sort((x, y) -> Long.compareUnsigned(x.guestPaddr(), y.guestPaddr()));

            List<LoadSegment> out = new ArrayList<>();
            int next = 0;
            for (GuestPhysBlock b : blocks) {
                long guestPaddr = b.guestPaddrStart();
                for (; next < special.size() && b.contains(special.get(next).guestPaddr()); next++) {
                    LoadSegment part = special.get(next);
                    ram(out, guestPaddr, part.guestPaddr(), direct);
                    out.add(part);
                    guestPaddr = part.guestPaddr() + part.size();
                }
                ram(out, guestPaddr, b.guestPaddrEnd(), direct);
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
