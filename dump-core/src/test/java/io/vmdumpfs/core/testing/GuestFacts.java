package io.vmdumpfs.core.testing;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * What a fixture's guest said about itself on its console before QEMU stopped ({@code guest-facts.txt}, one
 * "KEY VALUE" per line): ground truth for checks of kernel addresses and utsname that does not come from the dump.
 *
 * <p>Keys: {@code uname-r}, {@code uname-v}, {@code uname-m}, {@code nodename}, {@code domainname}, {@code nproc},
 * {@code cmdline}, {@code vmcoreinfo} ("0xPADDR SIZE" of /sys/kernel/vmcoreinfo: the guest-physical address of the
 * kernel's VMCOREINFO note), {@code kallsyms} ("ADDR TYPE NAME", a few core-kernel symbols; Debian's foreign kernels
 * lack CONFIG_KALLSYMS_ALL, so only their text symbols appear), {@code iomem} ("START-END : NAME" for System RAM and
 * Kernel code/data/bss), {@code busy} ("cpu N pid P" per dd loop), {@code panic-cpu} (the vCPU that panicked).
 *
 * @param lines the file's lines as (key, value) pairs, in order
 */
public record GuestFacts(List<Fact> lines) {

    /** One line of guest-facts.txt. */
    public record Fact(String key, String value) {
    }

    /** A /proc/iomem line: {@code [guestPaddr, guestPaddrEnd]} inclusive, as the kernel prints it. */
    public record IomemRange(long guestPaddr, long guestPaddrEnd, String name) {
    }

    /** Reads {@code file}; fails if it is missing (a guest that never ran has none). */
    public static GuestFacts read(Path file) {
        List<Fact> out = new ArrayList<>();
        try {
            for (String line : Files.readAllLines(file)) {
                int sp = line.indexOf(' ');
                if (sp > 0) {
                    out.add(new Fact(line.substring(0, sp), line.substring(sp + 1)));
                }
            }
        } catch (IOException e) {
            throw new AssertionError("cannot read " + file, e);
        }
        return new GuestFacts(List.copyOf(out));
    }

    /** Returns the first value of {@code key}, or fails. */
    public String value(String key) {
        return find(key).orElseGet(() -> fail("guest-facts.txt has no " + key));
    }

    /** Returns the first value of {@code key}, if the guest reported it. */
    public Optional<String> find(String key) {
        return lines.stream().filter(f -> f.key().equals(key)).map(Fact::value).findFirst();
    }

    /** Returns every value of {@code key}, in order. */
    public List<String> values(String key) {
        return lines.stream().filter(f -> f.key().equals(key)).map(Fact::value).toList();
    }

    /** Returns {@code uname -r}. */
    public String release() {
        return value("uname-r");
    }

    /** Returns {@code uname -v} (utsname.version, e.g. "#1 SMP PREEMPT_DYNAMIC Debian 6.1.192-3 (2026-11-26)"). */
    public String version() {
        return value("uname-v");
    }

    /** Returns {@code uname -m} (utsname.machine: x86_64, i686, aarch64, s390x, ppc64le). */
    public String machine() {
        return value("uname-m");
    }

    /** Returns utsname.nodename ("vmdumpfs-" and the first 8 hex digits of the fixture's TOKEN). */
    public String nodename() {
        return value("nodename");
    }

    /** Returns utsname.domainname ("vmdumpfs.test"). */
    public String domainname() {
        return value("domainname");
    }

    /** Returns the number of online CPUs the guest saw. */
    public int nproc() {
        return Integer.parseInt(value("nproc"));
    }

    /** Returns the kernel virtual address /proc/kallsyms gave {@code symbol}, if the guest listed it. */
    public OptionalLong kallsyms(String symbol) {
        for (String v : values("kallsyms")) {
            String[] w = v.split("\\s+");
            if (w.length == 3 && w[2].equals(symbol)) {
                return OptionalLong.of(Long.parseUnsignedLong(w[0], 16));
            }
        }
        return OptionalLong.empty();
    }

    /** Returns the /proc/iomem ranges named {@code name} ("System RAM", "Kernel code", …), in order. */
    public List<IomemRange> iomem(String name) {
        List<IomemRange> out = new ArrayList<>();
        for (String v : values("iomem")) {
            int colon = v.indexOf(" : ");
            int dash = v.indexOf('-');
            if (colon > 0 && dash > 0 && dash < colon && v.substring(colon + 3).equals(name)) {
                out.add(new IomemRange(Long.parseUnsignedLong(v.substring(0, dash), 16),
                        Long.parseUnsignedLong(v.substring(dash + 1, colon), 16), name));
            }
        }
        return out;
    }

    /** Returns the guest-physical address of the kernel's VMCOREINFO note (/sys/kernel/vmcoreinfo), if present. */
    public OptionalLong vmcoreinfoNote() {
        return find("vmcoreinfo").map(v -> OptionalLong.of(Long.parseUnsignedLong(v.split("\\s+")[0]
                .replaceFirst("^0x", ""), 16))).orElse(OptionalLong.empty());
    }
}
