//! The single module task's data: operand selection, targets, the per-seed training stream
//! and the fixed validation and test sets (`tasks/docs/single-module-study.md` 1-2).

use std::ops::Range as Span;
use std::sync::Arc;

use wide::f32x8;

use super::distribution::{Distribution, Phase, Sampler};
use super::mt19937::Mt19937;
use super::range::Range;

/// Seed of the validation (interpolation) set, the same for every run.
pub const VALIDATION_SEED: u32 = 43_953_907;
/// Seed of the test (extrapolation) set, the same for every run.
pub const TEST_SEED: u32 = 8_689_336;
/// Samples in the validation and in the test set.
pub const EVALUATION_SAMPLES: usize = 10_000;

/// The arithmetic operation whose result the unit must learn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// Sum of all operands.
    Add,
    /// a - b.
    Sub,
    /// Product of all operands.
    Mul,
    /// a / b.
    Div,
    /// 1 / a (other operands ignored).
    Reciprocal,
    /// a * a.
    Squared,
    /// sqrt(a).
    Root,
}

modules::named_enum!(Operation {
    Add = "add",
    Sub = "sub",
    Mul = "mul",
    Div = "div",
    Reciprocal = "reciprocal",
    Squared = "squared",
    Root = "root",
});

impl Operation {
    /// The target from the operands, in f64.
    pub fn apply(self, operands: &[f64]) -> f64 {
        self.target(&Sums(&[]), operands, operands.len())
    }

    /// The target of one sample, operand k read by `operands` from `row`.
    #[inline(always)]
    fn target(self, operands: &impl Operands, row: &[f64], count: usize) -> f64 {
        let a = operands.get(row, 0);
        let b = || operands.get(row, 1);
        match self {
            Operation::Add => (0..count).map(|k| operands.get(row, k)).sum(),
            Operation::Sub => a - b(),
            Operation::Mul => (0..count).map(|k| operands.get(row, k)).product(),
            Operation::Div => a / b(),
            Operation::Reciprocal => 1.0 / a,
            Operation::Squared => a * a,
            Operation::Root => a.sqrt(),
        }
    }

    /// Each sample's target from its row of `n` inputs, formed in f64 and rounded once. The
    /// operation is chosen outside the loop so that each loop is a straight line.
    #[inline(always)]
    fn targets(
        self,
        operands: &impl Operands,
        count: usize,
        rows: &[f64],
        n: usize,
        t: &mut [f32],
    ) {
        macro_rules! each {
            ($op:expr) => {
                for (t, row) in t.iter_mut().zip(rows.chunks_exact(n)) {
                    *t = $op.target(operands, row, count) as f32;
                }
            };
        }
        match self {
            Operation::Add => each!(Operation::Add),
            Operation::Sub => each!(Operation::Sub),
            Operation::Mul => each!(Operation::Mul),
            Operation::Div => each!(Operation::Div),
            Operation::Reciprocal => each!(Operation::Reciprocal),
            Operation::Squared => each!(Operation::Squared),
            Operation::Root => each!(Operation::Root),
        }
    }

    /// How many operands the operation reads at least.
    pub fn operands(self) -> usize {
        match self {
            Operation::Reciprocal | Operation::Squared | Operation::Root => 1,
            _ => 2,
        }
    }
}

/// How operand k is read from one sample's inputs.
trait Operands {
    fn get(&self, row: &[f64], k: usize) -> f64;
}

/// Every operand is a single input (the study's tasks).
struct Singles([usize; MAX_SUBSETS]);

impl Operands for Singles {
    #[inline(always)]
    fn get(&self, row: &[f64], k: usize) -> f64 {
        row[self.0[k]]
    }
}

/// Operand k is input k.
struct Leading;

impl Operands for Leading {
    #[inline(always)]
    fn get(&self, row: &[f64], k: usize) -> f64 {
        row[k]
    }
}

/// Operands are sums over input ranges (or, with no ranges, the row itself).
struct Sums<'a>(&'a [Span<usize>]);

impl Operands for Sums<'_> {
    #[inline(always)]
    fn get(&self, row: &[f64], k: usize) -> f64 {
        match self.0.get(k) {
            Some(subset) => row[subset.clone()].iter().sum(),
            None => row.get(k).copied().unwrap_or(f64::NAN),
        }
    }
}

