package io.vmdumpfs.core.testing;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Locale;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.TimeUnit;

/**
 * libkdumpfile as a judge of dump files: runs {@code libkdumpfile_reader.py} (a test resource) with
 * {@code /usr/bin/python3} and Debian's {@code python3-libkdumpfile} 0.5.1, which opens ELF vmcores and
 * kdump-compressed files of x86_64, i386 ("ia32"), aarch64, s390x and ppc64, and reads guest-physical pages.
 *
 * <p>What it opens, seen on QEMU 7.2's own dumps: its ELF of x86_64, i386 and aarch64 guests; not its ELF of s390x
 * and ppc64 guests ("Cannot allocate ELF string table": QEMU writes a garbage section-header string-table size);
 * none of its kdump files, which are flattened ("Unknown file format") — after {@link QemuFixture#unflattened} it
 * opens them, without an architecture (QEMU leaves utsname's nodename and version empty, which libkdumpfile refuses
 * as insane) and, for aarch64, with 64 KiB blocks it cannot decompress as 4 KiB pages.
 *
 * <p>Reading guest-physical addresses uses libkdumpfile's machine-physical space ({@link Space#MACHPHYS}): its
 * kernel-physical space needs the address translation set up, which fails on QEMU's x86_64 ELF ("Cannot determine
 * 5-level paging").
 */
public final class Libkdumpfile {

    private static final String PYTHON = "/usr/bin/python3";
    private static final String RESOURCE = "libkdumpfile_reader.py";
    private static final long TIMEOUT_MINUTES = 30;
    private static Path script;

    private Libkdumpfile() {
    }

    /** libkdumpfile's address spaces. */
    public enum Space {
        /** Guest-physical (KDUMP_MACHPHYSADDR). */
        MACHPHYS,
        /** Kernel-physical (KDUMP_KPHYSADDR): needs libkdumpfile's address translation. */
        KPHYS,
        /** Kernel virtual (KDUMP_KVADDR), through the guest's page tables as libkdumpfile finds them. */
        KVADDR
    }

    /**
     * What libkdumpfile says about an opened dump.
     *
     * @param format      file.format ("elf", "diskdump", …)
     * @param description file.description ("ELF64 dump", …)
     * @param arch        arch.name ("x86_64", "ia32", "aarch64", "s390x", "ppc64"), or null when it found none
     * @param byteOrder   arch.byte_order, or null
     * @param pageSize    arch.page_size, or 0
     * @param utsname     linux.uts.* it accepted (sysname, nodename, release, version, machine, domainname)
     * @param vmcoreinfo  the VMCOREINFO lines it found (OSRELEASE, PAGESIZE, SYMBOL(init_uts_ns), …)
     * @param attrs       every scalar attribute, as text ("cpu.0.reg.rip", "linux.phys_base", "max_pfn", …)
     * @param pagemap     the runs of page frames the file holds, {first, end} with end exclusive
     */
    public record Info(String format, String description, String arch, ByteOrder byteOrder, int pageSize,
            Map<String, String> utsname, Map<String, String> vmcoreinfo, Map<String, String> attrs,
            List<long[]> pagemap) {

        /** Returns cpu.number, if libkdumpfile knows it. */
        public OptionalInt cpus() {
            String v = attrs.get("cpu.number");
            return v == null ? OptionalInt.empty() : OptionalInt.of(Integer.parseInt(v));
        }

        /** Returns OSRELEASE: utsname's release, else VMCOREINFO's. */
        public Optional<String> osRelease() {
            return Optional.ofNullable(utsname.getOrDefault("release", vmcoreinfo.get("OSRELEASE")));
        }

        /** Returns the number of pages the file holds. */
        public long pageCount() {
            return pagemap.stream().mapToLong(r -> r[1] - r[0]).sum();
        }
    }

    /** Receives what {@link #read} finds, in address order. */
    public interface PageVisitor {

        /** {@code bytes} (position 0) are the data at {@code address}; valid only during the call. */
        void data(long address, ByteBuffer bytes);

        /** {@code length} bytes at {@code address} were not read, for libkdumpfile's reason {@code why}. */
        void absent(long address, long length, String why);
    }

    /**
     * How two dumps compared through libkdumpfile.
     *
     * @param bytesEqual  bytes read from the dump under test and equal to the reference
     * @param bytesAbsent bytes of the reference the dump under test does not hold
     * @param absentWhy   libkdumpfile's reason for the first absent range, or null
     */
    public record Comparison(long bytesEqual, long bytesAbsent, String absentWhy) {
    }

