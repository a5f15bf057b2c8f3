//! The operations the engine's vector code is written in, whatever the width.
//!
//! The vector maths (`math/`) and the tiny path's steps are generic over [`Vector`], so one
//! source serves every path: `wide`'s [`f32x8`] (AVX2 + FMA on x86, pairs of NEON registers on
//! aarch64) and the 16-lane AVX-512 `F32x16` (`simd/avx512.rs`). Each operation is the same
//! IEEE operation lane by lane on every implementor (one rounding per fused multiply-add, the
//! same comparison predicates, the same conversions), so a lane's bits do not depend on the
//! width that computed it.

use std::fmt::Debug;
use std::ops::{Add, AddAssign, BitAnd, BitOr, BitXor, Div, Mul, Neg, Not, Sub};

use wide::{f32x8, i32x8};

/// A lane-wise boolean of a vector.
pub trait Mask: Copy + BitAnd<Output = Self> + BitOr<Output = Self> + Not<Output = Self> {
    /// Bit i set where lane i is true.
    fn bits(self) -> u32;
    /// Whether every lane is true.
    fn all(self) -> bool;
    /// Whether any lane is true.
    fn any(self) -> bool {
        self.bits() != 0
    }
    /// `if_true` where the mask is set, else `if_false`.
    #[inline(always)]
    fn select<V: Vector<Mask = Self>>(self, if_true: V, if_false: V) -> V {
        V::select(self, if_true, if_false)
    }
}

/// Lanes of i32, as the maths' bit manipulations need them.
pub trait IntVector:
    Copy + Add<Output = Self> + Sub<Output = Self> + BitAnd<Output = Self>
{
    type Mask: Mask;
    fn splat(v: i32) -> Self;
    /// Shift left by `N` bits.
    fn shift_left<const N: u32>(self) -> Self;
    /// Arithmetic shift right by `N` bits.
    fn shift_right<const N: u32>(self) -> Self;
    fn simd_eq(self, rhs: Self) -> Self::Mask;
}

/// Lanes of f32 with the operations of the engine's vector code.
pub trait Vector:
    Copy
    + wide::bytemuck::Pod
    + Debug
    + Send
    + Sync
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + BitXor<Output = Self>
{
    type Mask: Mask;
    type Int: IntVector<Mask = Self::Mask>;
    /// f32 lanes per vector.
    const LANES: usize;

    fn splat(v: f32) -> Self;
    /// The vector of `lanes[..LANES]`.
    fn from_lanes(lanes: &[f32]) -> Self;
    /// Writes the lanes to `out[..LANES]`.
    fn write_lanes(self, out: &mut [f32]);
    /// self * a + b, one rounding.
    fn mul_add(self, a: Self, b: Self) -> Self;
    /// self * a - b, one rounding.
    fn mul_sub(self, a: Self, b: Self) -> Self;
    /// b - self * a, one rounding.
    fn mul_neg_add(self, a: Self, b: Self) -> Self;
    fn abs(self) -> Self;
    fn sqrt(self) -> Self;
    fn round_ties_even(self) -> Self;
    /// The bits of `self` with the sign bit of `sign`.
    fn copysign(self, sign: Self) -> Self;
    /// The x86 `min`: `rhs` where either is NaN or both are zeros.
    fn fast_min(self, rhs: Self) -> Self;
    /// The x86 `max`: `rhs` where either is NaN or both are zeros.
    fn fast_max(self, rhs: Self) -> Self;
    /// Ordered comparisons: false where either is NaN.
    fn simd_lt(self, rhs: Self) -> Self::Mask;
    fn simd_le(self, rhs: Self) -> Self::Mask;
    fn simd_gt(self, rhs: Self) -> Self::Mask;
    fn simd_ge(self, rhs: Self) -> Self::Mask;
    fn simd_eq(self, rhs: Self) -> Self::Mask;
    /// Unordered: true where either is NaN.
    fn simd_ne(self, rhs: Self) -> Self::Mask;
    fn is_nan(self) -> Self::Mask;
    fn is_inf(self) -> Self::Mask;
    fn is_sign_negative(self) -> Self::Mask;
    /// `if_true` where the mask is set, else `if_false`.
    fn select(mask: Self::Mask, if_true: Self, if_false: Self) -> Self;
    fn to_bits(self) -> Self::Int;
    fn from_bits(bits: Self::Int) -> Self;
    /// Rounds to the nearest integer, ties to even: NaN gives 0, values from 2^31 up give
    /// i32::MAX, values below -2^31 give i32::MIN.
    fn round_int(self) -> Self::Int;
    /// Rounds to the nearest integer, ties to even, for values known to be in range.
    fn fast_round_int(self) -> Self::Int;
    /// Each i32 lane as f32, rounded to nearest.
    fn from_int(v: Self::Int) -> Self;
    /// Adds the lanes into eight chains, one 8-lane half after the other, each half
    /// masked by its entry of `masks` (all-ones bits on real samples); halves past the end
    /// of `masks` are left out.
    #[inline(always)]
    fn add_to_chains(self, chains: f32x8, masks: &[f32x8]) -> f32x8 {
        let mut chains = chains;
        for (i, &mask) in masks.iter().enumerate().take(Self::LANES / 8) {
            chains += self.chunk(i) & mask;
        }
        chains
    }
    /// Lanes `8 * i..8 * i + 8`.
    fn chunk(self, i: usize) -> f32x8;
    /// Each 8-lane chunk of the eight vectors transposed as an 8 x 8 block of (vector,
    /// lane): lane l of chunk i of result r is lane r of chunk i of vector l.
    fn transpose_chunks(rows: [Self; 8]) -> [Self; 8];

    #[inline(always)]
    fn zero() -> Self {
        Self::splat(0.0)
    }
    #[inline(always)]
    fn one() -> Self {
        Self::splat(1.0)
    }
}

