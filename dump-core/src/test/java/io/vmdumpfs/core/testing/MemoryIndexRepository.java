package io.vmdumpfs.core.testing;

import io.vmdumpfs.core.format.IndexRepository;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.ReadableByteChannel;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An {@link IndexRepository} in memory, for tests of the formats' load, persist and discard: keeps each index's
 * content as bytes, drops content its reader calls corrupt (as the cache module's IndexStore deletes the file), and
 * counts what happened.
 */
public final class MemoryIndexRepository implements IndexRepository {

    public final Map<Key, byte[]> stored = new ConcurrentHashMap<>();
    public final AtomicInteger loads = new AtomicInteger();
    public final AtomicInteger hits = new AtomicInteger();
    public final AtomicInteger stores = new AtomicInteger();
    public final AtomicInteger discards = new AtomicInteger();

    @Override
    public <T> Optional<T> load(Key key, Reader<T> reader) {
        loads.incrementAndGet();
        byte[] b = stored.get(key);
        if (b == null) {
            return Optional.empty();
        }
        try (ReadableByteChannel in = Channels.newChannel(new java.io.ByteArrayInputStream(b))) {
            T value = reader.read(in);
            if (in.read(ByteBuffer.allocate(1)) >= 0) {
                discard(key);
                return Optional.empty();
            }
            hits.incrementAndGet();
            return Optional.of(value);
        } catch (CorruptIndexException | java.io.EOFException e) {
            discard(key);
            return Optional.empty();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public boolean store(Key key, Writer writer) {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try {
            writer.write(Channels.newChannel(bos));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        stored.put(key, bos.toByteArray());
        stores.incrementAndGet();
        return true;
    }

    @Override
    public void discard(Key key) {
        discards.incrementAndGet();
        stored.remove(key);
    }
}
