# Run by io.vmdumpfs.core.testing.Drgn: /usr/bin/python3 - VMLINUX DUMP [read ADDR LEN ...]
# Opens DUMP with drgn (an ELF vmcore directly, a kdump file through libkdumpfile) and prints what the guest kernel
# holds, one "KEY VALUE" line each, for the Java test to compare:
#   release R             init_uts_ns.name.release
#   nodename N            init_uts_ns.name.nodename
#   task COMM             every task's comm (for_each_task), in list order
#   marker LINE           kernel log lines holding VMDUMPFS-MARKER
#   frame F               prog.stack_trace(1): function name, else ELF symbol name (assembly), else the pc in hex
#   stack-error MESSAGE   when stack_trace(1) raised (the rest still printed)
#   init-cpu N RUNNING    pid 1's CPU (task_cpu) and its on_cpu flag: whether a CPU's NT_PRSTATUS could be its
#   page_offset_base X    the kernel variable, hex
#   read ADDR SHA256      for each "read ADDR LEN" pair: sha256 of LEN bytes at kernel virtual ADDR (hex),
#                         read through drgn's own translation (its page-table walker where no segment maps ADDR)
# Exit status 0 even when a single probe fails; a failure to open the dump raises (exit 1, traceback on stderr).
import hashlib
import sys

import drgn
from drgn.helpers.linux.pid import find_task, for_each_task
from drgn.helpers.linux.printk import get_dmesg


def out(key, value):
    print(key, str(value).replace("\n", "\\n"), flush=True)


vmlinux, dump = sys.argv[1], sys.argv[2]
prog = drgn.Program()
prog.set_core_dump(dump)
prog.load_debug_info([vmlinux])

uts = prog["init_uts_ns"].name
out("release", uts.release.string_().decode())
out("nodename", uts.nodename.string_().decode())
for t in for_each_task(prog):
    out("task", t.comm.string_().decode())
for line in get_dmesg(prog).decode(errors="replace").splitlines():
    if "VMDUMPFS-MARKER" in line:
        out("marker", line)
out("page_offset_base", hex(prog["page_offset_base"].value_()))
from drgn.helpers.linux.sched import task_cpu
init = find_task(prog, 1)
out("init-cpu", "%d %d" % (task_cpu(init), init.on_cpu.value_()))
try:
    for frame in prog.stack_trace(init):
        name = frame.name
        if not name:
            try:
                name = frame.symbol().name
            except LookupError:
                name = hex(frame.pc)
        out("frame", name)
except Exception as e:  # noqa: BLE001 - reported, the test decides
    out("stack-error", "%s: %s" % (type(e).__name__, e))
args = sys.argv[3:]
while len(args) >= 3 and args[0] == "read":
    addr, length = int(args[1], 16), int(args[2])
    out("read", "%x %s" % (addr, hashlib.sha256(prog.read(addr, length)).hexdigest()))
    args = args[3:]