impl Mask for f32x8 {
    #[inline(always)]
    fn bits(self) -> u32 {
        self.to_bitmask()
    }
    #[inline(always)]
    fn all(self) -> bool {
        f32x8::all(self)
    }
    #[inline(always)]
    fn any(self) -> bool {
        f32x8::any(self)
    }
}

/// `wide`'s i32x8, with its comparison results as float masks (all bits set where true).
impl IntVector for i32x8 {
    type Mask = f32x8;
    #[inline(always)]
    fn splat(v: i32) -> Self {
        i32x8::splat(v)
    }
    #[inline(always)]
    fn shift_left<const N: u32>(self) -> Self {
        self << N
    }
    #[inline(always)]
    fn shift_right<const N: u32>(self) -> Self {
        self >> N
    }
    #[inline(always)]
    fn simd_eq(self, rhs: Self) -> f32x8 {
        wide::bytemuck::cast(i32x8::simd_eq(self, rhs))
    }
}

impl Vector for f32x8 {
    type Mask = f32x8;
    type Int = i32x8;
    const LANES: usize = 8;

    #[inline(always)]
    fn splat(v: f32) -> Self {
        f32x8::splat(v)
    }
    #[inline(always)]
    fn from_lanes(lanes: &[f32]) -> Self {
        let lanes: [f32; 8] = lanes[..8].try_into().expect("eight lanes");
        f32x8::from(lanes)
    }
    #[inline(always)]
    fn write_lanes(self, out: &mut [f32]) {
        out[..8].copy_from_slice(&self.to_array());
    }
    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        f32x8::mul_add(self, a, b)
    }
    #[inline(always)]
    fn mul_sub(self, a: Self, b: Self) -> Self {
        f32x8::mul_sub(self, a, b)
    }
    #[inline(always)]
    fn mul_neg_add(self, a: Self, b: Self) -> Self {
        f32x8::mul_neg_add(self, a, b)
    }
    #[inline(always)]
    fn abs(self) -> Self {
        f32x8::abs(self)
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        f32x8::sqrt(self)
    }
    #[inline(always)]
    fn round_ties_even(self) -> Self {
        f32x8::round_ties_even(self)
    }
    #[inline(always)]
    fn copysign(self, sign: Self) -> Self {
        f32x8::copysign(self, sign)
    }
    #[inline(always)]
    fn fast_min(self, rhs: Self) -> Self {
        f32x8::fast_min(self, rhs)
    }
    #[inline(always)]
    fn fast_max(self, rhs: Self) -> Self {
        f32x8::fast_max(self, rhs)
    }
    #[inline(always)]
    fn simd_lt(self, rhs: Self) -> Self {
        f32x8::simd_lt(self, rhs)
    }
    #[inline(always)]
    fn simd_le(self, rhs: Self) -> Self {
        f32x8::simd_le(self, rhs)
    }
    #[inline(always)]
    fn simd_gt(self, rhs: Self) -> Self {
        f32x8::simd_gt(self, rhs)
    }
    #[inline(always)]
    fn simd_ge(self, rhs: Self) -> Self {
        f32x8::simd_ge(self, rhs)
    }
    #[inline(always)]
    fn simd_eq(self, rhs: Self) -> Self {
        f32x8::simd_eq(self, rhs)
    }
    #[inline(always)]
    fn simd_ne(self, rhs: Self) -> Self {
        f32x8::simd_ne(self, rhs)
    }
    #[inline(always)]
    fn is_nan(self) -> Self {
        f32x8::is_nan(self)
    }
    #[inline(always)]
    fn is_inf(self) -> Self {
        f32x8::is_inf(self)
    }
    #[inline(always)]
    fn is_sign_negative(self) -> Self {
        f32x8::is_sign_negative(self)
    }
    #[inline(always)]
    fn select(mask: Self, if_true: Self, if_false: Self) -> Self {
        mask.select(if_true, if_false)
    }
    #[inline(always)]
    fn to_bits(self) -> i32x8 {
        wide::bytemuck::cast(self)
    }
    #[inline(always)]
    fn from_bits(bits: i32x8) -> Self {
        wide::bytemuck::cast(bits)
    }
    #[inline(always)]
    fn round_int(self) -> i32x8 {
        f32x8::round_int(self)
    }
    #[inline(always)]
    fn fast_round_int(self) -> i32x8 {
        f32x8::fast_round_int(self)
    }
    #[inline(always)]
    fn from_int(v: i32x8) -> Self {
        f32x8::from_i32x8(v)
    }
    #[inline(always)]
    fn chunk(self, i: usize) -> f32x8 {
        debug_assert_eq!(i, 0);
        self
    }
    #[inline(always)]
    fn transpose_chunks(rows: [f32x8; 8]) -> [f32x8; 8] {
        f32x8::transpose(rows)
    }
}
