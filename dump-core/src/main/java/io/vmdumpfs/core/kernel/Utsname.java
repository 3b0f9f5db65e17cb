package io.vmdumpfs.core.kernel;

import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.guest.GuestMemory;
import io.vmdumpfs.core.guest.VmcoreInfo;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * {@code struct new_utsname} (include/uapi/linux/utsname.h): six {@code char[65]} fields, what {@code uname -a}
 * prints. The kernel's copy is {@code init_uts_ns.name}; makedumpfile copies it into a kdump header from there, and
 * libkdumpfile trusts a kdump header's utsname (and takes the architecture from its machine) only when sysname,
 * nodename, release, version and machine are all non-empty. Each char here is one byte of the guest's (ISO-8859-1),
 * so writing them back gives the guest's bytes exactly.
 *
 * @param sysname    "Linux"
 * @param nodename   the host name ("(none)" until userspace sets one)
 * @param release    {@code uname -r}, equal to VMCOREINFO's OSRELEASE
 * @param version    "#1 SMP PREEMPT_DYNAMIC Debian 6.1.…"
 * @param machine    as the kernel names itself: "x86_64", "i686", "aarch64", "s390x", "ppc64le"
 * @param domainname the NIS domain name ("(none)" by default)
 */
public record Utsname(String sysname, String nodename, String release, String version, String machine,
        String domainname) {

    /** sizeof(new_utsname): six fields of __NEW_UTS_LEN + 1 = 65 bytes. */
    public static final int SIZE = 6 * 65;
    /** Bytes per field, the terminating NUL included. */
    public static final int FIELD = 65;

    public Utsname {
        Objects.requireNonNull(sysname);
        Objects.requireNonNull(nodename);
        Objects.requireNonNull(release);
        Objects.requireNonNull(version);
        Objects.requireNonNull(machine);
        Objects.requireNonNull(domainname);
    }

    /** Returns the fields in struct order. */
    public List<String> fields() {
        return List.of(sysname, nodename, release, version, machine, domainname);
    }

    /**
     * Reads {@code init_uts_ns.name} from the guest at SYMBOL(init_uts_ns) + OFFSET(uts_namespace.name), both from
     * VMCOREINFO (the offset has been there since Linux 4.14; the member's place changed over time, so it is not
     * assumed), through the guest's page tables.
     *
     * @throws KernelUnavailableException if VMCOREINFO lacks either, or a field there lacks its NUL
     * @throws KernelAddressException     if the structure cannot be read
     */
    public static Utsname read(VmcoreInfoTable info, KernelMemory memory) {
        long at = info.requireSymbol("init_uts_ns") + info.requireOffset("uts_namespace.name");
        return parse(memory.readBytes(at, SIZE)).orElseThrow(() -> new KernelUnavailableException(
                "init_uts_ns.name at kernel virtual 0x" + Long.toHexString(at) + " is not a utsname"));
    }

    /** Returns the struct in {@code raw} ({@link #SIZE} bytes), or empty when a field lacks its NUL. */
    static Optional<Utsname> parse(byte[] raw) {
        String[] f = new String[6];
        for (int i = 0; i < 6; i++) {
            int n = 0;
            while (n < FIELD && raw[i * FIELD + n] != 0) {
                n++;
            }
            if (n == FIELD) {
                return Optional.empty();
            }
            f[i] = new String(raw, i * FIELD, n, StandardCharsets.ISO_8859_1);
        }
        return Optional.of(new Utsname(f[0], f[1], f[2], f[3], f[4], f[5]));
    }

    /**
     * Returns the guest's {@code init_uts_ns.name}, read at SYMBOL(init_uts_ns) + OFFSET(uts_namespace.name) through
     * the kernel image's linear map ({@link LinearImageMap}: no page table is walked), when it reads as the kernel's:
     * sysname "Linux" and release equal to VMCOREINFO's OSRELEASE. Empty when VMCOREINFO lacks either value (the
     * member's place changed over time, so it is not assumed), when the architecture's image is not mapped linearly
     * or no candidate map leads to the structure.
     */
    public static Optional<Utsname> fromImage(GuestDump dump) {
        VmcoreInfo vi = dump.vmcoreinfo().orElse(null);
        if (vi == null || vi.osRelease() == null) {
            return Optional.empty();
        }
        OptionalLong sym = vi.symbol("init_uts_ns");
        String member = vi.get("OFFSET(uts_namespace.name)");
        if (sym.isEmpty() || member == null) {
            return Optional.empty();
        }
        long kernelVaddr;
        try {
            kernelVaddr = sym.getAsLong() + Long.parseLong(member.trim());
        } catch (NumberFormatException e) {
            return Optional.empty();
        }
        for (LinearImageMap map : LinearImageMap.candidates(dump.platform(), vi)) {
            Optional<Utsname> u = read(dump.memory(), map.guestPaddrOf(kernelVaddr))
                    .filter(x -> x.sysname().equals("Linux") && x.release().equals(vi.osRelease()));
            if (u.isPresent()) {
                return u;
            }
        }
        return Optional.empty();
    }

    private static Optional<Utsname> read(GuestMemory memory, long guestPaddr) {
        int i = memory.blockIndexOf(guestPaddr);
        if (i < 0 || Long.compareUnsigned(memory.blocks().get(i).guestPaddrEnd() - guestPaddr, SIZE) < 0) {
            return Optional.empty();
        }
        ByteBuffer b = ByteBuffer.allocate(SIZE);
        memory.read(guestPaddr, b);
        return parse(b.array());
    }
}
