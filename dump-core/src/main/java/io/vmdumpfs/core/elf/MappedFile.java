package io.vmdumpfs.core.elf;

/**
 * One entry of the NT_FILE note: a file mapped at [start, end) of the host address space.
 *
 * @param start     host-virtual start
 * @param end       host-virtual end, exclusive
 * @param pageOffset offset in the file, in pages of the note's page size
 * @param path      the file's path as the kernel saw it
 */
public record MappedFile(long start, long end, long pageOffset, String path) {
}
