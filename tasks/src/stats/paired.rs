//! The difference of two success rates measured on the same runs: two models trained on the
//! same settings with the same seeds (so on the same data and, where their parameters
//! match, the same initial draws). Their outcomes are paired, and the settings are strata:
//! pooling them as two independent samples would misjudge the spread.
//!
//! Within stratum r, each seed gives d = [a solved] - [b solved] in {-1, 0, 1}. The estimate
//! is the mean of d weighted by each stratum's pairs, `D = sum_r (n_r / N) mean_r(d)` (with
//! equal strata, the plain difference of the pooled rates), and its standard error
//! `sqrt(sum_r (n_r / N)^2 s_r^2 / n_r)`, where `s_r^2` is the sample variance of the
//! stratum's d: the stratified paired-difference (normal) interval `D +- 1.96 SE`. A stratum
//! whose d are all equal adds no variance; when no stratum varies, the interval is the point.

use super::wilson::Z95;

/// A paired difference of success rates, as fractions, with its 95% interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PairedDifference {
    pub estimate: f64,
    pub lower: f64,
    pub upper: f64,
    /// Pairs (setting, seed) with a finished run of both models.
    pub pairs: usize,
    /// Pairs where only the first model solved, and where only the second did.
    pub only_first: usize,
    pub only_second: usize,
}

/// The difference `a - b` of the success rates of paired runs, stratified by setting: each
/// stratum lists (a solved, b solved) per seed. None without pairs.
pub fn stratified_paired_difference(strata: &[Vec<(bool, bool)>]) -> Option<PairedDifference> {
    let total: usize = strata.iter().map(Vec::len).sum();
    if total == 0 {
        return None;
    }
    let n = total as f64;
    let (mut estimate, mut variance) = (0.0, 0.0);
    let (mut only_first, mut only_second) = (0, 0);
    for stratum in strata.iter().filter(|s| !s.is_empty()) {
        let d: Vec<f64> = stratum
            .iter()
            .map(|&(a, b)| f64::from(u8::from(a)) - f64::from(u8::from(b)))
            .collect();
        only_first += stratum.iter().filter(|&&(a, b)| a && !b).count();
        only_second += stratum.iter().filter(|&&(a, b)| !a && b).count();
        let size = d.len() as f64;
        let weight = size / n;
        let mean = d.iter().sum::<f64>() / size;
        estimate += weight * mean;
        if d.len() > 1 {
            let s2 = d.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (size - 1.0);
            variance += weight * weight * s2 / size;
        }
    }
    let half = Z95 * variance.sqrt();
    Some(PairedDifference {
        estimate,
        lower: estimate - half,
        upper: estimate + half,
        pairs: total,
        only_first,
        only_second,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_stratum_is_the_paired_mean_with_its_standard_error() {
        // 10 seeds: 4 only a, 1 only b, 5 both: d = 1 x4, -1 x1, 0 x5; mean 0.3
        let mut pairs = vec![(true, false); 4];
        pairs.push((false, true));
        pairs.extend(vec![(true, true); 5]);
        let p = stratified_paired_difference(&[pairs]).unwrap();
        assert!((p.estimate - 0.3).abs() < 1e-15);
        // sample variance of d: (4 x 0.49 + 1.69 + 5 x 0.09) / 9 = 4.1 / 9
        let se = (4.1f64 / 9.0 / 10.0).sqrt();
        assert!((p.upper - (0.3 + Z95 * se)).abs() < 1e-12, "{p:?}");
        assert!((p.lower - (0.3 - Z95 * se)).abs() < 1e-12, "{p:?}");
        assert_eq!((p.pairs, p.only_first, p.only_second), (10, 4, 1));
    }

    #[test]
    fn strata_are_weighted_by_their_pairs_and_agreement_adds_no_spread() {
        // stratum 1: a always, b never (d = 1, no variance); stratum 2: both always (d = 0)
        let strata = [vec![(true, false); 3], vec![(true, true); 1]];
        let p = stratified_paired_difference(&strata).unwrap();
        assert!((p.estimate - 0.75).abs() < 1e-15);
        assert_eq!((p.lower, p.upper), (0.75, 0.75));
        // no pairs, no difference
        assert_eq!(stratified_paired_difference(&[vec![], vec![]]), None);
    }

    #[test]
    fn the_interval_narrows_when_the_pairs_agree() {
        // a solves 15 of 25 and b 10 of 25 either way: paired so that b's successes are
        // among a's (5 discordant pairs), or so that they never coincide (25 discordant)
        let nested: Vec<(bool, bool)> = (0..25).map(|s| (s < 15, s < 10)).collect();
        let apart: Vec<(bool, bool)> = (0..25).map(|s| (s < 15, s >= 15)).collect();
        let (n, a) = (
            stratified_paired_difference(&[nested]).unwrap(),
            stratified_paired_difference(&[apart]).unwrap(),
        );
        assert!((n.estimate - 0.2).abs() < 1e-15 && (a.estimate - 0.2).abs() < 1e-15);
        assert!(n.upper - n.lower < 0.5 * (a.upper - a.lower), "{n:?} {a:?}");
    }
}
