package io.vmdumpfs.core.fuzz;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;

/**
 * All fuzz targets of this package behind one: the input's last byte picks the target (0 ELF reader, 1 discovery,
 * 2 VMCOREINFO note bytes, 3 VMCOREINFO in guest RAM, 4 blocks table), the rest is that target's input.
 *
 * <p>Why: Jazzer fuzzes one test per JVM, and its agent needs 10-20 s to start (it scans the JDK for hook targets),
 * so CI's short run ({@link FuzzIT}) fuzzes everything in one JVM through this target. Coverage guidance still works:
 * the selector is just another input byte. scripts/fuzz.sh fuzzes each target on its own for long runs.
 *
 * <p>Seeds (AnyTargetFuzzTestInputs/anyTarget/): each target's seeds with its selector byte appended.
 */
class AnyTargetFuzzTest {

    static final int TARGETS = 5;

    private final ElfReaderFuzzTest elf = new ElfReaderFuzzTest();
    private final DiscoveryFuzzTest discovery = new DiscoveryFuzzTest();
    private final VmcoreInfoFuzzTest vmcoreinfo = new VmcoreInfoFuzzTest();
    private final BlocksTextFuzzTest blocks = new BlocksTextFuzzTest();

    @FuzzTest
    void anyTarget(FuzzedDataProvider data) {
        switch (data.consumeInt(0, TARGETS - 1)) {
            case 0 -> elf.processCore_anyBytes(data.consumeRemainingAsBytes());
            case 1 -> discovery.discover_damagedStructures(data);
            case 2 -> vmcoreinfo.vmcoreinfo_anyNoteBytes(data.consumeRemainingAsBytes());
            case 3 -> vmcoreinfo.vmcoreinfo_damagedInGuestRam(data);
            default -> blocks.parse_anyText(data.consumeRemainingAsBytes());
        }
    }
}
