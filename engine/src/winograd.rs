//! Winograd's minimal filtering F(4x4, 3x3) (Lavin and Gray, "Fast Algorithms for
//! Convolutional Neural Networks", CVPR 2016): a 4 x 4 block of a 3 x 3 convolution's outputs
//! from a 6 x 6 block of its input with 36 multiplications per channel, where the direct
//! method takes 144.
//!
//! With the input block `d`, the kernel `g` and the output block `y` (correlation, as CNNs
//! compute it),
//!
//! ```text
//! U = G g G^T            (6 x 6, once per filter and channel)
//! V = B^T d B            (6 x 6, once per input block and channel)
//! y = A^T (sum over channels of U ⊙ V) A
//! ```
//!
//! and the elementwise products summed over the channels are, for each of the 36 positions
//! ξ of the 6 x 6 block, one matrix product `M_ξ = U_ξ V_ξ` (filters x channels by channels x
//! blocks). The interpolation points are 0, 1, -1, 2, -2 and infinity.
//!
//! The backward passes are the exact transposes of these linear maps: with `dM = A dy A^T`,
//! the input's gradient is `B (U_ξ^T dM_ξ) B^T` added over the overlapping input blocks, and
//! the kernel's `G^T (sum over blocks of dM_ξ V_ξ^T) G`.
//!
//! # Numerics
//! Each output of a transform is one chain over the nonzero coefficients of its row, in
//! column order: the first term a product (exact for a coefficient of 1), every later one a
//! fused multiply-add. The coefficients 1/6, 1/12 and 1/24 of G are rounded to f32. The
//! rounding error of a result is bounded by `gamma(n) * S`, where `S` is the same computation
//! with every matrix, weight and input replaced by its absolute value and `n` the longest
//! chain of roundings that reaches the result (see [`forward_depth`] and friends); `S` is
//! larger than the direct method's sum of `|w x|` by the transforms' growth, which is the price
//! of the fewer multiplications.

use crate::simd::vector::Vector;

/// `B^T`: the input transform.
pub const BT: [[f32; 6]; 6] = [
    [4.0, 0.0, -5.0, 0.0, 1.0, 0.0],
    [0.0, -4.0, -4.0, 1.0, 1.0, 0.0],
    [0.0, 4.0, -4.0, -1.0, 1.0, 0.0],
    [0.0, -2.0, -1.0, 2.0, 1.0, 0.0],
    [0.0, 2.0, -1.0, -2.0, 1.0, 0.0],
    [0.0, 4.0, 0.0, -5.0, 0.0, 1.0],
];

