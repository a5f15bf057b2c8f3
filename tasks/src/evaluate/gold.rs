//! Gold solutions: the exact parameters with which a unit computes the task's formula. They
//! set the division-by-small thresholds and check the evaluation end to end.

use modules::Unit;
use modules::units::NmruVariant;

use crate::data::{Operation, TaskData};

/// The task's target as a function of single inputs, when every operand is one input.
#[derive(Clone, Debug, PartialEq)]
pub enum Formula {
    /// prod_i x_i^e_i.
    Power(Vec<f32>),
    /// sum_i c_i x_i.
    Linear(Vec<f32>),
}

impl Formula {
    /// The formula of `data`'s operation over its (shifted) operand positions, if every
    /// operand is a single input and the operation is a power product or a signed sum.
    pub fn of(data: &TaskData) -> Option<Formula> {
        let n = data.spec.input_size;
        let index: Vec<usize> = data
            .subsets
            .iter()
            .map(|s| (s.len() == 1).then_some(s.start))
            .collect::<Option<_>>()?;
        let mut e = vec![0.0f32; n];
        let mut put = |k: usize, v: f32| e[index[k]] += v;
        let power = match data.spec.operation {
            Operation::Div => {
                put(0, 1.0);
                put(1, -1.0);
                true
            }
            Operation::Reciprocal => {
                put(0, -1.0);
                true
            }
            Operation::Mul => {
                (0..index.len()).for_each(|k| put(k, 1.0));
                true
            }
            Operation::Add => {
                (0..index.len()).for_each(|k| put(k, 1.0));
                false
            }
            Operation::Sub => {
                put(0, 1.0);
                put(1, -1.0);
                false
            }
            Operation::Squared | Operation::Root => return None,
        };
        Some(if power {
            Formula::Power(e)
        } else {
            Formula::Linear(e)
        })
    }
}

fn all_in(e: &[f32], allowed: &[f32]) -> bool {
    e.iter().all(|v| allowed.contains(v))
}

/// The flat parameter vector with which `unit` (one output) computes `formula` exactly,
/// if it can: NRU W = e; Real NPU W = e, g = [e != 0]; NPU the same with W_im = 0; NMRU
/// family W over [x, 1/x] selecting x_i for e_i = 1 and 1/x_i for e_i = -1 (gate open);
/// NMU W = e; NAU W = c.
pub fn gold_params(unit: &Unit, formula: &Formula) -> Option<Vec<f32>> {
    if unit.outputs() != 1 {
        return None;
    }
    let gate = |e: &[f32]| e.iter().map(|&v| f32::from(v != 0.0)).collect::<Vec<f32>>();
    match (unit, formula) {
        (Unit::Nru(_), Formula::Power(e)) if all_in(e, &[-1.0, 0.0, 1.0]) => Some(e.clone()),
        (Unit::RealNpu(_), Formula::Power(e)) => Some([e.clone(), gate(e)].concat()),
        (Unit::Npu(_), Formula::Power(e)) => {
            Some([e.clone(), vec![0.0; e.len()], gate(e)].concat())
        }
        (Unit::Nmru(nmru), Formula::Power(e)) if all_in(e, &[-1.0, 0.0, 1.0]) => {
            let select = |sign: f32| e.iter().map(move |&v| f32::from(v == sign));
            let mut w: Vec<f32> = select(1.0).chain(select(-1.0)).collect();
            if nmru.variant == NmruVariant::GatedSign {
                w.extend(std::iter::repeat_n(1.0, 2 * e.len()));
            }
            Some(w)
        }
        (Unit::Nmu(_), Formula::Power(e)) if all_in(e, &[0.0, 1.0]) => Some(e.clone()),
        (Unit::Nau(_), Formula::Linear(c)) if all_in(c, &[-1.0, 0.0, 1.0]) => Some(c.clone()),
        _ => None,
    }
}
