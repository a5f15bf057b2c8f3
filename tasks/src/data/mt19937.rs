//! The Mersenne Twister MT19937 (Matsumoto and Nishimura, 1998) as NumPy's legacy
//! `RandomState` drives it, so data sets equal the reference's bit for bit
//! (`tasks/docs/single-module-study.md` 2.2).
//!
//! Besides the scalar draws, [`Mt19937::fill_doubles`] produces a long run of doubles with the
//! twist and the tempering vectorised over eight state words (the same sequence, faster): the
//! training loop draws a fresh batch from it every iteration.

use wide::{f64x4, u32x8, u64x4};

const N: usize = 624;
const M: usize = 397;
const MATRIX_A: u32 = 0x9908_b0df;
const UPPER: u32 = 0x8000_0000;
const LOWER: u32 = 0x7fff_ffff;

/// One MT19937 stream.
#[derive(Clone)]
pub struct Mt19937 {
    state: [u32; N],
    index: usize,
}

impl std::fmt::Debug for Mt19937 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mt19937")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl Mt19937 {
    /// `init_genrand(seed)`: what `numpy.random.RandomState(seed)` does for a 32-bit seed.
    pub fn new(seed: u32) -> Self {
        let mut state = [0u32; N];
        state[0] = seed;
        for i in 1..N {
            let previous = state[i - 1];
            state[i] = 1_812_433_253u32
                .wrapping_mul(previous ^ (previous >> 30))
                .wrapping_add(i as u32);
        }
        Mt19937 { state, index: N }
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        if self.index == N {
            self.twist();
        }
        let y = self.state[self.index];
        self.index += 1;
        temper(y)
    }

    /// A double in [0, 1) from 53 random bits of two draws (`random_sample`).
    pub fn next_double(&mut self) -> f64 {
        let a = self.next_u32() >> 5;
        let b = self.next_u32() >> 6;
        (f64::from(a) * 67_108_864.0 + f64::from(b)) / 9_007_199_254_740_992.0
    }

    /// A uniform integer in [0, r] by masked rejection (NumPy's legacy bounded integers):
    /// no draw at all when r is 0.
    pub fn bounded(&mut self, r: u32) -> u32 {
        if r == 0 {
            return 0;
        }
        let mask = u32::MAX >> r.leading_zeros();
        loop {
            let v = self.next_u32() & mask;
            if v <= r {
                return v;
            }
        }
    }

    /// Fills `out` with the next draws of [`Self::bounded`]`(r)` (the same sequence, and the
    /// stream left just after the last accepted word): the state words are tempered eight
    /// at a time and the rejections made without a branch per word.
    pub fn fill_bounded(&mut self, r: u32, out: &mut [u32]) {
        if r == 0 {
            out.fill(0);
            return;
        }
        let mask = u32::MAX >> r.leading_zeros();
        let mut k = 0;
        while k < out.len() {
            if self.index == N {
                self.twist();
            }
            if self.index + 8 > N {
                // the last words before a twist, one at a time
                let v = self.next_u32() & mask;
                if v <= r {
                    out[k] = v;
                    k += 1;
                }
                continue;
            }
            let words = temper8(load8(&self.state, self.index)).to_array();
            let mut accepted = [0u32; 8];
            let (mut taken, mut used) = (0, 0);
            for w in words {
                if k + taken == out.len() {
                    break;
                }
                used += 1;
                accepted[taken] = w & mask;
                taken += usize::from(w & mask <= r);
            }
            out[k..k + taken].copy_from_slice(&accepted[..taken]);
            k += taken;
            self.index += used;
        }
    }

    /// Fills `out` with the next draws (the sequence of [`Self::next_u32`]), tempering eight
    /// state words at a time.
    pub fn fill_u32(&mut self, out: &mut [u32]) {
        let mut k = 0;
        while k < out.len() {
            if self.index == N {
                self.twist();
            }
            let take = (out.len() - k).min(N - self.index);
            let (words, rest) = self.state[self.index..self.index + take].split_at(take / 8 * 8);
            let (blocks, tail) = out[k..k + take].split_at_mut(take / 8 * 8);
            for (w, o) in words.chunks_exact(8).zip(blocks.chunks_exact_mut(8)) {
                let w = u32x8::from(<[u32; 8]>::try_from(w).expect("eight words"));
                o.copy_from_slice(&temper8(w).to_array());
            }
            for (&w, o) in rest.iter().zip(tail) {
                *o = temper(w);
            }
            self.index += take;
            k += take;
        }
    }

    /// Fills `out` with the next doubles (the sequence of [`Self::next_double`]): eight
    /// state words are tempered and turned into four doubles at a time, straight from the
    /// state; pairs that straddle a twist go one by one.
    pub fn fill_doubles(&mut self, out: &mut [f64]) {
        self.fill_doubles_mapped(out, |u| u, |u| u);
    }

    /// [`Self::fill_doubles`] with each double u passed through `map` (four at a time) or
    /// `map1` (one at a time, for the pairs that straddle a twist): the same function, so the
    /// values do not depend on where the twists fall.
    #[inline(always)]
    pub fn fill_doubles_mapped(
        &mut self,
        out: &mut [f64],
        map: impl Fn(f64x4) -> f64x4,
        map1: impl Fn(f64) -> f64,
    ) {
        let mut k = 0;
        while k < out.len() {
            if self.index == N {
                self.twist();
            }
            let quads = ((out.len() - k) / 4).min((N - self.index) / 8);
            let words = &self.state[self.index..self.index + 8 * quads];
            for (w, o) in words
                .chunks_exact(8)
                .zip(out[k..k + 4 * quads].chunks_exact_mut(4))
            {
                let w = u32x8::from(<[u32; 8]>::try_from(w).expect("eight words"));
                o.copy_from_slice(&map(doubles4(temper8(w))).to_array());
            }
            self.index += 8 * quads;
            k += 4 * quads;
            if k < out.len() {
                out[k] = map1(self.next_double());
                k += 1;
            }
        }
    }

    /// Regenerates all 624 state words. Words 0..227 read words 397 further on that are
    /// not updated yet; the rest read words updated earlier in this same pass, 227 back, so
    /// blocks of eight never read their own lanes and the whole pass vectorises.
    fn twist(&mut self) {
        let s = &mut self.state;
        let mut i = 0;
        while i + 8 <= N - M {
            store8(s, i, twist8(load8(s, i), load8(s, i + 1), load8(s, i + M)));
            i += 8;
        }
        while i < N - M {
            s[i] = twist1(s[i], s[i + 1], s[i + M]);
            i += 1;
        }
        while i + 8 < N {
            store8(
                s,
                i,
                twist8(load8(s, i), load8(s, i + 1), load8(s, i + M - N)),
            );
            i += 8;
        }
        while i < N - 1 {
            s[i] = twist1(s[i], s[i + 1], s[i + M - N]);
            i += 1;
        }
        s[N - 1] = twist1(s[N - 1], s[0], s[M - 1]);
        self.index = 0;
    }
}

