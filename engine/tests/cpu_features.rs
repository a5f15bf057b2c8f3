//! The SIMD level is pinned in `.cargo/config.toml` (`target-cpu=x86-64-v3` on x86-64).
//! Without it `wide::f32x8` silently falls back to two SSE halves and `mul_add` stops being
//! fused, which changes results and halves speed. This test fails loudly if that ever
//! happens; on aarch64, NEON's multiply-adds are fused too.

#[test]
#[cfg(target_arch = "x86_64")]
// A runtime assertion, so the failure reads as a failing test with this message.
#[allow(clippy::assertions_on_constants)]
fn avx2_and_fma_are_compiled_in() {
    assert!(
        cfg!(target_feature = "avx2"),
        "AVX2 missing: build with -C target-cpu=x86-64-v3"
    );
    assert!(
        cfg!(target_feature = "fma"),
        "FMA missing: build with -C target-cpu=x86-64-v3"
    );
}

#[test]
#[cfg(target_arch = "aarch64")]
#[allow(clippy::assertions_on_constants)]
fn neon_is_compiled_in() {
    assert!(
        cfg!(target_feature = "neon"),
        "NEON missing from an aarch64 build"
    );
}

#[test]
fn mul_add_is_fused() {
    // (1 + 2^-23)(1 - 2^-23) - 1 = -2^-46 exactly when fused; 0 when rounded first.
    let a = wide::f32x8::splat(1.0 + f32::EPSILON);
    let b = wide::f32x8::splat(1.0 - f32::EPSILON);
    let fused = a.mul_add(b, wide::f32x8::splat(-1.0)).to_array()[0];
    assert_eq!(fused, -(f32::EPSILON * f32::EPSILON));
}
