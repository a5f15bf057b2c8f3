//! Every experiment of the study as a named grid (`tasks/docs/single-module-study.md`
//! section 6, `modules/README.md` section 9). Seeds 0-24 throughout.

use serde_json::{Value, json};

use super::plan::{Grid, Model, Setting};
use crate::train::Changes;

/// The nine interpolation -> extrapolation range pairs of the range experiments.
pub const RANGE_PAIRS: [(&str, &str); 9] = [
    ("[-20,-10]", "[-40,-20]"),
    ("[-2,-1]", "[-6,-2]"),
    ("[-1.2,-1.1]", "[-6.1,-1.2]"),
    ("[-0.2,-0.1]", "[-2,-0.2]"),
    ("[-2,2]", "[[-6,-2],[2,6]]"),
    ("[0.1,0.2]", "[0.2,2]"),
    ("[1,2]", "[2,6]"),
    ("[1.1,1.2]", "[1.2,6]"),
    ("[10,20]", "[20,40]"),
];

/// Every input setting of the single module study, each once: the nine ranges, the
/// mixed-sign settings M1-M4 (M0 is the range [-2, 2]), the six distributions and the five
/// division-by-small ranges.
pub fn study_settings() -> Vec<Setting> {
    let mut all = ranges();
    all.extend(mixed_signs().into_iter().skip(1));
    all.extend(distributions());
    all.extend(small_ranges());
    all
}

/// A named experiment.
pub struct Experiment {
    pub name: &'static str,
    pub about: &'static str,
    build: fn() -> (Vec<Model>, Vec<Setting>),
}

impl Experiment {
    pub fn by_name(name: &str) -> Option<&'static Experiment> {
        EXPERIMENTS
            .iter()
            .find(|e| e.name.eq_ignore_ascii_case(name))
    }

    /// The experiment's grid over seeds 0-24.
    pub fn grid(&self) -> Grid {
        let (models, settings) = (self.build)();
        Grid {
            name: self.name.to_string(),
            about: self.about.to_string(),
            models,
            settings,
            seeds: (0..25).collect(),
        }
    }
}

fn changes(value: Value) -> Changes {
    match value {
        Value::Object(map) => map,
        _ => unreachable!("changes are written as objects"),
    }
}

fn model(label: &str, preset: &str, input_size: Option<usize>, value: Value) -> Model {
    Model {
        label: label.to_string(),
        preset: preset.to_string(),
        input_size,
        changes: changes(value),
    }
}

/// The preset itself, labelled by its name, at `size` inputs.
fn preset(name: &str, size: usize) -> Model {
    model(name, name, Some(size), json!({}))
}

fn setting(label: &str, value: Value) -> Setting {
    Setting {
        label: label.to_string(),
        changes: changes(value),
    }
}

/// The nine range pairs, labelled by their interpolation range as in the figures.
fn ranges() -> Vec<Setting> {
    RANGE_PAIRS
        .iter()
        .map(|(train, test)| {
            let label = format!("U{train}");
            setting(
                &label,
                json!({"interpolation-range": train, "extrapolation-range": test}),
            )
        })
        .collect()
}

const MAIN: [&str; 4] = ["realnpu-baseline", "realnpu-modified", "nru", "nmru"];
const THREE: [&str; 3] = ["realnpu-modified", "nru", "nmru"];

fn main_models(size: usize) -> Vec<Model> {
    MAIN.iter().map(|p| preset(p, size)).collect()
}

/// The three later models at both input sizes, labelled `<preset> in<size>`.
fn three_at_both_sizes() -> Vec<Model> {
    [2, 10]
        .into_iter()
        .flat_map(|size| {
            THREE
                .iter()
                .map(move |p| model(&format!("{p} in{size}"), p, Some(size), json!({})))
        })
        .collect()
}

/// One model per value of one setting.
fn sweep_of(preset: &str, size: usize, name: &str, values: &[Value], label: &str) -> Vec<Model> {
    values
        .iter()
        .map(|v| {
            let shown = v
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            let mut changes = Changes::new();
            changes.insert(name.to_string(), v.clone());
            Model {
                label: format!("{label} {shown}"),
                preset: preset.to_string(),
                input_size: Some(size),
                changes,
            }
        })
        .collect()
}

