//! A run whose parameters become NaN stops, keeps what it logged, and says so.

use tasks::train::{Run, RunRecord, Settings, training_key};

/// An unclipped Real NPU with an absurd learning rate on data around 0.
fn diverging() -> Settings {
    Settings {
        layer_type: "realnpu".into(),
        operation: tasks::data::Operation::Div,
        learning_rate: 1e10,
        interpolation_range: "[-2,2]".parse().unwrap(),
        extrapolation_range: "[2,6]".parse().unwrap(),
        max_iterations: 3000,
        ..Settings::default()
    }
}

#[test]
fn a_diverging_run_stops_and_keeps_its_history() {
    let settings = diverging();
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
    assert_eq!(back.first_non_finite, record.first_non_finite);
}

#[test]
fn a_diverging_run_records_where_its_first_non_finite_gradient_began() {
    let settings = Settings {
        log_interval: 100,
        ..diverging()
    };
    let record = Run::prepare(&settings).unwrap().train(&mut |_| {});
    // one health entry per logged row, the last for the updates after it
    assert_eq!(record.gradient_health.len(), record.history.len());
    let non_finite: u64 = record.gradient_health.iter().map(|h| h.non_finite).sum();
    assert!(non_finite > 0, "{:?}", record.gradient_health);
    assert!(record.gradient_health.iter().any(|h| h.norm > 0.0));
    let first = record
        .first_non_finite
        .as_ref()
        .expect("a diverged run says where its first non-finite number came from");
    assert!(first.iteration < record.updates);
    // the row of updates that holds it counts it
    let row = record
        .history
        .iter()
        .rposition(|r| r.step <= first.iteration)
        .unwrap();
    assert!(record.gradient_health[row].non_finite > 0);
    // a node of the unit's formula, with its inputs' values to replay it
    assert!(
        !first.op.is_empty() && !first.summary.is_empty(),
        "{first:?}"
    );
    assert!(
        !first.inputs.is_empty() || first.op.contains("Param"),
        "{first:?}"
    );
    assert!(!first.value.is_finite());
}

#[test]
fn a_healthy_run_records_finite_gradients_and_no_finding() {
    let settings = Settings {
        layer_type: "nru".into(),
        operation: tasks::data::Operation::Div,
        max_iterations: 2000,
        log_interval: 500,
        ..Settings::default()
    };
    let record = Run::prepare(&settings).unwrap().train(&mut |_| {});
    assert_eq!(record.gradient_health.len(), 5);
    // row 0's entry covers updates 0..500: some gradient, none non-finite
    assert!(record.gradient_health.iter().all(|h| h.non_finite == 0));
    assert!(record.gradient_health[0].norm > 0.0);
    let h = record.gradient_health[0];
    assert!(h.largest <= h.norm * (1.0 + 1e-6), "{h:?}");
    assert!(record.first_non_finite.is_none());
}

#[test]
fn the_first_non_finite_sample_replays_through_grad_audit() {
    let mut settings = tasks::train::preset::Preset::by_name("realnpu-baseline")
        .unwrap()
        .settings(Some(2));
    settings.learning_rate = 1e10;
    settings.interpolation_range = "[-2,2]".parse().unwrap();
    settings.max_iterations = 3000;
    let record = Run::prepare(&settings).unwrap().train(&mut |_| {});
    let first = record.first_non_finite.expect("the run diverges");
    let replay = first.replay.expect("a preset's run names its replay");
    let words: Vec<&str> = replay.split_whitespace().collect();
    assert_eq!(words[..2], ["nalm", "grad-audit"], "{replay}");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_nalm"))
        .args(&words[1..])
        .args(["--format", "csv"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{replay}");
    let text = String::from_utf8(output.stdout).unwrap();
    // the sample's gradient at those parameters is not finite either
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let tape = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "tape_f32")
        .unwrap();
    let values: Vec<f32> = reader
        .records()
        .map(|r| r.unwrap()[tape].parse().unwrap())
        .collect();
    assert_eq!(values.len(), 6, "{text}");
    assert!(values.iter().any(|v| !v.is_finite()), "{text}");
}

#[test]
fn a_record_relabelled_with_another_preset_name_is_the_record_of_that_run() {
    let named = |preset: &str| Settings {
        preset: Some(preset.into()),
        ..diverging()
    };
    let (a, b) = (named("realnpu-baseline"), named("realnpu-modified"));
    assert_eq!(training_key(&a), training_key(&b));
    let train = |s: &Settings| Run::prepare(s).unwrap().train(&mut |_| {});
    let (of_a, of_b) = (train(&a), train(&b));
    let json = |r: &RunRecord| serde_json::to_string(r).unwrap();
    assert_ne!(json(&of_a), json(&of_b), "the preset's name is recorded");
    let replay = |r: &RunRecord| r.first_non_finite.as_ref().unwrap().replay.clone().unwrap();
    assert!(
        replay(&of_b).contains("--preset realnpu-modified"),
        "{}",
        replay(&of_b)
    );
    assert_eq!(json(&of_a.relabelled(&b)), json(&of_b));
}
