package io.vmdumpfs.fuse;

import io.vmdumpfs.core.guest.BlocksText;
import io.vmdumpfs.core.guest.GuestDump;
import java.io.IOException;
import java.io.PrintStream;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/**
 * {@code vmdumpfs blocks CORE}: prints the guest RAM block table, without the size column, in the format that
 * {@code --blocks FILE} and {@code -o blocks=FILE} read back. Needs no FUSE.
 */
@Command(name = "blocks", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = {"Prints the guest RAM block table found in CORE (one row per block: target_start, "
                + "target_end, host_addr, core_offset, name; hex). Save it and pass it back with "
                + "-o blocks=FILE when discovery fails or to skip it."})
final class BlocksCommand implements Callable<Integer>, Main.HasDebug {

    @Mixin
    CoreOptions input;




    private final PrintStream out;

    BlocksCommand(PrintStream out) {
        this.out = out;
    }

    @Override
    public boolean debug() {
        return input.debug;
    }

    @Override
    public Integer call() throws IOException {
        try (GuestDump dump = input.open(false)) {
            out.print(BlocksText.render(dump.memory(), false));
            out.flush();
        }
        return 0;
    }
}
