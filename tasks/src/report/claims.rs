//! The paper's conclusions, checked against a study's results: each claim with the numbers
//! that bear on it and a verdict.
//!
//! The claims are those of Mistry, Farrahi and Hare (TMLR 2022) for the single-module
//! study: sign hurts the Real NPU and the NRU, magnitude hurts the NMRU, the input
//! distribution hurts every module, the modified Real NPU beats the baseline, and the
//! average success rates with redundancy (10 inputs) of the paper's earlier abstract.
//! Success rates are pooled over the runs of the groups named (Wilson 95% intervals); a
//! gap counts when it is at least [`MARGIN`] points. Where two models ran the same settings
//! with the same seeds (the modified and baseline Real NPU), their rates are compared run by
//! run, stratified by setting ([`crate::stats::paired`]), with the interval of the
//! difference. `tasks/docs/single-module-study.md` 4.8 says how each verdict is reached.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::Group;
use crate::stats::{Interval, PairedDifference, stratified_paired_difference, wilson};

/// The smallest gap in success rate, in points, that counts as a module being hurt.
pub const MARGIN: f64 = 10.0;

/// How the results bear on a claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Supported,
    /// Holds for some of the modules or input sizes, not all.
    Partly,
    NotSupported,
    /// The experiments the claim needs have no results.
    NoData,
}

impl Verdict {
    pub fn text(self) -> &'static str {
        match self {
            Verdict::Supported => "supported",
            Verdict::Partly => "partly supported",
            Verdict::NotSupported => "not supported",
            Verdict::NoData => "no data",
        }
    }

    /// Supported when every check holds, partly when some do.
    pub(crate) fn of(checks: &[bool]) -> Verdict {
        match (checks.iter().filter(|&&c| c).count(), checks.len()) {
            (_, 0) => Verdict::NoData,
            (k, n) if k == n => Verdict::Supported,
            (0, _) => Verdict::NotSupported,
            _ => Verdict::Partly,
        }
    }
}

/// One claim of the paper, with its evidence.
#[derive(Clone, Debug)]
pub struct Claim {
    pub statement: String,
    /// Markdown lines: the numbers compared.
    pub evidence: Vec<String>,
    pub verdict: Verdict,
}

/// A study's groups by experiment name.
pub type Study<'a> = BTreeMap<&'a str, &'a [Group]>;

/// Solved and finished runs pooled over the groups of `model` in `experiment` whose setting
/// passes `keep`.
fn pooled(study: &Study, experiment: &str, model: &str, keep: impl Fn(&str) -> bool) -> Pool {
    let mut pool = Pool::default();
    for g in study.get(experiment).copied().unwrap_or_default() {
        if g.model == model && keep(&g.setting) {
            pool.solved += g.solved;
            pool.runs += g.runs;
        }
    }
    pool
}

/// The paired difference `a - b` of two models' success rates in `experiment`: per setting
/// both ran, the seeds both finished.
fn paired(study: &Study, experiment: &str, a: &str, b: &str) -> Option<PairedDifference> {
    let groups = study.get(experiment).copied().unwrap_or_default();
    let of = |model: &str, setting: &str| {
        groups
            .iter()
            .find(|g| g.model == model && g.setting == setting)
    };
    let strata: Vec<Vec<(bool, bool)>> = groups
        .iter()
        .filter(|g| g.model == a)
        .filter_map(|ga| Some((ga, of(b, &ga.setting)?)))
        .map(|(ga, gb)| {
            let solved = |g: &Group, seed: &u32| !g.failed_seeds.contains(seed);
            ga.seeds
                .iter()
                .filter(|seed| gb.seeds.contains(seed))
                .map(|seed| (solved(ga, seed), solved(gb, seed)))
                .collect()
        })
        .collect();
    stratified_paired_difference(&strata)
}

/// A paired difference in points: `+x.x points [lo, hi] (width w) over n paired runs`.
fn paired_text(p: &PairedDifference) -> String {
    format!(
        "{:+.1} points [{:+.1}, {:+.1}] (width {:.1}) over {} paired runs ({} solved by the first only, {} by the second only)",
        100.0 * p.estimate,
        100.0 * p.lower,
        100.0 * p.upper,
        100.0 * (p.upper - p.lower),
        p.pairs,
        p.only_first,
        p.only_second
    )
}

/// Runs pooled over groups.
#[derive(Clone, Copy, Debug, Default)]
struct Pool {
    solved: usize,
    runs: usize,
}