    /** Returns libkdumpfile's view of {@code dump}; fails the test with its message if it cannot open it. */
    public static Info open(Path dump) {
        Map<String, List<String>> lines = infoLines(dump);
        if (!"true".equals(first(lines, "ok"))) {
            fail("libkdumpfile cannot open " + dump + ": " + first(lines, "exception") + ": " + first(lines, "error"));
        }
        Map<String, String> uts = new LinkedHashMap<>();
        Map<String, String> vmcoreinfo = new LinkedHashMap<>();
        Map<String, String> attrs = new LinkedHashMap<>();
        for (Map.Entry<String, List<String>> e : lines.entrySet()) {
            String k = e.getKey();
            String v = e.getValue().get(0);
            if (k.startsWith("uts.")) {
                uts.put(k.substring(4), v);
            } else if (k.startsWith("vmcoreinfo.")) {
                vmcoreinfo.put(k.substring(11), v);
            } else if (k.startsWith("attr.")) {
                attrs.put(k.substring(5), v);
            }
        }
        List<long[]> pagemap = new ArrayList<>();
        for (String run : lines.getOrDefault("pagemap", List.of())) {
            String[] w = run.split(" ");
            pagemap.add(new long[] {Long.parseLong(w[0]), Long.parseLong(w[1])});
        }
        if (lines.containsKey("pagemap_error") || lines.containsKey("pagemap_truncated")) {
            fail("libkdumpfile's page map of " + dump + ": " + first(lines, "pagemap_error") + " truncated="
                    + first(lines, "pagemap_truncated"));
        }
        String order = first(lines, "byte_order");
        String pageSize = first(lines, "page_size");
        return new Info(first(lines, "format"), first(lines, "description"), first(lines, "arch"),
                order == null ? null : "big".equals(order) ? ByteOrder.BIG_ENDIAN : ByteOrder.LITTLE_ENDIAN,
                pageSize == null ? 0 : Integer.parseInt(pageSize), Map.copyOf(uts), Map.copyOf(vmcoreinfo),
                Map.copyOf(attrs), List.copyOf(pagemap));
    }

    /** Returns libkdumpfile's reason for refusing {@code dump} ("Exception: message"), or empty if it opens it. */
    public static Optional<String> openError(Path dump) {
        Map<String, List<String>> lines = infoLines(dump);
        if ("true".equals(first(lines, "ok"))) {
            return Optional.empty();
        }
        return Optional.of(first(lines, "exception") + ": " + first(lines, "error"));
    }