/// What a run learns from: the inputs, their operands, the operation, ranges and
/// distribution.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskSpec {
    pub input_size: usize,
    pub subset_ratio: f64,
    pub overlap_ratio: f64,
    pub num_subsets: usize,
    pub operation: Operation,
    pub interpolation: Range,
    pub extrapolation: Range,
    pub distribution: Distribution,
}

/// Why a task cannot be built, naming the setting.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum TaskError {
    #[error("--input-size: must be at least 1")]
    NoInputs,
    #[error("--subset-ratio: {0} gives empty subsets (floor(ratio * input size) is 0)")]
    EmptySubsets(f64),
    #[error(
        "--subset-ratio: {subsets} subsets of {size} elements (overlap {overlap}) need {needed} inputs, the input size is {input_size}"
    )]
    TooManyInputsNeeded {
        subsets: usize,
        size: usize,
        overlap: usize,
        needed: usize,
        input_size: usize,
    },
    #[error("--num-subsets: {operation} needs at least {needed} operands, got {got}")]
    TooFewOperands {
        operation: &'static str,
        needed: usize,
        got: usize,
    },
    #[error("--overlap-ratio: must be in [0, 1), got {0}")]
    BadOverlap(f64),
    #[error("--subset-ratio: must be in (0, 1], a fraction of the input size, got {0}")]
    BadSubsetRatio(f64),
    #[error("--num-subsets: at most {MAX_SUBSETS} subsets, got {0}")]
    TooManySubsets(usize),
}

/// The most operand subsets a task may have.
pub const MAX_SUBSETS: usize = 8;

impl TaskSpec {
    /// The operand subsets before the seed's shift: subset 0 is [0, s), each next starts
    /// `o` before the previous one ends, with s = floor(ratio n) and o = floor(overlap s).
    pub fn subsets(&self) -> Result<Vec<Span<usize>>, TaskError> {
        if self.input_size == 0 {
            return Err(TaskError::NoInputs);
        }
        if !(0.0..1.0).contains(&self.overlap_ratio) {
            return Err(TaskError::BadOverlap(self.overlap_ratio));
        }
        if !(self.subset_ratio > 0.0 && self.subset_ratio <= 1.0) {
            return Err(TaskError::BadSubsetRatio(self.subset_ratio));
        }
        if self.num_subsets > MAX_SUBSETS {
            return Err(TaskError::TooManySubsets(self.num_subsets));
        }
        if self.num_subsets < self.operation.operands() {
            return Err(TaskError::TooFewOperands {
                operation: self.operation.name(),
                needed: self.operation.operands(),
                got: self.num_subsets,
            });
        }
        let size = (self.subset_ratio * self.input_size as f64).floor() as usize;
        if size == 0 {
            return Err(TaskError::EmptySubsets(self.subset_ratio));
        }
        let overlap = (self.overlap_ratio * size as f64).floor() as usize;
        let mut subsets: Vec<Span<usize>> = Vec::with_capacity(self.num_subsets);
        for k in 0..self.num_subsets {
            let start = if k == 0 {
                0
            } else {
                subsets[k - 1].end - overlap
            };
            subsets.push(start..start + size);
        }
        let needed = subsets.last().expect("one subset").end;
        if needed > self.input_size {
            return Err(TaskError::TooManyInputsNeeded {
                subsets: self.num_subsets,
                size,
                overlap,
                needed,
                input_size: self.input_size,
            });
        }
        Ok(subsets)
    }
}

/// A fixed data set: inputs feature-major (`x[i * count + s]`) and targets, both rounded to
/// f32 once from the f64 values.
#[derive(Clone, Debug, PartialEq)]
pub struct DataSet {
    pub count: usize,
    pub features: usize,
    pub x: Vec<f32>,
    pub t: Vec<f32>,
}

impl DataSet {
    /// Feature `i` of every sample.
    pub fn feature(&self, i: usize) -> &[f32] {
        &self.x[i * self.count..(i + 1) * self.count]
    }
}

