//! The neural arithmetic logic modules of the division study, on the `engine` tape.
//!
//! Every unit of `modules/README.md` (sections 3 and 4) is a type implementing
//! [`Module`]: its parameters and initialisation, its forward pass in train and eval mode
//! (they differ for the NRU and the NMRU family), its post-step projection, its regulariser
//! dictionary and sparsity error, and a **closed-form gradient** written from the documented
//! formulas, independently of the tape. [`Unit`] selects one at run time.
//!
//! [`objective`] turns a unit into the training and evaluation tapes (loss = MSE plus
//! weighted regularisers) and evaluates the same objective's gradient in closed form;
//! [`penalty`] is the regulariser catalogue with its gradients.
//!
//! Units are credited to their authors: the NAU and NMU to Madsen and Johansen (2020), NAC
//! and NALU to Trask et al. (2018), the NPU and Real NPU to Heim et al. (2020), the NRU and
//! NMRU to Mistry, Farrahi and Hare (2022).

pub mod audit;
pub mod init;
pub mod module;
pub mod names;
pub mod objective;
pub mod penalty;
pub mod scalar;
pub mod units;

pub use module::{Jacobian, Mode, Module, ParamSpec, RegKey, RegKeys, Unit};
pub use objective::{Coefficients, ObjectiveSpec, Tapes};
pub use scalar::Scalar;