    /**
     * Reads {@code ranges} ({start, length} pairs in {@code space}) from {@code dump} and hands each run of data and
     * each run of unreadable bytes to {@code visitor}, in order. One python process for all ranges.
     */
    public static void read(Path dump, Space space, List<long[]> ranges, PageVisitor visitor) {
        StringBuilder req = new StringBuilder();
        for (long[] r : ranges) {
            req.append(Long.toHexString(r[0])).append(' ').append(Long.toHexString(r[0] + r[1])).append('\n');
        }
        try {
            // stderr goes to a file: a pipe nobody drains could fill and stall the reader.
            Path err = Files.createTempFile("libkdumpfile", ".err");
            try {
                Process p = start(dump, err, "read", space.name().toLowerCase(Locale.ROOT));
                Thread feeder = new Thread(() -> {
                    try (OutputStream o = p.getOutputStream()) {
                        o.write(req.toString().getBytes(StandardCharsets.US_ASCII));
                    } catch (IOException e) {
                        // the reader died; its exit status and stderr say why
                    }
                });
                feeder.start();
                boolean done = false;
                try (DataInputStream in = new DataInputStream(new BufferedInputStream(p.getInputStream(), 1 << 20))) {
                    readFrames(dump, in, visitor);
                    done = true;
                } catch (EOFException e) {
                    p.waitFor(10, TimeUnit.SECONDS);
                    fail("libkdumpfile reader stopped early on " + dump + ": " + Files.readString(err).strip());
                } finally {
                    if (!done) {
                        p.destroy();   // a failed visitor leaves the reader writing into a closed pipe
                    }
                }
                feeder.join();
                finish(p, dump, err);
            } finally {
                Files.deleteIfExists(err);
            }
        } catch (IOException e) {
            throw new AssertionError("cannot run the libkdumpfile reader on " + dump, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    /** Returns {@code length} bytes at {@code address} of {@code space}; fails if libkdumpfile cannot read them all. */
    public static byte[] read(Path dump, Space space, long address, int length) {
        ByteBuffer out = ByteBuffer.allocate(length);
        read(dump, space, List.of(new long[] {address, length}), new PageVisitor() {
            @Override
            public void data(long at, ByteBuffer bytes) {
                out.put((int) (at - address), bytes, 0, bytes.remaining());
            }

            @Override
            public void absent(long at, long len, String why) {
                fail("libkdumpfile cannot read 0x" + Long.toHexString(at) + "+0x" + Long.toHexString(len) + " of "
                        + dump + ": " + why);
            }
        });
        return out.array();
    }

    /**
     * Compares every byte of every PT_LOAD of {@code qemuElf} (QEMU's own ELF dump: p_paddr, p_filesz) with what
     * libkdumpfile reads at the same guest-physical addresses of {@code dump}. Fails at the first page that differs;
     * bytes libkdumpfile cannot read are counted (the caller decides whether absence is allowed).
     */
    public static Comparison compareWithElf(Path dump, Path qemuElf) {
        List<long[]> loads = ElfLoads.of(qemuElf);
        long[] equal = {0};
        long[] absent = {0};
        String[] why = {null};
        try (FileChannel ref = FileChannel.open(qemuElf, StandardOpenOption.READ)) {
            List<long[]> ranges = new ArrayList<>();
            for (long[] l : loads) {
                ranges.add(new long[] {l[0], l[2]});
            }
            read(dump, Space.MACHPHYS, ranges, new PageVisitor() {
                private final ByteBuffer want = ByteBuffer.allocate(1 << 21);

                @Override
                public void data(long address, ByteBuffer bytes) {
                    long fileOffset = ElfLoads.fileOffset(loads, address, bytes.remaining());
                    want.clear().limit(bytes.remaining());
                    try {
                        while (want.hasRemaining()) {
                            if (ref.read(want, fileOffset + want.position()) < 0) {
                                fail(qemuElf + " ends before its PT_LOAD data");
                            }
                        }
                    } catch (IOException e) {
                        throw new AssertionError("cannot read " + qemuElf, e);
                    }
                    want.flip();
                    int m = want.mismatch(bytes);
                    if (m >= 0) {
                        fail("guest-physical page 0x" + Long.toHexString((address + m) & ~0xfffL) + " read by "
                                + "libkdumpfile from " + dump + " differs from " + qemuElf);
                    }
                    equal[0] += bytes.remaining();
                }

                @Override
                public void absent(long address, long length, String reason) {
                    absent[0] += length;
                    if (why[0] == null) {
                        why[0] = "0x" + Long.toHexString(address) + "+0x" + Long.toHexString(length) + ": " + reason;
                    }
                }
            });
        } catch (IOException e) {
            throw new AssertionError("cannot open " + qemuElf, e);
        }
        return new Comparison(equal[0], absent[0], why[0]);
    }

    private static void readFrames(Path dump, DataInputStream in, PageVisitor visitor) throws IOException {
        byte[] buf = new byte[0];
        while (true) {
            int type = in.readUnsignedByte();
            switch (type) {
                case 'D' -> {
                    long address = in.readLong();
                    int length = in.readInt();
                    if (buf.length < length) {
                        buf = new byte[length];
                    }
                    in.readFully(buf, 0, length);
                    visitor.data(address, ByteBuffer.wrap(buf, 0, length).slice());
                }
                case 'A' -> {
                    long address = in.readLong();
                    long length = in.readLong();
                    visitor.absent(address, length, readText(in));
                }
                case 'F' -> fail("libkdumpfile cannot open " + dump + ": " + readText(in));
                case 'E' -> {
                    return;
                }
                default -> fail("libkdumpfile reader wrote frame type " + type + " for " + dump);
            }
        }
    }

    private static String readText(DataInputStream in) throws IOException {
        byte[] b = new byte[in.readUnsignedShort()];
        in.readFully(b);
        return new String(b, StandardCharsets.UTF_8);
    }

    private static Map<String, List<String>> infoLines(Path dump) {
        try {
            Path err = Files.createTempFile("libkdumpfile", ".err");
            try {
                Process p = start(dump, err, "info");
                p.getOutputStream().close();
                String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                finish(p, dump, err);
                Map<String, List<String>> lines = new LinkedHashMap<>();
                for (String line : out.split("\n")) {
                    int tab = line.indexOf('\t');
                    if (tab > 0) {
                        lines.computeIfAbsent(line.substring(0, tab), k -> new ArrayList<>())
                                .add(unescape(line.substring(tab + 1)));
                    }
                }
                return lines;
            } finally {
                Files.deleteIfExists(err);
            }
        } catch (IOException e) {
            throw new AssertionError("cannot run the libkdumpfile reader on " + dump, e);
        }
    }

    private static Process start(Path dump, Path err, String... args) throws IOException {
        QemuFixture.require(Files.isExecutable(Path.of(PYTHON)), PYTHON + " missing (apt-get install python3)");
        try {
            Process probe = new ProcessBuilder(PYTHON, "-c", "import kdumpfile").redirectErrorStream(true).start();
            probe.getInputStream().readAllBytes();
            QemuFixture.require(probe.waitFor() == 0,
                    "python module kdumpfile missing (apt-get install python3-libkdumpfile)");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
        List<String> cmd = new ArrayList<>(List.of(PYTHON, script().toString(), dump.toString()));
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd).redirectError(err.toFile()).start();
    }

    private static void finish(Process p, Path dump, Path err) throws IOException {
        try {
            if (!p.waitFor(TIMEOUT_MINUTES, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                fail("libkdumpfile reader did not finish on " + dump);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
        if (p.exitValue() != 0) {
            fail("libkdumpfile reader failed on " + dump + " (exit " + p.exitValue() + "): "
                    + Files.readString(err).strip());
        }
    }

    /** Returns the reader script, copied once from the test resources to a temporary file. */
    private static synchronized Path script() throws IOException {
        if (script == null) {
            Path f = Files.createTempFile("libkdumpfile_reader", ".py");
            f.toFile().deleteOnExit();
            try (InputStream in = Libkdumpfile.class.getResourceAsStream(RESOURCE)) {
                if (in == null) {
                    fail("test resource " + RESOURCE + " missing next to " + Libkdumpfile.class.getName());
                }
                Files.copy(in, f, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
            script = f;
        }
        return script;
    }

    private static String first(Map<String, List<String>> lines, String key) {
        List<String> v = lines.get(key);
        return v == null ? null : v.get(0);
    }

    private static String unescape(String s) {
        if (s.indexOf('\\') < 0) {
            return s;
        }
        StringBuilder b = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 1 < s.length()) {
                char n = s.charAt(++i);
                b.append(n == 't' ? '\t' : n == 'n' ? '\n' : n);
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }

    /** The PT_LOADs of an ELF dump of either class and byte order (QEMU's s390x/ppc64 dumps upset readelf). */
    static final class ElfLoads {

        private ElfLoads() {
        }

        /** Returns {p_paddr, p_offset, p_filesz} of every PT_LOAD with data, in header order. */
        static List<long[]> of(Path elf) {
            try (FileChannel ch = FileChannel.open(elf, StandardOpenOption.READ)) {
                ByteBuffer eh = ByteBuffer.allocate(64);
                ch.read(eh, 0);
                if (eh.getInt(0) != 0x7f454c46) {
                    fail(elf + " is not an ELF file");
                }
                boolean is64 = eh.get(4) == 2;
                eh.order(eh.get(5) == 2 ? ByteOrder.BIG_ENDIAN : ByteOrder.LITTLE_ENDIAN);
                long phoff = is64 ? eh.getLong(32) : Integer.toUnsignedLong(eh.getInt(28));
                int phentsize = Short.toUnsignedInt(eh.getShort(is64 ? 54 : 42));
                int phnum = Short.toUnsignedInt(eh.getShort(is64 ? 56 : 44));
                ByteBuffer ph = ByteBuffer.allocate(phentsize * phnum).order(eh.order());
                ch.read(ph, phoff);
                List<long[]> out = new ArrayList<>();
                for (int i = 0; i < phnum; i++) {
                    int b = i * phentsize;
                    if (ph.getInt(b) != 1) {
                        continue;
                    }
                    long offset = is64 ? ph.getLong(b + 8) : Integer.toUnsignedLong(ph.getInt(b + 4));
                    long paddr = is64 ? ph.getLong(b + 24) : Integer.toUnsignedLong(ph.getInt(b + 12));
                    long filesz = is64 ? ph.getLong(b + 32) : Integer.toUnsignedLong(ph.getInt(b + 16));
                    if (filesz > 0) {
                        out.add(new long[] {paddr, offset, filesz});
                    }
                }
                return out;
            } catch (IOException e) {
                throw new AssertionError("cannot read " + elf, e);
            }
        }

        /** Returns the file offset of {@code length} bytes at guest-physical {@code address}, inside one PT_LOAD. */
        static long fileOffset(List<long[]> loads, long address, long length) {
            for (long[] l : loads) {
                if (Long.compareUnsigned(address, l[0]) >= 0
                        && Long.compareUnsigned(address + length, l[0] + l[2]) <= 0) {
                    return l[1] + (address - l[0]);
                }
            }
            throw new AssertionError("0x" + Long.toHexString(address) + " is in no PT_LOAD");
        }
    }
}
