package io.vmdumpfs.fuse;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Model.PositionalParamSpec;

/**
 * Writes a command's values back as arguments that picocli parses to the same values, from picocli's model of the
 * command: every option, hidden ones too, so that an option added to a command travels to a re-executed child
 * without anyone listing it here.
 *
 * <p>Limits: an option is written when it is set (a boolean true, a value that is not null, a collection that is not
 * empty), so a boolean whose default is true could not be turned off; no command has one.
 */
final class CommandArgs {

    private CommandArgs() {
    }

    /** Returns the command's name, its set options (longest name, then each value), "--", its positionals. */
    static List<String> of(CommandSpec spec) {
        List<String> out = new ArrayList<>();
        out.add(spec.name());
        for (OptionSpec o : spec.options()) {
            if (o.usageHelp() || o.versionHelp()) {
                continue;
            }
            Object v = o.getValue();
            if (v instanceof Boolean b) {
                if (b) {
                    out.add(o.longestName());
                }
            } else if (v instanceof Collection<?> values) {
                for (Object e : values) {
                    out.add(o.longestName());
                    out.add(String.valueOf(e));
                }
            } else if (v != null) {
                out.add(o.longestName());
                out.add(String.valueOf(v));
            }
        }
        // After "--" a positional that starts with '-' stays a positional.
        out.add("--");
        for (PositionalParamSpec p : spec.positionalParameters()) {
            Object v = p.getValue();
            if (v instanceof Collection<?> values) {
                values.forEach(e -> out.add(String.valueOf(e)));
            } else if (v != null) {
                out.add(String.valueOf(v));
            }
        }
        return out;
    }
}
