//! The 16-lane AVX-512 vector: one `zmm` register of f32, its i32 twin and its mask.
//!
//! Every method is one AVX-512F instruction (or a few), the same IEEE operation per lane as
//! `wide`'s 8-lane AVX2 versions: the same comparison predicates, `vminps`/`vmaxps` with their
//! NaN rule, conversions under the default rounding mode. Only AVX-512F is used, which every
//! AVX-512 CPU has.
//!
//! # Safety
//! These methods execute AVX-512 instructions without a check. A value of these types is
//! only made inside code that [`Width::run`](crate::simd::width::Width::run) entered for the
//! AVX-512 width, which it does only on a CPU that has it (`simd::use_path`, `simd::active`
//! and `simd::array_path` check); the types are private to the engine.

use std::arch::x86_64::*;
use std::ops::{Add, AddAssign, BitAnd, BitOr, BitXor, Div, Mul, Neg, Not, Sub};

use wide::f32x8;

use super::vector::{IntVector, Mask, Vector};

/// Sixteen f32 lanes.
#[derive(Clone, Copy, Debug)]
#[repr(transparent)]
pub(crate) struct F32x16(pub(crate) __m512);

// SAFETY: a plain vector of 16 f32, every bit pattern valid, no padding.
unsafe impl wide::bytemuck::Zeroable for F32x16 {}
// SAFETY: as above.
unsafe impl wide::bytemuck::Pod for F32x16 {}

/// Sixteen i32 lanes.
#[derive(Clone, Copy, Debug)]
#[repr(transparent)]
pub(crate) struct I32x16(__m512i);

/// Sixteen lane booleans, one bit each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Mask16(__mmask16);

/// Runs an AVX-512 intrinsic (see the module's safety note).
macro_rules! avx512 {
    ($e:expr) => {
        // SAFETY: values of this module's types exist only on CPUs with AVX-512F.
        unsafe { $e }
    };
}

impl Mask for Mask16 {
    #[inline(always)]
    fn bits(self) -> u32 {
        u32::from(self.0)
    }
    #[inline(always)]
    fn all(self) -> bool {
        self.0 == u16::MAX
    }
}

impl BitAnd for Mask16 {
    type Output = Self;
    #[inline(always)]
    fn bitand(self, rhs: Self) -> Self {
        Mask16(self.0 & rhs.0)
    }
}

impl BitOr for Mask16 {
    type Output = Self;
    #[inline(always)]
    fn bitor(self, rhs: Self) -> Self {
        Mask16(self.0 | rhs.0)
    }
}

impl Not for Mask16 {
    type Output = Self;
    #[inline(always)]
    fn not(self) -> Self {
        Mask16(!self.0)
    }
}

/// An operator trait implemented by one intrinsic.
macro_rules! operator {
    ($ty:ident, $trait:ident, $method:ident, $intrinsic:ident) => {
        impl $trait for $ty {
            type Output = Self;
            #[inline(always)]
            fn $method(self, rhs: Self) -> Self {
                $ty(avx512!($intrinsic(self.0, rhs.0)))
            }
        }
    };
}

operator!(F32x16, Add, add, _mm512_add_ps);
operator!(F32x16, Sub, sub, _mm512_sub_ps);
operator!(F32x16, Mul, mul, _mm512_mul_ps);
operator!(F32x16, Div, div, _mm512_div_ps);
operator!(I32x16, Add, add, _mm512_add_epi32);
operator!(I32x16, Sub, sub, _mm512_sub_epi32);
operator!(I32x16, BitAnd, bitand, _mm512_and_epi32);

impl AddAssign for F32x16 {
    #[inline(always)]
    fn add_assign(&mut self, rhs: Self) {
        *self = *self + rhs;
    }
}

impl BitXor for F32x16 {
    type Output = Self;
    #[inline(always)]
    fn bitxor(self, rhs: Self) -> Self {
        F32x16::from_bits(I32x16(avx512!(_mm512_xor_epi32(
            self.to_bits().0,
            rhs.to_bits().0
        ))))
    }
}

impl Neg for F32x16 {
    type Output = Self;
    #[inline(always)]
    fn neg(self) -> Self {
        self ^ F32x16::splat(-0.0)
    }
}

impl IntVector for I32x16 {
    type Mask = Mask16;
    #[inline(always)]
    fn splat(v: i32) -> Self {
        I32x16(avx512!(_mm512_set1_epi32(v)))
    }
    #[inline(always)]
    fn shift_left<const N: u32>(self) -> Self {
        I32x16(avx512!(_mm512_slli_epi32::<N>(self.0)))
    }
    #[inline(always)]
    fn shift_right<const N: u32>(self) -> Self {
        I32x16(avx512!(_mm512_srai_epi32::<N>(self.0)))
    }
    #[inline(always)]
    fn simd_eq(self, rhs: Self) -> Mask16 {
        Mask16(avx512!(_mm512_cmpeq_epi32_mask(self.0, rhs.0)))
    }
}

