package io.vmdumpfs.core.fuzz;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.vmdumpfs.core.guest.VmcoreInfo;
import java.nio.ByteOrder;
import java.util.Map;

/**
 * VMCOREINFO parsing: {@link VmcoreInfo#text()} and {@link VmcoreInfo#entries()} on arbitrary note bytes, and the
 * whole path from a damaged vmcoreinfo device struct and note in guest RAM (a guest kernel that was compromised or
 * crashed mid-write) through the finder to the parsed entries.
 */
class VmcoreInfoFuzzTest {

    private static final DamagedCore CORE = DamagedCore.create("vmcoreinfo.core");

    @FuzzTest
    void vmcoreinfo_anyNoteBytes(byte[] note) {
        FuzzSupport.check("VmcoreInfoFuzzTest.vmcoreinfo_anyNoteBytes", () -> {
            VmcoreInfo v = new VmcoreInfo(note, 0, "fuzz", ByteOrder.LITTLE_ENDIAN);
            DiscoveryFuzzTest.touch(v);
            Map<String, String> e = v.entries();
            for (String key : e.keySet()) {
                assertFalse(key.isEmpty() || key.contains("\n"), "keys are non-empty single-line");
                assertEquals(e.get(key), v.get(key));
            }
        });
    }

    @FuzzTest
    void vmcoreinfo_damagedInGuestRam(FuzzedDataProvider data) {
        try {
            CORE.damage(data, 4, a -> a.name().startsWith("VMCOREINFO") || a.name().startsWith("vmcoreinfo"));
            FuzzSupport.check("VmcoreInfoFuzzTest.vmcoreinfo_damagedInGuestRam",
                    () -> DiscoveryFuzzTest.openAndCheck(false));
        } finally {
            CORE.restore();
        }
    }
}