impl Pool {
    fn rate(self) -> Option<Interval> {
        wilson(self.solved, self.runs)
    }

    /// In percent.
    fn percent(self) -> Option<f64> {
        self.rate().map(|r| 100.0 * r.point)
    }

    fn text(self) -> String {
        match self.rate() {
            Some(r) => format!(
                "{:.1}% [{:.1}, {:.1}] ({}/{})",
                100.0 * r.point,
                100.0 * r.lower,
                100.0 * r.upper,
                self.solved,
                self.runs
            ),
            None => "no runs".into(),
        }
    }
}

/// The bounds of a uniform range label such as `U[-20,-10]`.
fn bounds(setting: &str) -> Option<(f64, f64)> {
    let inner = setting.strip_prefix("U[")?.strip_suffix(']')?;
    let (lo, hi) = inner.split_once(',')?;
    Some((lo.trim().parse().ok()?, hi.trim().parse().ok()?))
}

fn positive(setting: &str) -> bool {
    bounds(setting).is_some_and(|(lo, _)| lo > 0.0)
}

fn has_negatives(setting: &str) -> bool {
    bounds(setting).is_some_and(|(lo, _)| lo < 0.0)
}

fn magnitude(setting: &str) -> Option<f64> {
    bounds(setting).map(|(lo, hi)| lo.abs().max(hi.abs()))
}

/// The main results' experiment of an input size.
fn main_experiment(size: usize) -> &'static str {
    if size == 2 { "in2" } else { "in10" }
}

/// A gap of `better` over `worse` as evidence; None when either lacks runs.
fn gap_line(what: &str, better: (&str, Pool), worse: (&str, Pool)) -> (String, Option<f64>) {
    let gap = better
        .1
        .percent()
        .zip(worse.1.percent())
        .map(|(b, w)| b - w);
    let line = format!(
        "{what}: {} {} against {} {}{}",
        better.0,
        better.1.text(),
        worse.0,
        worse.1.text(),
        gap.map_or(String::new(), |g| format!(", a gap of {g:+.1} points"))
    );
    (line, gap)
}

/// Sign: the Real NPU and the NRU solve fewer runs when inputs can be negative.
fn sign(study: &Study) -> Claim {
    let mut evidence = Vec::new();
    let mut checks = Vec::new();
    for model in ["realnpu-modified", "nru", "nmru"] {
        for size in [2, 10] {
            let e = main_experiment(size);
            let (line, gap) = gap_line(
                &format!("{model}, {size} inputs"),
                ("positive ranges", pooled(study, e, model, positive)),
                (
                    "ranges with negatives",
                    pooled(study, e, model, has_negatives),
                ),
            );
            let mixed = pooled(study, "mixed-signs", &format!("{model} in{size}"), |s| {
                !s.starts_with("M0")
            });
            evidence.push(format!("{line}; mixed signs M1-M4 {}", mixed.text()));
            // the NMRU is the contrast the claim implies, not part of it
            if model != "nmru"
                && let Some(gap) = gap
            {
                checks.push(gap >= MARGIN);
            }
        }
    }
    Claim {
        statement: "Sign hurts the Real NPU and the NRU (inputs that can be negative solve less often than positive ones; the NMRU for contrast)".into(),
        evidence,
        verdict: Verdict::of(&checks),
    }
}

/// Magnitude: the NMRU solves fewer runs on large inputs than on small ones. Large: the
/// main ranges with |x| >= 10 and the distributions experiment's wide uniform and Benford
/// settings (|x| up to 100 and beyond).
fn magnitude_claim(study: &Study) -> Claim {
    let small = |s: &str| magnitude(s).is_some_and(|m| m <= 2.0);
    let large = |s: &str| magnitude(s).is_some_and(|m| m >= 10.0);
    let wide = |s: &str| s.starts_with("U:") || s.starts_with("B:");
    let mut evidence = Vec::new();
    let mut checks = Vec::new();
    for model in ["nmru", "nru", "realnpu-modified"] {
        for size in [2, 10] {
            let e = main_experiment(size);
            let mut big = pooled(study, e, model, large);
            let spread = pooled(study, "distributions", &format!("{model} in{size}"), wide);
            big.solved += spread.solved;
            big.runs += spread.runs;
            let (line, gap) = gap_line(
                &format!("{model}, {size} inputs"),
                ("|x| <= 2", pooled(study, e, model, small)),
                ("|x| >= 10", big),
            );
            evidence.push(format!(
                "{line} (of which U[-50,50], U[-100,100] and Benford [10,100] {})",
                spread.text()
            ));
            if model == "nmru"
                && let Some(gap) = gap
            {
                checks.push(gap >= MARGIN);
            }
        }
    }
    Claim {
        statement: "Magnitude hurts the NMRU (inputs with |x| >= 10, from the main ranges and the wide uniform and Benford distributions, against |x| <= 2; the NRU and Real NPU for contrast)".into(),
        evidence,
        verdict: Verdict::of(&checks),
    }
}