impl F32x16 {
    #[inline(always)]
    fn compare<const PREDICATE: i32>(self, rhs: Self) -> Mask16 {
        Mask16(avx512!(_mm512_cmp_ps_mask::<PREDICATE>(self.0, rhs.0)))
    }
}

impl Vector for F32x16 {
    type Mask = Mask16;
    type Int = I32x16;
    const LANES: usize = 16;

    #[inline(always)]
    fn splat(v: f32) -> Self {
        F32x16(avx512!(_mm512_set1_ps(v)))
    }
    #[inline(always)]
    fn from_lanes(lanes: &[f32]) -> Self {
        let lanes = &lanes[..16];
        // SAFETY: 16 floats in bounds, read unaligned.
        F32x16(avx512!(_mm512_loadu_ps(lanes.as_ptr())))
    }
    #[inline(always)]
    fn write_lanes(self, out: &mut [f32]) {
        let out = &mut out[..16];
        // SAFETY: 16 floats in bounds, written unaligned.
        avx512!(_mm512_storeu_ps(out.as_mut_ptr(), self.0))
    }
    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        F32x16(avx512!(_mm512_fmadd_ps(self.0, a.0, b.0)))
    }
    #[inline(always)]
    fn mul_sub(self, a: Self, b: Self) -> Self {
        F32x16(avx512!(_mm512_fmsub_ps(self.0, a.0, b.0)))
    }
    #[inline(always)]
    fn mul_neg_add(self, a: Self, b: Self) -> Self {
        F32x16(avx512!(_mm512_fnmadd_ps(self.0, a.0, b.0)))
    }
    #[inline(always)]
    fn abs(self) -> Self {
        let magnitude = I32x16::splat(i32::MAX);
        F32x16::from_bits(self.to_bits() & magnitude)
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        F32x16(avx512!(_mm512_sqrt_ps(self.0)))
    }
    #[inline(always)]
    fn round_ties_even(self) -> Self {
        F32x16(avx512!(_mm512_roundscale_ps::<
            { _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC },
        >(self.0)))
    }
    #[inline(always)]
    fn copysign(self, sign: Self) -> Self {
        let sign_bit = I32x16::splat(i32::MIN);
        // ternary logic 0xCA is the bitwise select `a ? b : c`
        F32x16::from_bits(I32x16(avx512!(_mm512_ternarylogic_epi32::<0xCA>(
            sign_bit.0,
            sign.to_bits().0,
            self.to_bits().0
        ))))
    }
    #[inline(always)]
    fn fast_min(self, rhs: Self) -> Self {
        F32x16(avx512!(_mm512_min_ps(self.0, rhs.0)))
    }
    #[inline(always)]
    fn fast_max(self, rhs: Self) -> Self {
        F32x16(avx512!(_mm512_max_ps(self.0, rhs.0)))
    }
    #[inline(always)]
    fn simd_lt(self, rhs: Self) -> Mask16 {
        self.compare::<_CMP_LT_OQ>(rhs)
    }
    #[inline(always)]
    fn simd_le(self, rhs: Self) -> Mask16 {
        self.compare::<_CMP_LE_OQ>(rhs)
    }
    #[inline(always)]
    fn simd_gt(self, rhs: Self) -> Mask16 {
        self.compare::<_CMP_GT_OQ>(rhs)
    }
    #[inline(always)]
    fn simd_ge(self, rhs: Self) -> Mask16 {
        self.compare::<_CMP_GE_OQ>(rhs)
    }
    #[inline(always)]
    fn simd_eq(self, rhs: Self) -> Mask16 {
        self.compare::<_CMP_EQ_OQ>(rhs)
    }
    #[inline(always)]
    fn simd_ne(self, rhs: Self) -> Mask16 {
        self.compare::<_CMP_NEQ_UQ>(rhs)
    }
    #[inline(always)]
    fn is_nan(self) -> Mask16 {
        self.compare::<_CMP_UNORD_Q>(self)
    }
    #[inline(always)]
    fn is_inf(self) -> Mask16 {
        self.abs()
            .to_bits()
            .simd_eq(I32x16::splat(f32::INFINITY.to_bits() as i32))
    }
    #[inline(always)]
    fn is_sign_negative(self) -> Mask16 {
        // the sign bit set is an i32 below zero (`vpmovd2m` would need AVX-512DQ)
        Mask16(avx512!(_mm512_cmplt_epi32_mask(
            self.to_bits().0,
            _mm512_setzero_si512()
        )))
    }
    #[inline(always)]
    fn select(mask: Mask16, if_true: Self, if_false: Self) -> Self {
        F32x16(avx512!(_mm512_mask_blend_ps(mask.0, if_false.0, if_true.0)))
    }
    #[inline(always)]
    fn to_bits(self) -> I32x16 {
        I32x16(avx512!(_mm512_castps_si512(self.0)))
    }
    #[inline(always)]
    fn from_bits(bits: I32x16) -> Self {
        F32x16(avx512!(_mm512_castsi512_ps(bits.0)))
    }
    #[inline(always)]
    fn round_int(self) -> I32x16 {
        // as `wide`: NaN lanes converted as 0, lanes from 2^31 up flipped from i32::MIN
        let not_nan = self.simd_eq(self);
        let converted = avx512!(_mm512_cvtps_epi32(_mm512_maskz_mov_ps(not_nan.0, self.0)));
        let too_big = self.simd_ge(F32x16::splat(2_147_483_648.0));
        I32x16(avx512!(_mm512_mask_xor_epi32(
            converted,
            too_big.0,
            converted,
            _mm512_set1_epi32(-1)
        )))
    }
    #[inline(always)]
    fn fast_round_int(self) -> I32x16 {
        I32x16(avx512!(_mm512_cvtps_epi32(self.0)))
    }
    #[inline(always)]
    fn from_int(v: I32x16) -> Self {
        F32x16(avx512!(_mm512_cvtepi32_ps(v.0)))
    }
    #[inline(always)]
    fn chunk(self, i: usize) -> f32x8 {
        let half = if i == 0 {
            avx512!(_mm512_castps512_ps256(self.0))
        } else {
            avx512!(_mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(
                _mm512_castps_pd(self.0)
            )))
        };
        wide::bytemuck::cast::<__m256, f32x8>(half)
    }
    #[inline(always)]
    fn transpose_chunks(rows: [F32x16; 8]) -> [F32x16; 8] {
        // wide's 8 x 8 transpose (unpacks, then in-lane shuffles) on both halves at once;
        // its last step, which pairs 128-bit lanes across two vectors, is one two-source
        // permute per result here
        // loops, not closures (engine/README.md, "One source for every width")
        let mut t = [rows[0].0; 8];
        for i in 0..4 {
            let (x, y) = (rows[2 * i].0, rows[2 * i + 1].0);
            t[2 * i] = avx512!(_mm512_unpacklo_ps(x, y));
            t[2 * i + 1] = avx512!(_mm512_unpackhi_ps(x, y));
        }
        // b[0..4]: rows 0-3 of columns 0 to 3 (and 4 to 7 in each upper 128-bit lane), b[4..8]
        // rows 4-7, as in wide
        const LO: i32 = 0b01_00_01_00;
        const HI: i32 = 0b11_10_11_10;
        let mut b = [t[0]; 8];
        for (k, (first, second)) in [(0, 2), (1, 3), (4, 6), (5, 7)].into_iter().enumerate() {
            let (x, y) = (t[first], t[second]);
            b[2 * k] = avx512!(_mm512_shuffle_ps::<LO>(x, y));
            b[2 * k + 1] = avx512!(_mm512_shuffle_ps::<HI>(x, y));
        }
        // per 256-bit half, result c takes the low (c < 4) or high 128-bit lane of b[c % 4]
        // and then the same lane of b[c % 4 + 4] (element indices of the two sources: 16 on
        // for the second)
        const LOW_LANES: [i32; 16] = [0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27];
        const HIGH_LANES: [i32; 16] = [4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31];
        let halves = avx512!([
            _mm512_loadu_si512(LOW_LANES.as_ptr().cast()),
            _mm512_loadu_si512(HIGH_LANES.as_ptr().cast()),
        ]);
        let mut out = [rows[0]; 8];
        for (c, value) in out.iter_mut().enumerate() {
            let (top, bottom) = (b[c % 4], b[c % 4 + 4]);
            *value = F32x16(avx512!(_mm512_permutex2var_ps(top, halves[c / 4], bottom)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::width::{Avx512, Width};

    #[test]
    fn chunks_and_their_transposes_are_the_8_lane_ones() {
        if crate::simd::available(crate::simd::AVX512).is_err() {
            println!("this CPU lacks AVX-512: not checked");
            return;
        }
        let lanes: Vec<f32> = (0..128).map(|i| i as f32).collect();
        Avx512::run(|| {
            let rows: [F32x16; 8] = std::array::from_fn(|r| F32x16::from_lanes(&lanes[16 * r..]));
            let halves = |i: usize| -> [f32x8; 8] {
                std::array::from_fn(|r| f32x8::from_lanes(&lanes[16 * r + 8 * i..]))
            };
            for i in 0..2 {
                assert_eq!(
                    rows.map(|v| v.chunk(i).to_array()),
                    halves(i).map(|v| v.to_array())
                );
            }
            let transposed = F32x16::transpose_chunks(rows);
            for i in 0..2 {
                let want = f32x8::transpose(halves(i)).map(|v| v.to_array());
                assert_eq!(transposed.map(|v| v.chunk(i).to_array()), want);
            }
        });
    }
}
