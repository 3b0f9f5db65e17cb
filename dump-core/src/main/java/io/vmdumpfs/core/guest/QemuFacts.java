package io.vmdumpfs.core.guest;

import io.vmdumpfs.core.elf.Elf64Phdr;
import io.vmdumpfs.core.elf.HostMemory;
import io.vmdumpfs.core.elf.ProcessCore;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What the core tells about the QEMU that held the guest, for {@code vmdumpfs info}: its version, from the QMP
 * greeting QEMU keeps in its heap once a monitor client connected (libvirt always does), and the number of vCPUs,
 * counted as the per-CPU AddressSpaces ("cpu-memory-N") whose structure validates like address_space_memory's.
 *
 * <p>Limits: reads at most {@link #SCAN_BUDGET} bytes of the writable mappings nearest the heap; either fact may be
 * absent, and then is reported as not found rather than guessed.
 */
public final class QemuFacts {

    /**
     * The per-CPU AddressSpaces live in the main heap (nearest the executable); the QMP greeting may be in the
     * monitor thread's arena. 64 MiB covers the heap and the nearest arenas of an ordinary QEMU.
     */
    static final long SCAN_BUDGET = 64L << 20;
    private static final byte[] GREETING = "{\"qemu\": {\"micro\": ".getBytes(StandardCharsets.ISO_8859_1);
    private static final Pattern VERSION = Pattern.compile(
            "\\{\"qemu\": \\{\"micro\": (\\d+), \"minor\": (\\d+), \"major\": (\\d+)\\}, \"package\": \"([^\"]{0,80})\"");
    private static final String CPU_AS_PREFIX = "cpu-memory-";

    /** The facts found. */
    public record Facts(Optional<String> version, OptionalInt vcpus) {
    }

    private QemuFacts() {
    }

    /** Returns the QEMU version and vCPU count found near {@code heapHint} (a host address in QEMU's heap). */
    public static Facts find(ProcessCore core, long heapHint) {
        HostMemory mem = core.memory();
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < mem.segments().size(); i++) {
            Elf64Phdr ph = mem.segments().get(i);
            if (ph.writable() && mem.presentLength(i) > 0 && mem.presentLength(i) <= RamDiscovery.MAX_SCANNED_SEGMENT) {
                order.add(i);
            }
        }
        order.sort(Comparator.comparingLong(i -> Math.abs(mem.segments().get(i).pVaddr() - heapHint)));
        String version = null;
        TreeSet<Integer> cpus = new TreeSet<>();
        long budget = SCAN_BUDGET;
        for (int si : order) {
            if (budget <= 0) {
                break;
            }
            budget -= mem.presentLength(si);
            ByteBuffer b = mem.readSegment(si);
            if (version == null) {
                version = version(b);
            }
            countCpuAddressSpaces(mem, b, mem.segments().get(si).pVaddr(), cpus);
        }
        return new Facts(Optional.ofNullable(version), cpus.isEmpty() ? OptionalInt.empty() : OptionalInt.of(cpus.size()));
    }

    private static String version(ByteBuffer b) {
        byte[] a = b.array();
        outer:
        for (int o = 0; o + GREETING.length <= b.limit(); o++) {
            for (int k = 0; k < GREETING.length; k++) {
                if (a[o + k] != GREETING[k]) {
                    continue outer;
                }
            }
            String s = new String(a, o, Math.min(200, b.limit() - o), StandardCharsets.ISO_8859_1);
            Matcher m = VERSION.matcher(s);
            if (m.lookingAt()) {
                String v = m.group(3) + "." + m.group(2) + "." + m.group(1);
                return m.group(4).isEmpty() ? v : v + " (" + m.group(4) + ")";
            }
        }
        return null;
    }

    private static boolean within(long vaddr, long base, ByteBuffer b) {
        return vaddr - base >= 0 && vaddr - base < b.limit();
    }

    /** Adds N for every AddressSpace in {@code b} named "cpu-memory-N" whose FlatView points back to its root. */
    private static void countCpuAddressSpaces(HostMemory mem, ByteBuffer b, long base, TreeSet<Integer> cpus) {
        QemuLayout l = QemuLayout.QEMU_6_2_TO_10;
        for (int o = 0; o + l.addressSpace().currentMap() + 8 <= b.limit(); o += 8) {
            long name = b.getLong(o + l.addressSpace().name());
            long root = b.getLong(o + l.addressSpace().root());
            long map = b.getLong(o + l.addressSpace().currentMap());
            if (name == 0 || root == 0 || map == 0 || ((name | root | map) & 7) != 0) {
                continue;
            }
            // Most pointers lead into this same heap segment: decide those from the buffer, without a lookup.
            long nameOff = name - base;
            boolean nameHere = nameOff >= 0 && nameOff < b.limit();
            if (nameHere ? b.get((int) nameOff) != 'c' : !mem.isWritable(name)) {
                continue;
            }
            if (!within(root, base, b) && !mem.isWritable(root) || !within(map, base, b) && !mem.isWritable(map)) {
                continue;
            }
            String s = mem.cString(name, 24);
            if (s == null || !s.startsWith(CPU_AS_PREFIX)) {
                continue;
            }
            try {
                int n = Integer.parseInt(s.substring(CPU_AS_PREFIX.length()));
                if (n >= 0 && mem.isPresent(map + l.flatView().root(), 8) && mem.u64(map + l.flatView().root()) == root) {
                    cpus.add(n);
                }
            } catch (NumberFormatException e) {
                // not a per-CPU address space after all
            }
        }
    }
}