/// Distribution: every module solves fewer runs on the other distributions than on the
/// uniform ranges of the main results.
fn distribution(study: &Study) -> Claim {
    let mut evidence = Vec::new();
    let mut checks = Vec::new();
    for model in ["realnpu-modified", "nru", "nmru"] {
        for size in [2, 10] {
            let others = pooled(study, "distributions", &format!("{model} in{size}"), |_| {
                true
            });
            let uniform = pooled(study, main_experiment(size), model, |_| true);
            let (line, gap) = gap_line(
                &format!("{model}, {size} inputs"),
                ("the 9 uniform ranges", uniform),
                ("Benford, truncated normal and wide uniform", others),
            );
            evidence.push(line);
            if let Some(gap) = gap {
                checks.push(gap >= MARGIN);
            }
        }
    }
    Claim {
        statement: "The input distribution hurts every module (the six other distributions against the nine uniform ranges)".into(),
        evidence,
        verdict: Verdict::of(&checks),
    }
}

/// The modified Real NPU solves more runs than the baseline: at each input size, the paired
/// difference of their success rates lies above 0.
fn modified_beats_baseline(study: &Study) -> Claim {
    let mut evidence = Vec::new();
    let mut checks = Vec::new();
    for size in [2, 10] {
        let e = main_experiment(size);
        let (line, _) = gap_line(
            &format!("{size} inputs"),
            ("modified", pooled(study, e, "realnpu-modified", |_| true)),
            ("baseline", pooled(study, e, "realnpu-baseline", |_| true)),
        );
        match paired(study, e, "realnpu-modified", "realnpu-baseline") {
            Some(p) => {
                checks.push(p.lower > 0.0);
                evidence.push(format!("{line}; run by run, {}", paired_text(&p)));
            }
            None => evidence.push(line),
        }
    }
    Claim {
        statement: "The modified Real NPU beats the baseline".into(),
        evidence,
        verdict: Verdict::of(&checks),
    }
}

/// The average success rates with redundancy (10 inputs, the nine ranges) that the paper's
/// earlier abstract gives: NMRU 91.6%, Real NPU (modified) 85.3%, 15.1 points above the
/// baseline.
fn abstract_figures(study: &Study) -> Claim {
    let mut evidence = Vec::new();
    let mut checks = Vec::new();
    let of = |model: &str| pooled(study, "in10", model, |_| true);
    for (model, paper) in [("nmru", 91.6), ("realnpu-modified", 85.3)] {
        let pool = of(model);
        if let Some(rate) = pool.rate() {
            let inside = (100.0 * rate.lower..=100.0 * rate.upper).contains(&paper);
            checks.push(inside);
            evidence.push(format!(
                "{model}: {} against the paper's {paper}% ({})",
                pool.text(),
                if inside {
                    "inside the interval"
                } else {
                    "outside the interval"
                }
            ));
        }
    }
    if let Some(p) = paired(study, "in10", "realnpu-modified", "realnpu-baseline") {
        let inside = (100.0 * p.lower..=100.0 * p.upper).contains(&15.1);
        checks.push(inside);
        evidence.push(format!(
            "modified over baseline, run by run: {} against the paper's +15.1 ({})",
            paired_text(&p),
            if inside {
                "inside the interval"
            } else {
                "outside the interval"
            }
        ));
    }
    Claim {
        statement: "With redundancy (10 inputs) the average success rates are NMRU 91.6% and Real NPU (modified) 85.3%, 15.1 points above the baseline (the paper's earlier abstract)".into(),
        evidence,
        verdict: Verdict::of(&checks),
    }
}

/// Every claim, checked against `study`.
pub fn check(study: &Study) -> Vec<Claim> {
    vec![
        sign(study),
        magnitude_claim(study),
        distribution(study),
        modified_beats_baseline(study),
        abstract_figures(study),
    ]
}

