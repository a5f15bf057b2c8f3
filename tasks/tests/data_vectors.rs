//! The test vectors of `tasks/docs/single-module-study.md` 2.2-2.4: the random streams,
//! per-seed constants and data rows equal the reference's bit for bit.

use tasks::data::{Distribution, Mt19937, Normal, Operation, Range, TaskData, TaskSpec};

fn spec(input_size: usize, interpolation: &str, extrapolation: &str) -> TaskSpec {
    TaskSpec {
        input_size,
        subset_ratio: if input_size == 10 { 0.1 } else { 0.5 },
        overlap_ratio: 0.0,
        num_subsets: 2,
        operation: Operation::Div,
        interpolation: interpolation.parse().unwrap(),
        extrapolation: extrapolation.parse().unwrap(),
        distribution: Distribution::Uniform,
    }
}

/// Row `s` of a data set as f32 inputs and target.
fn row(set: &tasks::data::DataSet, s: usize) -> (Vec<f32>, f32) {
    (
        (0..set.features).map(|i| set.feature(i)[s]).collect(),
        set.t[s],
    )
}

#[test]
fn mt19937_check_value() {
    assert_eq!(Mt19937::new(0).next_double(), 0.548_813_503_927_324_8);
}

#[test]
fn per_seed_constants() {
    // (seed, training-stream seed for n = 1 or 2, operand a index for n = 10, training-stream
    // seed for n = 10)
    let table: [(u32, u32, usize, u32); 25] = [
        (0, 2357136044, 5, 3626093760),
        (1, 1791095845, 5, 4282876139),
        (2, 1872583848, 8, 794921487),
        (3, 2365658986, 8, 3041471737),
        (4, 4153361530, 7, 741720773),
        (5, 953453411, 3, 236996814),
        (6, 3834805130, 3, 899393492),
        (7, 327741615, 4, 3349725721),
        (8, 3751350723, 3, 47736148),
        (9, 44556670, 5, 2129330102),
        (10, 3312796937, 4, 2124247567),
        (11, 774252441, 0, 2854952027),
        (12, 662124363, 6, 3751169277),
        (13, 3340206418, 2, 2608511152),
        (14, 2207369835, 8, 3320718604),
        (15, 3645644232, 8, 3494301429),
        (16, 959027881, 5, 2365244737),
        (17, 1265576559, 1, 2278852751),
        (18, 2793336106, 3, 2170905720),
        (19, 418903645, 5, 1772717410),
        (20, 2526002531, 3, 3811404250),
        (21, 209271753, 8, 2919899908),
        (22, 895331189, 5, 3014908036),
        (23, 2221777491, 3, 2873750246),
        (24, 4123242914, 2, 1264583555),
    ];
    let two = spec(2, "[1,2]", "[2,6]");
    let ten = spec(10, "[1,2]", "[2,6]");
    for (seed, stream2, a_index, stream10) in table {
        let data2 = TaskData::new(&two, seed).unwrap();
        assert_eq!(data2.train_seed, stream2, "seed {seed}, n = 2");
        assert_eq!(data2.subsets, vec![0..1, 1..2]);
        let data10 = TaskData::new(&ten, seed).unwrap();
        assert_eq!(data10.train_seed, stream10, "seed {seed}, n = 10");
        assert_eq!(
            data10.subsets,
            vec![a_index..a_index + 1, a_index + 1..a_index + 2],
            "seed {seed}"
        );
    }
}

fn assert_row(got: (Vec<f32>, f32), inputs: &[f64], target: Option<f64>) {
    let want: Vec<f32> = inputs.iter().map(|&v| v as f32).collect();
    assert_eq!(got.0, want);
    if let Some(t) = target {
        assert_eq!(got.1, t as f32);
    }
}

#[test]
fn validation_and_test_rows() {
    let data = TaskData::new(&spec(2, "[1,2]", "[[-6,-2],[2,6]]"), 0).unwrap();
    assert_row(
        row(&data.validation, 0),
        &[1.918094871979068, 1.8816526295251337],
        Some(1.019367146667837),
    );
    assert_row(
        row(&data.validation, 1),
        &[1.9913438312197442, 1.2103062139247398],
        Some(1.6453223228213314),
    );
    assert_row(
        row(&data.test, 0),
        &[-3.8669543210126047, -4.7357949308411085],
        Some(0.8165375354050239),
    );
    assert_row(
        row(&data.test, 1),
        &[-4.121143868782045, 5.085486118268301],
        Some(-0.8103736344845964),
    );
}

