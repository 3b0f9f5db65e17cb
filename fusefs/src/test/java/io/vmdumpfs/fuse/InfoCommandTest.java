package io.vmdumpfs.fuse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vmdumpfs.core.testing.SyntheticGuest;
import io.vmdumpfs.core.testing.SyntheticTasks;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code vmdumpfs info}'s report on a synthetic x86_64 guest whose kernel can be read ({@link SyntheticTasks}): the
 * guest-kernel layer's findings, and for each vCPU the task its kernel CPU ran, which the notes' pr_pid carries.
 */
class InfoCommandTest {

    @Test
    void describe_readableKernel_kernelFactsAndWhatEachVcpuRan(@TempDir Path tmp) throws Exception {
        SyntheticTasks t = new SyntheticTasks(tmp, 0, 148);
        try (SyntheticGuest g = t.build()) {
            Map<String, String> info = InfoCommand.describe(t.dump(t.vcpusOnTheirCpus()));
            assertTrue(info.get("vCPU 0").endsWith(", exact; kernel CPU 0 runs pid 0 (swapper/0)"), info.get("vCPU 0"));
            assertTrue(info.get("vCPU 1").endsWith(", exact; kernel CPU 1 runs pid 148 (dd)"), info.get("vCPU 1"));
            assertEquals("running task's pid (BTF: rq.curr +2400, task_struct.pid +2416; vCPU n is kernel CPU n, by GS"
                    + " base)", info.get("pr_pid"));
            assertEquals("0xffffffff80000000 = guest-physical 0x0", info.get("kernel image"));
            assertEquals("0xffff888000000000 (the 4-level default, confirmed by the page tables)",
                    info.get("direct map"));
            assertEquals("VMCOREINFO only (no kallsyms: VMCOREINFO does not locate kallsyms (kernel before 6.0?))",
                    info.get("symbols"));
            assertTrue(info.get("page tables").contains("4-level"), info.get("page tables"));
            assertFalse(info.containsKey("kernel"), info.toString());
        }
    }

    @Test
    void describe_kernelUnreadable_saysWhyAndQemusPids(@TempDir Path tmp) throws Exception {
        SyntheticTasks t = new SyntheticTasks(tmp, 0, 148);
        t.vmcoreinfo.remove("NUMBER(phys_base)");
        try (SyntheticGuest g = t.build()) {
            Map<String, String> info = InfoCommand.describe(t.dump(t.vcpusOnTheirCpus()));
            assertEquals("not readable (VMCOREINFO has no NUMBER(phys_base))", info.get("kernel"));
            assertEquals("QEMU's cpu+1 (VMCOREINFO has no NUMBER(phys_base))", info.get("pr_pid"));
            assertTrue(info.get("vCPU 1").endsWith(", exact"), info.get("vCPU 1"));
            assertFalse(info.containsKey("direct map"), info.toString());
        }
    }
}
