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
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The version of the QEMU that held the guest, for {@code vmdumpfs info}: from the QMP greeting QEMU keeps in its
 * heap once a monitor client connected (libvirt always does). (The vCPUs are {@link VcpuDiscovery}'s.)
 *
 * <p>Limits: reads at most {@link #SCAN_BUDGET} bytes of the writable mappings nearest the heap; the version may be
 * absent, and then is reported as not found rather than guessed.
 */
public final class QemuFacts {

    /** The QMP greeting may be in the monitor thread's arena: 64 MiB covers the heap and the nearest arenas. */
    static final long SCAN_BUDGET = 64L << 20;
    private static final byte[] GREETING = "{\"qemu\": {\"micro\": ".getBytes(StandardCharsets.ISO_8859_1);
    private static final Pattern VERSION = Pattern.compile(
            "\\{\"qemu\": \\{\"micro\": (\\d+), \"minor\": (\\d+), \"major\": (\\d+)\\}, \"package\": \"([^\"]{0,80})\"");

    private QemuFacts() {
    }

    /** Returns the QEMU version found near {@code heapHint} (a host address in QEMU's heap). */
    public static Optional<String> version(ProcessCore core, long heapHint) {
        HostMemory mem = core.memory();
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < mem.segments().size(); i++) {
            Elf64Phdr ph = mem.segments().get(i);
            if (ph.writable() && mem.presentLength(i) > 0 && mem.presentLength(i) <= RamDiscovery.MAX_SCANNED_SEGMENT) {
                order.add(i);
            }
        }
        order.sort(Comparator.comparingLong(i -> Math.abs(mem.segments().get(i).pVaddr() - heapHint)));
        long budget = SCAN_BUDGET;
        for (int si : order) {
            if (budget <= 0) {
                break;
            }
            budget -= mem.presentLength(si);
            String version = version(mem.readSegment(si));
            if (version != null) {
                return Optional.of(version);
            }
        }
        return Optional.empty();
    }

    private static String version(ByteBuffer b) {
        byte[] a = new byte[b.limit()];
        b.get(0, a);
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
}
