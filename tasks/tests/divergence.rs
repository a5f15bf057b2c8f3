//! A run whose parameters become NaN stops, keeps what it logged, and says so.

use tasks::train::{Run, RunRecord, Settings};

#[test]
fn a_diverging_run_stops_and_keeps_its_history() {
    // an unclipped Real NPU with an absurd learning rate on data around 0
    let settings = Settings {
        layer_type: "realnpu".into(),
        operation: tasks::data::Operation::Div,
        learning_rate: 1e10,
        interpolation_range: "[-2,2]".parse().unwrap(),
        extrapolation_range: "[2,6]".parse().unwrap(),
        max_iterations: 3000,
        ..Settings::default()
    };
    let record = Run::prepare(&settings).unwrap().train(&mut |_| {});
    assert!(record.diverged);
    assert!(record.updates < 3001, "{} updates", record.updates);
    assert!(
        record
            .final_params
            .iter()
            .any(|t| t.values.iter().any(|v| v.is_nan()))
    );
    // the rows logged before the divergence are kept and scored
    assert!(!record.history.is_empty());
    assert!(record.history.iter().all(|r| r.step < record.updates));
    assert_eq!(record.verdict.chosen.step, 0);
    assert!(!record.verdict.solved);

    // NaN survives the JSON record
    let text = serde_json::to_string(&record).unwrap();
    assert!(text.contains("\"NaN\""));
    let back: RunRecord = serde_json::from_str(&text).unwrap();
    // (NaN payloads and signs are not kept)
    let bits = |r: &RunRecord| -> Vec<u32> {
        r.final_params
            .iter()
            .flat_map(|t| t.values.iter())
            .map(|v| if v.is_nan() { f32::NAN } else { *v }.to_bits())
            .collect()
    };
    assert_eq!(bits(&back), bits(&record));
    assert_eq!(back.history, record.history);
}
