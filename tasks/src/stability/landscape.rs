//! The training loss over a line or a plane of a unit's parameters (`nalm landscape`).
//!
//! Every parameter but the one or two varied stays at a base point (by default the gold
//! solution, so the slice passes through it). The loss is the training objective at one
//! iteration's coefficients, averaged over a fixed batch of training samples of the setting,
//! on the f32 tape training uses; optionally with the norm of its gradient.

use engine::{Grads, Program, Values, backward, forward};
use modules::{Tapes, Unit};

use crate::data::TaskData;
use crate::train::Settings;
use crate::train::run::coefficients_at;

/// One varied parameter: its flat index, its name (`W[1]`) and the values it takes.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    pub index: usize,
    pub name: String,
    pub from: f32,
    pub to: f32,
    pub steps: usize,
}

/// Why a landscape cannot be evaluated.
#[derive(Debug, thiserror::Error)]
pub enum LandscapeError {
    #[error("'{0}' is not NAME[INDEX]")]
    NotAParameter(String),
    #[error("{name} has {len} elements: name one as {name}[0] to {name}[{last}]", last = len - 1)]
    WhichElement { name: String, len: usize },
    #[error("{spec}: the range {from}..{to} is empty")]
    EmptyRange { spec: String, from: f32, to: f32 },
    #[error("{unit} has no parameter '{name}' (it has {known})")]
    NoSuchParameter {
        unit: String,
        name: String,
        known: String,
    },
    #[error("the base point has {given} values, {unit} has {len} parameters")]
    BaseLength {
        given: usize,
        unit: String,
        len: usize,
    },
    #[error(transparent)]
    Settings(#[from] crate::train::SettingsError),
    #[error(transparent)]
    Data(#[from] crate::data::task::TaskError),
}

impl Axis {
    /// The `k`-th of `steps` values from `from` to `to`, both included.
    pub fn value(&self, k: usize) -> f32 {
        if self.steps < 2 {
            return self.from;
        }
        let t = k as f64 / (self.steps - 1) as f64;
        (f64::from(self.from) + t * (f64::from(self.to) - f64::from(self.from))) as f32
    }

    /// The parameter `spec` (`NAME[i]`, or `NAME` for a one-element tensor) of `unit`, to be
    /// varied from `from` to `to` in `steps` values.
    pub fn parse(
        unit: &Unit,
        spec: &str,
        from: f32,
        to: f32,
        steps: usize,
    ) -> Result<Axis, LandscapeError> {
        let (name, element) = match spec.split_once('[') {
            Some((name, rest)) => {
                let index = rest
                    .strip_suffix(']')
                    .and_then(|i| i.parse::<usize>().ok())
                    .ok_or_else(|| LandscapeError::NotAParameter(spec.to_string()))?;
                (name, Some(index))
            }
            None => (spec, None),
        };
        let mut start = 0;
        for p in unit.params() {
            if p.name == name {
                let element = match element {
                    Some(i) if i < p.len => i,
                    None if p.len == 1 => 0,
                    _ => {
                        return Err(LandscapeError::WhichElement {
                            name: p.name.to_string(),
                            len: p.len,
                        });
                    }
                };
                if !(from.is_finite() && to.is_finite() && from < to) {
                    return Err(LandscapeError::EmptyRange {
                        spec: spec.to_string(),
                        from,
                        to,
                    });
                }
                return Ok(Axis {
                    index: start + element,
                    name: format!("{}[{element}]", p.name),
                    from,
                    to,
                    steps,
                });
            }
            start += p.len;
        }
        let names: Vec<String> = unit
            .params()
            .iter()
            .map(|p| format!("{} ({} elements)", p.name, p.len))
            .collect();
        Err(LandscapeError::NoSuchParameter {
            unit: unit.name().to_string(),
            name: name.to_string(),
            known: names.join(", "),
        })
    }
}

/// The loss over a line (`y` absent) or a grid, row-major with `x` fastest.
#[derive(Clone, Debug)]
pub struct Landscape {
    pub x: Axis,
    pub y: Option<Axis>,
    pub loss: Vec<f64>,
    /// The 2-norm of the loss gradient over every parameter, when asked for.
    pub gradient_norm: Option<Vec<f64>>,
}

impl Landscape {
    /// Points per row and rows.
    pub fn shape(&self) -> (usize, usize) {
        (self.x.steps, self.y.as_ref().map_or(1, |y| y.steps))
    }
}

/// Evaluates the training loss of `settings` at `iteration` around `base` over the axes,
/// on `samples` training samples of the run seed in `settings`.
pub fn evaluate(
    settings: &Settings,
    base: &[f32],
    x: Axis,
    y: Option<Axis>,
    samples: usize,
    iteration: u64,
    gradient: bool,
) -> Result<Landscape, LandscapeError> {
    let unit = settings.unit()?;
    if base.len() != unit.param_len() {
        return Err(LandscapeError::BaseLength {
            given: base.len(),
            unit: unit.name().to_string(),
            len: unit.param_len(),
        });
    }
    let tapes = Tapes::new(&unit, &settings.objective());
    let program = Program::new(&tapes.train, samples);
    let mut values = Values::new(&program);
    let mut grads = Grads::new(&program);
    let mut data = TaskData::new(&settings.task_spec(), settings.seed)?;
    let inputs = unit.inputs();
    let (mut rows, mut t) = (vec![0.0; samples * inputs], vec![0.0; samples]);
    data.next_batch(samples, &mut rows, &mut t);
    // feature-major rows to the sample-major batch `set_batch` takes
    let x_samples: Vec<f32> = (0..samples)
        .flat_map(|s| (0..inputs).map(move |i| (s, i)))
        .map(|(s, i)| rows[i * samples + s])
        .collect();
    tapes.set_batch(&mut values, &x_samples, &t);
    tapes.set_coefficients(&mut values, &coefficients_at(settings, iteration));

    let (nx, ny) = (x.steps, y.as_ref().map_or(1, |y| y.steps));
    let mut loss = Vec::with_capacity(nx * ny);
    let mut norms = Vec::with_capacity(if gradient { nx * ny } else { 0 });
    let mut params = base.to_vec();
    for j in 0..ny {
        if let Some(y) = &y {
            params[y.index] = y.value(j);
        }
        for i in 0..nx {
            params[x.index] = x.value(i);
            forward(&params, &mut values);
            loss.push(f64::from(values.scalar(tapes.train_nodes.loss)));
            if gradient {
                backward(&params, &values, &mut grads);
                let squares: f64 = grads.params().iter().map(|&g| f64::from(g).powi(2)).sum();
                norms.push(squares.sqrt());
            }
        }
    }
    Ok(Landscape {
        x,
        y,
        loss,
        gradient_norm: gradient.then_some(norms),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::preset::Preset;

    #[test]
    fn the_nru_landscape_is_lowest_at_the_gold_solution() {
        let settings = Preset::by_name("nru").unwrap().settings(Some(2));
        let unit = settings.unit().unwrap();
        let x = Axis::parse(&unit, "W[0]", -1.0, 1.0, 21).unwrap();
        let y = Axis::parse(&unit, "W[1]", -1.0, 1.0, 21).unwrap();
        assert_eq!((x.value(0), x.value(10), x.value(20)), (-1.0, 0.0, 1.0));
        // the operands sit at positions the seed chooses; seed 0 puts a and b at 0 and 1
        let land = evaluate(&settings, &[1.0, -1.0], x, Some(y), 256, 0, true).unwrap();
        assert_eq!(land.shape(), (21, 21));
        let (best, _) = land
            .loss
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(b.1))
            .unwrap();
        // W = (1, -1) is the last column of the first row
        assert_eq!(best, 20, "{:?}", &land.loss[..21]);
        assert!(land.loss[best] < 1e-10);
        assert!(land.gradient_norm.unwrap()[best] < 1e-4);
        assert!(Axis::parse(&unit, "W[2]", 0.0, 1.0, 3).is_err());
        assert!(Axis::parse(&unit, "G[0]", 0.0, 1.0, 3).is_err());
    }
}
