package io.vmdumpfs.core.testing;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/**
 * A real QEMU fixture made by {@code scripts/make-qemu-core.sh}: a core of a stopped {@code qemu-system-*} process
 * ({@link #core()}: gdb's gcore, or the host kernel's own sparse core), QEMU's own {@code dump-guest-memory} files of
 * the same guest as ground truth, what the guest said about itself ({@link #guestFacts()}) and QEMU's own view of
 * its memory and vCPUs ({@code qemu-mtree.txt}, {@code qemu-ramblock.txt}, {@code qemu-registers.txt}). The script
 * caches fixtures (keyed by every parameter, the packages' versions and its own sha256), so only the first test run
 * on a machine pays for the boot; within one JVM each fixture is made once.
 *
 * <p>When a prerequisite is missing (QEMU, the guest kernel, a package download), tests report a skip; with
 * {@code CI=true}, where everything is installed, a missing prerequisite fails instead.
 *
 * <p>Cost of a first build on the 2-CPU dev machine under TCG (quiet / with the machine at load 10-16): pc 256 MiB
 * 21 / 28 s, its busy, panicked, KASLR-off and kernel-core variants 10-25 / 34-44 s; q35 3 GiB 64 s (load 15); 64 GiB
 * 19 / 52 s (22 s at load 5 with its range dumps: 2 s); 1 TiB stopped 17 / 69 s; foreign 256 MiB guests 15-28 s to
 * boot and dump (aarch64 fastest, s390x and ppc64le slowest) plus a one-off 21-52 MB kernel download. Disk: a gcore
 * fixture is about 2 x guest RAM + 450 MiB (pc 256 MiB: 1.0 GB, q35 3 GiB: 6.9 GB); kernel cores are sparse (64 GiB:
 * 1.5 GB on disk and 1.3 GB of QEMU's range dumps, 1 TiB: 0.14 GB).
 *
 * @param dir  the fixture directory
 * @param meta meta.env's KEY=VALUE pairs (TOKEN, UNAME, MARKER, ARCH, MACHINE, MEM_MIB, KASLR, LOAD, CORE_KIND, …)
 */
public record QemuFixture(Path dir, Map<String, String> meta) {

    private static final Map<Spec, QemuFixture> MADE = new ConcurrentHashMap<>();

    /** The script's exit status for "a prerequisite of this machine is missing". */
    private static final int EXIT_MISSING = 3;

    /** Guest architectures the script boots (its {@code --arch}). */
    public enum Arch {
        X86_64("qemu-system-x86_64", "qemu-system-x86"),
        I386("qemu-system-i386", "qemu-system-x86"),
        AARCH64("qemu-system-aarch64", "qemu-system-arm"),
        S390X("qemu-system-s390x", "qemu-system-misc"),
        PPC64LE("qemu-system-ppc64", "qemu-system-ppc");

        private final String qemu;
        private final String debPackage;

        Arch(String qemu, String debPackage) {
            this.qemu = qemu;
            this.debPackage = debPackage;
        }

        /** Returns the QEMU executable that runs this guest. */
        public String qemu() {
            return qemu;
        }

        String option() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** What the guest does when QEMU is stopped ({@code --load}). */
    public enum Load {
        /** Idle: every vCPU halted in the idle loop. */
        IDLE,
        /** One {@code dd if=/dev/zero of=/dev/null} loop pinned to each vCPU: the vCPUs are inside the kernel. */
        BUSY,
        /** The last vCPU panicked ({@code echo c >/proc/sysrq-trigger}, {@code panic=0}); the others stopped. */
        PANIC,
        /**
         * RAM in use every way makedumpfile's dump levels tell apart: page cache of an ext4 file system on a RAM disk
         * (with and without buffer heads), a process's anonymous memory (partly transparent huge pages), tmpfs,
         * hugetlbfs pages (in use and free); x86_64, at least 256 MiB. The guest's /proc/meminfo is in its facts
         * ({@code meminfo}).
         */
        MEMORY
    }

    /** Who wrote {@link #core()} ({@code --core}). */
    public enum CoreKind {
        /** gdb's gcore: every page of every dumped mapping, zeros included. */
        GCORE,
        /** The host kernel's core dumper (SIGABRT to the stopped QEMU): pages never touched are holes. */
        KERNEL
    }

