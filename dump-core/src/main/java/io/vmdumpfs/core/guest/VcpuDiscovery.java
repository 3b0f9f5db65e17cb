package io.vmdumpfs.core.guest;

import io.vmdumpfs.core.elf.Elf64Phdr;
import io.vmdumpfs.core.elf.ElfNote;
import io.vmdumpfs.core.elf.HostMemory;
import io.vmdumpfs.core.elf.MappedFile;
import io.vmdumpfs.core.elf.ProcessCore;
import io.vmdumpfs.core.guest.CpuTarget.CpuSizes;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Finds every vCPU of a QEMU process core and reads its registers, without debug symbols, along a chain whose every
 * hop is validated (issue 15; QEMU 5.2 to 10.0 share it):
 *
 * <ol>
 *   <li>{@link #cpuAddressSpaces}: the strings "cpu-memory-N" (N = cpu_index) name each vCPU's AddressSpace, which
 *       must validate as address_space_memory does (its FlatView's root is its own root);</li>
 *   <li>{@link #cpuAddressSpace}: the {@code CPUAddressSpace {CPUState *cpu; AddressSpace *as}} pointing at it;</li>
 *   <li>{@link #cpuType}: the CPU object's QOM type chain (Object → ObjectClass → TypeImpl, parent by parent) runs
 *       through the target's CPU type, "cpu" and "device"; "cpu"'s instance_size is sizeof(CPUState);</li>
 *   <li>{@link #cpuStateLayout}: the CPUState holds {cpu_ases, num_ases, as, memory} in a row, pointing back at the
 *       CPUAddressSpace, the AddressSpace and its root;</li>
 *   <li>{@link #env}: the register file is where CPUState.env_ptr points (QEMU 5.2, 7.2) or right after the
 *       CPUState (8.0 and later), whichever passes the target's shape check;</li>
 *   <li>{@link #cpuList}: the CPUState's list link leads to QEMU's {@code cpus} list, whose walk gives every live vCPU
 *       in the order QEMU's dump writes them (CPU_FOREACH); every vCPU on it is checked through hops 2-5 again.</li>
 * </ol>
 *
 * <p>Offsets inside CPUState are found on the first vCPU and confirmed on every other; struct sizes come from QEMU's
 * type registry. The scan reads only QEMU's small writable mappings, nearest the heap first, and stops at the first
 * one holding a vCPU, so it does not grow with the guest; heaps larger than a malloc arena are streamed after them.
 * Any failure gives {@link Vcpus#none} with the reason: the dump files then carry the placeholder note and the mount
 * works as before.
 *
 * <p>Limits: the CPUAddressSpace is looked for in the heap mapping that holds its AddressSpace (QEMU allocates both
 * on the main thread while it creates the vCPUs); x86 and aarch64 targets so far ({@link CpuTarget}). When a target's
 * registers cannot be read, its vCPUs are still counted (hop 1) for the kdump header's nr_cpus.
 */
public final class VcpuDiscovery {

    static final String CPU_AS_PREFIX = "cpu-memory-";
    /** "cpu-memo" as the little-endian word a scan compares against. */
    private static final long CPU_MEMO = ByteBuffer.wrap(CPU_AS_PREFIX.getBytes(StandardCharsets.US_ASCII))
            .order(ByteOrder.LITTLE_ENDIAN).getLong(0);
    /** The heap and the nearest arenas; the vCPUs' AddressSpaces are allocated by the main thread at start-up. */
    static final long SCAN_BUDGET = 64L << 20;
    /** QEMU's x86 machines allow at most a few thousand vCPUs; a longer list is a loop or garbage. */
    static final int MAX_VCPUS = 1 << 14;
    static final int MAX_QOM_DEPTH = 16;
    /** Reasons kept for the message when nothing validates. */
    private static final int MAX_REASONS = 3;

    /**
     * struct TypeImpl (qom/object.c), the same from QEMU 5.2 to 10.0.
     *
     * @param name         TypeImpl.name (char *)
     * @param instanceSize TypeImpl.instance_size (size_t)
     * @param parentType   TypeImpl.parent_type (TypeImpl *)
     */
    record TypeImplLayout(int name, int instanceSize, int parentType) {
    }

    static final TypeImplLayout TYPE_IMPL = new TypeImplLayout(0, 16, 96);

    /** A vCPU's AddressSpace "cpu-memory-N" that validated: cpu_index N, and its root MemoryRegion. */
    record CpuAddressSpace(int index, long hostVaddr, long root) {
    }

    /** A CPU object's QOM type: the leaf type's name and instance size, and sizeof(CPUState). */
    record CpuType(String name, long typeImpl, long instanceSize, long cpuStateSize) {
        CpuSizes sizes() {
            return new CpuSizes(cpuStateSize, instanceSize);
        }
    }

    /**
     * Where things are in this build's CPUState, learnt from the first vCPU.
     *
     * @param cpuAses  offset of {cpu_ases, num_ases, as, memory}
     * @param envPtr   true when the register file is at *env_ptr (the word after memory), false when it follows the
     *                 CPUState
     * @param listLink offset of CPUState.node, the link in QEMU's cpus list (-1 until found)
     */
    record CpuStateLayout(int cpuAses, boolean envPtr, int listLink) {
    }

    private final ProcessCore core;
    private final HostMemory mem;
    private final CpuTarget target;
    /** Whether any "cpu-memory-N" AddressSpace was seen, for the reason when no vCPU validates. */
    private boolean anyName;

    private VcpuDiscovery(ProcessCore core, CpuTarget target) {
        this.core = core;
        this.mem = core.memory();
        this.target = target;
    }

    /**
     * Returns the vCPUs of {@code core}, a QEMU emulating {@code arch}, in QEMU's order, or why none were found.
     * Never throws for a core that lacks or damages QEMU's CPU structures.
     *
     * @param heapHint a host address in or near QEMU's heap (the AddressSpace RAM discovery found), to scan from
     */
    public static Vcpus discover(ProcessCore core, GuestArch arch, long heapHint) {
        return discover(core, arch, heapHint, new GuestMemory(core.file(), List.of()));
    }

    /**
     * Returns the vCPUs as {@link #discover(ProcessCore, GuestArch, long)} does; {@code guestRam}'s mappings are not
     * scanned when the vCPUs can only be counted.
     */
    public static Vcpus discover(ProcessCore core, GuestArch arch, long heapHint, GuestMemory guestRam) {
        CpuTarget t = CpuTarget.of(arch).orElse(null);
        String noLayout = "no register layout for " + arch.qemuTarget + " vCPUs yet";
        if (t == null) {
            int n = new VcpuDiscovery(core, null).countAddressSpaces(heapHint, guestRam);
            return n > 0 ? Vcpus.countedOnly(n, noLayout)
                    : Vcpus.none(noLayout + ", and no \"" + CPU_AS_PREFIX + "N\" AddressSpace found to count them");
        }
        Vcpus found = new VcpuDiscovery(core, t).run(heapHint, guestRam);
        if (!found.list().isEmpty()) {
            return found;
        }
        // The registers could not be read, but the kdump header's nr_cpus still wants the vCPU count.
        int n = new VcpuDiscovery(core, t).countAddressSpaces(heapHint, guestRam);
        return n > 0 ? Vcpus.countedOnly(n, found.failure().orElseThrow()) : found;
    }

    /** Returns QEMU's small writable mappings, nearest {@code heapHint} first: where the scans look. */
    private List<Integer> scanOrder(long heapHint) {
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < mem.segments().size(); i++) {
            Elf64Phdr ph = mem.segments().get(i);
            long len = mem.presentLength(i);
            if (ph.writable() && len >= 64 && len <= RamDiscovery.MAX_SCANNED_SEGMENT) {
                order.add(i);
            }
        }
        order.sort(Comparator.comparingLong(i -> Math.abs(mem.segments().get(i).pVaddr() - heapHint)));
        return order;
    }

    /** Bytes a counting pass reads at a time: it streams, so a heap larger than 64 MiB costs no more memory. */
    static final int COUNT_CHUNK = 8 << 20;

    /**
     * Returns the number of distinct vCPU indexes whose "cpu-memory-N" AddressSpace validates (hop 1, which is the
     * same for every target): the vCPU count of a target whose registers cannot be read.
     */
    int countAddressSpaces(long heapHint, GuestMemory guestRam) {
        return (int) streamAddressSpaces(streamedSegments(heapHint, guestRam, 0)).values().stream()
                .map(CpuAddressSpace::index).distinct().count();
    }

    /**
     * Returns the writable, non-executable mappings of more than {@code minLength} bytes that are not guest RAM-sized
     * (as the vmcoreinfo device scan selects them, since TCG's heap exceeds 64 MiB), nearest {@code heapHint} first.
     */
    private List<Integer> streamedSegments(long heapHint, GuestMemory guestRam, long minLength) {
        List<Integer> segs = new ArrayList<>();
        for (int i = 0; i < mem.segments().size(); i++) {
            Elf64Phdr ph = mem.segments().get(i);
            long len = mem.presentLength(i);
            if (ph.writable() && (ph.pFlags() & Elf64Phdr.PF_X) == 0 && len >= 64 && len > minLength
                    && len <= VmcoreInfoFinder.MAX_DEVICE_SEGMENT && !VmcoreInfoFinder.holdsGuestRam(guestRam, ph)) {
                segs.add(i);
            }
        }
        segs.sort(Comparator.comparingLong(i -> Math.abs(mem.segments().get(i).pVaddr() - heapHint)));
        return segs;
    }

    /**
     * Hop 1 over mappings of any size: the "cpu-memory-N" AddressSpaces that validate, by host address. Two streaming
     * passes over {@code segs}: the 8-aligned names first, then the AddressSpaces pointing at them.
     */
    private Map<Long, CpuAddressSpace> streamAddressSpaces(List<Integer> segs) {
        Map<Long, Integer> names = new HashMap<>();
        forEachChunk(segs, (base, b, own) -> {
            for (int o = 0; o < own && o + 24 <= b.limit(); o += 8) {
                if (b.getLong(o) == CPU_MEMO) {
                    int index = nameIndex(b, o);
                    if (index >= 0) {
                        names.put(base + o, index);
                    }
                }
            }
        });
        Map<Long, CpuAddressSpace> valid = new java.util.TreeMap<>();
        if (names.isEmpty()) {
            return valid;
        }
        QemuLayout l = QemuLayout.QEMU_6_2_TO_10;
        int nameOff = l.addressSpace().name();
        forEachWordIn(segs, names.keySet(), (at, name) -> {
            Hop<CpuAddressSpace> as = cpuAddressSpaceOf(at - nameOff, names.get(name), l);
            if (as instanceof Hop.Found<CpuAddressSpace> f) {
                valid.put(f.value().hostVaddr(), f.value());
            }
        });
        return valid;
    }

    private interface WordVisitor {
        void visit(long hostVaddr, long value);
    }

    /** Calls {@code v} for every 8-aligned word of {@code segs} whose value is one of {@code values}. */
    private void forEachWordIn(List<Integer> segs, Set<Long> values, WordVisitor v) {
        // A sorted array, not the set: most heap words are pointers near the values, and a set lookup would box each.
        long[] sorted = values.stream().mapToLong(Long::longValue).sorted().toArray();
        if (sorted.length == 0) {
            return;
        }
        long lo = sorted[0];
        long hi = sorted[sorted.length - 1];
        forEachChunk(segs, (base, b, own) -> {
            for (int o = 0; o < own; o += 8) {
                long w = b.getLong(o);
                if (w >= lo && w <= hi && java.util.Arrays.binarySearch(sorted, w) >= 0) {
                    v.visit(base + o, w);
                }
            }
        });
    }

    private interface ChunkVisitor {
        /** {@code chunk} holds the words at {@code base}; those from {@code own} on are the next chunk's too. */
        void visit(long base, ByteBuffer chunk, int own);
    }

    /**
     * Reads segments {@code segs} in {@link #COUNT_CHUNK} pieces, each overlapping the next by 24 bytes (a name read
     * at a chunk's end), so that every word is its own chunk's exactly once.
     */
    private void forEachChunk(List<Integer> segs, ChunkVisitor v) {
        for (int si : segs) {
            long start = mem.segments().get(si).pVaddr();
            long len = mem.presentLength(si) & ~7L;
            for (long at = 0; at < len; at += COUNT_CHUNK) {
                int n = (int) Math.min(COUNT_CHUNK + 24L, len - at);
                v.visit(start + at, mem.read(start + at, n).order(ByteOrder.LITTLE_ENDIAN),
                        (int) Math.min(COUNT_CHUNK, len - at));
            }
        }
    }

    private Vcpus run(long heapHint, GuestMemory guestRam) {
        // Why candidates failed, the first few, for the reason when none succeeds.
        Set<String> reasons = new LinkedHashSet<>();
        // Mappings larger than a malloc arena are streamed, not read whole. QEMU's main heap, which holds the vCPUs'
        // AddressSpaces next to "memory" (heapHint), is one of them under TCG (65 MiB for a 256 MiB arm64 guest):
        // then it goes first.
        List<Integer> large = new ArrayList<>(streamedSegments(heapHint, guestRam, RamDiscovery.MAX_SCANNED_SEGMENT));
        Integer heapSegment = mem.segmentIndexOf(heapHint);
        if (large.remove(heapSegment)) {
            Vcpus v = streamed(List.of(heapSegment), reasons);
            if (v != null) {
                return v;
            }
        }
        long budget = SCAN_BUDGET;
        for (int si : scanOrder(heapHint)) {
            if (budget <= 0) {
                break;
            }
            budget -= mem.presentLength(si);
            ByteBuffer seg = mem.readSegment(si);
            // One bulk copy into words: the scans below then run over an array, fast even before the JIT.
            long[] words = new long[seg.limit() / 8];
            seg.asLongBuffer().get(words);
            long base = mem.segments().get(si).pVaddr();
            List<Hop<CpuAddressSpace>> ases = cpuAddressSpaces(seg, words, base);
            anyName |= !ases.isEmpty();
            for (Hop<CpuAddressSpace> hop : ases) {
                CpuAddressSpace as = hop.orNull();
                if (as == null) {
                    note(reasons, hop.reason());
                    continue;
                }
                for (long cpuAs : findWords(words, base, as.hostVaddr())) {
                    Hop<Vcpus> v = cpuAddressSpace(cpuAs, as).then(this::allVcpus);
                    if (v instanceof Hop.Found<Vcpus> f) {
                        return f.value();
                    }
                    note(reasons, v.reason());
                }
            }
        }
        Vcpus v = streamed(large, reasons);
        if (v != null) {
            return v;
        }
        if (!anyName) {
            return Vcpus.none("no \"" + CPU_AS_PREFIX + "N\" AddressSpace found in QEMU's heap");
        }
        return Vcpus.none(reasons.isEmpty() ? "no CPUAddressSpace points at a vCPU's AddressSpace"
                : String.join("; ", reasons));
    }

    /**
     * Hops 1-6 over mappings streamed rather than read whole: their AddressSpaces first, then the CPUAddressSpaces
     * pointing at them. Returns the vCPUs, or null with the reasons noted.
     */
    private Vcpus streamed(List<Integer> segs, Set<String> reasons) {
        Map<Long, CpuAddressSpace> ases = streamAddressSpaces(segs);
        anyName |= !ases.isEmpty();
        Map<Long, Long> cpuAsFields = new java.util.TreeMap<>();
        forEachWordIn(segs, ases.keySet(), cpuAsFields::put);
        for (Map.Entry<Long, Long> e : cpuAsFields.entrySet()) {
            Hop<Vcpus> v = cpuAddressSpace(e.getKey(), ases.get(e.getValue())).then(this::allVcpus);
            if (v instanceof Hop.Found<Vcpus> f) {
                return f.value();
            }
            note(reasons, v.reason());
        }
        return null;
    }

    private static void note(Set<String> reasons, String reason) {
        if (reasons.size() < MAX_REASONS) {
            reasons.add(reason);
        }
    }

    // ---------------------------------------------------------------- hop 1: "cpu-memory-N" AddressSpaces

    /**
     * Hop 1: the AddressSpaces in {@code seg} whose name is "cpu-memory-N", each validated (its FlatView has its
     * root) or with the reason it is not. The strings are g_strdup'ed, so 8-aligned; the AddressSpaces point at them
     * from the same heap.
     */
    private List<Hop<CpuAddressSpace>> cpuAddressSpaces(ByteBuffer seg, long[] words, long base) {
        Map<Long, Integer> names = new HashMap<>();
        long lo = -1;
        long hi = 0;
        for (int i = 0; i + 2 < words.length; i++) {
            if (words[i] != CPU_MEMO) {
                continue;
            }
            int index = nameIndex(seg, 8 * i);
            if (index >= 0) {
                long at = base + 8L * i;
                names.put(at, index);
                lo = Math.min(lo == -1 ? at : lo, at);
                hi = Math.max(hi, at);
            }
        }
        List<Hop<CpuAddressSpace>> out = new ArrayList<>();
        if (names.isEmpty()) {
            return out;
        }
        QemuLayout l = QemuLayout.QEMU_6_2_TO_10;
        int nameOff = l.addressSpace().name();
        for (int i = nameOff / 8; i < words.length; i++) {
            long w = words[i];
            // Range first: a map lookup for every word would box millions of longs.
            if (w < lo || w > hi) {
                continue;
            }
            Integer index = names.get(w);
            if (index == null) {
                continue;
            }
            long as = base + 8L * i - nameOff;
            out.add(cpuAddressSpaceOf(as, index, l));
        }
        return out;
    }

    /** Returns N of "cpu-memory-N\0" at {@code o} of {@code b}, or -1. */
    private static int nameIndex(ByteBuffer b, int o) {
        int p = o + CPU_AS_PREFIX.length();
        if (b.get(o + 8) != 'r' || b.get(o + 9) != 'y' || b.get(o + 10) != '-') {
            return -1;
        }
        long n = 0;
        int digits = 0;
        for (; p < b.limit() && digits <= 6; p++, digits++) {
            int c = b.get(p);
            if (c == 0) {
                return digits == 0 ? -1 : (int) n;
            }
            if (c < '0' || c > '9') {
                return -1;
            }
            n = n * 10 + (c - '0');
        }
        return -1;
    }

    /** Validates an AddressSpace named for vCPU {@code index} the way RAM discovery validates "memory". */
    private Hop<CpuAddressSpace> cpuAddressSpaceOf(long as, int index, QemuLayout l) {
        QemuLayout.AddressSpaceLayout al = l.addressSpace();
        long root = word(as + al.root());
        long map = word(as + al.currentMap());
        if (root == 0 || map == 0 || ((root | map) & 7) != 0
                || !RamDiscovery.rendersRoot(mem, word(map + l.flatView().root()), root, l.memoryRegion())) {
            return Hop.corrupt("AddressSpace \"" + CPU_AS_PREFIX + index + "\" at 0x" + Long.toHexString(as)
                    + ": FlatView root differs");
        }
        return Hop.found(new CpuAddressSpace(index, as, root));
    }

    // ---------------------------------------------------------------- hops 2-5: one vCPU

    /** A vCPU as far as hops 2-5 took it. */
    private record Found(CpuAddressSpace as, long cpuAs, long cpuState, CpuType type, CpuStateLayout layout,
            long env, CpuRegisters registers) {
    }

    /**
     * Hops 2-5 from the word at {@code asField} that points at {@code as}: it must be CPUAddressSpace.as, so the word
     * before it is the CPU.
     */
    private Hop<Found> cpuAddressSpace(long asField, CpuAddressSpace as) {
        long cpuAs = asField - 8;
        long cs = word(cpuAs);
        String where = "vCPU " + as.index() + " (CPUAddressSpace 0x" + Long.toHexString(cpuAs) + ")";
        if (cs == 0 || (cs & 7) != 0) {
            return Hop.corrupt(where + ": no CPU pointer before the AddressSpace pointer");
        }
        return cpuType(cs).at(where).then(type -> cpuStateLayout(cs, cpuAs, as, type).at(where)
                .then(layout -> env(cs, layout, type).at(where)
                        .map(env -> new Found(as, cpuAs, cs, type, layout, env.env(), env.registers()))));
    }

    /**
     * Hop 3: the QOM type of the object at {@code obj}, which must derive from the target's CPU type, "cpu" and
     * "device" in that order.
     */
    Hop<CpuType> cpuType(long obj) {
        long cls = word(obj);
        long ti = cls == 0 ? 0 : word(cls);
        List<String> names = new ArrayList<>();
        List<Long> sizes = new ArrayList<>();
        long leaf = ti;
        for (int depth = 0; ti != 0; depth++) {
            if (depth == MAX_QOM_DEPTH) {
                return Hop.corrupt("QOM type chain of 0x" + Long.toHexString(obj) + " deeper than " + MAX_QOM_DEPTH);
            }
            String name = printable(mem.cString(word(ti + TYPE_IMPL.name()), 64));
            if (name == null) {
                return Hop.corrupt("object 0x" + Long.toHexString(obj) + " has no QOM type name");
            }
            names.add(name);
            sizes.add(word(ti + TYPE_IMPL.instanceSize()));
            ti = word(ti + TYPE_IMPL.parentType());
        }
        int t = names.indexOf(target.qomType());
        int cpu = names.indexOf("cpu");
        int dev = names.indexOf("device");
        if (cpu < 0 || dev < cpu) {
            return Hop.corrupt("object 0x" + Long.toHexString(obj) + " is not a CPU (QOM type " + typeName(names)
                    + ")");
        }
        if (t < 0 || t > cpu) {
            return Hop.corrupt("CPU 0x" + Long.toHexString(obj) + " is a " + names.get(0) + ", not a "
                    + target.qomType());
        }
        long cpuStateSize = sizes.get(cpu);
        long instanceSize = sizes.get(0);
        if (cpuStateSize < 64 || cpuStateSize > (1 << 20) || Long.compareUnsigned(instanceSize, cpuStateSize) < 0
                || instanceSize > (4 << 20)) {
            return Hop.corrupt("CPU type " + names.get(0) + " has implausible sizes (" + instanceSize + ", CPUState "
                    + cpuStateSize + ")");
        }
        return Hop.found(new CpuType(names.get(0), leaf, instanceSize, cpuStateSize));
    }

    /**
     * Hop 4: the offset in CPUState of {cpu_ases, num_ases, as, memory}: cpu_ases is the CPUAddressSpace we came
     * from, num_ases is small, as is the vCPU's AddressSpace (address space 0), memory is its root.
     */
    private Hop<CpuStateLayout> cpuStateLayout(long cs, long cpuAs, CpuAddressSpace as, CpuType type) {
        int size = (int) type.cpuStateSize();
        if (!mem.isPresent(cs, size)) {
            return Hop.missing("CPUState 0x" + Long.toHexString(cs) + " not in the core");
        }
        ByteBuffer b = mem.read(cs, size);
        for (int o = 0; o + 40 <= size; o += 8) {
            if (b.getLong(o) == cpuAs && b.getLong(o + 16) == as.hostVaddr() && b.getLong(o + 24) == as.root()) {
                long numAses = b.getLong(o + 8) & 0xffffffffL;
                if (numAses >= 1 && numAses <= 4) {
                    long envPtr = b.getLong(o + 32);
                    boolean insideObject = Long.compareUnsigned(envPtr - cs, type.instanceSize()) < 0 && envPtr != cs;
                    return Hop.found(new CpuStateLayout(o, insideObject, -1));
                }
            }
        }
        return Hop.corrupt("CPUState 0x" + Long.toHexString(cs) + " does not point back to its CPUAddressSpace 0x"
                + Long.toHexString(cpuAs) + " and AddressSpace");
    }

    private record Env(long env, CpuRegisters registers, boolean viaEnvPtr) {
    }

    /** Hop 5: the register file, at *env_ptr or right after the CPUState, whichever passes the shape check. */
    private Hop<Env> env(long cs, CpuStateLayout layout, CpuType type) {
        long objectEnd = cs + type.instanceSize();
        Hop<CpuRegisters> viaPtr = null;
        if (layout.envPtr()) {
            long env = word(cs + layout.cpuAses() + 32);
            viaPtr = target.registers(mem, env, objectEnd, type.sizes());
            if (viaPtr instanceof Hop.Found<CpuRegisters> f) {
                return Hop.found(new Env(env, f.value(), true));
            }
        }
        long env = cs + type.cpuStateSize();
        Hop<CpuRegisters> after = target.registers(mem, env, objectEnd, type.sizes());
        if (after instanceof Hop.Found<CpuRegisters> f) {
            return Hop.found(new Env(env, f.value(), false));
        }
        return (viaPtr != null ? viaPtr : after).failure();
    }

    // ---------------------------------------------------------------- hop 6: every vCPU, in QEMU's order

    /** From the first vCPU that validated: QEMU's list of vCPUs, each validated like the first. */
    private Hop<Vcpus> allVcpus(Found first) {
        return cpuList(first).then(order -> {
            List<Vcpu> out = new ArrayList<>(order.size());
            Set<Integer> indexes = new HashSet<>();
            for (long cs : order) {
                Hop<Vcpu> v = listed(cs, first);
                if (!(v instanceof Hop.Found<Vcpu> f)) {
                    return v.failure();
                }
                if (!indexes.add(f.value().index())) {
                    return Hop.corrupt("two vCPUs on QEMU's list have cpu_index " + f.value().index());
                }
                out.add(f.value());
            }
            return Hop.found(Vcpus.found(out, exactness(out)));
        });
    }

    /** Checks a CPUState found on the list through the offsets the first vCPU gave: hops 2-5 in reverse. */
    private Hop<Vcpu> listed(long cs, Found first) {
        String where = "vCPU at 0x" + Long.toHexString(cs);
        CpuStateLayout l = first.layout();
        Hop<CpuType> type = cpuType(cs).at(where);
        if (!(type instanceof Hop.Found<CpuType> t)) {
            return type.failure();
        }
        long cpuAs = word(cs + l.cpuAses());
        long as = word(cs + l.cpuAses() + 16);
        if (word(cpuAs) != cs || word(cpuAs + 8) != as) {
            return Hop.corrupt(where + ": its CPUAddressSpace does not point back to it");
        }
        String name = mem.cString(word(as + QemuLayout.QEMU_6_2_TO_10.addressSpace().name()), 24);
        if (name == null || !name.startsWith(CPU_AS_PREFIX)) {
            return Hop.corrupt(where + ": its AddressSpace is not named " + CPU_AS_PREFIX + "N");
        }
        int index = nameIndex(ByteBuffer.wrap((name + "\0").getBytes(StandardCharsets.ISO_8859_1)), 0);
        if (index < 0) {
            return Hop.corrupt(where + ": its AddressSpace is named \"" + name + "\"");
        }
        Hop<CpuAddressSpace> asHop = cpuAddressSpaceOf(as, index, QemuLayout.QEMU_6_2_TO_10).at(where);
        if (!(asHop instanceof Hop.Found<CpuAddressSpace> a)) {
            return asHop.failure();
        }
        if (word(cs + l.cpuAses() + 24) != a.value().root()) {
            return Hop.corrupt(where + ": CPUState.memory is not its AddressSpace's root");
        }
        CpuStateLayout sameRule = new CpuStateLayout(l.cpuAses(), first.layout().envPtr(), l.listLink());
        return env(cs, sameRule, t.value()).at(where)
                .map(e -> new Vcpu(index, t.value().name(), cs, e.env(), e.registers()));
    }

    /**
     * Hop 6: QEMU's vCPU list through {@code first}. CPUState.node is a QTAILQ link {next; prev}, where prev points
     * at the previous link (or at the list head for the first vCPU), whose next is this CPUState. The offset is the
     * one whose walk validates: from the head (a global), every element a CPU, no loop, and the head's prev
     * pointing at the last element's link.
     */
    private Hop<List<Long>> cpuList(Found first) {
        long cs = first.cpuState();
        int size = (int) first.type().cpuStateSize();
        Hop<List<Long>> lastFailure = null;
        for (int o = 0; o + 16 <= size; o += 8) {
            long prev = word(cs + o + 8);
            if (prev == 0 || prev == first.cpuAs() || (prev & 7) != 0 || word(prev) != cs) {
                continue;
            }
            Hop<List<Long>> walk = walkList(cs, o);
            if (walk.isFound()) {
                return walk;
            }
            lastFailure = walk;
        }
        if (lastFailure != null) {
            return lastFailure;
        }
        return Hop.corrupt("vCPU " + first.as().index() + " (CPUState 0x" + Long.toHexString(cs)
                + "): no list link leads to QEMU's list of vCPUs");
    }

    /** Walks the list through {@code cs} with the link at {@code link}: back to the head, then forward to the end. */
    private Hop<List<Long>> walkList(long cs, int link) {
        String where = "vCPU list (link at CPUState+" + link + ")";
        Set<Long> seen = new HashSet<>();
        long cur = cs;
        long head;
        while (true) {
            if (!seen.add(cur) || seen.size() > MAX_VCPUS) {
                return Hop.corrupt(where + ": loops back to 0x" + Long.toHexString(cur));
            }
            long prevLink = word(cur + link + 8);
            if (prevLink == 0 || word(prevLink) != cur) {
                return Hop.corrupt(where + ": 0x" + Long.toHexString(cur) + "'s previous link does not lead back");
            }
            long prevCpu = prevLink - link;
            if (!cpuType(prevCpu).isFound()) {
                head = prevLink;
                break;
            }
            cur = prevCpu;
        }
        List<Long> order = new ArrayList<>();
        seen.clear();
        for (long e = word(head); e != 0; e = word(e + link)) {
            if (!seen.add(e) || order.size() >= MAX_VCPUS) {
                return Hop.corrupt(where + ": loops back to 0x" + Long.toHexString(e));
            }
            if (!cpuType(e).isFound()) {
                return Hop.corrupt(where + ": element 0x" + Long.toHexString(e) + " is not a CPU");
            }
            order.add(e);
        }
        if (order.isEmpty() || word(head + 8) != order.get(order.size() - 1) + link) {
            return Hop.corrupt(where + ": the list head's last-link pointer does not match its last vCPU");
        }
        if (!order.contains(cs)) {
            return Hop.corrupt(where + ": the list does not hold 0x" + Long.toHexString(cs));
        }
        return Hop.found(order);
    }

    // ---------------------------------------------------------------- how current the registers are

    /**
     * Returns how far the registers can be trusted. Under KVM, QEMU's copy is current only right after a register
     * sync (a QMP dump, migration, "info registers"); the vCPU file descriptors' mappings ("anon_inode:kvm-vcpu") in
     * NT_FILE tell that KVM ran the guest. Under TCG, QEMU's copy is the CPU's state except while a vCPU thread
     * executes translated code, which lags by up to one translated block: a host thread stopped inside an anonymous
     * executable mapping (TCG's code buffer) says so.
     */
    private String exactness(List<Vcpu> vcpus) {
        String remark = "";
        for (Vcpu v : vcpus) {
            if (v.registers() instanceof X86Registers x && x.longMode() && x.kernelGsBase().isEmpty()) {
                remark = "; kernel_gs_base not found, written as 0";
                break;
            }
            if (v.registers() instanceof Aarch64Registers && !Aarch64CpuTarget.withoutSve(v.type())) {
                remark = "; " + v.type() + " may have SVE, whose NT_ARM_SVE note QEMU adds: not written";
                break;
            }
        }
        List<MappedFile> files = core.mappedFiles();
        for (MappedFile f : files) {
            if (f.path().startsWith("anon_inode:kvm-vcpu")) {
                return "stale (KVM, last register sync unknown)" + remark;
            }
        }
        List<ElfNote> threads = core.notes().stream()
                .filter(n -> n.type() == ElfNote.NT_PRSTATUS && n.name().equals("CORE")).toList();
        if (threads.isEmpty()) {
            return "unknown (no host thread registers in the core)" + remark;
        }
        for (ElfNote n : threads) {
            // x86_64 elf_prstatus: pr_reg at 112, rip is user_regs_struct's 17th word.
            if (n.desc().length < 112 + 17 * 8) {
                continue;
            }
            long rip = n.descBuffer().getLong(112 + 16 * 8);
            if (inTranslatedCode(rip, files)) {
                return "lagging (TCG, a vCPU thread was running guest code: up to one translated block behind)"
                        + remark;
            }
        }
        return "exact (TCG, no vCPU thread was running guest code)" + remark;
    }

    /** Returns true when {@code rip} lies in an executable mapping that is no file, or is TCG's JIT memfd. */
    private boolean inTranslatedCode(long rip, List<MappedFile> files) {
        int i = mem.segmentIndexOf(rip);
        if (i < 0 || (mem.segments().get(i).pFlags() & Elf64Phdr.PF_X) == 0) {
            return false;
        }
        for (MappedFile f : files) {
            if (Long.compareUnsigned(f.start(), rip) <= 0 && Long.compareUnsigned(rip, f.end()) < 0) {
                return f.path().contains("tcg-jit");
            }
        }
        return true;
    }

    // ---------------------------------------------------------------- reading

    /** Returns the host-order word at {@code hostVaddr}, or 0 (a null pointer) when it is not in the core. */
    private long word(long hostVaddr) {
        return (hostVaddr & 7) == 0 && mem.isPresent(hostVaddr, 8) ? mem.u64(hostVaddr) : 0;
    }

    /** Returns the host addresses of the words (8-aligned, from {@code base}) holding {@code value}. */
    private static List<Long> findWords(long[] words, long base, long value) {
        List<Long> out = new ArrayList<>();
        for (int i = 0; i < words.length; i++) {
            if (words[i] == value) {
                out.add(base + 8L * i);
            }
        }
        return out;
    }

    private static String printable(String s) {
        if (s == null || s.isEmpty()) {
            return null;
        }
        for (int i = 0; i < s.length(); i++) {
            if (s.charAt(i) < 0x20 || s.charAt(i) > 0x7e) {
                return null;
            }
        }
        return s;
    }

    private static String typeName(List<String> names) {
        return names.isEmpty() ? "none" : names.get(0);
    }
}
