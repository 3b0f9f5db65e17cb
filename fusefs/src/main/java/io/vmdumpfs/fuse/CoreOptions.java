package io.vmdumpfs.fuse;

import io.vmdumpfs.core.guest.GuestDump;
import io.vmdumpfs.core.guest.GuestDumps;
import java.nio.file.Path;
import java.util.Optional;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** What every command that reads one core takes (a picocli mixin): CORE, {@code --blocks FILE}, {@code --debug}. */
final class CoreOptions {

    @Parameters(index = "0", paramLabel = "CORE", description = "the QEMU process core dump")
    Path core;

    @Option(names = "--blocks", paramLabel = "FILE", description = "read the block table from FILE instead of discovering it")
    Path blocksFile;

    @Option(names = "--debug", description = "show stack traces for errors")
    boolean debug;

    /** Opens the core (a compressed one through its decompressed copy); with {@code qemuFacts}, see GuestDumps. */
    GuestDump open(boolean qemuFacts) {
        return GuestDumps.open(Caches.resolveCore(core), Optional.ofNullable(blocksFile), qemuFacts);
    }
}