    /**
     * The parameters of one fixture: each is a {@code make-qemu-core.sh} option, with the script's defaults.
     *
     * @param arch          guest architecture
     * @param machine       QEMU machine type; null for the architecture's default (pc, pc, virt, s390-ccw-virtio,
     *                      pseries)
     * @param memMib        guest RAM in MiB
     * @param smp           vCPUs
     * @param kaslr         kernel address space randomisation (s390x without a PRNG and ppc64le ignore it)
     * @param fillMib       extra tmpfs data in the guest: 1/3 random, 1/3 text, 1/3 repetitive
     * @param dumpGuestCore QEMU's dump-guest-core; false leaves the RAM out of the core
     * @param load          what the guest does when stopped
     * @param core          who writes the core
     * @param reserveOff    RAM is {@code memory-backend-ram,id=m,reserve=off} (x86 only): big guests cost what they
     *                      touch
     * @param bootLinux     false: the VM never runs ({@code -S}, no kernel), {@code -device loader} writes fill a
     *                      few pages ({@link #loaderWrites()}); x86 only
     * @param qemuDumps     QEMU's own dumps ({@code --qemu-dump}); null for the script's default (elf,kdump-zlib;
     *                      kdump-zlib above 16 GiB; ranges without a kernel)
     */
    public record Spec(Arch arch, String machine, int memMib, int smp, boolean kaslr, int fillMib,
            boolean dumpGuestCore, Load load, CoreKind core, boolean reserveOff, boolean bootLinux, String qemuDumps) {

        /** Returns an idle x86_64 guest on {@code machine} (pc or q35), gcore, KASLR on, 2 vCPUs. */
        public static Spec x86(String machine, int memMib) {
            return new Spec(Arch.X86_64, machine, memMib, 2, true, 0, true, Load.IDLE, CoreKind.GCORE, false, true,
                    null);
        }

        /** Returns an idle 256 MiB guest of {@code arch} on its default machine, gcore, 2 vCPUs. */
        public static Spec of(Arch arch) {
            return new Spec(arch, null, 256, 2, true, 0, true, Load.IDLE, CoreKind.GCORE, false, true, null);
        }

        public Spec withMemMib(int v) {
            return new Spec(arch, machine, v, smp, kaslr, fillMib, dumpGuestCore, load, core, reserveOff, bootLinux,
                    qemuDumps);
        }

        public Spec withSmp(int v) {
            return new Spec(arch, machine, memMib, v, kaslr, fillMib, dumpGuestCore, load, core, reserveOff,
                    bootLinux, qemuDumps);
        }

        public Spec withKaslr(boolean v) {
            return new Spec(arch, machine, memMib, smp, v, fillMib, dumpGuestCore, load, core, reserveOff, bootLinux,
                    qemuDumps);
        }

        public Spec withFillMib(int v) {
            return new Spec(arch, machine, memMib, smp, kaslr, v, dumpGuestCore, load, core, reserveOff, bootLinux,
                    qemuDumps);
        }

        public Spec withDumpGuestCore(boolean v) {
            return new Spec(arch, machine, memMib, smp, kaslr, fillMib, v, load, core, reserveOff, bootLinux,
                    qemuDumps);
        }

        public Spec withLoad(Load v) {
            return new Spec(arch, machine, memMib, smp, kaslr, fillMib, dumpGuestCore, v, core, reserveOff,
                    bootLinux, qemuDumps);
        }

        public Spec withCore(CoreKind v) {
            return new Spec(arch, machine, memMib, smp, kaslr, fillMib, dumpGuestCore, load, v, reserveOff,
                    bootLinux, qemuDumps);
        }

        public Spec withReserveOff(boolean v) {
            return new Spec(arch, machine, memMib, smp, kaslr, fillMib, dumpGuestCore, load, core, v, bootLinux,
                    qemuDumps);
        }

        public Spec withBootLinux(boolean v) {
            return new Spec(arch, machine, memMib, smp, kaslr, fillMib, dumpGuestCore, load, core, reserveOff, v,
                    qemuDumps);
        }

        /** Returns this spec with QEMU's own dumps {@code v} (comma-separated: elf, kdump-zlib, …, ranges, none). */
        public Spec withQemuDumps(String v) {
            return new Spec(arch, machine, memMib, smp, kaslr, fillMib, dumpGuestCore, load, core, reserveOff,
                    bootLinux, v);
        }

        /** Returns the script's command-line options for this spec. */
        public List<String> options() {
            List<String> o = new ArrayList<>(List.of("--arch", arch.option(), "--mem", Integer.toString(memMib),
                    "--smp", Integer.toString(smp), "--kaslr", kaslr ? "on" : "off", "--fill",
                    Integer.toString(fillMib), "--dump-guest-core", dumpGuestCore ? "on" : "off", "--load",
                    load.name().toLowerCase(Locale.ROOT), "--core", core.name().toLowerCase(Locale.ROOT),
                    "--backend", reserveOff ? "reserve-off" : "default", "--boot", bootLinux ? "linux" : "none"));
            if (machine != null) {
                o.addAll(List.of("--machine", machine));
            }
            if (qemuDumps != null) {
                o.addAll(List.of("--qemu-dump", qemuDumps));
            }
            return o;
        }
    }