/// `G`: the kernel transform.
pub const G: [[f32; 3]; 6] = [
    [1.0 / 4.0, 0.0, 0.0],
    [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
    [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
    [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
    [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
    [0.0, 0.0, 1.0],
];

/// `A^T`: the output transform.
pub const AT: [[f32; 6]; 4] = [
    [1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
    [0.0, 1.0, -1.0, 2.0, -2.0, 0.0],
    [0.0, 1.0, 1.0, 4.0, 4.0, 0.0],
    [0.0, 1.0, -1.0, 8.0, -8.0, 1.0],
];

/// Outputs per block side.
pub const M: usize = 4;
/// Inputs per block side (`M + 3 - 1`).
pub const TILE: usize = 6;

const fn transpose<const R: usize, const C: usize>(m: [[f32; C]; R]) -> [[f32; R]; C] {
    let mut t = [[0.0; R]; C];
    let mut r = 0;
    while r < R {
        let mut c = 0;
        while c < C {
            t[c][r] = m[r][c];
            c += 1;
        }
        r += 1;
    }
    t
}

const B: [[f32; 6]; 6] = transpose(BT);
const GT: [[f32; 6]; 3] = transpose(G);
const A: [[f32; 4]; 6] = transpose(AT);

/// Nonzero terms of the longest row of a matrix.
const fn longest_row<const R: usize, const C: usize>(m: &[[f32; C]; R]) -> usize {
    let mut most = 0;
    let mut r = 0;
    while r < R {
        let (mut n, mut c) = (0, 0);
        while c < C {
            if m[r][c] != 0.0 {
                n += 1;
            }
            c += 1;
        }
        if n > most {
            most = n;
        }
        r += 1;
    }
    most
}

/// Roundings along one side of `M X M^T` (a chain of `n` terms rounds `n` times).
const fn sandwich_depth<const R: usize, const C: usize>(m: &[[f32; C]; R]) -> usize {
    2 * longest_row(m)
}

/// Roundings that reach a forward output through `channels` channels: the kernel transform
/// (its coefficients rounded too), the input transform, the products' chain and the output
/// transform, plus the bias.
pub const fn forward_depth(channels: usize) -> usize {
    (sandwich_depth(&G) + 2) + sandwich_depth(&BT) + channels + sandwich_depth(&AT) + 1
}

/// Roundings that reach an input gradient through `filters` filters and `overlaps` blocks.
pub const fn input_grad_depth(filters: usize, overlaps: usize) -> usize {
    (sandwich_depth(&G) + 2) + sandwich_depth(&A) + filters + sandwich_depth(&B) + overlaps
}

/// Roundings that reach a kernel gradient through `terms` products (blocks x samples).
pub const fn weight_grad_depth(terms: usize) -> usize {
    sandwich_depth(&BT) + sandwich_depth(&A) + terms + (sandwich_depth(&GT) + 2)
}

/// The values the transforms work on: f32 (the kernels), vectors of samples, and f64
/// (tests).
pub trait Lane: Copy {
    fn zero() -> Self;
    fn scale(self, k: f32) -> Self;
    /// `self * k + acc`, fused.
    fn scale_add(self, k: f32, acc: Self) -> Self;
}

impl Lane for f32 {
    #[inline(always)]
    fn zero() -> f32 {
        0.0
    }
    #[inline(always)]
    fn scale(self, k: f32) -> f32 {
        self * k
    }
    #[inline(always)]
    fn scale_add(self, k: f32, acc: f32) -> f32 {
        self.mul_add(k, acc)
    }
}

impl Lane for f64 {
    #[inline(always)]
    fn zero() -> f64 {
        0.0
    }
    #[inline(always)]
    fn scale(self, k: f32) -> f64 {
        self * f64::from(k)
    }
    #[inline(always)]
    fn scale_add(self, k: f32, acc: f64) -> f64 {
        self.mul_add(f64::from(k), acc)
    }
}

impl<V: Vector> Lane for V {
    #[inline(always)]
    fn zero() -> V {
        V::splat(0.0)
    }
    #[inline(always)]
    fn scale(self, k: f32) -> V {
        self * V::splat(k)
    }
    #[inline(always)]
    fn scale_add(self, k: f32, acc: V) -> V {
        Vector::mul_add(self, V::splat(k), acc)
    }
}

/// `m x`: each output one chain over the row's nonzero coefficients in order (the
/// coefficients are constants, so the zero terms are dropped at compile time).
#[inline(always)]
fn apply<T: Lane, const R: usize, const C: usize>(m: &[[f32; C]; R], x: &[T; C]) -> [T; R] {
    // every entry is overwritten: starting from copies of x[0] rather than zeros keeps the
    // compiler from clearing the array with a call to memset
    let mut y = [x[0]; R];
    for r in 0..R {
        let mut started = false;
        for c in 0..C {
            let k = m[r][c];
            if k != 0.0 {
                y[r] = if started {
                    x[c].scale_add(k, y[r])
                } else {
                    x[c].scale(k)
                };
                started = true;
            }
        }
        if !started {
            y[r] = T::zero();
        }
    }
    y
}

/// `m x m^T` of the `C x C` block whose element (i, j) is `x(i, j)`: down the columns first,
/// then along the rows. (Reading the block through `x` lets each element go from memory
/// straight into its first chain; the arrays start as copies of their first entry, which
/// every entry then overwrites, for the reason in `apply`. Loops, not closures: the AVX-512
/// code inlines this into a function compiled for AVX-512, and a closure left out of line
/// would compile without it.)
#[inline(always)]
fn sandwich<T: Lane, const R: usize, const C: usize>(
    m: &[[f32; C]; R],
    x: impl Fn(usize, usize) -> T,
) -> [[T; R]; R] {
    let first = x(0, 0);
    let mut columns = [[first; R]; C];
    for (j, column) in columns.iter_mut().enumerate() {
        let mut values = [first; C];
        for (i, value) in values.iter_mut().enumerate() {
            *value = x(i, j);
        }
        *column = apply(m, &values);
    }
    let mut y = [columns[0]; R];
    for (i, line) in y.iter_mut().enumerate() {
        let mut values = [columns[0][i]; C];
        for (j, value) in values.iter_mut().enumerate().skip(1) {
            *value = columns[j][i];
        }
        *line = apply(m, &values);
    }
    y
}

/// `V = B^T d B`, `d(i, j)` the 6 x 6 input block.
#[inline(always)]
pub fn input_tile<T: Lane>(d: impl Fn(usize, usize) -> T) -> [[T; 6]; 6] {
    sandwich(&BT, d)
}

/// `U = G g G^T`, `g(i, j)` the 3 x 3 kernel.
#[inline(always)]
pub fn kernel_tile<T: Lane>(g: impl Fn(usize, usize) -> T) -> [[T; 6]; 6] {
    sandwich(&G, g)
}

/// `y = A^T m A`, `m(i, j)` the 6 x 6 products.
#[inline(always)]
pub fn output_tile<T: Lane>(m: impl Fn(usize, usize) -> T) -> [[T; 4]; 4] {
    sandwich(&AT, m)
}

/// `dM = A dy A^T`, the transpose of [`output_tile`], `dy(i, j)` the 4 x 4 output gradient.
#[inline(always)]
pub fn output_grad_tile<T: Lane>(dy: impl Fn(usize, usize) -> T) -> [[T; 6]; 6] {
    sandwich(&A, dy)
}

/// `dd = B dV B^T`, the transpose of [`input_tile`].
#[inline(always)]
pub fn input_grad_tile<T: Lane>(dv: impl Fn(usize, usize) -> T) -> [[T; 6]; 6] {
    sandwich(&B, dv)
}

/// `dg = G^T dU G`, the transpose of [`kernel_tile`].
#[inline(always)]
pub fn kernel_grad_tile<T: Lane>(du: impl Fn(usize, usize) -> T) -> [[T; 3]; 3] {
    sandwich(&GT, du)
}

/// A matrix with every coefficient replaced by its absolute value (for error bounds).
pub fn abs<const R: usize, const C: usize>(m: &[[f32; C]; R]) -> [[f64; C]; R] {
    m.map(|row| row.map(|k| f64::from(k).abs()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wide::f32x8;

    fn lcg(state: &mut u64) -> f64 {
        *state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*state >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }

    #[test]
    fn one_block_equals_the_direct_correlation() {
        let mut s = 7;
        for _ in 0..100 {
            let d: [[f64; 6]; 6] = std::array::from_fn(|_| std::array::from_fn(|_| lcg(&mut s)));
            let g: [[f64; 3]; 3] = std::array::from_fn(|_| std::array::from_fn(|_| lcg(&mut s)));
            let (u, v) = (kernel_tile(|i, j| g[i][j]), input_tile(|i, j| d[i][j]));
            let m: [[f64; 6]; 6] =
                std::array::from_fn(|i| std::array::from_fn(|j| u[i][j] * v[i][j]));
            let y = output_tile(|i, j| m[i][j]);
            for oy in 0..4 {
                for ox in 0..4 {
                    let mut want = 0.0;
                    for ky in 0..3 {
                        for kx in 0..3 {
                            want += g[ky][kx] * d[oy + ky][ox + kx];
                        }
                    }
                    // the coefficients of G are f32 roundings of 1/6, 1/12, 1/24
                    assert!((y[oy][ox] - want).abs() < 1e-6, "{} vs {want}", y[oy][ox]);
                }
            }
        }
    }

    #[test]
    fn the_backward_transforms_are_the_transposes() {
        // <T x, y> = <x, T^T y> for each pair, in f64
        let mut s = 3;
        let mut r6 =
            || -> [[f64; 6]; 6] { std::array::from_fn(|_| std::array::from_fn(|_| lcg(&mut s))) };
        let (d, dv) = (r6(), r6());
        let dot6 = |a: &[[f64; 6]; 6], b: &[[f64; 6]; 6]| {
            (0..36)
                .map(|e| a[e / 6][e % 6] * b[e / 6][e % 6])
                .sum::<f64>()
        };
        assert!(
            (dot6(&input_tile(|i, j| d[i][j]), &dv) - dot6(&d, &input_grad_tile(|i, j| dv[i][j])))
                .abs()
                < 1e-9
        );
        let m = r6();
        let dy: [[f64; 4]; 4] = std::array::from_fn(|i| std::array::from_fn(|j| m[i][j]));
        let lhs: f64 = (0..16)
            .map(|e| output_tile(|i, j| d[i][j])[e / 4][e % 4] * dy[e / 4][e % 4])
            .sum();
        assert!((lhs - dot6(&d, &output_grad_tile(|i, j| dy[i][j]))).abs() < 1e-9);
        let g: [[f64; 3]; 3] = std::array::from_fn(|i| std::array::from_fn(|j| m[i][j + 3]));
        let lhs = dot6(&kernel_tile(|i, j| g[i][j]), &dv);
        let dg = kernel_grad_tile(|i, j| dv[i][j]);
        let rhs: f64 = (0..9).map(|e| g[e / 3][e % 3] * dg[e / 3][e % 3]).sum();
        assert!((lhs - rhs).abs() < 1e-9);
    }

    #[test]
    fn the_lanes_compute_what_f32_does_lane_by_lane() {
        let mut s = 11;
        let d: [[f32x8; 6]; 6] = std::array::from_fn(|_| {
            std::array::from_fn(|_| {
                f32x8::from(std::array::from_fn::<f32, 8, _>(|_| lcg(&mut s) as f32))
            })
        });
        let v = input_tile(|i, j| d[i][j]);
        for l in 0..8 {
            let dl: [[f32; 6]; 6] =
                std::array::from_fn(|i| std::array::from_fn(|j| d[i][j].to_array()[l]));
            let vl = input_tile(|i, j| dl[i][j]);
            for e in 0..36 {
                assert_eq!(
                    v[e / 6][e % 6].to_array()[l].to_bits(),
                    vl[e / 6][e % 6].to_bits()
                );
            }
        }
    }

    #[test]
    fn depths_count_the_longest_chains() {
        // B^T's longest row has 4 terms, G's 3, A^T's 5 (and 6 on its transpose's... rows of A: 2)
        assert_eq!(longest_row(&BT), 4);
        assert_eq!(longest_row(&G), 3);
        assert_eq!(longest_row(&AT), 5);
        assert_eq!(longest_row(&A), 4);
        assert_eq!(forward_depth(32), 8 + 8 + 32 + 10 + 1);
    }
}
