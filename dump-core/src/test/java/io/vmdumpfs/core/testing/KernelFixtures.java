package io.vmdumpfs.core.testing;

import java.util.List;

/**
 * The real x86_64 guests the guest-kernel tests run on, by name: pc and q35, KASLR on and off. The KASLR-off guests
 * are small (256 MiB) because only the kernel's placement differs; the 3 GiB q35 one has RAM above 4 GiB.
 */
public final class KernelFixtures {

    /** The names, for {@code @MethodSource}. */
    public static final List<String> NAMES = List.of("pc-256-kaslr-on", "q35-3072-kaslr-on", "pc-256-kaslr-off",
            "q35-256-kaslr-off");

    private KernelFixtures() {
    }

    /** Returns (making it on first use) the fixture called {@code name}. */
    public static QemuFixture get(String name) {
        return switch (name) {
            case "pc-256-kaslr-on" -> QemuFixture.pc256();
            case "q35-3072-kaslr-on" -> QemuFixture.q35big();
            case "pc-256-kaslr-off" -> QemuFixture.pc256KaslrOff();
            case "q35-256-kaslr-off" -> QemuFixture.get("q35", 256, "off", 0, "on");
            default -> throw new IllegalArgumentException("no fixture " + name);
        };
    }
}
