# Run by io.vmdumpfs.core.testing.Drgn: /usr/bin/python3 - DUMP REFERENCE_ELF STRIDE
# Opens DUMP with libkdumpfile and prints, one "KEY VALUE" line each:
#   arch A                the arch.name attribute
#   release R             linux.uts.release
#   uts F V               each linux.uts field (sysname, nodename, release, version, machine, domainname)
#   compared N            guest-physical pages read through libkdumpfile (every STRIDE-th page of each of the
#                         reference's PT_LOADs) and compared with the reference ELF's bytes for the same p_paddr
#   mismatch PADDR        a page whose bytes differ (hex), or
#   unreadable PADDR MSG  a page libkdumpfile could not read
# The reference is QEMU's own dump-guest-memory ELF of the same guest.
import struct
import sys

import kdumpfile

dump, ref, stride = sys.argv[1], sys.argv[2], int(sys.argv[3])
k = kdumpfile.kdumpfile(dump)
k.attr["addrxlat.ostype"] = "linux"
print("arch", k.attr["arch.name"])
print("release", k.attr["linux.uts.release"])
for f in ("sysname", "nodename", "release", "version", "machine", "domainname"):
    print("uts", f, k.attr["linux.uts." + f])

PAGE = 4096
compared = 0
with open(ref, "rb") as r:
    ehdr = r.read(64)
    phoff, = struct.unpack_from("<Q", ehdr, 32)
    phentsize, phnum = struct.unpack_from("<HH", ehdr, 54)
    r.seek(phoff)
    phdrs = [struct.unpack("<IIQQQQQQ", r.read(phentsize)[:56]) for _ in range(phnum)]
    for p_type, _, p_offset, _, p_paddr, p_filesz, _, _ in phdrs:
        if p_type != 1:
            continue
        for off in range(0, p_filesz - PAGE + 1, PAGE * stride):
            paddr = p_paddr + off
            r.seek(p_offset + off)
            want = r.read(PAGE)
            try:
                got = bytes(k.read(kdumpfile.KDUMP_MACHPHYSADDR, paddr, PAGE))
            except Exception as e:  # noqa: BLE001 - reported, the test decides
                print("unreadable %x %s" % (paddr, str(e).replace("\n", " ")))
                continue
            compared += 1
            if got != want:
                print("mismatch %x" % paddr)
print("compared", compared)
