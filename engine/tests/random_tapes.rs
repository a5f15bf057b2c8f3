//! The fuzz target's check on a fixed set of seeded random tapes, so every test run covers
//! a few thousand op combinations without cargo-fuzz.

use engine::fuzzing::{Bytes, check_case, random_case};

/// Bytes from a seed (SplitMix64), as a fuzzer would hand them over.
fn bytes_for(seed: u64) -> Vec<u8> {
    let mut state = seed;
    (0..512)
        .map(|_| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            (z ^ (z >> 31)) as u8
        })
        .collect()
}

#[test]
fn random_tapes_agree_with_the_reference() {
    check_seeds(0..3000);
}

/// The same check over 600,000 seeds (about 15 s in release):
/// `cargo test --release -p engine --test random_tapes many -- --ignored --nocapture`
#[test]
#[ignore]
fn many_random_tapes_agree_with_the_reference() {
    check_seeds(0..600_000);
}

fn check_seeds(seeds: std::ops::Range<u64>) {
    let count = seeds.end - seeds.start;
    let (mut cases, mut compared, mut inconclusive) = (0, 0, 0);
    for seed in seeds {
        let data = bytes_for(seed);
        let Some(case) = random_case(&mut Bytes::new(&data)) else {
            continue;
        };
        match check_case(&case) {
            Ok(report) => {
                cases += 1;
                compared += report.compared;
                inconclusive += report.inconclusive;
            }
            Err(message) => panic!("seed {seed}: {message}"),
        }
    }
    // The generator must produce real work, and the stability filter must not hide most of it.
    assert!(
        cases * 3 > count * 2,
        "only {cases} tapes built from {count} seeds"
    );
    assert!(
        compared > 10 * inconclusive,
        "{compared} compared, {inconclusive} inconclusive"
    );
    println!(
        "{cases} tapes, {compared} values and gradients compared, {inconclusive} inconclusive"
    );
}

/// Replays one case: a fuzzer artifact (`ARTIFACT=path`) or a seed of the test above
/// (`SEED=n`), printing every node's f32 and reference values.
/// `ARTIFACT=fuzz/artifacts/tape_vs_reference/crash-... cargo test -p engine --test random_tapes replay -- --ignored --nocapture`
#[test]
#[ignore]
fn replay() {
    let data = match std::env::var("ARTIFACT") {
        Ok(path) => std::fs::read(path).expect("artifact readable"),
        Err(_) => bytes_for(
            std::env::var("SEED")
                .expect("set ARTIFACT or SEED")
                .parse()
                .expect("SEED is a number"),
        ),
    };
    let Some(case) = random_case(&mut Bytes::new(&data)) else {
        println!("these bytes build no differentiable tape");
        return;
    };
    let mut fast = case.values.clone();
    engine::forward(&case.params, &mut fast);
    let mut reference =
        engine::reference::Reference::from_values(&case.tape, &case.params, &case.values, |v| {
            engine::Tracked::exact(f64::from(v))
        });
    reference.forward(&case.tape);
    let batch = case.values.batch();
    for (index, node) in case.tape.nodes().iter().enumerate() {
        let id = case.tape.id_at(index);
        let shown = reference.value(id).len().min(8);
        let f32s: Vec<f32> = (0..shown)
            .map(|e| {
                if let engine::Op::Param { index } = node.op {
                    case.params[case.tape.params()[index].range.start + e]
                } else if node.shape.batched {
                    fast.get(id, e % batch, e / batch)
                } else {
                    fast.get(id, 0, e)
                }
            })
            .collect();
        let exact: Vec<f64> = reference.value(id)[..shown]
            .iter()
            .map(|t| t.value)
            .collect();
        println!(
            "{index} {:?} {:?} <- {:?}
   f32 {f32s:?}
   f64 {exact:?}",
            node.op, node.shape, node.inputs
        );
    }
    println!("{:?}", check_case(&case));
}

/// Every SIMD path the CPU runs gives the same bits for every value and every gradient of
/// the seeded random tapes (a path the CPU lacks is skipped with a notice). NaN is compared
/// as NaN: its sign and payload are not part of the result (x86 passes on the first NaN
/// operand of an instruction, and the compiler may swap the operands of an addition).
#[test]
fn random_tapes_give_the_same_bits_on_every_simd_path() {
    use engine::{Grads, backward, forward, simd};
    let paths = simd::runnable();
    for path in [simd::AVX2, simd::AVX512] {
        if !paths.contains(&path) {
            println!("this CPU lacks {path}: not checked");
        }
    }
    let mut cases = 0;
    for seed in 0..3000 {
        let data = bytes_for(seed);
        let Some(case) = random_case(&mut Bytes::new(&data)) else {
            continue;
        };
        cases += 1;
        let results: Vec<Vec<u32>> = paths
            .iter()
            .map(|&path| {
                let mut values = case.values_on(path).expect("a runnable path");
                forward(&case.params, &mut values);
                let mut grads = Grads::new(values.program());
                backward(&case.params, &values, &mut grads);
                let mut bits = Vec::new();
                let canonical = |v: f32| if v.is_nan() { f32::NAN } else { v }.to_bits();
                for (index, node) in case.tape.nodes().iter().enumerate() {
                    let id = case.tape.id_at(index);
                    let (batch, features) = (values.batch(), node.shape.features);
                    for b in 0..if node.shape.batched { batch } else { 1 } {
                        for f in 0..features {
                            if node.live && !matches!(node.op, engine::Op::Param { .. }) {
                                bits.push(canonical(values.get(id, b, f)));
                            }
                            if node.needs_grad {
                                bits.push(canonical(grads.get(id, b, f)));
                            }
                        }
                    }
                }
                bits
            })
            .collect();
        for (path, bits) in paths.iter().zip(&results) {
            let first = bits.iter().zip(&results[0]).position(|(a, b)| a != b);
            assert!(
                first.is_none(),
                "seed {seed}: {path} and {} differ at element {first:?}",
                paths[0]
            );
        }
    }
    assert!(cases > 1000, "only {cases} cases");
}
