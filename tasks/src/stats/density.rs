//! Gaussian kernel density estimates, for the violins of the MNIST study's figure: the
//! bandwidth by Scott's rule, as `scipy.stats.gaussian_kde` (and so seaborn) chooses it.

use super::sample::sd;

/// Scott's bandwidth: the sample standard deviation times n^(-1/5). None for fewer than two
/// values or values all equal (no spread to smooth).
pub fn scott_bandwidth(values: &[f64]) -> Option<f64> {
    let bandwidth = sd(values) * (values.len() as f64).powf(-0.2);
    (values.len() >= 2 && bandwidth > 0.0).then_some(bandwidth)
}

/// The density at `x` of the mixture of normals of standard deviation `bandwidth` centred
/// on the values.
pub fn gaussian_kde(values: &[f64], bandwidth: f64, x: f64) -> f64 {
    let norm = values.len() as f64 * bandwidth * (2.0 * std::f64::consts::PI).sqrt();
    values
        .iter()
        .map(|v| (-0.5 * ((x - v) / bandwidth).powi(2)).exp())
        .sum::<f64>()
        / norm
}

#[cfg(test)]
mod tests {
    use super::*;

    const FOLDS: [f64; 5] = [91.2, 95.0, 97.5, 99.1, 99.9];

    #[test]
    fn matches_scipy_gaussian_kde() {
        // scipy.stats.gaussian_kde(FOLDS): factor 0.7247796636776955, bandwidth
        // 2.5535500635806594; densities at 90, 96, 100
        let bandwidth = scott_bandwidth(&FOLDS).unwrap();
        assert!(
            (bandwidth - 2.553_550_063_580_659_4).abs() < 1e-12,
            "{bandwidth}"
        );
        for (x, want) in [(90.0, 0.03306426), (96.0, 0.08526217), (100.0, 0.08461272)] {
            let got = gaussian_kde(&FOLDS, bandwidth, x);
            assert!((got - want).abs() < 1e-8, "{x}: {got}");
        }
    }

    #[test]
    fn a_density_integrates_to_one_and_needs_spread() {
        let bandwidth = scott_bandwidth(&FOLDS).unwrap();
        let step = 0.01;
        let area: f64 = (0..20_000)
            .map(|i| gaussian_kde(&FOLDS, bandwidth, 50.0 + i as f64 * step) * step)
            .sum();
        assert!((area - 1.0).abs() < 1e-6, "{area}");
        assert_eq!(scott_bandwidth(&[3.0, 3.0, 3.0]), None);
        assert_eq!(scott_bandwidth(&[3.0]), None);
    }
}
