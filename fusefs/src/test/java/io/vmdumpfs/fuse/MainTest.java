package io.vmdumpfs.fuse;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MainTest {

    @TempDir
    Path tmp;

    /** Exit code, stdout and stderr of one run. */
    record Run(int rc, String out, String err) {
        /** Asserts the error contract: exit 2 and exactly one stderr line "vmdumpfs: ...". */
        Run oneLineError() {
            assertEquals(2, rc, "exit code; stderr: " + err);
            assertEquals(1, err.lines().count(), "stderr lines: " + err);
            assertTrue(err.startsWith("vmdumpfs: "), err);
            return this;
        }
    }

    static Run run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int rc = Main.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(rc, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void route_positionals_mount() {
        assertArrayEquals(new String[] {"mount", "core", "mnt"}, Main.route(new String[] {"core", "mnt"}));
        assertArrayEquals(new String[] {"mount", "-f", "-o", "ro", "c", "m"},
                Main.route(new String[] {"-f", "-o", "ro", "c", "m"}));
    }

    @Test
    void route_subcommand_unchanged() {
        assertArrayEquals(new String[] {"info", "c"}, Main.route(new String[] {"info", "c"}));
        assertArrayEquals(new String[] {"blocks", "c"}, Main.route(new String[] {"blocks", "c"}));
        assertArrayEquals(new String[] {"mount", "c", "m"}, Main.route(new String[] {"mount", "c", "m"}));
    }

    @Test
    void route_help_toMountHelp() {
        assertArrayEquals(new String[] {"mount", "--help"}, Main.route(new String[] {"--help"}));
        assertArrayEquals(new String[] {"mount", "--help"}, Main.route(new String[] {"-h"}));
        assertArrayEquals(new String[] {"mount", "--help"}, Main.route(new String[] {"help"}));
        assertArrayEquals(new String[] {"help", "info"}, Main.route(new String[] {"help", "info"}));
    }

    @Test
    void run_help_listsOptionsAndCommands() {
        Run r = run("--help");
        assertEquals(0, r.rc());
        assertTrue(r.out().contains("vmdumpfs [-fd] [--debug] [-o OPT[,OPT...]] CORE MOUNTPOINT"), r.out());
        assertTrue(r.out().contains("cache_size=SIZE"), r.out());
        assertTrue(r.out().contains("convert"), r.out());
        r.out().lines().forEach(l -> assertTrue(l.length() <= 80, "longer than 80 columns: " + l));
    }

    @Test
    void run_version() {
        Run r = run("--version");
        assertEquals(0, r.rc());
        assertTrue(r.out().startsWith("vmdumpfs "), r.out());
    }

    @Test
    void run_noArguments_oneLineError() {
        Run r = run().oneLineError();
        assertEquals("vmdumpfs: missing required parameters: 'CORE', 'MOUNTPOINT' (see vmdumpfs --help)\n", r.err());
    }

    @Test
    void run_unknownFlag_oneLineError() {
        run("--frobnicate", "c", "m").oneLineError();
    }

    @Test
    void run_unknownMountOption_oneLineError() throws IOException {
        Path m = Files.createDirectory(tmp.resolve("m"));
        Run r = run("-o", "ro,bogus", "core", m.toString()).oneLineError();
        assertEquals("vmdumpfs: unknown mount option 'bogus'; see vmdumpfs --help\n", r.err());
    }

    @Test
    void run_optionsAfterPositionals_parsedLikeMountFuse() throws IOException {
        // mount.fuse runs "vmdumpfs CORE MNT -o OPTIONS".
        Path m = Files.createDirectory(tmp.resolve("m"));
        Run r = run("core", m.toString(), "-o", "rw,nodev,bogus").oneLineError();
        assertEquals("vmdumpfs: unknown mount option 'bogus'; see vmdumpfs --help\n", r.err());
    }

    @Test
    void run_mountPointMissing_oneLineError() {
        Run r = run(tmp.resolve("core").toString(), tmp.resolve("nope").toString()).oneLineError();
        assertTrue(r.err().contains("does not exist"), r.err());
    }

    @Test
    void run_mountPointNotEmpty_oneLineError() throws IOException {
        Path m = Files.createDirectory(tmp.resolve("m"));
        Files.writeString(m.resolve("x"), "x");
        assertTrue(run("c", m.toString()).oneLineError().err().contains("is not empty"));
    }

    @Test
    void run_infoMissingCore_oneLineError() {
        Path core = tmp.resolve("missing.core");
        Run r = run("info", core.toString()).oneLineError();
        assertEquals("vmdumpfs: " + core + ": no such file\n", r.err());
    }

    @Test
    void run_blocksNotACore_oneLineError() throws IOException {
        Path core = Files.writeString(tmp.resolve("text.core"), "hello, not an ELF file\n");
        Run r = run("blocks", core.toString()).oneLineError();
        assertTrue(r.err().contains("not an ELF file"), r.err());
    }

    @Test
    void run_debug_addsStackTrace() throws IOException {
        Path core = Files.writeString(tmp.resolve("text.core"), "hello\n");
        Run r = run("blocks", "--debug", core.toString());
        assertEquals(2, r.rc());
        assertTrue(r.err().lines().count() > 1, r.err());
        assertTrue(r.err().contains("at io.vmdumpfs."), r.err());
    }

    @Test
    void run_blocksTinyCore_printsTable() throws IOException {
        TinyCore c = TinyCore.write(tmp);
        Run r = run("blocks", "--blocks", c.blocks().toString(), c.core().toString());
        assertEquals(0, r.rc(), r.err());
        assertEquals(3, r.out().lines().count(), r.out());
        assertTrue(r.out().lines().skip(1).findFirst().get().endsWith(" pc.ram"), r.out());
    }

    @Test
    void run_infoTinyCore_printsVmcoreinfo() throws IOException {
        TinyCore c = TinyCore.write(tmp);
        Run r = run("info", "--blocks", c.blocks().toString(), c.core().toString());
        assertEquals(0, r.rc(), r.err());
        assertTrue(r.out().contains("OSRELEASE:    6.1.0-tiny\n"), r.out());
        assertTrue(r.out().contains("KERNELOFFSET: 1c000000\n"), r.out());
        assertTrue(r.out().contains("architecture: x86_64\n"), r.out());
        assertTrue(r.out().contains("blocks:       2, from "), r.out());
    }

    @Test
    void run_infoRiscv64Core_refusedInOneLine() {
        Path core = io.vmdumpfs.core.testing.SyntheticCore.qemu().executable("/usr/bin/qemu-system-riscv64")
                .ram("riscv_virt_board.ram", 0x80000000L, 2 << 20).write(tmp.resolve("riscv.core")).path();
        for (String cmd : new String[] {"info", "blocks"}) {
            Run r = run(cmd, core.toString()).oneLineError();
            assertEquals("vmdumpfs: " + core + ": core of qemu-system-riscv64: riscv64 guests are not supported"
                    + " (supported: x86_64, i386, aarch64, s390x, ppc64)\n", r.err());
        }
    }

    @Test
    void run_infoAarch64Core_namesThePlatformAndWhy() {
        Path core = io.vmdumpfs.core.testing.SyntheticCore.qemu().executable("/usr/bin/qemu-system-aarch64")
                .ram("mach-virt.ram", 0x40000000L, 2 << 20).vmcoreinfo(true).vmcoreinfoDevice(false)
                .vmcoreinfoText("OSRELEASE=6.1.0-arm\nPAGESIZE=16384\nSIZE(list_head)=16\nNUMBER(VA_BITS)=48\n")
                .write(tmp.resolve("arm.core")).path();
        Run r = run("info", core.toString());
        assertEquals(0, r.rc(), r.err());
        assertTrue(r.out().contains("architecture: aarch64\n"), r.out());
        assertTrue(r.out().contains("platform:     aarch64, little-endian, 16 KiB pages; from executable"
                + " qemu-system-aarch64; VMCOREINFO NUMBER(VA_BITS)=48; RAM block mach-virt.ram; VMCOREINFO note"
                + " little-endian; PAGESIZE=16384\n"), r.out());
    }

    @Test
    void run_infoCoreWhoseEvidenceDisagrees_refusedInOneLine() {
        // qemu-system-s390x, but the guest's VMCOREINFO is an x86_64 kernel's: no file labelled with either.
        Path core = io.vmdumpfs.core.testing.SyntheticCore.qemu().executable("/usr/bin/qemu-system-s390x")
                .ram("s390.ram", 0, 2 << 20).vmcoreinfo(true).vmcoreinfoDevice(false)
                .vmcoreinfoOrder(java.nio.ByteOrder.BIG_ENDIAN).write(tmp.resolve("s390.core")).path();
        Run r = run("info", core.toString()).oneLineError();
        assertTrue(r.err().contains("a kernel for x86_64 (NUMBER(phys_base)=-201326592)"), r.err());
        assertTrue(r.err().contains("the evidence disagrees"), r.err());
    }

    @Test
    void describe_userErrorsAsIs_othersAsInternal() {
        assertEquals("bad", Main.describe(new CliException("bad")));
        assertTrue(Main.describe(new NullPointerException("x")).startsWith("internal error: NullPointerException: x"));
        assertTrue(Main.describe(new OutOfMemoryError()).startsWith("out of memory"));
    }

    /** Parses {@code args} as picocli does for the background child (Main.run routes them the same way). */
    private static MountCommand forChild(java.util.List<String> args) {
        String[] a = args.toArray(String[]::new);
        picocli.CommandLine cl = Main.commandLine(System.out, System.err, a[0]);
        cl.parseArgs(a);
        return cl.getSubcommands().get("mount").getCommand();
    }

    @Test
    void forChild_roundTripsChildArgs() {
        MountCommand parent = new MountCommand(System.err);
        parent.debug = true;
        MountOptions opts = MountOptions.parse(java.util.List.of("allow_other,uid=5,blocks=/b\\,c"));
        java.util.List<String> args = parent.childArgs(Path.of("/core"), Path.of("/core.zst"), Path.of("/mnt"), opts);
        MountCommand child = forChild(args);
        assertTrue(child.notifyReady && child.foreground && child.debug());
        assertEquals(Path.of("/core"), child.core);
        assertEquals(Path.of("/core.zst"), child.shownAs);
        assertEquals(Path.of("/mnt"), child.mountPoint);
        assertEquals(opts, MountOptions.parse(child.options));
    }

    @Test
    void forChild_withoutOptions() {
        MountCommand child = forChild(java.util.List.of("mount", Background.NOTIFY_FLAG, "-f", "--", "/c", "/m"));
        assertEquals(java.util.List.of(), child.options);
        assertEquals(Path.of("/m"), child.mountPoint);
    }

    @Test
    void forChild_foreignArguments_rejected() {
        org.junit.jupiter.api.Assertions.assertThrows(picocli.CommandLine.ParameterException.class, () -> forChild(
                java.util.List.of("mount", Background.NOTIFY_FLAG, "-f", "/c", "/m", "x")));
    }

    @Test
    void convert_toFifo_writtenInPlaceNotReplaced() throws Exception {
        // `convert -o /dev/null` once renamed its temporary file over the device node; a FIFO stands in for it here.
        TinyCore core = TinyCore.write(tmp);
        Path fifo = tmp.resolve("out.fifo");
        assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor());
        java.util.concurrent.CompletableFuture<byte[]> got = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return Files.readAllBytes(fifo);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        Run r = run("convert", "--blocks", core.blocks().toString(), "--format", "blocks.txt", "-o", fifo.toString(),
                core.core().toString());
        assertEquals(0, r.rc(), r.err());
        assertTrue(Files.readAttributes(fifo, java.nio.file.attribute.BasicFileAttributes.class,
                java.nio.file.LinkOption.NOFOLLOW_LINKS).isOther(), "still a FIFO");
        String text = new String(got.get(10, java.util.concurrent.TimeUnit.SECONDS), StandardCharsets.UTF_8);
        assertTrue(text.contains("pc.bios"), text);
        try (var dir = Files.list(tmp)) {
            assertTrue(dir.noneMatch(p -> p.getFileName().toString().endsWith(".partial")), "no partial file left");
        }
    }
}