    /** A write of {@code -device loader} into the RAM of a guest that never ran (loader.txt). */
    public record LoaderWrite(long guestPaddr, long size, String sha256, Path file) {
    }

    /**
     * QEMU's ELF dump (paging=false, begin/length) of one guest-physical range ({@code --qemu-dump present},
     * qemu-pages.txt): a {@code data} range holds pages the host had present when QEMU stopped (together the data
     * ranges hold all of them), a {@code hole} range none. A page of guest RAM in neither was never written and
     * reads as zero.
     *
     * @param hole       true for a sampled range without present pages, false for a data range
     * @param guestPaddr where the range starts
     * @param length     its length in bytes; QEMU's dump holds the RAM in it only
     * @param file       QEMU's ELF dump of it
     */
    public record RangeDump(boolean hole, long guestPaddr, long length, Path file) {

        /** Returns the end of the range (exclusive). */
        public long guestPaddrEnd() {
            return guestPaddr + length;
        }
    }

    /** The 256 MiB pc guest, KASLR on. */
    public static QemuFixture pc256() {
        return get("pc", 256, "on", 0, "on");
    }

    /** The 3 GiB q35 guest (RAM split below and above 4 GiB), KASLR on. */
    public static QemuFixture q35big() {
        return get("q35", 3072, "on", 0, "on");
    }

    /** A pc guest run with dump-guest-core=off: its RAM is absent from the core. */
    public static QemuFixture pc256NoGuestCore() {
        return get("pc", 256, "on", 0, "off");
    }

    /** The 256 MiB pc guest booted with {@code nokaslr}: vmlinux's addresses hold in the guest (gdb, drgn). */
    public static QemuFixture pc256KaslrOff() {
        return of(Spec.x86("pc", 256).withKaslr(false));
    }

    /** The 256 MiB pc guest with both vCPUs busy in the kernel ({@code dd} loops) when QEMU stopped. */
    public static QemuFixture pc256Busy() {
        return of(Spec.x86("pc", 256).withLoad(Load.BUSY));
    }

    /** The 256 MiB pc guest whose last vCPU panicked ({@code sysrq c}, {@code panic=0}) before QEMU stopped. */
    public static QemuFixture pc256Panicked() {
        return of(Spec.x86("pc", 256).withLoad(Load.PANIC));
    }

    /**
     * The 256 MiB pc guest with page cache, anonymous memory, tmpfs and hugetlbfs pages in its RAM ({@link Load#MEMORY}):
     * every class of page a dump level leaves out.
     */
    public static QemuFixture pc256Memory() {
        return of(Spec.x86("pc", 256).withLoad(Load.MEMORY));
    }

    /** The idle 256 MiB pc guest, its core written by the host kernel (SIGABRT to the paused QEMU; sparse). */
    public static QemuFixture pc256KernelCore() {
        return of(Spec.x86("pc", 256).withCore(CoreKind.KERNEL));
    }

    /**
     * A 64 GiB q35 guest ({@code memory-backend-ram,reserve=off}) booted to the usual marker and pattern; its core
     * written by the host kernel: 64 GiB long, about 1.5 GB of data, the rest holes. QEMU's own ground truth: its
     * ELF dumps of the ranges the host held pages of and of 16 sampled ranges it held none of
     * ({@link #rangeDumps()}: every other page is zero), and its kdump-zlib where the host has a zero page (without,
     * QEMU's full dump would make the whole guest resident, so the script skips it; {@link #qemuDump(String)} skips
     * or fails in CI).
     */
    public static QemuFixture q35Mem64g() {
        return of(Spec.x86("q35", 65536).withReserveOff(true).withCore(CoreKind.KERNEL));
    }

