//! A tiny end-to-end run of the MNIST task: the quotient loss falls and the digit readings
//! improve, learned through the quotient alone.

use tasks::mnist::idx::{Mnist, default_dir};
use tasks::mnist::preset::QUICK;
use tasks::mnist::run::{Progress, train};

#[test]
fn a_tiny_run_learns_digits_through_the_quotient() {
    let mnist = Mnist::load(&default_dir()).expect("the MNIST files");
    let mut settings = QUICK.settings("div", 1, 1);
    settings.samples_per_pair = 40;
    settings.epochs = 3;
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
