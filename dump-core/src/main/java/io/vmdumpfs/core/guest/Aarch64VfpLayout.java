package io.vmdumpfs.core.guest;

/**
 * Byte offsets of {@code CPUARMState.vfp} (target/arm/cpu.h), the FP/SIMD state QEMU's aarch64 dump writes into
 * NT_PRFPREG: the vector registers and what {@code vfp_get_fpsr()}/{@code vfp_get_fpcr()} compute FPSR and FPCR
 * from. Where the block starts in CPUARMState moves with every QEMU version (system registers come before it), so
 * {@link #zregs} is found per build; the block's inside is derived from its field order as QEMU 7.2 has it
 * (TARGET_AARCH64, ARM_MAX_VQ 16):
 *
 * <pre>
 * ARMVectorReg zregs[32];      // uint64_t d[2 * ARM_MAX_VQ], 16-aligned: 256 bytes; V n is d[0] (low), d[1] (high)
 * ARMPredicateReg pregs[17];   // uint64_t p[DIV_ROUND_UP(2 * ARM_MAX_VQ, 8)], 16-aligned: 32 bytes
 * ARMPredicateReg preg_tmp;
 * uint32_t qc[4] QEMU_ALIGNED(16); int vec_len; int vec_stride;
 * uint32_t xregs[16];          // FPSID, FPSCR, …, MVFR2 [5], MVFR1 [6], MVFR0 [7]
 * uint32_t scratch[8];
 * float_status fp_status, fp_status_f16, standard_fp_status, standard_fp_status_f16;
 * </pre>
 *
 * {@code float_status} (include/fpu/softfloat-types.h, 7.1 and 7.2): {@code uint16_t float_exception_flags}, then
 * eleven one-byte fields (rounding mode, floatx80 precision, tininess_before_rounding, flush_to_zero,
 * flush_inputs_to_zero, default_nan_mode, snan_bit_is_one, use_first_nan, no_signaling_nans, rebias_overflow,
 * rebias_underflow): 13 bytes, 14 with padding. Measured on the aarch64 fixture's core: FPSID 0x41034070 and
 * MVFR2/1/0 of a Cortex-A57 at zregs + 8792 + 0/20/24/28, the four statuses' tininess flags at zregs + 8892 + 14n.
 *
 * @param zregs           vfp.zregs[0], from the start of CPUARMState
 * @param qc              vfp.qc[0]
 * @param vecLen          vfp.vec_len
 * @param vecStride       vfp.vec_stride
 * @param vfpXregs        vfp.xregs[0]
 * @param fpStatus        vfp.fp_status; the other three statuses follow {@link #floatStatusSize} apart
 * @param floatStatusSize sizeof(float_status)
 */
public record Aarch64VfpLayout(int zregs, int qc, int vecLen, int vecStride, int vfpXregs, int fpStatus,
        int floatStatusSize) {

    /** sizeof(ARMVectorReg) with ARM_MAX_VQ 16. */
    public static final int VECTOR_REG_SIZE = 256;
    /** Index of FPSCR in vfp.xregs (ARM_VFP_FPSCR). */
    public static final int ARM_VFP_FPSCR = 1;
    /** Indexes of MVFR2, MVFR1, MVFR0 in vfp.xregs. */
    public static final int ARM_VFP_MVFR2 = 5;
    public static final int ARM_VFP_MVFR1 = 6;
    public static final int ARM_VFP_MVFR0 = 7;
    /** Offsets inside float_status of the fields the shape check reads. */
    public static final int FS_TININESS_BEFORE_ROUNDING = 4;
    public static final int FS_FLUSH_TO_ZERO = 5;
    public static final int FS_DEFAULT_NAN_MODE = 7;
    /** The one-byte bool fields of float_status: tininess_before_rounding … rebias_underflow. */
    public static final int FS_FIRST_BOOL = 4;
    public static final int FS_BOOLS = 9;

    /** Returns QEMU 7.2's vfp block when zregs is at {@code zregs}. */
    public static Aarch64VfpLayout qemu7_2(int zregs) {
        int predicates = 32 * VECTOR_REG_SIZE;
        int qc = zregs + predicates + 17 * 32 + 32;   // 16-aligned already: all above are multiples of 16
        int vfpXregs = qc + 16 + 4 + 4;
        int fpStatus = vfpXregs + 16 * 4 + 8 * 4;
        return new Aarch64VfpLayout(zregs, qc, qc + 16, qc + 20, vfpXregs, fpStatus, 14);
    }

    /** Returns vfp.standard_fp_status. */
    public int standardFpStatus() {
        return fpStatus + 2 * floatStatusSize;
    }

    /** Returns the first byte after the four float_status structs: what the register reading needs at least. */
    public int end() {
        return fpStatus + 4 * floatStatusSize;
    }
}
