//! The study's configurations by name (`modules/README.md` section 9).
//!
//! A preset starts from the reference's defaults and sets what the paper's run scripts set,
//! for the input size: "no redundancy" settings up to 2 inputs, the "redundancy" (input
//! size 10) settings above, where the operands are one input each (subset ratio 0.1).
//! Explicit flags override a preset.

use modules::objective::Criterion;
use modules::penalty::{Lp, RegShape};
use modules::units::{NpuClip, NpuInit, NruMode};

use super::schedule::ScaleType;
use super::settings::{Scaling, Settings};
use crate::data::Operation;

/// A named configuration.
pub struct Preset {
    pub name: &'static str,
    /// What the paper calls it and where it appears.
    pub about: &'static str,
    apply: fn(&mut Settings, Redundancy),
}

/// Whether the run has distractor inputs (input size above 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Redundancy {
    No,
    Yes,
}

impl Redundancy {
    fn pick<T>(self, no: T, yes: T) -> T {
        match self {
            Redundancy::No => no,
            Redundancy::Yes => yes,
        }
    }
}

/// Every preset, main results first.
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "nru",
        about: "NRU (main results): lr 1 (in2) / 1e-3 (in10), window 20k-35k / 50k-75k",
        apply: |s, r| nru(s, r),
    },
    Preset {
        name: "nmru",
        about: "NMRU = Sign-NMRU with gradient-norm clipping 1, lr 1e-2 (main results)",
        apply: |s, r| {
            nmru_common(s, r, "sign-nmru");
            s.clip_grad_norm = Some(1.0);
        },
    },
    Preset {
        name: "realnpu-modified",
        about: "Real NPU (modified): L1 beta 1e-9 -> 1e-7, clip wg, W-NPU and g-NPU 1 (madsen), constrained Xavier init, window 40k-50k / 50k-75k",
        apply: |s, r| realnpu_modified(s, r),
    },
    Preset {
        name: "realnpu-baseline",
        about: "Real NPU (baseline): L1 beta 1e-9 -> 1e-7, no clipping, Xavier init, lr 5e-3",
        apply: |s, r| realnpu_baseline(s, r),
    },
    Preset {
        name: "realnpu-l1-off",
        about: "Real NPU study: the baseline without the L1 term",
        apply: |s, r| {
            realnpu_baseline(s, r);
            s.regualizer_l1 = false;
        },
    },
    Preset {
        name: "realnpu-l2",
        about: "Real NPU study (appendix): L2 norm term, beta 1e-7 -> 1e-5",
        apply: |s, r| {
            realnpu_baseline(s, r);
            s.lp_norm = Lp::L2;
            s.regualizer_beta_start = 1e-7;
            s.regualizer_beta_end = 1e-5;
        },
    },
    Preset {
        name: "realnpu-clip-g",
        about: "Real NPU study, clipping G: the baseline with the gate clamped to [0, 1]",
        apply: |s, r| {
            realnpu_baseline(s, r);
            s.npu_clip = NpuClip::G;
        },
    },
    Preset {
        name: "realnpu-clip-w",
        about: "Real NPU study, clipping W: the baseline with W clamped to [-1, 1]",
        apply: |s, r| {
            realnpu_baseline(s, r);
            s.npu_clip = NpuClip::W;
        },
    },
    Preset {
        name: "realnpu-clip-wg",
        about: "Real NPU study, clipping GW (= discretisation none)",
        apply: |s, r| {
            realnpu_baseline(s, r);
            s.npu_clip = NpuClip::WG;
        },
    },
    Preset {
        name: "realnpu-discretise-g",
        about: "Real NPU study, discretisation G: clip wg and g-NPU 1 (madsen), window 40k-50k",
        apply: |s, r| {
            realnpu_discretise(s, r);
            s.regualizer_npu_w = 0.0;
        },
    },
    Preset {
        name: "realnpu-discretise-gw",
        about: "Real NPU study, discretisation GW (= init Xavier-uniform): clip wg, W-NPU and g-NPU 1 (madsen)",
        apply: |s, r| realnpu_discretise(s, r),
    },
    Preset {
        name: "npu-modified",
        about: "NPU (appendix, in10): the complex NPU with the Real NPU (modified) settings",
        apply: |s, r| {
            realnpu_modified(s, r);
            s.layer_type = "npu".into();
        },
    },
    Preset {
        name: "npu-clip-reg",
        about: "NPU clip & reg (appendix, in10): as npu-modified with clip wig",
        apply: |s, r| {
            realnpu_modified(s, r);
            s.layer_type = "npu".into();
            s.npu_clip = NpuClip::WIG;
        },
    },
    Preset {
        name: "nru-sepsign",
        about: "NRU with separate sign (appendix, in10)",
        apply: |s, r| {
            nru(s, r);
            s.nru_div_mode = NruMode::DivSepSign;
        },
    },
    Preset {
        name: "nmru-vanilla",
        about: "NMRU ablation 'vanilla': the plain NMRU without clipping",
        apply: |s, r| nmru_common(s, r, "nmru"),
    },
    Preset {
        name: "nmru-gnc",
        about: "NMRU ablation 'gnc': the plain NMRU with gradient-norm clipping 1",
        apply: |s, r| {
            nmru_common(s, r, "nmru");
            s.clip_grad_norm = Some(1.0);
        },
    },
    Preset {
        name: "nmru-sign",
        about: "NMRU ablation 'sign': the Sign-NMRU without clipping",
        apply: |s, r| nmru_common(s, r, "sign-nmru"),
    },
    Preset {
        name: "nmru-gated",
        about: "NMRU ablation 'gnc+sign+gating': gated Sign-NMRU, clipping 1, g-NPU 1 (madsen)",
        apply: |s, r| {
            nmru_common(s, r, "gated-sign-nmru");
            s.clip_grad_norm = Some(1.0);
            s.regualizer_gate = 1.0;
            s.reg_scale_type = ScaleType::Madsen;
        },
    },
    Preset {
        name: "realnpu-small-easy",
        about: "Division by small numbers, easy (1/a, one input, 5000 iterations): Real NPU with clip wg, constrained init, no L1",
        apply: |s, _| {
            small_easy(s);
            realnpu_common(s);
            s.npu_clip = NpuClip::WG;
            s.npu_wr_init = NpuInit::XavierUniformConstrained;
        },
    },
    Preset {
        name: "nru-small-easy",
        about: "Division by small numbers, easy: NRU, lr 1, window 15k-20k",
        apply: |s, _| {
            small_easy(s);
            nru(s, Redundancy::No);
            s.max_iterations = 5_000;
            window(s, 15_000, 20_000);
        },
    },
    Preset {
        name: "nmru-small-easy",
        about: "Division by small numbers, easy: Sign-NMRU, clipping 1, lr 1e-2, window 20k-35k",
        apply: |s, _| {
            small_easy(s);
            nmru_common(s, Redundancy::No, "sign-nmru");
            s.clip_grad_norm = Some(1.0);
            s.max_iterations = 5_000;
        },
    },
];

