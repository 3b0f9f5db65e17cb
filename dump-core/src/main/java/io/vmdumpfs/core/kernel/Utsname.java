package io.vmdumpfs.core.kernel;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Objects;

/**
 * {@code struct new_utsname} (include/uapi/linux/utsname.h): six {@code char[65]} fields, what {@code uname -a}
 * prints. The kernel's copy is {@code init_uts_ns.name}; makedumpfile copies it into a kdump header from there, and
 * libkdumpfile trusts a kdump header's utsname only when sysname, nodename, release, version and machine are all
 * non-empty. The kernel does not say which character set the fields use: each char here is one byte of the guest's
 * (ISO-8859-1), so writing them back gives the guest's bytes exactly.
 *
 * @param sysname    "Linux"
 * @param nodename   the host name ("(none)" until userspace sets one)
 * @param release    {@code uname -r}, equal to VMCOREINFO's OSRELEASE
 * @param version    "#1 SMP PREEMPT_DYNAMIC Debian 6.1.…"
 * @param machine    "x86_64"
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
     * assumed).
     *
     * @throws KernelUnavailableException if VMCOREINFO lacks either
     * @throws KernelAddressException     if the structure cannot be read
     */
    public static Utsname read(VmcoreInfoTable info, KernelMemory memory) {
        long at = info.requireSymbol("init_uts_ns") + info.requireOffset("uts_namespace.name");
        String[] f = new String[6];
        byte[] raw = memory.readBytes(at, SIZE);
        for (int i = 0; i < 6; i++) {
            int n = 0;
            while (n < FIELD - 1 && raw[i * FIELD + n] != 0) {
                n++;
            }
            f[i] = new String(raw, i * FIELD, n, StandardCharsets.ISO_8859_1);
        }
        return new Utsname(f[0], f[1], f[2], f[3], f[4], f[5]);
    }
}