    /**
     * A 1 TiB q35 guest that never ran ({@code -S}, {@code -cpu qemu64,phys-bits=46}, reserve=off): RAM holds only
     * the {@link #loaderWrites()}; the core is the host kernel's (1 TiB long, ~130 MB of data). QEMU 7.2 puts this
     * guest's RAM above 4 GiB at 1 TiB (qemu64 is an AMD model). Ground truth: the loader files and, per write,
     * QEMU's ELF dump filtered to its pages ({@link #qemuRangeDumps()}); no full dump (it would read 1 TiB).
     */
    public static QemuFixture q35Mem1tStopped() {
        return of(Spec.x86("q35", 1048576).withReserveOff(true).withBootLinux(false).withCore(CoreKind.KERNEL));
    }

    /** The idle 256 MiB arm64 guest: qemu-system-aarch64 {@code -machine virt -cpu cortex-a57}, Debian cloud-arm64. */
    public static QemuFixture aarch64() {
        return of(Spec.of(Arch.AARCH64));
    }

    /** The 256 MiB arm64 guest with both vCPUs busy ({@code dd} loops pinned to each CPU) when QEMU stopped. */
    public static QemuFixture aarch64Busy() {
        return of(Spec.of(Arch.AARCH64).withLoad(Load.BUSY));
    }

    /** The idle 256 MiB s390x guest: qemu-system-s390x {@code s390-ccw-virtio} (no fw_cfg: no vmcoreinfo device). */
    public static QemuFixture s390x() {
        return of(Spec.of(Arch.S390X));
    }

    /**
     * The idle 256 MiB ppc64le guest: qemu-system-ppc64 {@code pseries} with its default VGA (vga.vram is RAM mapped
     * at 0x200080000000, which QEMU dumps), Debian powerpc64le (64 KiB pages; no fw_cfg).
     */
    public static QemuFixture ppc64le() {
        return of(Spec.of(Arch.PPC64LE));
    }

    /** The idle 256 MiB i386 guest: qemu-system-i386 {@code pc}, Debian 686-pae. */
    public static QemuFixture i386() {
        return of(Spec.of(Arch.I386));
    }

    /** Makes (or finds cached) the fixture for these parameters (the old x86_64 signature). */
    public static QemuFixture get(String machine, int memMib, String kaslr, int fillMib, String dumpGuestCore) {
        return of(Spec.x86(machine, memMib).withKaslr("on".equals(kaslr)).withFillMib(fillMib)
                .withDumpGuestCore("on".equals(dumpGuestCore)));
    }

    /** Makes (or finds cached) the fixture for {@code spec}; skips (fails in CI) when a prerequisite is missing. */
    public static QemuFixture of(Spec spec) {
        // Not computeIfAbsent: make() may skip (an exception) and takes minutes; one build per spec at a time is
        // enough, the script's own lock serialises builders across JVMs.
        synchronized (MADE) {
            QemuFixture f = MADE.get(spec);
            if (f == null) {
                f = make(spec);
                MADE.put(spec, f);
            }
            return f;
        }
    }

    /** Returns the core of the QEMU process, what vmdumpfs mounts. */
    public Path core() {
        return dir.resolve("qemu.core");
    }

    /** QEMU's own dump-guest-memory ELF (paging=false) of the same stopped guest; skips (fails in CI) if absent. */
    public Path qemuDumpElf() {
        return qemuDump("elf");
    }

    /**
     * Returns QEMU's own dump-guest-memory file of {@code format} ({@code elf}, {@code kdump-zlib}, …); skips (fails
     * in CI) when this fixture has none, saying why (not asked for, or skipped on a host without a zero page). QEMU
     * 7.2 writes its kdump files in the flattened format: see {@link #unflattened(Path, Path)}.
     */
    public Path qemuDump(String format) {
        Path p = dir.resolve("qemu-dump." + format);
        String skipped = meta.getOrDefault("QEMU_DUMPS_SKIPPED", "");
        require(Files.isRegularFile(p), "fixture " + dir.getFileName() + " has no QEMU " + format + " dump"
                + (List.of(skipped.split(" ")).contains(format)
                        ? " (skipped: host without a zero page, guest of " + get("MEM_MIB") + " MiB)"
                        : " (made with --qemu-dump " + meta.get("QEMU_DUMPS") + ")"));
        return p;
    }

    /** Returns QEMU's ELF dumps filtered to each loader write's pages, in {@link #loaderWrites()} order. */
    public List<Path> qemuRangeDumps() {
        List<Path> out = new ArrayList<>();
        for (int i = 0; i < loaderWrites().size(); i++) {
            out.add(dir.resolve("qemu-dump-range-" + i + ".elf"));
        }
        return out;
    }

