//! Gold solutions through the whole evaluation path: data sets, eval-mode units, MSE and
//! thresholds (`tasks/docs/single-module-study.md` 5).

use modules::Tapes;
use tasks::data::TaskData;
use tasks::evaluate::{Evaluator, Formula, Threshold, ThresholdSource, gold_params};
use tasks::train::Settings;
use tasks::train::preset::Preset;

use tasks::sweep::experiments::RANGE_PAIRS as RANGES;

/// Gold parameters, evaluator and threshold of `settings`.
fn gold(settings: &Settings) -> (Vec<f32>, Evaluator, Threshold, TaskData) {
    let unit = settings.unit().unwrap();
    let data = TaskData::new(&settings.task_spec(), settings.seed).unwrap();
    let tapes = Tapes::new(&unit, &settings.objective());
    let mut evaluator = Evaluator::new(&tapes, &data.validation, &data.test);
    let formula = Formula::of(&data).expect("single-input operands");
    let params = gold_params(&unit, &formula).expect("the unit has a gold solution");
    let threshold = Threshold::for_task(&unit, &data, &mut evaluator).unwrap();
    (params, evaluator, threshold, data)
}

#[test]
fn gold_solutions_solve_all_nine_ranges() {
    for preset in ["nru", "nmru", "realnpu-modified", "realnpu-baseline"] {
        for (size, seeds) in [(2, vec![0]), (10, vec![0, 2, 11, 17])] {
            for seed in seeds {
                for (interpolation, extrapolation) in RANGES {
                    let mut s = Preset::by_name(preset).unwrap().settings(Some(size));
                    s.seed = seed;
                    s.interpolation_range = interpolation.parse().unwrap();
                    s.extrapolation_range = extrapolation.parse().unwrap();
                    let (params, mut evaluator, threshold, _) = gold(&s);
                    assert_eq!(threshold.source, ThresholdSource::Standard);
                    // (the Real NPU's gold is not exact on validation data near 0: it
                    // divides by |x| + EPS)
                    let (_, test) = evaluator.mse(&params);
                    let case = format!("{preset} in{size} seed {seed} {interpolation}");
                    assert!(threshold.passes(test), "{case}: test {test}");
                    // exact up to f32 rounding of targets and outputs
                    assert!(test < 1e-9, "{case}: test {test}");
                }
            }
        }
    }
}

#[test]
fn a_wrong_weight_fails_the_threshold() {
    let mut s = Preset::by_name("nru").unwrap().settings(None);
    s.extrapolation_range = "[2,6]".parse().unwrap();
    let (mut params, mut evaluator, threshold, _) = gold(&s);
    params[1] = -0.999;
    let (_, test) = evaluator.mse(&params);
    assert!(!threshold.passes(test), "test {test}");
}

/// Spec table 5.2: (task, range end, NRU, Real NPU, NMRU).
const SMALL: [(&str, f64, f64, f64, f64); 15] = [
    (
        "easy",
        1e-4,
        0.0008673844276927412,
        1152671285248.0,
        0.003669189754873514,
    ),
    (
        "easy",
        1e-3,
        4.256202737451531e-05,
        2046348544.0,
        4.197092493996024e-05,
    ),
    (
        "easy",
        1e-2,
        3.63678140047341e-07,
        490999.34375,
        3.635247196598357e-07,
    ),
    (
        "easy",
        1e-1,
        1.2064751331308798e-07,
        55.245338439941406,
        1.20647612789071e-07,
    ),
    (
        "easy",
        1.0,
        1.1925500587040005e-07,
        0.005590015556663275,
        1.1925460796646803e-07,
    ),
    (
        "medium",
        1e-4,
        0.0008080074330791831,
        1310328487936.0,
        0.002808001823723316,
    ),
    (
        "medium",
        1e-3,
        9.268072062695865e-06,
        3463408640.0,
        9.268088433600497e-06,
    ),
    (
        "medium",
        1e-2,
        1.7597510293398955e-07,
        1115022.125,
        1.7597520240997255e-07,
    ),
    (
        "medium",
        1e-1,
        1.2629826073862205e-07,
        132.18569946289062,
        1.2629863022084464e-07,
    ),
    (
        "medium",
        1.0,
        1.1924292664389213e-07,
        0.013450529426336288,
        1.1924294085474685e-07,
    ),
    (
        "hard",
        1e-4,
        1.1921875398002157e-07,
        2531.3876953125,
        0.032729022204875946,
    ),
    (
        "hard",
        1e-3,
        1.1924171872124134e-07,
        401.33441162109375,
        8.967731992015615e-05,
    ),
    (
        "hard",
        1e-2,
        1.1923013687464845e-07,
        8.685083389282227,
        5.591543867922155e-07,
    ),
    (
        "hard",
        1e-1,
        1.192299947661013e-07,
        0.09694124013185501,
        1.373559825879056e-07,
    ),
    (
        "hard",
        1.0,
        1.192308474173842e-07,
        0.0009814718505367637,
        1.1922777787276573e-07,
    ),
];

/// Regenerated thresholds agree with the table to 1e-4 relative, except the NRU's easy
/// entries: at W = -1 our NRU computes the correctly rounded 1/x, exactly the NMRU's gold,
/// whose easy entries we match to 1e-6; the table's NRU easy entries differ from its own NMRU
/// easy entries by up to 1.4% although both golds compute 1/x.
#[test]
fn division_by_small_thresholds_match_the_study() {
    let (mut worst, mut worst_nru_easy) = (0.0f64, 0.0f64);
    for (task, end, nru, realnpu, nmru) in SMALL {
        for (unit, expected) in [("nru", nru), ("realnpu", realnpu), ("nmru", nmru)] {
            let mut s = match task {
                "easy" => Preset::by_name(&format!("{unit}-small-easy"))
                    .unwrap()
                    .settings(None),
                _ => {
                    let preset = if unit == "realnpu" {
                        "realnpu-modified"
                    } else {
                        unit
                    };
                    let mut s = Preset::by_name(preset).unwrap().settings(None);
                    if task == "medium" {
                        s.operation = tasks::data::Operation::Reciprocal;
                    }
                    s
                }
            };
            let range = format!("[0,{end}]").parse().unwrap();
            s.interpolation_range = range;
            s.extrapolation_range = range;
            let (_, _, threshold, _) = gold(&s);
            assert_eq!(threshold.source, ThresholdSource::Gold);
            assert!(threshold.inclusive);
            let relative = (threshold.value - expected).abs() / expected;
            println!(
                "{task} {end} {unit}: {} vs {expected} ({relative:.2e})",
                threshold.value
            );
            if (task, unit) == ("easy", "nru") {
                worst_nru_easy = worst_nru_easy.max(relative);
            } else {
                worst = worst.max(relative);
            }
        }
    }
    println!("worst relative difference {worst:.2e}, NRU easy {worst_nru_easy:.2e}");
    assert!(worst < 1e-4, "worst relative difference {worst:.2e}");
    assert!(worst_nru_easy < 2e-2, "NRU easy {worst_nru_easy:.2e}");
}
