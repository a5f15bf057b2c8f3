//! Random small tapes over the whole op set: the f32 evaluation (values and gradients) must
//! agree with the f64 reference within the reference's own rounding bound.

#![no_main]

use engine::fuzzing::{Bytes, check_case, random_case};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(case) = random_case(&mut Bytes::new(data))
        && let Err(message) = check_case(&case)
    {
        panic!("{message}");
    }
});
