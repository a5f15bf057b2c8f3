//! A tiny end-to-end run of the MNIST task: the quotient loss falls and the digit readings
//! improve, learned through the quotient alone.

use std::ops::ControlFlow;

use tasks::mnist::idx::{Mnist, default_dir};
use tasks::mnist::preset::QUICK;
use tasks::mnist::run::{Progress, train};

#[test]
fn a_tiny_run_learns_digits_through_the_quotient() {
    let mnist = Mnist::load(&default_dir()).expect("the MNIST files");
    let mut settings = QUICK.settings("div", 1, 1);
    settings.samples_per_pair = 40;
    settings.epochs = 3;
    settings.select_last = 1;
    let mut batches = 0;
    let record = train(&settings, &mnist, |p| {
        if let Progress::Batch(..) = p {
            batches += 1
        }
    });
    assert!(!record.failed);
    assert_eq!(record.history.len(), 4);
    // 73 train pairs x 40 samples = 2,920 = 22 full batches and one of 104, three epochs
    assert_eq!(batches, 3 * 23);
    let (first, last) = (&record.history[0], &record.history[3]);
    assert!(last.loss < record.history[1].loss, "{:?}", record.history);
    assert!(last.train.output_mse < first.train.output_mse);
    // digits read right (rounded) on the training pairs, never told which digits they are
    let readings =
        |m: &tasks::mnist::metrics::Metrics| m.label1_rounded_accuracy + m.label2_rounded_accuracy;
    assert!(
        readings(&last.train) > readings(&first.train) + 20.0,
        "digit readings {} -> {}",
        readings(&first.train),
        readings(&last.train)
    );
    assert_eq!(record.chosen, Some(3));
}

/// Every bit of a value, NaNs included (a record's first row has no loss yet: NaN != NaN).
fn bits<T: serde::Serialize>(value: &T) -> Vec<u8> {
    bincode::serde::encode_to_vec(value, bincode::config::standard()).expect("encodable")
}

#[test]
fn a_run_stopped_and_resumed_from_its_checkpoint_gives_the_same_record_bit_for_bit() {
    use tasks::mnist::checkpoint::{CheckpointError, load, save};
    use tasks::mnist::run::{State, resume};
    let mnist = Mnist::load(&default_dir()).expect("the MNIST files");
    // the NRU: clipping, regularisers on the ramp, clamps, dropout masks by step
    let mut settings = QUICK.settings("nru", 4, 4);
    settings.samples_per_pair = 3;
    settings.epochs = 3;
    settings.regulariser_start = 0.0;
    settings.regulariser_end = 2.0;
    let whole = train(&settings, &mnist, |_| {}).untimed();

    let dir = std::env::temp_dir().join(format!("nalm-mnist-ckpt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let path = dir.join("run.ckpt");
    // stop after the pass of epoch 1, saving the checkpoint there
    let mut state = State::new(&settings);
    let mut kept = None;
    resume(
        &mut state,
        &mnist,
        |_| {},
        |s| {
            if s.epoch == 2 {
                save(&path, s).expect("saved");
                kept = Some(s.clone());
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        },
    );
    assert_eq!(state.epoch, 2, "stopped after the pass of epoch 1");
    assert!(!state.finished());
    let mut resumed = load(&path).expect("loads");
    assert!(
        bits(&resumed) == bits(&kept.expect("epoch 2 was reached")),
        "round trip"
    );
    resume(&mut resumed, &mnist, |_| {}, |_| ControlFlow::Continue(()));
    let (again, whole) = (resumed.record().untimed(), whole);
    assert!(bits(&again) == bits(&whole), "{again:?}\n!=\n{whole:?}");

    // truncated, foreign and future checkpoints are refused with what is wrong
    let bytes = std::fs::read(&path).expect("the checkpoint");
    let cases: [(&str, Vec<u8>); 3] = [
        ("truncated", bytes[..bytes.len() / 2].to_vec()),
        ("foreign", b"{\"not\": \"a checkpoint\"}".to_vec()),
        ("future", {
            let mut future = bytes.clone();
            future[8..12].copy_from_slice(&99u32.to_le_bytes());
            future
        }),
    ];
    for (tag, content) in cases {
        let bad = dir.join(format!("{tag}.ckpt"));
        std::fs::write(&bad, content).expect("written");
        let error = load(&bad).expect_err(tag);
        assert!(
            error.to_string().contains(&bad.display().to_string()),
            "{error}"
        );
        match (tag, &error) {
            ("truncated", CheckpointError::Corrupt(..))
            | ("foreign", CheckpointError::Foreign(..))
            | ("future", CheckpointError::Version(_, 99)) => {}
            _ => panic!("{tag}: {error:?}"),
        }
    }
    std::fs::remove_dir_all(&dir).expect("cleaned up");
}
