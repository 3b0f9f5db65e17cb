/**
 * The guest inside a QEMU process core: its RAM, its vCPUs, its kernel's VMCOREINFO and its platform, found without
 * debug symbols. Reads the {@code elf} package's view of the core; the {@code format} package reads this one.
 *
 * <h2>Where each concept lives</h2>
 * <ul>
 *   <li>{@link io.vmdumpfs.core.guest.GuestDumps} opens a core as a {@link io.vmdumpfs.core.guest.GuestDump}: platform,
 *       RAM, VMCOREINFO, vCPUs, in that order.</li>
 *   <li>Guest RAM: {@link io.vmdumpfs.core.guest.RamDiscovery} walks AddressSpace → FlatView → FlatRange →
 *       MemoryRegion → RAMBlock with the offsets of a {@link io.vmdumpfs.core.guest.QemuLayout}, and gives
 *       {@link io.vmdumpfs.core.guest.GuestPhysBlock}s over the core ({@link io.vmdumpfs.core.guest.GuestMemory});
 *       {@link io.vmdumpfs.core.guest.BlocksText} reads and writes the same table as text (--blocks, blocks.txt).
 *       RAM the core does not hold is an {@link io.vmdumpfs.core.guest.AbsentRange}, in no block: every format
 *       leaves it out, and {@link io.vmdumpfs.core.guest.RamCoverage} says in words how much is absent and why.</li>
 *   <li>vCPUs: {@link io.vmdumpfs.core.guest.VcpuDiscovery} walks "cpu-memory-N" → CPUAddressSpace → CPUState
 *       (checked through QOM's TypeImpl chain) → register file → QEMU's list of vCPUs, and gives
 *       {@link io.vmdumpfs.core.guest.Vcpus}: each {@link io.vmdumpfs.core.guest.Vcpu} with its
 *       {@link io.vmdumpfs.core.guest.CpuRegisters}, or the reason there are none. A target's register file is a
 *       {@code CpuTarget} (x86: {@link io.vmdumpfs.core.guest.X86EnvLayout}, {@code X86CpuTarget},
 *       {@link io.vmdumpfs.core.guest.X86Registers}; aarch64: {@link io.vmdumpfs.core.guest.Aarch64EnvLayout},
 *       {@link io.vmdumpfs.core.guest.Aarch64VfpLayout}, {@code Aarch64CpuTarget},
 *       {@link io.vmdumpfs.core.guest.Aarch64Registers}).</li>
 *   <li>VMCOREINFO: {@link io.vmdumpfs.core.guest.VmcoreInfoFinder} (vmcoreinfo device, else a scan of guest RAM)
 *       gives {@link io.vmdumpfs.core.guest.VmcoreInfo}, read in the guest's byte order.</li>
 *   <li>Platform: {@link io.vmdumpfs.core.guest.PlatformFinder} gives {@link io.vmdumpfs.core.guest.GuestPlatform}
 *       (architecture, byte order, page size). QEMU's own structures are always read in the host's order
 *       (x86_64, little-endian); what the guest wrote is read in the guest's.</li>
 * </ul>
 *
 * <h2>Adding a discovery hop</h2>
 * Write one method that takes what the previous hop validated and returns a {@link io.vmdumpfs.core.guest.Hop}: the
 * record it validated, or {@code Hop.corrupt(reason)} when the bytes do not have the structure's shape and
 * {@code Hop.missing(reason)} when they do but what they point at was not dumped. Check every pointer against the
 * structure it should point back to; never trust an offset that only one value confirms. Chain it with
 * {@code then}, prefix its reasons with where it was ({@code at}), and give it a unit test on a
 * {@code SyntheticCore} damaged exactly there.
 *
 * <h2>Adding a target's vCPU registers</h2>
 * Implement {@code CpuTarget} (the QOM type every CPU of the target derives from, how to read and shape-check its
 * register file), return it from {@code CpuTarget.of}, add a {@link io.vmdumpfs.core.guest.CpuRegisters}
 * record, and write its notes in {@code format.DumpNotes} as the target's arch_dump.c does.
 */
package io.vmdumpfs.core.guest;