fn mixed_signs() -> Vec<Setting> {
    [
        ("M0 [-2,2]", "[-2,2]", "[[-6,-2],[2,6]]"),
        (
            "M1 a<0<b [0.1,2]",
            "[[-2,-0.1],[0.1,2],[]]",
            "[[-6,-2],[2,6],[]]",
        ),
        (
            "M2 b<0<a [0.1,2]",
            "[[0.1,2],[-2,-0.1],[]]",
            "[[2,6],[-6,-2],[]]",
        ),
        ("M3 a<0<b [1,2]", "[[-2,-1],[1,2],[]]", "[[-6,-2],[2,6],[]]"),
        ("M4 b<0<a [1,2]", "[[1,2],[-2,-1],[]]", "[[2,6],[-6,-2],[]]"),
    ]
    .iter()
    .map(|(label, train, test)| {
        setting(
            label,
            json!({"interpolation-range": train, "extrapolation-range": test}),
        )
    })
    .collect()
}

fn distributions() -> Vec<Setting> {
    [
        ("B:[10,100]", "benford", "[10,100]", "[100,1000]"),
        (
            "TN(-1,3):[-5,10]",
            "truncated-normal -1 3 -10 3",
            "[-5,10]",
            "[-15,-5]",
        ),
        (
            "TN(1,3):[-10,5]",
            "truncated-normal 1 3 10 3",
            "[-10,5]",
            "[5,15]",
        ),
        (
            "TN(0,1):[-5,5]",
            "truncated-normal 0 1 10 1",
            "[-5,5]",
            "[5,15]",
        ),
        ("U:[-50,50]", "uniform", "[-50,50]", "[[-100,-50],[50,100]]"),
        (
            "U:[-100,100]",
            "uniform",
            "[-100,100]",
            "[[-200,-100],[100,200]]",
        ),
    ]
    .iter()
    .map(|(label, distribution, train, test)| {
        setting(
            label,
            json!({
                "sample-distribution": distribution,
                "interpolation-range": train,
                "extrapolation-range": test,
            }),
        )
    })
    .collect()
}

fn small_ranges() -> Vec<Setting> {
    ["1e-4", "1e-3", "1e-2", "1e-1", "1"]
        .iter()
        .map(|hi| {
            let range = format!("[0,{hi}]");
            setting(
                &format!("U{range}"),
                json!({"interpolation-range": range, "extrapolation-range": range}),
            )
        })
        .collect()
}

fn div_by_small_models() -> Vec<Model> {
    let mut models = Vec::new();
    for (realnpu, nru, nmru, task, changes) in [
        (
            "realnpu-small-easy",
            "nru-small-easy",
            "nmru-small-easy",
            "easy",
            json!({}),
        ),
        (
            "realnpu-modified",
            "nru",
            "nmru",
            "medium",
            json!({"operation": "reciprocal"}),
        ),
        ("realnpu-modified", "nru", "nmru", "hard", json!({})),
    ] {
        for (unit, preset) in [("realnpu", realnpu), ("nru", nru), ("nmru", nmru)] {
            models.push(model(
                &format!("{unit} {task}"),
                preset,
                None,
                changes.clone(),
            ));
        }
    }
    models
}

fn numbers(values: &[f64]) -> Vec<Value> {
    values.iter().map(|v| json!(v)).collect()
}

