//! One file per unit (the NPU file holds both the real and the complex NPU).

mod nac;
mod nalu;
mod nau;
mod nmru;
mod nmu;
mod npu;
mod nru;

pub use nac::{Nac, NacKind};
pub use nalu::Nalu;
pub use nau::{Nau, OobMode};
pub use nmru::{Nmru, NmruVariant};
pub use nmu::Nmu;
pub use npu::{Npu, NpuClip, NpuInit, NpuWReg, RealNpu};
pub use nru::{Nru, NruMode};
