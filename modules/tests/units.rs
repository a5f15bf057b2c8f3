//! Initialisation, projection, sparsity and the eval/train differences of every unit.

use modules::units::{NpuClip, OobMode};
use modules::{Module, Unit};
use rand_pcg::Pcg32;

fn init(unit: &Unit, seed: u64) -> Vec<f32> {
    let mut params = vec![0.0; unit.param_len()];
    unit.init(&mut Pcg32::new(seed, 1), &mut params);
    params
}

#[test]
fn initialisations_follow_the_spec() {
    for seed in 0..20 {
        let nru = init(&Unit::by_name("nru", 2, 1).unwrap(), seed);
        assert!(nru.iter().all(|w| (-0.5..0.5).contains(w)));
        let nmru = init(&Unit::by_name("sign-nmru", 10, 1).unwrap(), seed);
        assert!(nmru.iter().all(|w| (0.25..0.75).contains(w)));
        let gated = init(&Unit::by_name("gated-sign-nmru", 2, 1).unwrap(), seed);
        assert_eq!(&gated[4..], &[0.5; 4]);
        let npu = init(&Unit::by_name("realnpu", 2, 1).unwrap(), seed);
        assert!(npu[..2].iter().all(|w| w.abs() <= std::f32::consts::SQRT_2));
        assert_eq!(&npu[2..], &[0.5, 0.5]);
        let complex = init(&Unit::by_name("npu", 2, 1).unwrap(), seed);
        assert_eq!(&complex[2..4], &[0.0, 0.0]);
        let nac = init(&Unit::by_name("nac", 10, 1).unwrap(), seed);
        assert!(nac.iter().all(|w| w.abs() <= 2.2605));
    }
    // the constrained Xavier initialisation of the modified Real NPU
    if let Unit::RealNpu(mut npu) = Unit::by_name("realnpu", 2, 1).unwrap() {
        npu.init = modules::units::NpuInit::XavierUniformConstrained;
        let params = init(&Unit::RealNpu(npu), 3);
        assert!(params[..2].iter().all(|w| w.abs() <= 0.5));
    }
    // different seeds give different draws
    assert_ne!(
        init(&Unit::by_name("nru", 2, 1).unwrap(), 1),
        init(&Unit::by_name("nru", 2, 1).unwrap(), 2)
    );
}

#[test]
fn projections_clamp_what_the_spec_says() {
    let mut nru = vec![1.5, -2.0];
    Unit::by_name("nru", 2, 1).unwrap().project(&mut nru);
    assert_eq!(nru, [1.0, -1.0]);

    let mut gated = vec![1.5, -0.1, 0.5, 0.7, 2.0, -3.0, 0.25, 1.0];
    Unit::by_name("gated-sign-nmru", 2, 1)
        .unwrap()
        .project(&mut gated);
    assert_eq!(gated, [1.0, 0.0, 0.5, 0.7, 1.0, 0.0, 0.25, 1.0]);

    let clipped = |clip: NpuClip| {
        let Unit::RealNpu(mut npu) = Unit::by_name("realnpu", 2, 1).unwrap() else {
            unreachable!()
        };
        npu.clip = clip;
        let mut p = vec![1.5, -2.0, 1.2, -0.3];
        npu.project(&mut p);
        p
    };
    assert_eq!(clipped(NpuClip::None), [1.5, -2.0, 1.2, -0.3]);
    assert_eq!(clipped(NpuClip::W), [1.0, -1.0, 1.2, -0.3]);
    assert_eq!(clipped(NpuClip::G), [1.5, -2.0, 1.0, 0.0]);
    assert_eq!(clipped(NpuClip::WG), [1.0, -1.0, 1.0, 0.0]);
    // the reference accepts "wig" for the Real NPU and clamps nothing
    assert_eq!(clipped(NpuClip::WIG), [1.5, -2.0, 1.2, -0.3]);

    let Unit::Npu(mut complex) = Unit::by_name("npu", 1, 1).unwrap() else {
        unreachable!()
    };
    complex.clip = NpuClip::WIG;
    let mut p = vec![1.5, -2.0, 1.2];
    complex.project(&mut p);
    assert_eq!(p, [1.0, -1.0, 1.0]);

    let Unit::Nmu(mut nmu) = Unit::by_name("nmu", 2, 1).unwrap() else {
        unreachable!()
    };
    let mut p = vec![1.5, -0.5];
    nmu.project(&mut p);
    assert_eq!(p, [1.0, 0.0]);
    nmu.oob = OobMode::Regularized(modules::penalty::RegShape::Linear);
    let mut p = vec![1.5, -0.5];
    nmu.project(&mut p);
    assert_eq!(p, [1.5, -0.5], "regularised mode does not project");
}

#[test]
fn sparsity_is_the_distance_to_the_nearest_discrete_weight() {
    let nru = Unit::by_name("nru", 2, 1).unwrap();
    assert_eq!(nru.sparsity(&[1.0, -1.0]), 0.0);
    assert_eq!(nru.sparsity(&[0.9, -0.2]), 0.2);
    // Real NPU: W only, the gate is ignored; unclipped W above 1 counts |1 - |w||
    let npu = Unit::by_name("realnpu", 2, 1).unwrap();
    assert_eq!(npu.sparsity(&[1.25, -1.0, 0.5, 0.5]), 0.25);
    // complex NPU: W_re value plus W_im value
    let complex = Unit::by_name("npu", 1, 1).unwrap();
    assert!((complex.sparsity(&[0.9, 0.25, 0.3]) - 0.35).abs() < 1e-7);
    // NMRU: the whole 2I weight vector
    let nmru = Unit::by_name("sign-nmru", 2, 1).unwrap();
    assert_eq!(nmru.sparsity(&[1.0, 0.0, 0.0, 0.6]), 1.0 - 0.6f32);
}

#[test]
fn every_name_builds_and_reports_its_name() {
    for name in Unit::NAMES {
        let unit = Unit::by_name(name, 3, 2).unwrap();
        assert_eq!(unit.name(), name);
        assert_eq!(unit.inputs(), 3);
        assert_eq!(unit.outputs(), 2);
        assert!(unit.param_len() > 0);
    }
    assert!(Unit::by_name("nope", 2, 1).is_none());
}