/// Every experiment, main results first.
pub const EXPERIMENTS: &[Experiment] = &[
    Experiment {
        name: "in2",
        about: "Main results, no redundancy: Real NPU (baseline, modified), NRU, NMRU; 2 inputs, 9 ranges, 50k iterations",
        build: || (main_models(2), ranges()),
    },
    Experiment {
        name: "in10",
        about: "Main results with redundancy: the same four models; 10 inputs, 9 ranges, 100k iterations",
        build: || (main_models(10), ranges()),
    },
    Experiment {
        name: "mixed-signs",
        about: "Mixed-sign inputs M0-M4: Real NPU (modified), NRU, NMRU at 2 and 10 inputs",
        build: || (three_at_both_sizes(), mixed_signs()),
    },
    Experiment {
        name: "distributions",
        about: "Benford, truncated normal and wide uniform inputs: Real NPU (modified), NRU, NMRU at 2 and 10 inputs",
        build: || (three_at_both_sizes(), distributions()),
    },
    Experiment {
        name: "div-by-small",
        about: "Division by small numbers (appendix): easy 1/a, medium 1/a from [a, b], hard a/b; ranges [0, 1e-4] .. [0, 1]",
        build: || (div_by_small_models(), small_ranges()),
    },
    Experiment {
        name: "realnpu-l1",
        about: "Real NPU: L1 regularisation off and on (2 inputs)",
        build: || {
            (
                vec![preset("realnpu-l1-off", 2), preset("realnpu-baseline", 2)],
                ranges(),
            )
        },
    },
    Experiment {
        name: "realnpu-beta",
        about: "Real NPU: L1 strength, beta (start, end) from (1e-11, 1e-9) to (1e-1, 10) (2 inputs)",
        build: || {
            let pairs = [
                (1e-11, 1e-9),
                (1e-9, 1e-7),
                (1e-8, 1e-6),
                (1e-7, 1e-5),
                (1e-5, 1e-3),
                (1e-3, 1e-1),
                (1e-1, 10.0),
            ];
            let models = pairs
                .iter()
                .map(|(start, end)| {
                    model(
                        &format!("beta {start:e}-{end:e}"),
                        "realnpu-baseline",
                        Some(2),
                        json!({"regualizer-beta-start": start, "regualizer-beta-end": end}),
                    )
                })
                .collect();
            (models, ranges())
        },
    },
    Experiment {
        name: "realnpu-l2",
        about: "Real NPU: L2 instead of L1, beta 1e-7 -> 1e-5 (appendix, 2 inputs)",
        build: || {
            (
                vec![preset("realnpu-baseline", 2), preset("realnpu-l2", 2)],
                ranges(),
            )
        },
    },
    Experiment {
        name: "realnpu-clip",
        about: "Real NPU: clipping none, G, W, GW (2 inputs)",
        build: || {
            let presets = [
                "realnpu-baseline",
                "realnpu-clip-g",
                "realnpu-clip-w",
                "realnpu-clip-wg",
            ];
            (presets.iter().map(|p| preset(p, 2)).collect(), ranges())
        },
    },
    Experiment {
        name: "realnpu-discretise",
        about: "Real NPU: discretisation none, G, GW (clip GW, madsen scaling, 2 inputs)",
        build: || {
            let presets = [
                "realnpu-clip-wg",
                "realnpu-discretise-g",
                "realnpu-discretise-gw",
            ];
            (presets.iter().map(|p| preset(p, 2)).collect(), ranges())
        },
    },
    Experiment {
        name: "realnpu-init",
        about: "Real NPU: Xavier-uniform vs constrained Xavier-uniform initialisation (discretisation GW, 2 inputs)",
        build: || {
            (
                vec![
                    preset("realnpu-discretise-gw", 2),
                    preset("realnpu-modified", 2),
                ],
                ranges(),
            )
        },
    },
    Experiment {
        name: "realnpu-lr",
        about: "Real NPU (modified): learning rates 5e-4 .. 5e-1 (appendix, 2 inputs)",
        build: || {
            let rates = numbers(&[5e-4, 5e-3, 5e-2, 5e-1]);
            (
                sweep_of("realnpu-modified", 2, "learning-rate", &rates, "lr"),
                ranges(),
            )
        },
    },
    Experiment {
        name: "realnpu-wreg",
        about: "Real NPU (modified): W-NPU regulariser free at {-1,1} (W) or {-1,0,1} (bias) (appendix, 10 inputs)",
        build: || {
            let types = [json!("W"), json!("bias")];
            (
                sweep_of("realnpu-modified", 10, "realnpu-reg-type", &types, "reg"),
                ranges(),
            )
        },
    },
    Experiment {
        name: "npu",
        about: "Complex NPU with the modified Real NPU's settings, without and with W_im clipping (appendix, 10 inputs)",
        build: || {
            (
                vec![preset("npu-modified", 10), preset("npu-clip-reg", 10)],
                ranges(),
            )
        },
    },
    Experiment {
        name: "nru-lr",
        about: "NRU: learning rates 1e-3 .. 1 (2 inputs)",
        build: || {
            let rates = numbers(&[1e-3, 1e-2, 1e-1, 1.0]);
            (sweep_of("nru", 2, "learning-rate", &rates, "lr"), ranges())
        },
    },
    Experiment {
        name: "nru-sign",
        about: "NRU: sign and magnitude together (div) vs separate sign (div-sepSign) (appendix, 10 inputs)",
        build: || (vec![preset("nru", 10), preset("nru-sepsign", 10)], ranges()),
    },
    Experiment {
        name: "nmru-ablation",
        about: "NMRU ablation: vanilla, gradient-norm clipping, sign, both (= NMRU), both with gating (appendix, 10 inputs)",
        build: || {
            let presets = [
                "nmru-vanilla",
                "nmru-gnc",
                "nmru-sign",
                "nmru",
                "nmru-gated",
            ];
            (presets.iter().map(|p| preset(p, 10)).collect(), ranges())
        },
    },
    Experiment {
        name: "nmru-lr",
        about: "NMRU: learning rates 1e-3, 1e-2, 1e-1 (appendix, 10 inputs)",
        build: || {
            let rates = numbers(&[1e-3, 1e-2, 1e-1]);
            (
                sweep_of("nmru", 10, "learning-rate", &rates, "lr"),
                ranges(),
            )
        },
    },
    Experiment {
        name: "nmru-optimiser",
        about: "NMRU: Adam vs SGD (appendix, 10 inputs)",
        build: || {
            let optimisers = [json!("adam"), json!("sgd")];
            (
                sweep_of("nmru", 10, "optimizer", &optimisers, "optimiser"),
                ranges(),
            )
        },
    },
    Experiment {
        name: "losses",
        about: "Training losses MSE, PCC, MAPE for Real NPU (modified), NRU, NMRU (appendix, 10 inputs; the reference's published runs all trained on MSE)",
        build: || {
            let mut models = Vec::new();
            for p in THREE {
                for loss in ["mse", "pcc", "mape"] {
                    models.push(model(
                        &format!("{p} {loss}"),
                        p,
                        Some(10),
                        json!({"train-criterion": loss}),
                    ));
                }
            }
            (models, ranges())
        },
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_experiment_plans_and_the_main_ones_have_900_runs() {
        for e in EXPERIMENTS {
            let plan = e
                .grid()
                .plan()
                .unwrap_or_else(|err| panic!("{}: {err}", e.name));
            assert!(!plan.runs.is_empty(), "{}", e.name);
        }
        let in2 = Experiment::by_name("in2").unwrap().grid().plan().unwrap();
        assert_eq!(in2.runs.len(), 900);
        assert!(in2.runs.iter().all(|r| r.settings.max_iterations == 50_000));
        let in10 = Experiment::by_name("IN10").unwrap().grid().plan().unwrap();
        assert_eq!(in10.runs.len(), 900);
        assert!(
            in10.runs
                .iter()
                .all(|r| r.settings.input_size == 10 && r.settings.max_iterations == 100_000)
        );
    }

    #[test]
    fn settings_reach_the_runs() {
        let plan = Experiment::by_name("distributions")
            .unwrap()
            .grid()
            .plan()
            .unwrap();
        let run = plan
            .runs
            .iter()
            .find(|r| r.key.setting == "TN(1,3):[-10,5]" && r.key.model == "nru in10")
            .unwrap();
        assert_eq!(run.settings.input_size, 10);
        assert_eq!(run.settings.extrapolation_range.notation(), "[5,15]");
        assert_eq!(
            run.settings.sample_distribution.to_string(),
            "truncated-normal 1 3 10 3"
        );
        let small = Experiment::by_name("div-by-small")
            .unwrap()
            .grid()
            .plan()
            .unwrap();
        let medium = small
            .runs
            .iter()
            .find(|r| r.key.model == "nru medium")
            .unwrap();
        assert_eq!(medium.settings.operation.to_string(), "reciprocal");
        assert_eq!(medium.settings.input_size, 2);
    }
}
