#!/usr/bin/python3
"""Reads a dump file with libkdumpfile (Debian's python3-libkdumpfile 0.5.1) for vmdumpfs's tests.

    libkdumpfile_reader.py DUMP info
        "KEY<TAB>VALUE" lines on stdout (a backslash, tab or newline in VALUE is written \\\\, \\t, \\n).
        Opened: "ok true", then format, description, arch, byte_order ("little" or "big"), page_size, ptr_size, cpus
        (each when libkdumpfile knows it), "uts.NAME" (sysname, nodename, release, version, machine, domainname:
        those libkdumpfile accepted), "vmcoreinfo.KEY", "attr.NAME" (every scalar attribute), "pagemap FIRST END"
        (decimal pfns of the pages the file holds, in order; "pagemap_truncated true" after 65536 runs).
        Not opened: "ok false", "exception" (the Python class name), "error" (libkdumpfile's message).
    libkdumpfile_reader.py DUMP read SPACE
        SPACE: machphys (guest-physical), kphys (kernel-physical: needs libkdumpfile's address translation) or
        kvaddr (kernel virtual). Reads the ranges given on stdin, one "START END" per line (hex, END exclusive),
        piece by piece at the dump's page boundaries, and writes frames to stdout (big-endian):
            b"D" u64 address, u32 length, bytes      data
            b"A" u64 address, u64 length, u16 n, n bytes of UTF-8   not read: why (e.g. "NoDataException: ...")
            b"E"                                     end of all ranges
            b"F" u16 n, n bytes                      could not open the dump (then nothing else)
Exit status 0 unless the arguments are wrong (2).
"""
import struct
import sys

import kdumpfile

MAX_RANGES = 65536
MAX_FRAME = 1 << 20


def open_dump(path):
    return kdumpfile.kdumpfile(file=path)


def flatten(d, prefix, out):
    for key in d.keys():
        try:
            value = d[key]
        except Exception:   # an attribute without a value (NoKeyException) is simply not reported
            continue
        name = prefix + key
        if hasattr(value, "keys"):
            flatten(value, name + ".", out)
        elif isinstance(value, (int, str)):
            out[name] = str(value)


def info(path):
    """Returns the info lines as (key, value) pairs."""
    try:
        k = open_dump(path)
    except Exception as e:
        return [("ok", "false"), ("exception", type(e).__name__), ("error", str(e))]
    a = k.attr
    out = [("ok", "true")]
    order = a.get("arch.byte_order")
    for key, value in (("format", a.get("file.format")), ("description", a.get("file.description")),
                       ("arch", a.get("arch.name")), ("byte_order", {0: "big", 1: "little"}.get(order)),
                       ("page_size", a.get("arch.page_size")), ("ptr_size", a.get("arch.ptr_size")),
                       ("cpus", a.get("cpu.number"))):
        if value is not None:
            out.append((key, str(value)))
    if "linux.uts" in a:
        out += [("uts." + key, str(value)) for key, value in sorted(a["linux.uts"].dict().items())]
    if "linux.vmcoreinfo.lines" in a:
        out += [("vmcoreinfo." + key, str(value))
                for key, value in sorted(a["linux.vmcoreinfo.lines"].dict().items())]
    attrs = {}
    flatten(a, "", attrs)
    out += [("attr." + key, value) for key, value in sorted(attrs.items())]
    runs = 0
    try:
        bitmap = a["memory.pagemap"]
        pfn = 0
        while True:
            first = bitmap.find_set(pfn)
            try:
                end = bitmap.find_clear(first)
            except kdumpfile.exceptions.NoDataException:
                end = a.get("max_pfn", first + 1)
            out.append(("pagemap", "%d %d" % (first, end)))
            runs += 1
            if runs >= MAX_RANGES:
                out.append(("pagemap_truncated", "true"))
                break
            pfn = end
    except kdumpfile.exceptions.NoDataException:
        pass   # "No such bit found": past the last page held
    except Exception as e:
        out.append(("pagemap_error", "%s: %s" % (type(e).__name__, e)))
    return out


def escape(value):
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def frame_data(out, address, data):
    out.write(b"D" + struct.pack(">QI", address, len(data)))
    out.write(data)


def frame_absent(out, address, length, why):
    msg = why.encode("utf-8")[:65535]
    out.write(b"A" + struct.pack(">QQH", address, length, len(msg)))
    out.write(msg)


def read(path, space, requests, out):
    try:
        k = open_dump(path)
    except Exception as e:
        msg = ("%s: %s" % (type(e).__name__, e)).encode("utf-8")[:65535]
        out.write(b"F" + struct.pack(">H", len(msg)) + msg)
        return
    if space == "kvaddr":
        # kernel virtual addresses through the guest's own page tables: libkdumpfile sets up Linux's translation
        # (VA_BITS, swapper_pg_dir, kimage_voffset from VMCOREINFO) only when told the OS
        k.attr["addrxlat.ostype"] = "linux"
    page = k.attr.get("arch.page_size") or 4096
    addrtype = {"machphys": kdumpfile.KDUMP_MACHPHYSADDR, "kphys": kdumpfile.KDUMP_KPHYSADDR,
                "kvaddr": kdumpfile.KDUMP_KVADDR}[space]
    for start, end in requests:
        data_at, data = None, bytearray()            # pending run of data
        absent_at, absent_len, absent_why = None, 0, None   # pending run of pages not read, one reason
        address = start
        while address < end:
            n = min(end, (address // page + 1) * page) - address
            try:
                piece = k.read(addrtype, address, n)
                why = None
            except Exception as e:
                piece, why = None, "%s: %s" % (type(e).__name__, e)
            if piece is not None:
                if absent_at is not None:
                    frame_absent(out, absent_at, absent_len, absent_why)
                    absent_at = None
                if data_at is None:
                    data_at = address
                data += piece
                if len(data) >= MAX_FRAME:
                    frame_data(out, data_at, data)
                    data_at, data = None, bytearray()
            else:
                if data_at is not None:
                    frame_data(out, data_at, data)
                    data_at, data = None, bytearray()
                if absent_at is not None and absent_why != why:
                    frame_absent(out, absent_at, absent_len, absent_why)
                    absent_at = None
                if absent_at is None:
                    absent_at, absent_len, absent_why = address, 0, why
                absent_len += n
            address += n
        if data_at is not None:
            frame_data(out, data_at, data)
        if absent_at is not None:
            frame_absent(out, absent_at, absent_len, absent_why)


def main(argv):
    if len(argv) == 3 and argv[2] == "info":
        for key, value in info(argv[1]):
            sys.stdout.write("%s\t%s\n" % (key, escape(value)))
        return 0
    if len(argv) == 4 and argv[2] == "read" and argv[3] in ("machphys", "kphys", "kvaddr"):
        requests = []
        for line in sys.stdin:
            if line.strip():
                s, e = line.split()
                requests.append((int(s, 16), int(e, 16)))
        out = sys.stdout.buffer
        read(argv[1], argv[3], requests, out)
        out.write(b"E")
        out.flush()
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
