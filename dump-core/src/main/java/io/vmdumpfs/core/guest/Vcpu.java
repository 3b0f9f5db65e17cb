package io.vmdumpfs.core.guest;

/**
 * One vCPU found in QEMU's memory.
 *
 * @param index         cpu_index (from its AddressSpace's name "cpu-memory-N"); QEMU's notes use index + 1 as pid
 * @param type          its QOM type name, e.g. "qemu64-x86_64-cpu"
 * @param cpuStateVaddr the CPUState's host address
 * @param envVaddr      the register file's host address
 * @param registers     the registers read there
 */
public record Vcpu(int index, String type, long cpuStateVaddr, long envVaddr, CpuRegisters registers) {
}
