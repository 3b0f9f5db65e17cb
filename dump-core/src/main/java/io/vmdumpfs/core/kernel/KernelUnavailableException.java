package io.vmdumpfs.core.kernel;

/**
 * The guest kernel cannot be seen through its own structures: no VMCOREINFO, a fact the architecture needs is
 * missing from it, an architecture whose paging is not implemented, or page tables that do not hold up. Formats
 * then fall back to what they can write without the kernel (physical memory only). The message is one line that
 * says what is missing.
 */
public final class KernelUnavailableException extends RuntimeException {

    public KernelUnavailableException(String problem) {
        super(problem);
    }

    public KernelUnavailableException(String problem, Throwable cause) {
        super(problem, cause);
    }
}