/// One run's data: the operand positions and training stream fixed by the seed, and the
/// validation and test sets.
#[derive(Clone, Debug)]
pub struct TaskData {
    pub spec: TaskSpec,
    /// Operand subsets after the seed's shift.
    pub subsets: Vec<Span<usize>>,
    /// The seed of the training stream (drawn from the run seed).
    pub train_seed: u32,
    train: Mt19937,
    sampler: Sampler,
    rows: Vec<f64>,
    /// The evaluation sets, shared by the clones (runs on the same data hold one copy).
    pub validation: Arc<DataSet>,
    pub test: Arc<DataSet>,
    seed: u32,
}

impl TaskData {
    /// The data of run `seed`: the parent generator draws the operand shift (when there is
    /// room for one) and then the training stream's seed.
    pub fn new(spec: &TaskSpec, seed: u32) -> Result<TaskData, TaskError> {
        let unshifted = spec.subsets()?;
        let mut parent = Mt19937::new(seed);
        let room = spec.input_size - unshifted.last().expect("one subset").end;
        let shift = parent.bounded(room as u32) as usize;
        let subsets: Vec<Span<usize>> = unshifted
            .iter()
            .map(|s| s.start + shift..s.end + shift)
            .collect();
        let train_seed = parent.bounded(u32::MAX - 1);
        let mut sampler = Sampler::default();
        let mut set = |seed, range: &Range, phase| {
            generate(
                spec,
                &subsets,
                &mut sampler,
                &mut Mt19937::new(seed),
                range,
                phase,
                EVALUATION_SAMPLES,
            )
        };
        let validation = set(VALIDATION_SEED, &spec.interpolation, Phase::Interpolation);
        let test = set(TEST_SEED, &spec.extrapolation, Phase::Extrapolation);
        Ok(TaskData {
            spec: spec.clone(),
            subsets,
            train_seed,
            train: Mt19937::new(train_seed),
            sampler,
            rows: Vec::new(),
            validation: Arc::new(validation),
            test: Arc::new(test),
            seed,
        })
    }

    /// The run seed the data was drawn for.
    pub fn seed(&self) -> u32 {
        self.seed
    }

    /// Draws the next training batch of `count` samples into `x` (feature-major,
    /// `x[i * count + s]`) and `t`. Allocates nothing after the first call.
    pub fn next_batch(&mut self, count: usize, x: &mut [f32], t: &mut [f32]) {
        let n = self.spec.input_size;
        self.rows.resize(count * n, 0.0);
        self.sampler.sample(
            &mut self.train,
            &self.spec.interpolation,
            &self.spec.distribution,
            Phase::Interpolation,
            n,
            &mut self.rows,
        );
        write_samples(&self.spec, &self.subsets, &self.rows, count, x, t);
    }
}

/// Draws `count` samples from `range` and forms their targets.
fn generate(
    spec: &TaskSpec,
    subsets: &[Span<usize>],
    sampler: &mut Sampler,
    rng: &mut Mt19937,
    range: &Range,
    phase: Phase,
    count: usize,
) -> DataSet {
    let n = spec.input_size;
    let mut rows = vec![0.0; count * n];
    sampler.sample(rng, range, &spec.distribution, phase, n, &mut rows);
    let mut set = DataSet {
        count,
        features: n,
        x: vec![0.0; count * n],
        t: vec![0.0; count],
    };
    write_samples(spec, subsets, &rows, count, &mut set.x, &mut set.t);
    set
}

/// Transposes sample-major f64 rows into feature-major f32 inputs, and forms each target in
/// f64 from the f64 inputs before rounding it once.
fn write_samples(
    spec: &TaskSpec,
    subsets: &[Span<usize>],
    rows: &[f64],
    count: usize,
    x: &mut [f32],
    t: &mut [f32],
) {
    let n = spec.input_size;
    assert!(
        x.len() >= count * n && t.len() >= count,
        "batch buffers too small"
    );
    let rows = &rows[..count * n];
    let t = &mut t[..count];
    let operation = spec.operation;
    let singles = subsets.iter().all(|s| s.len() == 1);
    // Two inputs that are the operands, in order (every input-size-2 task): with the row
    // width known, the compiler turns both passes into vector code.
    if n == 2 && singles && subsets.iter().map(|s| s.start).eq(0..subsets.len()) {
        let (x0, x1) = x.split_at_mut(count);
        for ((row, a), b) in rows.chunks_exact(2).zip(x0).zip(&mut x1[..count]) {
            *a = row[0] as f32;
            *b = row[1] as f32;
        }
        operation.targets(&Leading, subsets.len(), rows, 2, t);
        return;
    }
    transpose(rows, n, count, x);
    if singles {
        let mut at = [0; MAX_SUBSETS];
        for (a, s) in at.iter_mut().zip(subsets) {
            *a = s.start;
        }
        operation.targets(&Singles(at), subsets.len(), rows, n, t);
    } else {
        operation.targets(&Sums(subsets), subsets.len(), rows, n, t);
    }
}

