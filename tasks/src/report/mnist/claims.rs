//! The paper's last claim, checked against an MNIST study: the division modules learn inside
//! a larger network. For each module head, over the folds at each run's chosen epoch: does
//! it learn the digits through the quotient alone (the readings rounded, as digits or through
//! the mirror code 9 / digit, against the fixed DIV head's), does it reach the DIV head's
//! output accuracy (test 4 and 5 d.p.), and how does it compare with the MLP.
//!
//! Heads are compared fold by fold (the same held-out pairs and seed). On each fold a module
//! head learns inside the network when its readings are the digits in either code and its
//! test 4 and 5 d.p. accuracies reach the DIV head's on that fold: at most [`MARGIN`] points
//! and at most a quarter ([`SHARE`]) below them. The claim is supported for a head when
//! every planned run learned so, partly when some read the digits, and not when none did.
//! The paired differences over the folds, with their 95% t intervals, are the evidence.

use std::fmt::Write;

use super::learned::{READS_DIGITS, Solution, digits_read_either_code};
use super::summary::HeadSummary;
use crate::mnist::metrics::{MetricOf, Metrics};
use crate::mnist::network::Head;
use crate::report::claims::{Claim, Verdict};
use crate::stats::sample::{mean, se, t_estimate};

/// The largest shortfall, in points, that still counts as reaching the DIV head.
pub const MARGIN: f64 = 10.0;
/// The smallest share of the DIV head's accuracy that still counts as reaching it: the
/// margin alone would let a head at 0 reach a DIV head below 10%.
pub const SHARE: f64 = 0.75;

/// One value per fold of a head's test split at the chosen epochs: (fold, value).
fn per_fold(head: &HeadSummary, value: MetricOf) -> Vec<(usize, f64)> {
    head.folds
        .iter()
        .filter_map(|f| f.chosen.as_ref().map(|(_, _, test)| (f.fold, value(test))))
        .collect()
}

/// `mean% ± se` over the folds.
fn spread(values: &[(usize, f64)]) -> String {
    let v: Vec<f64> = values.iter().map(|p| p.1).collect();
    match v.len() {
        0 => "no runs".into(),
        1 => format!("{:.1}% (1 fold)", v[0]),
        n => format!("{:.1}% ± {:.1} ({n} folds)", mean(&v), se(&v)),
    }
}

/// The mean difference between two heads over the folds both have.
#[derive(Clone, Copy, Debug)]
struct Paired {
    mean: f64,
    /// The 95% t interval, with two or more folds.
    interval: Option<(f64, f64)>,
    folds: usize,
}

impl Paired {
    /// `a - b` fold by fold; None without a common fold.
    fn of(a: &[(usize, f64)], b: &[(usize, f64)]) -> Option<Paired> {
        let differences: Vec<f64> = a
            .iter()
            .filter_map(|&(fold, x)| b.iter().find(|p| p.0 == fold).map(|p| x - p.1))
            .collect();
        let e = t_estimate(&differences, f64::NEG_INFINITY, f64::INFINITY)?;
        Some(Paired {
            mean: e.point,
            interval: e.interval,
            folds: differences.len(),
        })
    }

    fn text(self) -> String {
        match self.interval {
            Some((lo, hi)) => format!(
                "a paired difference of {:+.1} points [{lo:+.1}, {hi:+.1}] over {} folds",
                self.mean, self.folds
            ),
            None => format!("a difference of {:+.1} points on 1 fold", self.mean),
        }
    }
}

