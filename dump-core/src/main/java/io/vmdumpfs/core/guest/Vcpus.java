package io.vmdumpfs.core.guest;

import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * The vCPUs found in a core, in QEMU's order (CPU_FOREACH), and how far their registers can be trusted; or why none
 * were found. Formats write per-vCPU notes only when {@link #list()} is not empty, else the placeholder note.
 *
 * @param list      the vCPUs, in the order QEMU's dump writes their notes; empty when discovery failed
 * @param exactness whether the registers are current, in words for {@code status} and {@code vmdumpfs info}
 *                  ("exact (TCG, …)", "stale (KVM, …)"); empty when there are no vCPUs
 * @param failure   why no vCPU was found, when none was
 * @param counted   how many vCPUs there are when their registers could not be read (a target without a register
 *                  layout yet, or a register file that failed a check): the kdump header's nr_cpus still needs it
 */
public record Vcpus(List<Vcpu> list, String exactness, Optional<String> failure, OptionalInt counted) {

    public Vcpus {
        list = List.copyOf(list);
        Objects.requireNonNull(exactness, "exactness");
        Objects.requireNonNull(failure, "failure");
        Objects.requireNonNull(counted, "counted");
        if (list.isEmpty() == failure.isEmpty()) {
            throw new IllegalArgumentException("either vCPUs or the reason there are none");
        }
        if (counted.isPresent() && (!list.isEmpty() || counted.getAsInt() < 1)) {
            throw new IllegalArgumentException("a count is for vCPUs whose registers were not read");
        }
    }

    /** Returns the vCPUs found, with how exact their registers are. */
    public static Vcpus found(List<Vcpu> list, String exactness) {
        return new Vcpus(list, exactness, Optional.empty(), OptionalInt.empty());
    }

    /** Returns "no vCPUs, because {@code reason}". */
    public static Vcpus none(String reason) {
        return new Vcpus(List.of(), "", Optional.of(reason), OptionalInt.empty());
    }

    /** Returns "{@code n} vCPUs, whose registers were not read because {@code reason}". */
    public static Vcpus countedOnly(int n, String reason) {
        return new Vcpus(List.of(), "", Optional.of(reason), OptionalInt.of(n));
    }

    /** Returns the number of vCPUs, when they were found or counted. */
    public OptionalInt count() {
        return list.isEmpty() ? counted : OptionalInt.of(list.size());
    }

    /** Returns the first word of {@link #exactness}: "exact", "stale", "lagging", "unknown"; "" without vCPUs. */
    public String verdict() {
        int sp = exactness.indexOf(' ');
        return sp < 0 ? exactness : exactness.substring(0, sp);
    }

    /** Returns one line: "2, registers exact (TCG, …)" or "not found (reason)". */
    public String describe() {
        if (counted.isPresent()) {
            return counted.getAsInt() + ", registers not read (" + failure.get() + ")";
        }
        return list.isEmpty() ? "not found (" + failure.get() + ")" : list.size() + ", registers " + exactness;
    }
}