    /**
     * Returns QEMU's ELF dumps of the ranges the host held pages of and of sampled ranges it held none of
     * (qemu-pages.txt, {@code --qemu-dump present}), data ranges first, each kind ascending; skips (fails in CI) when
     * the fixture has none.
     */
    public List<RangeDump> rangeDumps() {
        Path f = dir.resolve("qemu-pages.txt");
        require(Files.isRegularFile(f), "fixture " + dir.getFileName() + " has no qemu-pages.txt (made with --qemu-dump "
                + meta.get("QEMU_DUMPS") + ")");
        List<RangeDump> out = new ArrayList<>();
        try {
            for (String line : Files.readAllLines(f)) {
                String[] w = line.strip().split("\\s+");
                if (w.length != 4 || line.startsWith("#")) {
                    continue;
                }
                if (!w[0].equals("data") && !w[0].equals("hole")) {
                    fail(f + ": unknown kind in '" + line + "'");
                }
                out.add(new RangeDump(w[0].equals("hole"), Long.parseUnsignedLong(w[1].substring(2), 16),
                        Long.parseLong(w[2]), dir.resolve(w[3])));
            }
        } catch (IOException e) {
            throw new AssertionError("cannot read " + f, e);
        }
        return out;
    }

    /** Returns the guest's facts (guest-facts.txt); fails for a guest that never ran. */
    public GuestFacts guestFacts() {
        return GuestFacts.read(dir.resolve("guest-facts.txt"));
    }

    /** Returns the writes into a guest that never ran (loader.txt); empty for booted guests. */
    public List<LoaderWrite> loaderWrites() {
        Path f = dir.resolve("loader.txt");
        if (!Files.exists(f)) {
            return List.of();
        }
        List<LoaderWrite> out = new ArrayList<>();
        try {
            for (String line : Files.readAllLines(f)) {
                String[] w = line.strip().split("\\s+");
                if (w.length == 4) {
                    out.add(new LoaderWrite(Long.parseUnsignedLong(w[0].substring(2), 16), Long.parseLong(w[1]), w[2],
                            dir.resolve(w[3])));
                }
            }
        } catch (IOException e) {
            throw new AssertionError("cannot read " + f, e);
        }
        return out;
    }

    /** Returns the guest's RAM size in bytes (MEM_MIB). */
    public long memBytes() {
        return Long.parseLong(get("MEM_MIB")) << 20;
    }

    /** Returns the guest architecture. */
    public Arch arch() {
        return Arch.valueOf(meta.getOrDefault("ARCH", "x86_64").toUpperCase(Locale.ROOT));
    }

    /** Returns a meta.env value (quotes removed), or fails. */
    public String get(String key) {
        String v = meta.get(key);
        if (v == null) {
            fail("meta.env of " + dir + " has no " + key);
        }
        return v;
    }