#[inline(always)]
fn twist1(current: u32, next: u32, far: u32) -> u32 {
    let y = (current & UPPER) | (next & LOWER);
    far ^ (y >> 1) ^ if y & 1 == 1 { MATRIX_A } else { 0 }
}

#[inline(always)]
fn load8(s: &[u32; N], i: usize) -> u32x8 {
    u32x8::from(<[u32; 8]>::try_from(&s[i..i + 8]).expect("eight words"))
}

#[inline(always)]
fn store8(s: &mut [u32; N], i: usize, v: u32x8) {
    s[i..i + 8].copy_from_slice(&v.to_array());
}

#[inline(always)]
fn twist8(current: u32x8, next: u32x8, far: u32x8) -> u32x8 {
    let y = (current & u32x8::splat(UPPER)) | (next & u32x8::splat(LOWER));
    let odd = (y & u32x8::splat(1)).simd_eq(u32x8::splat(1));
    far ^ (y >> 1) ^ (odd & u32x8::splat(MATRIX_A))
}

#[inline(always)]
fn temper(mut y: u32) -> u32 {
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c_5680;
    y ^= (y << 15) & 0xefc6_0000;
    y ^ (y >> 18)
}

#[inline(always)]
fn temper8(mut y: u32x8) -> u32x8 {
    y ^= y >> 11;
    y ^= (y << 7) & u32x8::splat(0x9d2c_5680);
    y ^= (y << 15) & u32x8::splat(0xefc6_0000);
    y ^ (y >> 18)
}

