package io.vmdumpfs.core.format;

import java.io.IOException;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.util.HexFormat;
import java.util.Optional;

/**
 * Where expensive formats keep their indexes between mounts, so that a remount of the same core serves at once
 * ({@link LazyIndex.Source#load}). dump-core defines the contract; the cache module implements it with files in the
 * user's cache directory (its IndexStore: naming, atomic writes, checksums, least-recently-used pruning).
 *
 * <p>The format owns its index's content (what it means, how it is checked); the repository owns the bytes around it
 * (that they are complete and unchanged, and belong to the key).
 *
 * <p>Implementations are thread-safe and never throw for what is only a missed shortcut: a missing, unreadable or
 * damaged index is {@link Optional#empty() empty}, and an index that cannot be stored is just not stored.
 */
public interface IndexRepository {

    /** Keeps nothing: every mount builds. For tests and one-shot tools. */
    IndexRepository NONE = new IndexRepository() {
        @Override
        public <T> Optional<T> load(Key key, Reader<T> reader) {
            return Optional.empty();
        }

        @Override
        public boolean store(Key key, Writer writer) {
            return false;
        }

        @Override
        public void discard(Key key) {
        }
    };

    /**
     * Names an index: its kind (e.g. "kdump-zlib": which file of which format) and a digest of everything its
     * content depends on (the core's identity, the block table, the compressor's version), so a stale index has
     * another name and is never found.
     *
     * @param kind   lower-case letters, digits and '-'
     * @param digest 64 hex digits (SHA-256)
     */
    record Key(String kind, String digest) {

        public Key {
            if (!kind.matches("[a-z0-9-]{1,40}")) {
                throw new IllegalArgumentException("bad index kind " + kind);
            }
            if (!digest.matches("[0-9a-f]{64}")) {
                throw new IllegalArgumentException("bad index digest " + digest);
            }
        }

        /** Returns the key of kind {@code kind} for a SHA-256 {@code digest}. */
        public static Key of(String kind, byte[] sha256) {
            return new Key(kind, HexFormat.of().formatHex(sha256));
        }
    }

    /** Reads an index's content; throws {@link CorruptIndexException} when it does not make sense. */
    @FunctionalInterface
    interface Reader<T> {
        T read(ReadableByteChannel in) throws IOException;
    }

    /** Writes an index's content. */
    @FunctionalInterface
    interface Writer {
        void write(WritableByteChannel out) throws IOException;
    }

    /** The content is not a valid index: the repository deletes it, and the format builds again. */
    final class CorruptIndexException extends IOException {
        public CorruptIndexException(String why) {
            super(why);
        }
    }

    /**
     * Returns the index stored under {@code key}, read by {@code reader}; empty when there is none, when it cannot be
     * read, or when it is damaged (checksum, or the reader's {@link CorruptIndexException}; it is then deleted).
     * Loading an index marks it as recently used.
     */
    <T> Optional<T> load(Key key, Reader<T> reader);

    /**
     * Stores the index {@code writer} writes under {@code key}, replacing any; readers never see half an index.
     *
     * @return whether it was stored
     */
    boolean store(Key key, Writer writer);

    /** Deletes the index under {@code key}, if any: its content turned out wrong for the core. */
    void discard(Key key);
}
