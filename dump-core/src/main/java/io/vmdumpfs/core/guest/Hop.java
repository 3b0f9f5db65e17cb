package io.vmdumpfs.core.guest;

import io.vmdumpfs.core.BadCoreException;
import io.vmdumpfs.core.BadCoreException.Kind;
import java.nio.file.Path;
import java.util.Objects;
import java.util.function.Function;

/**
 * The outcome of one step along a chain of QEMU structures (AddressSpace → FlatView → …, CPUAddressSpace →
 * CPUState → …): the structure found, or why it was not. Discovery reads a core without debug symbols, so every
 * hop validates what it read before the next hop trusts it; a failed hop carries the reason instead of a null.
 *
 * <p>Two kinds of failure: {@link Kind#CORRUPT} (the bytes do not have the structure's shape: a wrong layout guess,
 * or damage) and {@link Kind#MISSING} (the shape is right but what it points at was not dumped). Callers try the
 * next candidate or layout after either, and report MISSING before CORRUPT when none succeeds.
 *
 * @param <T> what the hop finds
 */
public sealed interface Hop<T> {

    /** The hop found {@code value}. */
    record Found<T>(T value) implements Hop<T> {
        public Found {
            Objects.requireNonNull(value, "value");
        }
    }

    /** The hop failed: {@code reason} says where and why, in words for an error message. */
    record Failed<T>(Kind kind, String reason) implements Hop<T> {
        public Failed {
            Objects.requireNonNull(kind, "kind");
            Objects.requireNonNull(reason, "reason");
        }
    }

    /** Returns a hop that found {@code value}. */
    static <T> Hop<T> found(T value) {
        return new Found<>(value);
    }

    /** Returns a hop whose bytes did not have the expected shape. */
    static <T> Hop<T> corrupt(String reason) {
        return new Failed<>(Kind.CORRUPT, reason);
    }

    /** Returns a hop whose structure was right but whose data is not in the core. */
    static <T> Hop<T> missing(String reason) {
        return new Failed<>(Kind.MISSING, reason);
    }

    /** Returns true when the hop found its structure. */
    default boolean isFound() {
        return this instanceof Found;
    }

    /** Returns the next hop from this one's value, or this failure unchanged. */
    @SuppressWarnings("unchecked")
    default <U> Hop<U> then(Function<? super T, Hop<U>> next) {
        if (this instanceof Found<T> f) {
            return next.apply(f.value());
        }
        return (Hop<U>) this;
    }

    /** Returns this hop with its value mapped, or this failure unchanged. */
    default <U> Hop<U> map(Function<? super T, ? extends U> fn) {
        return then(v -> found(fn.apply(v)));
    }

    /** Returns this failure with {@code where + ": "} before its reason (a found hop is returned as it is). */
    default Hop<T> at(String where) {
        if (this instanceof Failed<T> f) {
            return new Failed<>(f.kind(), where + ": " + f.reason());
        }
        return this;
    }

    /**
     * Returns this failure as a hop of any type, for a chain that stops here.
     *
     * @throws IllegalStateException when the hop found its structure
     */
    @SuppressWarnings("unchecked")
    default <U> Hop<U> failure() {
        if (this instanceof Failed) {
            return (Hop<U>) this;
        }
        throw new IllegalStateException("not a failure: " + this);
    }

    /** Returns the value found, or null after a failure. */
    default T orNull() {
        return this instanceof Found<T> f ? f.value() : null;
    }

    /** Returns the reason of a failure, or null when the hop found its structure. */
    default String reason() {
        return this instanceof Failed<T> f ? f.reason() : null;
    }

    /**
     * Returns the value found.
     *
     * @throws BadCoreException of the failure's kind, naming {@code file} and the reason
     */
    default T orThrow(Path file) {
        if (this instanceof Failed<T> f) {
            throw new BadCoreException(f.kind(), file, f.reason());
        }
        return ((Found<T>) this).value();
    }
}