/// Eight f64 values rounded to f32 by two vector conversions (element by element, the
/// compiler converts one scalar at a time).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn round8(v: &[f64; 8]) -> f32x8 {
    use safe_arch::{convert_to_m128_from_m256d, m256d, set_m128_m256};
    let low = convert_to_m128_from_m256d(m256d::from([v[0], v[1], v[2], v[3]]));
    let high = convert_to_m128_from_m256d(m256d::from([v[4], v[5], v[6], v[7]]));
    f32x8::from(set_m128_m256(high, low).to_array())
}

/// Eight f64 values rounded to f32, element by element (the same roundings).
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn round8(v: &[f64; 8]) -> f32x8 {
    f32x8::from(v.map(|x| x as f32))
}

/// Sample-major f64 rows of width `n` to feature-major f32 rows. With eight or more
/// features, eight samples at a time: each sample's eight values of a feature group are
/// rounded with vector conversions straight from the f64 rows, then an 8 x 8 transpose
/// turns them into eight features' lanes; the last group overlaps the previous one when n
/// is not a multiple of 8 (rewriting a few values with themselves). Widths up to 16 get
/// their own copy with the width known, which leaves no bounds checks in the loop.
#[inline(always)]
fn transpose(rows: &[f64], n: usize, count: usize, x: &mut [f32]) {
    macro_rules! fixed {
        ($($width:literal)*) => {
            match n {
                $($width => transpose_blocks::<$width>(rows, count, x),)*
                _ => transpose_blocks::<0>(rows, count, x),
            }
        };
    }
    let done = fixed!(8 9 10 11 12 13 14 15 16);
    // samples after the last whole block, and rows narrower than eight
    for s in done..count {
        for (i, &v) in rows[s * n..(s + 1) * n].iter().enumerate() {
            x[i * count + s] = v as f32;
        }
    }
}

/// The blocks of [`transpose`] for rows of width `N` (0: any width of at least 8, read from
/// the row length); returns the samples done: all of them, or none for rows narrower than 8
/// or a count that is not a multiple of 8.
#[inline(always)]
fn transpose_blocks<const N: usize>(rows: &[f64], count: usize, x: &mut [f32]) -> usize {
    let n = if N == 0 { rows.len() / count.max(1) } else { N };
    // feature rows start at multiples of eight only when the count is one
    if n < 8 || !count.is_multiple_of(8) {
        return 0;
    }
    let blocks = count / 8;
    // feature i, samples 8b..8b+8 as one array
    let lanes: &mut [[f32; 8]] = wide::bytemuck::cast_slice_mut(&mut x[..n * count]);
    for (block, samples) in rows.chunks_exact(8 * n).take(blocks).enumerate() {
        let mut first = 0;
        loop {
            let columns = f32x8::transpose(std::array::from_fn(|j| {
                round8(
                    samples[j * n + first..][..8]
                        .try_into()
                        .expect("eight values"),
                )
            }));
            for (i, column) in columns.iter().enumerate() {
                lanes[(first + i) * blocks + block] = column.to_array();
            }
            if first + 8 == n {
                break;
            }
            first = (first + 8).min(n - 8);
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transposition_matches_the_definition() {
        for n in [1usize, 2, 3, 7, 8, 9, 10, 16, 17, 64, 65] {
            for count in [1usize, 5, 8, 13, 128] {
                let rows: Vec<f64> = (0..n * count)
                    .map(|k| k as f64 * 1.000_000_1 + 0.1)
                    .collect();
                let mut x = vec![f32::NAN; n * count];
                transpose(&rows, n, count, &mut x);
                for s in 0..count {
                    for i in 0..n {
                        assert_eq!(
                            x[i * count + s],
                            rows[s * n + i] as f32,
                            "n {n} count {count}"
                        );
                    }
                }
            }
        }
    }
}