#[test]
fn training_batches_of_seed_zero() {
    let mut data = TaskData::new(&spec(2, "[1,2]", "[2,6]"), 0).unwrap();
    let (mut x, mut t) = (vec![0.0f32; 256], vec![0.0f32; 128]);
    data.next_batch(128, &mut x, &mut t);
    assert_eq!(
        (x[0], x[128], t[0]),
        (
            1.7941599628500475f64 as f32,
            1.1598246241442087f64 as f32,
            1.54692349645007f64 as f32
        )
    );
    assert_eq!(
        (x[1], x[129]),
        (1.3907872651020725f64 as f32, 1.9364851526484008f64 as f32)
    );
    data.next_batch(128, &mut x, &mut t);
    assert_eq!(
        (x[0], x[128]),
        (1.5181760618827103f64 as f32, 1.2513370206206185f64 as f32)
    );
}

#[test]
fn input_size_ten_row_and_operands() {
    let data = TaskData::new(&spec(10, "[1,2]", "[2,6]"), 0).unwrap();
    let inputs = [
        1.918094871979068,
        1.8816526295251337,
        1.9913438312197442,
        1.2103062139247398,
        1.0562500476149705,
        1.4450646171445978,
        1.013881775268801,
        1.2219798686769363,
        1.3355384090362359,
        1.9590887937282595,
    ];
    // seed 0: a = x5, b = x6
    assert_row(row(&data.validation, 0), &inputs, Some(1.4252792114361472));
}

#[test]
fn split_range_row() {
    let data = TaskData::new(&spec(2, "[[-2,-0.1],[0.1,2],[]]", "[[-6,-2],[2,6],[]]"), 0).unwrap();
    assert_row(
        row(&data.validation, 0),
        &[-0.2556197432397709, 0.19652034444652247],
        Some(-1.3007291634853138),
    );
}

#[test]
fn truncated_normal_row() {
    let mut s = spec(2, "[-5,10]", "[-15,-5]");
    s.distribution = Distribution::TruncatedNormal {
        interpolation: Normal {
            mean: -1.0,
            std: 3.0,
        },
        extrapolation: Normal {
            mean: -10.0,
            std: 3.0,
        },
    };
    let data = TaskData::new(&s, 0).unwrap();
    assert_row(
        row(&data.validation, 0),
        &[3.3282114615845604, 2.717188936016046],
        None,
    );
}

#[test]
fn benford_rows() {
    let mut s = spec(2, "[10,100]", "[100,1000]");
    s.distribution = Distribution::Benford;
    let data = TaskData::new(&s, 0).unwrap();
    assert_row(row(&data.validation, 0), &[85.0, 73.0], None);
    assert_row(row(&data.test, 0), &[374.0, 232.0], None);
    // the digit after the leading one is never 0, and values stay in range
    for &v in data.validation.x.iter() {
        assert!((11.0..100.0).contains(&v) && v % 10.0 != 0.0, "{v}");
    }
}

#[test]
fn division_by_small_easy_row() {
    let s = TaskSpec {
        input_size: 1,
        subset_ratio: 1.0,
        overlap_ratio: 0.0,
        num_subsets: 1,
        operation: Operation::Reciprocal,
        interpolation: "[0,1e-4]".parse().unwrap(),
        extrapolation: "[0,1e-4]".parse().unwrap(),
        distribution: Distribution::Uniform,
    };
    let data = TaskData::new(&s, 0).unwrap();
    assert_row(
        row(&data.test, 0),
        &[5.332614197468488e-05],
        Some(18752.52855296981),
    );
}

#[test]
fn bad_tasks_are_rejected_with_the_setting_named() {
    let mut s = spec(2, "[1,2]", "[2,6]");
    s.subset_ratio = 0.1;
    assert!(
        TaskData::new(&s, 0)
            .unwrap_err()
            .to_string()
            .contains("--subset-ratio")
    );
    let mut s = spec(3, "[1,2]", "[2,6]");
    s.subset_ratio = 0.7;
    assert!(
        TaskData::new(&s, 0)
            .unwrap_err()
            .to_string()
            .contains("need 4 inputs")
    );
    let mut s = spec(2, "[1,2]", "[2,6]");
    s.num_subsets = 1;
    assert!(
        TaskData::new(&s, 0)
            .unwrap_err()
            .to_string()
            .contains("--num-subsets")
    );
    assert!("[2,1]".parse::<Range>().is_err());
}
