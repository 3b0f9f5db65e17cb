# Run by io.vmdumpfs.core.testing.Drgn.readKernel: /usr/bin/python3 - DUMP [ADDR LEN ...]
# Opens DUMP with drgn and no debug info (drgn takes the architecture, swapper_pg_dir, kimage_voffset and the rest
# from the dump's VMCOREINFO note) and prints, for each ADDR LEN pair (hex, decimal), one line:
#   read ADDR HEX          the LEN bytes at kernel virtual ADDR as drgn reads them (a PT_LOAD whose p_vaddr covers
#                          ADDR, else drgn's own page-table walk)
#   read-error ADDR MSG    when drgn cannot read them
#   platform ARCH FLAGS    drgn's idea of the dump's platform
import sys

import drgn

prog = drgn.Program()
prog.set_core_dump(sys.argv[1])
print("platform", prog.platform.arch.name, str(prog.platform.flags).replace(" ", ""), flush=True)
args = sys.argv[2:]
for i in range(0, len(args), 2):
    addr, length = int(args[i], 16), int(args[i + 1])
    try:
        print("read", format(addr, "x"), prog.read(addr, length).hex(), flush=True)
    except Exception as e:  # noqa: BLE001 - the Java test reports whatever drgn said
        print("read-error", format(addr, "x"), str(e).replace("\n", " "), flush=True)