/// How many runs of `head` found each solution, as text.
fn solutions(head: &HeadSummary) -> String {
    let mut counts = [
        ("gold", 0),
        ("mirror", 0),
        ("collapsed", 0),
        ("neither", 0),
        ("unmeasured", 0),
    ];
    for f in &head.folds {
        if let Some((_, _, test)) = &f.chosen {
            let name = Solution::of(test).name();
            if let Some(c) = counts.iter_mut().find(|c| c.0 == name) {
                c.1 += 1;
            }
        }
    }
    counts
        .iter()
        .filter(|c| c.1 > 0)
        .map(|c| format!("{} {}", c.0, c.1))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether `value` reaches the DIV head's `reference` on one fold.
pub fn reaches(value: f64, reference: f64) -> bool {
    value >= reference - MARGIN && value >= SHARE * reference
}

/// The output accuracies the claim compares with the DIV head's.
const OUTPUT: [(&str, MetricOf); 2] = [
    ("test 4 d.p.", |m| m.output_4dp_accuracy),
    ("test 5 d.p.", |m| m.output_5dp_accuracy),
];

/// The DIV head's run on one fold, as a yardstick.
#[derive(Clone, Copy, Debug)]
enum DivFold<'a> {
    /// No run on the fold.
    Missing,
    /// Its head went NaN.
    Failed,
    Ran(&'a Metrics),
}

/// One fold of a module head against the DIV head's run on the same fold: what it learned,
/// whether it reads the digits and whether it reaches the DIV head's output accuracies
/// through them (None without a yardstick: no DIV run there, a failed one, or one whose
/// encoder does not read the digits).
fn fold_check(test: &Metrics, div: DivFold<'_>) -> (bool, Option<bool>, String) {
    let solution = Solution::of(test);
    let reads = digits_read_either_code(test) >= READS_DIGITS;
    let dp5 = OUTPUT[1].1;
    let mut text = solution.name().to_owned();
    if !reads {
        text.push_str(", reads no digits");
    }
    let _ = write!(text, ", 5 d.p. {:.2}%", dp5(test));
    let reached = match div {
        DivFold::Missing => {
            text.push_str(", no yardstick (DIV has no run here)");
            None
        }
        DivFold::Failed => {
            text.push_str(", no yardstick (DIV's run failed)");
            None
        }
        DivFold::Ran(d) if digits_read_either_code(d) < READS_DIGITS => {
            let _ = write!(
                text,
                ", no yardstick (DIV's encoder reads {:.1}% of the digits)",
                digits_read_either_code(d)
            );
            None
        }
        DivFold::Ran(d) => {
            // a constant output is exact on some pairs: it counts only through the digits
            let r = reads
                && OUTPUT
                    .iter()
                    .all(|(_, value)| reaches(value(test), value(d)));
            let _ = write!(text, " against DIV's {:.2}%", dp5(d));
            if reads {
                text.push_str(if r { ": reaches DIV" } else { ": short of DIV" });
            }
            Some(r)
        }
    };
    (reads, reached, text)
}

/// The claim for one module head.
fn module_claim(head: &HeadSummary, div: Option<&HeadSummary>, mlp: Option<&HeadSummary>) -> Claim {
    let name = head.head.as_str();
    let statement = format!(
        "The {name} learns inside the network: it learns the digits through the quotient and \
         reaches the fixed division's output accuracy"
    );
    if head.folds.is_empty() {
        return Claim {
            statement,
            evidence: vec![format!("{} planned runs, none finished", head.missing)],
            verdict: Verdict::NoData,
        };
    }
    let mut evidence = Vec::new();
    let mut checks = Vec::new();

    // fold by fold: the digits read through the quotient, and the DIV head's output accuracy
    // reached through them
    let div_test = |fold: usize| match div.and_then(|d| d.folds.iter().find(|f| f.fold == fold)) {
        None => DivFold::Missing,
        Some(f) => match &f.chosen {
            None => DivFold::Failed,
            Some((_, _, test)) => DivFold::Ran(test),
        },
    };
    let mut folds = Vec::new();
    let mut learned = 0;
    for f in &head.folds {
        let Some((_, _, test)) = &f.chosen else {
            continue;
        };
        let (reads, reached, text) = fold_check(test, div_test(f.fold));
        checks.push(reads);
        checks.push(reached == Some(true));
        learned += usize::from(reads && reached == Some(true));
        folds.push(format!("fold {} {text}", f.fold));
    }
    let judged = folds.len();
    evidence.push(format!(
        "learns the digits and reaches DIV on {learned} of {judged} folds: {}",
        folds.join("; ")
    ));

    // over the folds: the digits read, against the fixed division's encoder
    let digits = per_fold(head, digits_read_either_code);
    let mut line = format!(
        "digits read (rounded, as digits or as 9 / digit): {} [{}]",
        spread(&digits),
        solutions(head)
    );
    if let Some(div) = div {
        let reference = per_fold(div, digits_read_either_code);
        let _ = write!(line, " against DIV's {}", spread(&reference));
        if let Some(d) = Paired::of(&digits, &reference) {
            let _ = write!(line, ", {}", d.text());
        }
    }
    evidence.push(line);

    // over the folds: the output accuracies
    if let Some(div) = div {
        for (label, value) in OUTPUT {
            let (own, reference) = (per_fold(head, value), per_fold(div, value));
            let mut line = format!(
                "{label}: {} against DIV's {}",
                spread(&own),
                spread(&reference)
            );
            if let Some(d) = Paired::of(&own, &reference) {
                let _ = write!(line, ", {}", d.text());
            }
            evidence.push(line);
        }
    }

    // the MLP, for comparison
    if let Some(mlp) = mlp {
        let value = OUTPUT[1].1;
        let (own, reference) = (per_fold(head, value), per_fold(mlp, value));
        if let Some(d) = Paired::of(&own, &reference) {
            let standing = match d.interval {
                Some((lo, _)) if lo > 0.0 => "above the MLP",
                Some((_, hi)) if hi < 0.0 => "below the MLP",
                Some(_) => "level with the MLP (the interval holds 0)",
                None => "against the MLP on one fold",
            };
            evidence.push(format!(
                "test 5 d.p. against the MLP's {}: {}, {standing}",
                spread(&reference),
                d.text()
            ));
        }
    }
    // a run whose head went NaN did not learn, and a run not finished is not known: the claim
    // holds for a head only if every planned run finished and learned
    let failed = head.failed();
    if !failed.is_empty() {
        evidence.push(format!(
            "failed runs (the head went NaN), left out of the figures above: folds {failed:?}"
        ));
        checks.push(false);
    }
    if head.missing > 0 {
        evidence.push(format!(
            "runs planned but without a result yet: {}; judged on the finished ones",
            head.missing
        ));
        checks.push(false);
    }
    Claim {
        statement,
        evidence,
        verdict: Verdict::of(&checks),
    }
}

/// The claim for each module head of `heads` that has runs.
pub fn claims(heads: &[HeadSummary]) -> Vec<Claim> {
    let find = |head: Head| heads.iter().find(|h| h.head == head.label());
    let (div, mlp) = (find(Head::Div), find(Head::Mlp));
    [Head::RealNpu, Head::Nru, Head::Nmru]
        .into_iter()
        .filter_map(find)
        .filter(|h| !h.folds.is_empty() || h.missing > 0)
        .map(|h| module_claim(h, div, mlp))
        .collect()
}

/// The claims as a Markdown section.
pub fn markdown(claims: &[Claim]) -> String {
    let mut md = format!(
        "## Claims\n\nThe paper's last claim, that the division modules learn inside a larger \
         network, checked head by head at each run's chosen epoch on the test split. Digits \
         read: the share of digit readings that round to their digit, the mean of the two; a \
         run whose encoder reads each digit x as 9 / x under a head that divides the right \
         reading by the left (the mirror solution, which the quotient cannot tell from the \
         gold one) counts as reading them when 9 / reading rounds to the digit. Heads are \
         compared fold by fold, on the same held-out pairs and seed: on a fold, a module head \
         learns inside the network when it reads the digits (at least {READS_DIGITS}% in \
         either code) and its test 4 and 5 d.p. accuracies are at most {MARGIN} points and at \
         most a quarter below the DIV head's there; a fold without that yardstick (no DIV run, \
         a failed one, or one whose encoder does not read the digits) counts as not reaching \
         it. A collapsed head outputs a constant, exact on the pairs whose quotient it \
         is (1: the pairs of equal digits), so its output accuracy counts only through the \
         digits. Supported: every planned run learned so; partly: some read the digits; not \
         supported: none did. The means over the folds and the paired differences with their \
         95% t intervals are the evidence.\n\n"
    );
    if claims.is_empty() {
        md.push_str("No module head has runs.\n");
    }
    md.push_str(&crate::report::claims::numbered(claims));
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mnist::metrics::Metrics;
    use crate::report::mnist::summary::FoldResult;

    fn metrics(digits: f64, mirror: f64, dp4: f64, dp5: f64) -> Metrics {
        Metrics {
            label1_rounded_accuracy: digits,
            label2_rounded_accuracy: digits,
            label1_mirror_rounded_accuracy: mirror,
            label2_mirror_rounded_accuracy: mirror,
            // measured readings, none of them collapsed
            label1_mode: 1.0,
            label2_mode: 1.0,
            label1_mode_share: 20.0,
            label2_mode_share: 20.0,
            output_4dp_accuracy: dp4,
            output_5dp_accuracy: dp5,
            ..Metrics::default()
        }
    }

    fn head(head: Head, runs: &[(f64, f64, f64, f64)]) -> HeadSummary {
        HeadSummary {
            head: head.label().into(),
            folds: runs
                .iter()
                .enumerate()
                .map(|(fold, &(d, s, a, b))| FoldResult {
                    fold,
                    seed: fold as u64,
                    chosen: Some((30, Metrics::default(), metrics(d, s, a, b))),
                })
                .collect(),
            missing: 0,
            train: vec![],
            test: vec![],
        }
    }

    #[test]
    fn a_head_is_judged_fold_by_fold_against_div_and_the_mlp() {
        let div = head(
            Head::Div,
            &[
                (96.0, 11.0, 90.0, 80.0),
                (97.0, 12.0, 92.0, 84.0),
                (95.0, 10.0, 91.0, 79.0),
            ],
        );
        let mlp = head(
            Head::Mlp,
            &[
                (80.0, 11.0, 20.0, 5.0),
                (82.0, 12.0, 22.0, 6.0),
                (81.0, 10.0, 18.0, 4.0),
            ],
        );
        // the NMRU: fold 1 learned the mirror solution, all within a few points of DIV
        let nmru = head(
            Head::Nmru,
            &[
                (95.0, 11.0, 88.0, 78.0),
                (12.0, 96.0, 90.0, 80.0),
                (94.0, 10.0, 89.0, 77.0),
            ],
        );
        // the NRU: reads no digits in either code
        let nru = head(
            Head::Nru,
            &[
                (11.0, 11.0, 8.0, 7.0),
                (12.0, 12.0, 9.0, 8.0),
                (10.0, 10.0, 7.0, 6.0),
            ],
        );
        let heads = [div, mlp, nru, nmru];
        let claims = claims(&heads);
        assert_eq!(
            claims.len(),
            2,
            "the NRU and the NMRU, in the paper's order"
        );
        let (nru, nmru) = (&claims[0], &claims[1]);
        assert!(nru.statement.starts_with("The NRU"));
        assert_eq!(nru.verdict, Verdict::NotSupported);
        assert_eq!(nmru.verdict, Verdict::Supported);
        // the mirror fold counts as reading the digits: 95, 96, 94 against 96, 97, 95
        assert!(
            nmru.evidence[0].starts_with("learns the digits and reaches DIV on 3 of 3 folds"),
            "{}",
            nmru.evidence[0]
        );
        assert!(
            nmru.evidence[0]
                .contains("fold 1 mirror, 5 d.p. 80.00% against DIV's 84.00%: reaches DIV"),
            "{}",
            nmru.evidence[0]
        );
        assert!(
            nmru.evidence[1].contains("95.0% ± 0.6 (3 folds) [gold 2, mirror 1]"),
            "{}",
            nmru.evidence[1]
        );
        assert!(nmru.evidence[1].contains("a paired difference of -1.0 points"));
        // 5 d.p.: 78, 80, 77 against 80, 84, 79: -8/3 points
        assert!(
            nmru.evidence[3].contains("-2.7 points"),
            "{}",
            nmru.evidence[3]
        );
        assert!(
            nmru.evidence[4].contains("above the MLP"),
            "{}",
            nmru.evidence[4]
        );
        // the same NMRU with a fourth fold whose head went NaN: no longer supported
        let mut failing = heads[3].clone();
        failing.folds.push(FoldResult {
            fold: 3,
            seed: 3,
            chosen: None,
        });
        let heads_failing = [heads[0].clone(), failing];
        let claim = &super::claims(&heads_failing)[0];
        assert_eq!(claim.verdict, Verdict::Partly);
        assert!(
            claim.evidence.last().unwrap().contains("folds [3]"),
            "{claim:?}"
        );
        // the digits of a head that reads them but loses output accuracy: partly
        let partly = head(
            Head::RealNpu,
            &[
                (95.0, 11.0, 50.0, 30.0),
                (96.0, 12.0, 52.0, 31.0),
                (94.0, 10.0, 49.0, 29.0),
            ],
        );
        let heads = [heads[0].clone(), partly.clone()];
        assert_eq!(super::claims(&heads)[0].verdict, Verdict::Partly);
        // against a DIV head whose encoder learned nothing, the output accuracy cannot be
        // judged: the digits alone make it partly supported
        let blind = head(Head::Div, &[(12.0, 11.0, 0.0, 0.0), (11.0, 12.0, 0.0, 0.0)]);
        let claim = &super::claims(&[blind, partly])[0];
        assert_eq!(claim.verdict, Verdict::Partly);
        assert!(
            claim.evidence[0].contains(
                "fold 0 gold, 5 d.p. 30.00%, no yardstick (DIV's encoder reads 12.0% of the digits)"
            ),
            "{claim:?}"
        );
        let collapsed = head(Head::Nru, &[(11.0, 11.0, 30.0, 20.0)]);
        assert_eq!(
            super::claims(&[collapsed])[0].verdict,
            Verdict::NotSupported
        );
    }

    #[test]
    fn reaching_div_takes_its_accuracy_not_just_a_margin_below_it() {
        // a DIV head that reads the digits but rarely outputs 5 d.p. exact quotients
        let div = head(
            Head::Div,
            &[(95.0, 11.0, 9.0, 5.0), (96.0, 12.0, 20.0, 13.0)],
        );
        // the mirror solution with hardly an exact output: within 10 points, far below DIV
        let mirror = head(
            Head::Nru,
            &[(11.0, 85.0, 0.1, 0.06), (12.0, 90.0, 0.2, 0.1)],
        );
        assert!(reaches(70.0, 80.0) && !reaches(0.06, 5.0) && !reaches(60.0, 75.0));
        let claim = &super::claims(&[div.clone(), mirror])[0];
        assert_eq!(claim.verdict, Verdict::Partly, "{claim:?}");
        assert!(
            claim.evidence[0].starts_with("learns the digits and reaches DIV on 0 of 2 folds"),
            "{claim:?}"
        );
        // a collapsed head outputs 1, exact on the pairs of equal digits, here above DIV's
        // accuracy: that is not division learned
        let mut collapsed = head(
            Head::RealNpu,
            &[(12.0, 12.0, 25.0, 25.0), (6.0, 12.0, 12.5, 12.5)],
        );
        for f in &mut collapsed.folds {
            let test = &mut f.chosen.as_mut().unwrap().2;
            test.label1_mode_share = 100.0;
            test.label2_mode_share = 100.0;
        }
        let claim = &super::claims(&[div.clone(), collapsed])[0];
        assert_eq!(claim.verdict, Verdict::NotSupported, "{claim:?}");
        assert!(
            claim.evidence[0]
                .contains("fold 0 collapsed, reads no digits, 5 d.p. 25.00% against DIV's 5.00%;"),
            "{claim:?}"
        );
        // a head that learns on every finished fold, with a planned run not yet finished
        let mut unfinished = head(
            Head::Nmru,
            &[(94.0, 10.0, 19.0, 12.0), (95.0, 10.0, 20.0, 13.0)],
        );
        assert_eq!(
            super::claims(&[div.clone(), unfinished.clone()])[0].verdict,
            Verdict::Supported
        );
        unfinished.missing = 1;
        let claim = &super::claims(&[div.clone(), unfinished.clone()])[0];
        assert_eq!(claim.verdict, Verdict::Partly);
        assert!(
            claim
                .evidence
                .last()
                .unwrap()
                .starts_with("runs planned but without a result yet: 1"),
            "{claim:?}"
        );
        // DIV with no run on fold 1, then with a failed one: that fold has no yardstick and
        // counts as not reaching it
        unfinished.missing = 0;
        let mut div_short = div.clone();
        div_short.folds.truncate(1);
        let claim = &super::claims(&[div_short.clone(), unfinished.clone()])[0];
        assert_eq!(claim.verdict, Verdict::Partly, "{claim:?}");
        assert!(
            claim.evidence[0]
                .contains("fold 1 gold, 5 d.p. 13.00%, no yardstick (DIV has no run here)"),
            "{claim:?}"
        );
        div_short.folds.push(FoldResult {
            fold: 1,
            seed: 1,
            chosen: None,
        });
        let claim = &super::claims(&[div_short, unfinished.clone()])[0];
        assert_eq!(claim.verdict, Verdict::Partly, "{claim:?}");
        assert!(
            claim.evidence[0].contains("no yardstick (DIV's run failed)"),
            "{claim:?}"
        );
        // a head none of whose planned runs finished: no data
        let mut none = unfinished;
        none.folds.clear();
        none.missing = 2;
        let claim = &super::claims(&[div, none])[0];
        assert_eq!(claim.verdict, Verdict::NoData);
        assert_eq!(claim.evidence, ["2 planned runs, none finished"]);
    }
}
