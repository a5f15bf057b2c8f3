//! Parameter initialisations, from uniform draws of a per-run generator.

use rand_core::Rng;

/// Uniform f32 in [lo, hi) from 24 random bits.
pub fn uniform(rng: &mut (impl Rng + ?Sized), lo: f32, hi: f32) -> f32 {
    let u = (rng.next_u32() >> 8) as f32 * (1.0 / (1u32 << 24) as f32);
    lo + (hi - lo) * u
}

/// Fills `out` uniformly on [-bound, bound).
pub fn symmetric(rng: &mut (impl Rng + ?Sized), out: &mut [f32], bound: f32) {
    for v in out {
        *v = uniform(rng, -bound, bound);
    }
}

/// Xavier (Glorot) uniform bound with gain 1: sqrt(6 / (fan_in + fan_out)).
pub fn xavier_bound(inputs: usize, outputs: usize) -> f32 {
    (6.0f64 / (inputs + outputs) as f64).sqrt() as f32
}

/// The NAU / NRU / constrained-Xavier bound min(0.5, sqrt(6 / (I + O))).
pub fn constrained_bound(inputs: usize, outputs: usize) -> f32 {
    xavier_bound(inputs, outputs).min(0.5)
}

/// The NAC initialisation bound r solving `fan * v(r) = 2` with fan = max(I + O, 5) and
/// v(r) = (1 - tanh(r)/r) (r - tanh(r/2)) / (2r): the variance of tanh(U) sigmoid(U) for
/// U ~ U[-r, r] set to Glorot's 2 / fan. Solved by bisection (v is increasing in r).
pub fn nac_bound(inputs: usize, outputs: usize) -> f32 {
    let fan = (inputs + outputs).max(5) as f64;
    let v = |r: f64| (1.0 - r.tanh() / r) * (r - (r / 2.0).tanh()) / (2.0 * r);
    let (mut lo, mut hi) = (1e-3f64, 100.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if fan * v(mid) < 2.0 {
            lo = mid
        } else {
            hi = mid
        }
    }
    (0.5 * (lo + hi)) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_match_the_spec() {
        // `modules/README.md` 3.1: b = 1.7320508 (I = 1), 1.4142136 (I = 2), 0.7385489 (I = 10), O = 1
        assert!((xavier_bound(1, 1) - 1.732_050_8).abs() < 1e-6);
        assert!((xavier_bound(2, 1) - std::f32::consts::SQRT_2).abs() < 1e-6); // 1.4142136
        assert!((xavier_bound(10, 1) - 0.738_548_9).abs() < 1e-6);
        assert_eq!(constrained_bound(2, 1), 0.5);
        assert_eq!(constrained_bound(10, 1), 0.5);
        // `modules/README.md` 4.3: r = 9.4714 for I = 1 or 2, 2.2605 for I = 10
        assert!(
            (nac_bound(1, 1) - 9.4714).abs() < 1e-3,
            "{}",
            nac_bound(1, 1)
        );
        assert!((nac_bound(2, 1) - 9.4714).abs() < 1e-3);
        assert!(
            (nac_bound(10, 1) - 2.2605).abs() < 1e-3,
            "{}",
            nac_bound(10, 1)
        );
    }

    #[test]
    fn uniform_stays_in_range_and_covers_it() {
        let mut rng = rand_pcg::Pcg32::new(1, 2);
        let draws: Vec<f32> = (0..10_000).map(|_| uniform(&mut rng, 0.25, 0.75)).collect();
        assert!(draws.iter().all(|&v| (0.25..0.75).contains(&v)));
        let mean = draws.iter().sum::<f32>() / draws.len() as f32;
        assert!((mean - 0.5).abs() < 0.01, "{mean}");
        assert!(draws.iter().any(|&v| v < 0.26) && draws.iter().any(|&v| v > 0.74));
    }
}
