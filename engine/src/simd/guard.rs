//! The start-up guard: a binary built for AVX2 and FMA that starts on a CPU without them stops
//! with a message naming what is missing, instead of dying of an illegal instruction.
//!
//! The check cannot be Rust: the whole crate graph is compiled for x86-64-v3, so any Rust
//! function, the check included, may use AVX or BMI instructions (the compiler moves a
//! 16-byte struct with `vmovups`). It is a few lines of assembly using only baseline
//! instructions, run from `.preinit_array` by the C runtime before any other initialiser,
//! before `main` and before Rust's runtime starts; it checks every x86-64-v3 feature compiled
//! code may use, and writes its message with the `write` system call and exits with code 2.
//! Each binary installs it with [`install_simd_guard!`](crate::install_simd_guard) at its
//! root: in a library the linker would leave it out.

/// Installs the start-up guard in the binary that invokes it (once, at the crate root).
#[macro_export]
macro_rules! install_simd_guard {
    () => {
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        ::std::arch::global_asm!(
            ".pushsection .text.nalm_simd_guard,\"ax\",@progbits",
            ".p2align 4",
            "nalm_simd_guard:",
            "    pushq %rbx",
            // CPUID leaf 7 must exist
            "    xorl %eax, %eax",
            "    cpuid",
            "    cmpl $7, %eax",
            "    jb 3f",
            "    movl $1, %eax",
            "    cpuid",
            "    movl %ecx, %r8d",
            // AVX: the CPU has it (bit 28), OSXSAVE (bit 27), and the OS saves the SSE and
            // AVX registers (XCR0 bits 1 and 2)
            "    btl $28, %r8d",
            "    jnc 1f",
            "    btl $27, %r8d",
            "    jnc 1f",
            "    xorl %ecx, %ecx",
            "    xgetbv",
            "    andl $6, %eax",
            "    cmpl $6, %eax",
            "    jne 1f",
            // FMA: leaf 1, ECX bit 12
            "    btl $12, %r8d",
            "    jnc 2f",
            // the rest of x86-64-v3 that compiled code may use: MOVBE (leaf 1, ECX bit 22)
            // and F16C (bit 29)
            "    btl $22, %r8d",
            "    jnc 5f",
            "    btl $29, %r8d",
            "    jnc 5f",
            // AVX2: leaf 7, EBX bit 5; BMI1 and BMI2: bits 3 and 8
            "    movl $7, %eax",
            "    xorl %ecx, %ecx",
            "    cpuid",
            "    btl $5, %ebx",
            "    jnc 3f",
            "    btl $3, %ebx",
            "    jnc 5f",
            "    btl $8, %ebx",
            "    jnc 5f",
            // LZCNT: leaf 0x80000001, ECX bit 5
            "    movl $0x80000000, %eax",
            "    cpuid",
            "    cmpl $0x80000001, %eax",
            "    jb 5f",
            "    movl $0x80000001, %eax",
            "    cpuid",
            "    btl $5, %ecx",
            "    jnc 5f",
            "    popq %rbx",
            "    ret",
            "1:  leaq nalm_simd_no_avx(%rip), %rsi",
            "    movl $(nalm_simd_no_fma - nalm_simd_no_avx), %edx",
            "    jmp 4f",
            "2:  leaq nalm_simd_no_fma(%rip), %rsi",
            "    movl $(nalm_simd_no_avx2 - nalm_simd_no_fma), %edx",
            "    jmp 4f",
            "3:  leaq nalm_simd_no_avx2(%rip), %rsi",
            "    movl $(nalm_simd_no_rest - nalm_simd_no_avx2), %edx",
            "    jmp 4f",
            "5:  leaq nalm_simd_no_rest(%rip), %rsi",
            "    movl $(nalm_simd_end - nalm_simd_no_rest), %edx",
            // write(2, message, length), then exit_group(2)
            "4:  movl $1, %eax",
            "    movl $2, %edi",
            "    syscall",
            "    movl $231, %eax",
            "    movl $2, %edi",
            "    syscall",
            "    ud2",
            ".popsection",
            ".pushsection .rodata.nalm_simd_guard,\"a\",@progbits",
            "nalm_simd_no_avx:",
            "    .ascii \"error: this build computes with AVX2 and FMA (x86-64-v3), but this CPU lacks AVX (or the operating system does not enable it): the engine needs an x86-64-v3 CPU (Intel since Haswell, AMD since Excavator) and has no path for older ones\\n\"",
            "nalm_simd_no_fma:",
            "    .ascii \"error: this build computes with AVX2 and FMA (x86-64-v3), but this CPU lacks FMA: the engine needs an x86-64-v3 CPU (Intel since Haswell, AMD since Excavator) and has no path for older ones\\n\"",
            "nalm_simd_no_avx2:",
            "    .ascii \"error: this build computes with AVX2 and FMA (x86-64-v3), but this CPU lacks AVX2: the engine needs an x86-64-v3 CPU (Intel since Haswell, AMD since Excavator) and has no path for older ones\\n\"",
            "nalm_simd_no_rest:",
            "    .ascii \"error: this build computes with AVX2 and FMA (x86-64-v3), but this CPU lacks one of BMI1, BMI2, LZCNT, MOVBE and F16C: the engine needs an x86-64-v3 CPU (Intel since Haswell, AMD since Excavator) and has no path for older ones\\n\"",
            "nalm_simd_end:",
            ".popsection",
            ".pushsection .preinit_array,\"aw\",@preinit_array",
            ".p2align 3",
            ".quad nalm_simd_guard",
            ".popsection",
            options(att_syntax)
        );
    };
}