/// ((a >> 5) 2^26 + (b >> 6)) 2^-53 for four consecutive pairs of tempered draws (a, b).
/// Read as 64-bit lanes a pair is a + b 2^32. Each part becomes an exact double by placing
/// its bits at the bottom of a mantissa: 1 + (a & !31) 2^-52 and 1/2 + (b >> 6) 2^-53, less
/// 1 and 1/2. The first is (a >> 5) 2^-47, so one fused multiply-add by 2^20 joins them; the
/// sum needs 53 bits and is exact.
#[inline(always)]
fn doubles4(words: u32x8) -> f64x4 {
    let pairs: u64x4 = wide::bytemuck::cast(words);
    let mantissa = |bits: u64x4, exponent: u64| {
        wide::bytemuck::cast::<u64x4, f64x4>(bits | u64x4::splat(exponent))
    };
    let high = mantissa(pairs & u64x4::splat(0xffff_ffe0), 0x3ff0_0000_0000_0000) - f64x4::ONE;
    let low = mantissa(pairs >> 38, 0x3fe0_0000_0000_0000) - f64x4::HALF;
    high.mul_add(f64x4::splat(1_048_576.0), low)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_double_of_seed_zero() {
        // `tasks/docs/single-module-study.md` 2.3: next_double of a generator seeded 0 begins 0.5488135039273248
        assert_eq!(Mt19937::new(0).next_double(), 0.548_813_503_927_324_8);
    }

    #[test]
    fn reference_outputs_of_the_original_algorithm() {
        // init_genrand(5489), the reference implementation's default seed: the first output
        // is 3499211612 and the 10000th is 4123659995 (the C++ standard's check value).
        let mut mt = Mt19937::new(5489);
        assert_eq!(mt.next_u32(), 3_499_211_612);
        for _ in 1..9999 {
            mt.next_u32();
        }
        assert_eq!(mt.next_u32(), 4_123_659_995);
    }

    #[test]
    fn bulk_draws_equal_scalar_draws() {
        for seed in [0u32, 1, 43_953_907, 8_689_336, u32::MAX] {
            let (mut scalar, mut bulk) = (Mt19937::new(seed), Mt19937::new(seed));
            // lengths that straddle twists and leave partial blocks, and single draws that
            // shift the pairs off the blocks of eight
            for len in [1usize, 7, 8, 300, 623, 624, 625, 1280, 5, 0, 311, 2048] {
                let want: Vec<f64> = (0..len).map(|_| scalar.next_double()).collect();
                let mut got = vec![0.0; len];
                bulk.fill_doubles(&mut got);
                assert_eq!(got, want, "seed {seed}, length {len}");
                if len % 3 == 0 {
                    assert_eq!(scalar.next_u32(), bulk.next_u32());
                }
                let want: Vec<u32> = (0..len).map(|_| scalar.next_u32()).collect();
                let mut got = vec![0; len];
                bulk.fill_u32(&mut got);
                assert_eq!(got, want, "seed {seed}, {len} words");
            }
            assert_eq!(scalar.next_u32(), bulk.next_u32());
        }
    }

    #[test]
    fn filled_bounded_draws_are_the_bounded_draws_one_by_one() {
        for (seed, r) in [(0, 8u32), (1, 1), (2, 0), (3, 899), (4, u32::MAX), (5, 5)] {
            for len in [0, 1, 7, 100, 1000, 3000] {
                let (mut one, mut filled) = (Mt19937::new(seed), Mt19937::new(seed));
                // start off the block boundary, as the data sets leave the stream
                one.next_u32();
                filled.next_u32();
                let expected: Vec<u32> = (0..len).map(|_| one.bounded(r)).collect();
                let mut got = vec![u32::MAX; len];
                filled.fill_bounded(r, &mut got);
                assert_eq!(got, expected, "seed {seed}, r {r}, {len} draws");
                assert_eq!(
                    filled.next_u32(),
                    one.next_u32(),
                    "the stream goes on alike"
                );
            }
        }
    }

    #[test]
    fn bounded_draws_follow_numpy() {
        // r = 0: no draw; r = 8 uses mask 15 and rejects values above 8
        let mut a = Mt19937::new(3);
        let mut b = Mt19937::new(3);
        assert_eq!(a.bounded(0), 0);
        assert_eq!(a.next_u32(), b.next_u32());
        let mut c = Mt19937::new(7);
        let mut d = Mt19937::new(7);
        let v = c.bounded(8);
        let expected = loop {
            let w = d.next_u32() & 15;
            if w <= 8 {
                break w;
            }
        };
        assert_eq!(v, expected);
    }
}