    /**
     * Returns a copy of the core's first {@code bytes} bytes in {@code toDir} (a core cut by a size limit, a full disk
     * or an interrupted copy), sparse where the core is: {@code cp --sparse=always}, then truncated. The fixture is
     * never written to.
     */
    public Path truncatedCopy(Path toDir, long bytes) {
        try {
            long size = Files.size(core());
            if (bytes < 0 || bytes > size) {
                throw new IllegalArgumentException(bytes + " bytes: the core has " + size);
            }
            Path out = toDir.resolve("qemu.core.head-" + bytes);
            Process p = new ProcessBuilder("cp", "--sparse=always", core().toString(), out.toString())
                    .redirectErrorStream(true).start();
            String msg = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (p.waitFor() != 0) {
                fail("cp " + core() + " " + out + ": " + msg.strip());
            }
            try (FileChannel ch = FileChannel.open(out, StandardOpenOption.WRITE)) {
                ch.truncate(bytes);
            }
            return out;
        } catch (IOException e) {
            throw new AssertionError("cannot copy " + core(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    /**
     * Returns {@code flattened} (QEMU 7.2's kdump files: makedumpfile's flattened stream) rewritten as an ordinary
     * kdump-compressed file in {@code toDir} by {@code makedumpfile -R}, which libkdumpfile and crash open.
     */
    public static Path unflattened(Path flattened, Path toDir) {
        requireCommand("makedumpfile", "apt-get install makedumpfile");
        Path out = toDir.resolve(flattened.getFileName() + ".unflattened");
        try {
            Process p = new ProcessBuilder("makedumpfile", "-R", out.toString())
                    .redirectInput(flattened.toFile()).redirectErrorStream(true).start();
            String msg = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (p.waitFor() != 0) {
                fail("makedumpfile -R " + out + " < " + flattened + ": " + msg.strip());
            }
            return out;
        } catch (IOException e) {
            throw new AssertionError("cannot run makedumpfile -R", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    /** Returns the repository root (VMDUMPFS_ROOT, set by the build, or the nearest parent holding scripts/). */
    public static Path repoRoot() {
        String env = System.getenv("VMDUMPFS_ROOT");
        if (env != null && Files.isRegularFile(Path.of(env, "scripts", "make-qemu-core.sh"))) {
            return Path.of(env);
        }
        Path p = Path.of("").toAbsolutePath();
        while (p != null && !Files.isRegularFile(p.resolve("scripts/make-qemu-core.sh"))) {
            p = p.getParent();
        }
        if (p == null) {
            fail("cannot find scripts/make-qemu-core.sh above " + Path.of("").toAbsolutePath());
        }
        return p;
    }

    /** Skips (or, in CI, fails) unless {@code command} is on the PATH. */
    public static void requireCommand(String command, String hint) {
        boolean found = false;
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
            if (Files.isExecutable(Path.of(dir, command))) {
                found = true;
                break;
            }
        }
        require(found, command + " not found (" + hint + ")");
    }

    /** Skips the test with {@code why} unless {@code ok}; in CI (CI=true) fails instead, since CI installs all. */
    public static void require(boolean ok, String why) {
        if (ok) {
            return;
        }
        if ("true".equals(System.getenv("CI"))) {
            fail("prerequisite missing in CI: " + why);
        }
        Assumptions.assumeTrue(false, why);
    }

    private static QemuFixture make(Spec spec) {
        requireCommand(spec.arch().qemu(), "apt-get install " + spec.arch().debPackage);
        if (spec.core() == CoreKind.GCORE) {
            requireCommand("gdb", "apt-get install gdb");
        }
        if (spec.arch() == Arch.X86_64 && spec.bootLinux()) {
            requireCommand("busybox", "apt-get install busybox-static");
        }
        Path script = repoRoot().resolve("scripts/make-qemu-core.sh");
        List<String> cmd = new ArrayList<>(List.of("bash", script.toString()));
        cmd.addAll(spec.options());
        String args = String.join(" ", spec.options());
        try {
            Path log = Files.createTempFile("make-qemu-core", ".log");
            Process p = new ProcessBuilder(cmd).redirectError(log.toFile()).start();
            byte[] out = p.getInputStream().readAllBytes();
            if (!p.waitFor(30, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                fail("make-qemu-core.sh " + args + " still running after 30 minutes; log " + log);
            }
            String err = Files.readString(log);
            if (p.exitValue() == EXIT_MISSING) {
                Files.deleteIfExists(log);
                require(false, "make-qemu-core.sh " + args + ": " + lastLine(err));
            }
            if (p.exitValue() != 0) {
                fail("make-qemu-core.sh " + args + " failed: " + lastLine(err) + "\n"
                        + err.substring(Math.max(0, err.length() - 3000)));
            }
            Files.deleteIfExists(log);
            String[] lines = new String(out, StandardCharsets.UTF_8).strip().split("\n");
            Path dir = Path.of(lines[lines.length - 1].strip());
            return new QemuFixture(dir, readMeta(dir.resolve("meta.env")));
        } catch (IOException e) {
            throw new AssertionError("cannot run " + script, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    /** Returns the script's one-line diagnosis: its last "error:"/"missing:" line, else the last line. */
    private static String lastLine(String log) {
        String[] lines = log.strip().split("\n");
        for (int i = lines.length - 1; i >= 0; i--) {
            if (lines[i].contains(": error: ") || lines[i].contains(": missing: ")) {
                return lines[i].strip();
            }
        }
        return lines[lines.length - 1].strip();
    }

    private static Map<String, String> readMeta(Path file) throws IOException {
        Map<String, String> m = new LinkedHashMap<>();
        for (String line : Files.readAllLines(file)) {
            int eq = line.indexOf('=');
            if (eq <= 0 || line.startsWith("#")) {
                continue;
            }
            String v = line.substring(eq + 1);
            if (v.length() >= 2 && (v.startsWith("'") && v.endsWith("'") || v.startsWith("\"") && v.endsWith("\""))) {
                v = v.substring(1, v.length() - 1);
            }
            m.put(line.substring(0, eq), v);
        }
        return m;
    }
}
