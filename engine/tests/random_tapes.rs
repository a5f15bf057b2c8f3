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
    let (mut cases, mut compared, mut inconclusive) = (0, 0, 0);
    for seed in 0..3000 {
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
    assert!(cases > 2000, "only {cases} tapes built");
    assert!(
        compared > 10 * inconclusive,
        "{compared} compared, {inconclusive} inconclusive"
    );
    println!(
        "{cases} tapes, {compared} values and gradients compared, {inconclusive} inconclusive"
    );
}

#[test]
#[ignore]
fn debug_seed() {
    let data = match std::env::var("ARTIFACT") {
        Ok(path) => std::fs::read(path).unwrap(),
        Err(_) => bytes_for(std::env::var("SEED").unwrap().parse().unwrap()),
    };
    let case = random_case(&mut Bytes::new(&data)).unwrap();
    let mut fast = case.values.clone();
    engine::forward(&case.tape, &mut fast);
    let mut r = engine::reference::Reference::from_values(&case.tape, &case.values, |v| {
        engine::Tracked::exact(f64::from(v))
    });
    r.forward(&case.tape);
    r.backward(&case.tape);
    let mut grads = engine::Grads::new(&case.tape, case.values.batch());
    engine::backward(&case.tape, &fast, &mut grads);
    for (i, n) in case.tape.nodes().iter().enumerate() {
        let id = case.tape.id_at(i);
        let f32s: Vec<f32> = (0..r.value(id).len().min(40))
            .map(|e| {
                if n.shape.batched {
                    fast.get(id, e % case.values.batch(), e / case.values.batch())
                } else {
                    fast.get(id, 0, e)
                }
            })
            .collect();
        println!(
            "{i} {:?} {:?} in {:?} live {} f32 {:?} ref {:?}",
            n.op,
            n.shape,
            n.inputs,
            n.live,
            f32s,
            &r.value(id)[..r.value(id).len().min(4)]
        );
        if n.needs_grad {
            let g32: Vec<f32> = (0..r.grad(id).len().min(40))
                .map(|e| {
                    if n.shape.batched {
                        grads.get(id, e % case.values.batch(), e / case.values.batch())
                    } else {
                        grads.get(id, 0, e)
                    }
                })
                .collect();
            println!(
                "   grad f32 {:?} ref {:?}",
                g32,
                r.grad(id)[..r.grad(id).len().min(40)]
                    .iter()
                    .map(|t| t.value)
                    .collect::<Vec<_>>()
            );
        }
    }
}