/// The claims as a markdown section.
pub fn markdown(claims: &[Claim]) -> String {
    let mut md = format!(
        "## Claims\n\nThe paper's conclusions, checked against this study's runs (the tables \
         below). Success rates are pooled \
         over the groups named, with Wilson 95% intervals; a module counts as hurt when the gap \
         is at least {MARGIN} points.\n\n"
    );
    md.push_str(&numbered(claims));
    md
}

/// Claims as a numbered Markdown list, each statement with its verdict and its evidence.
pub fn numbered(claims: &[Claim]) -> String {
    let mut md = String::new();
    for (k, claim) in claims.iter().enumerate() {
        let _ = writeln!(
            md,
            "{}. **{}** — *{}*",
            k + 1,
            claim.statement,
            claim.verdict.text()
        );
        for line in &claim.evidence {
            let _ = writeln!(md, "   - {line}");
        }
    }
    md
}

/// Claims for the terminal, one line each.
pub fn terminal(claims: &[Claim]) -> String {
    let mut text = String::new();
    for (k, claim) in claims.iter().enumerate() {
        let _ = writeln!(
            text,
            "claim {}: {} — {}",
            k + 1,
            claim.verdict.text(),
            claim.statement
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(model: &str, setting: &str, solved: usize, runs: usize) -> Group {
        Group {
            model: model.into(),
            setting: setting.into(),
            runs,
            missing: 0,
            solved,
            success: wilson(solved, runs),
            solved_at: None,
            sparsity_beta_fit: None,
            sparsity_mean: None,
            diverged: 0,
            // seeds 0..runs, the first `solved` of them solved
            seeds: (0..runs as u32).collect(),
            failed_seeds: (solved as u32..runs as u32).collect(),
            gradients: Default::default(),
        }
    }

    #[test]
    fn ranges_are_read_from_their_labels() {
        assert_eq!(bounds("U[-20,-10]"), Some((-20.0, -10.0)));
        assert!(positive("U[0.1,0.2]") && !positive("U[-2,2]"));
        assert!(has_negatives("U[-2,2]") && !has_negatives("U[1,2]"));
        assert_eq!(magnitude("U[-20,-10]"), Some(20.0));
        assert_eq!(bounds("M1 a<0<b [0.1,2]"), None);
    }

    #[test]
    fn verdicts_follow_the_numbers() {
        // the modified Real NPU ahead at 2 inputs, behind at 10: partly
        let in2 = [
            group("realnpu-modified", "U[1,2]", 20, 25),
            group("realnpu-baseline", "U[1,2]", 10, 25),
        ];
        let in10 = [
            group("realnpu-modified", "U[1,2]", 5, 25),
            group("realnpu-baseline", "U[1,2]", 10, 25),
        ];
        let study: Study = [("in2", &in2[..]), ("in10", &in10[..])].into();
        let claim = modified_beats_baseline(&study);
        assert_eq!(claim.verdict, Verdict::Partly);
        assert!(claim.evidence[0].contains("80.0%") && claim.evidence[0].contains("+40.0"));
        // run by run: seeds 10 to 19 solved by the modified unit only
        assert!(
            claim.evidence[0].contains("over 25 paired runs (10 solved by the first only, 0"),
            "{}",
            claim.evidence[0]
        );
        assert_eq!(abstract_figures(&study).verdict, Verdict::NotSupported);
        assert_eq!(distribution(&Study::new()).verdict, Verdict::NoData);
    }

    #[test]
    fn sign_compares_positive_ranges_with_negative_ones() {
        let in2 = [
            group("nru", "U[1,2]", 25, 25),
            group("nru", "U[-2,-1]", 5, 25),
            group("realnpu-modified", "U[1,2]", 25, 25),
            group("realnpu-modified", "U[-2,2]", 20, 25),
        ];
        let study: Study = [("in2", &in2[..])].into();
        let claim = sign(&study);
        // NRU: 100% against 20% holds; Real NPU: 100% against 80% holds; no 10-input data
        assert_eq!(claim.verdict, Verdict::Supported);
        let in2 = [
            group("nru", "U[1,2]", 25, 25),
            group("nru", "U[-2,-1]", 24, 25),
        ];
        let study: Study = [("in2", &in2[..])].into();
        assert_eq!(sign(&study).verdict, Verdict::NotSupported);
    }
}