impl Preset {
    pub fn by_name(name: &str) -> Option<&'static Preset> {
        PRESETS.iter().find(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// The preset's settings for `input_size` inputs (its own default when None).
    pub fn settings(&self, input_size: Option<usize>) -> Settings {
        // the study's tasks divide; presets that differ set their own operation and size
        let start = || Settings {
            operation: Operation::Div,
            input_size: 2,
            ..Settings::default()
        };
        let mut s = start();
        (self.apply)(&mut s, Redundancy::No);
        let size = input_size.unwrap_or(s.input_size);
        if size > 2 {
            s = start();
            (self.apply)(&mut s, Redundancy::Yes);
        }
        s.input_size = size;
        s.preset = Some(self.name.to_string());
        s
    }
}

/// Iterations, input layout and window for the redundancy level.
fn study(s: &mut Settings, r: Redundancy, window_no: (u64, u64), window_yes: (u64, u64)) {
    s.max_iterations = r.pick(50_000, 100_000);
    if r == Redundancy::Yes {
        s.subset_ratio = 0.1;
    }
    let (start, end) = r.pick(window_no, window_yes);
    window(s, start, end);
}

fn window(s: &mut Settings, start: u64, end: u64) {
    s.regualizer_scaling = Scaling::Linear;
    s.regualizer_scaling_start = start;
    s.regualizer_scaling_end = end;
}

fn nru(s: &mut Settings, r: Redundancy) {
    s.layer_type = "nru".into();
    s.learning_rate = r.pick(1.0, 1e-3);
    study(s, r, (20_000, 35_000), (50_000, 75_000));
}

fn nmru_common(s: &mut Settings, r: Redundancy, layer: &str) {
    s.layer_type = layer.into();
    s.learning_rate = 1e-2;
    study(s, r, (20_000, 35_000), (50_000, 75_000));
}

/// What every Real NPU run sets: the unit, lr 5e-3 and no generic W regulariser.
fn realnpu_common(s: &mut Settings) {
    s.layer_type = "realnpu".into();
    s.learning_rate = 5e-3;
    s.regualizer = 0.0;
    s.regualizer_shape = RegShape::None;
}

fn realnpu_baseline(s: &mut Settings, r: Redundancy) {
    realnpu_common(s);
    s.regualizer_l1 = true;
    s.regualizer_beta_start = 1e-9;
    s.regualizer_beta_end = 1e-7;
    // the baseline has no window; the study's defaults keep it out of reach
    let keep_default = (s.regualizer_scaling_start, s.regualizer_scaling_end);
    study(s, r, keep_default, keep_default);
}

fn realnpu_discretise(s: &mut Settings, r: Redundancy) {
    realnpu_baseline(s, r);
    s.npu_clip = NpuClip::WG;
    s.regualizer_npu_w = 1.0;
    s.regualizer_gate = 1.0;
    s.reg_scale_type = ScaleType::Madsen;
    study(s, r, (40_000, 50_000), (50_000, 75_000));
}

fn realnpu_modified(s: &mut Settings, r: Redundancy) {
    realnpu_discretise(s, r);
    s.npu_wr_init = NpuInit::XavierUniformConstrained;
}

/// 1/a from a single input in [0, 1], 5000 iterations.
fn small_easy(s: &mut Settings) {
    s.operation = Operation::Reciprocal;
    s.input_size = 1;
    s.subset_ratio = 1.0;
    s.num_subsets = 1;
    s.max_iterations = 5_000;
    s.interpolation_range = "[0,1]".parse().expect("valid range");
    s.extrapolation_range = s.interpolation_range;
    s.train_criterion = Criterion::Mse;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nru_follows_the_input_size() {
        let p = Preset::by_name("nru").unwrap();
        let in2 = p.settings(None);
        assert_eq!(
            (in2.input_size, in2.learning_rate, in2.max_iterations),
            (2, 1.0, 50_000)
        );
        assert_eq!(
            (in2.regualizer_scaling_start, in2.regualizer_scaling_end),
            (20_000, 35_000)
        );
        assert_eq!(in2.subset_ratio, 0.5);
        let in10 = p.settings(Some(10));
        assert_eq!(
            (in10.input_size, in10.learning_rate, in10.max_iterations),
            (10, 1e-3, 100_000)
        );
        assert_eq!(
            (in10.regualizer_scaling_start, in10.regualizer_scaling_end),
            (50_000, 75_000)
        );
        assert_eq!(in10.subset_ratio, 0.1);
        assert_eq!(in10.operation, Operation::Div);
    }

    #[test]
    fn realnpu_modified_is_the_papers_setting() {
        let s = Preset::by_name("realnpu-modified").unwrap().settings(None);
        assert_eq!(s.layer_type, "realnpu");
        assert!(s.regualizer_l1);
        assert_eq!(
            (s.regualizer_beta_start, s.regualizer_beta_end),
            (1e-9, 1e-7)
        );
        assert_eq!(s.npu_clip, NpuClip::WG);
        assert_eq!((s.regualizer_npu_w, s.regualizer_gate), (1.0, 1.0));
        assert_eq!(s.reg_scale_type, ScaleType::Madsen);
        assert_eq!(s.npu_wr_init, NpuInit::XavierUniformConstrained);
        assert_eq!(
            (s.regualizer_scaling_start, s.regualizer_scaling_end),
            (40_000, 50_000)
        );
        assert_eq!(s.learning_rate, 5e-3);
        assert_eq!(s.regualizer, 0.0);
        let base = Preset::by_name("realnpu-baseline").unwrap().settings(None);
        assert_eq!(base.npu_clip, NpuClip::None);
        assert_eq!(base.npu_wr_init, NpuInit::XavierUniform);
        assert_eq!(base.regualizer_npu_w, 0.0);
    }

    #[test]
    fn nmru_clips_gradients() {
        let s = Preset::by_name("NMRU").unwrap().settings(Some(10));
        assert_eq!(s.layer_type, "sign-nmru");
        assert_eq!(s.clip_grad_norm, Some(1.0));
        assert_eq!(s.learning_rate, 1e-2);
        assert_eq!(s.max_iterations, 100_000);
    }

    #[test]
    fn every_preset_is_valid_at_its_sizes() {
        for p in PRESETS {
            for size in [None, Some(10)] {
                let s = p.settings(size);
                s.validate()
                    .unwrap_or_else(|e| panic!("{} at {size:?}: {e}", p.name));
            }
        }
    }
}
