//! Powers, base^exponent and the signed sgn(base) |base|^exponent: the values with ln|base|
//! kept in the node's auxiliary slot, and the exponent's gradient from it (the base's is the
//! binary kernel's, `binary.rs`).

use wide::f32x8;

use super::binary::Partial;
use super::operand::{Operand, Row, flat_index, with_operand};
use super::{ForwardStep, Fwd, lanes_mut, vectors};
use crate::Real;
use crate::layout::Loc;
use crate::simd::vector::Vector;
use crate::simd::width::Width;

/// base^exponent, or when `SIGNED` sgn(base) |base|^exponent, keeping ln|base| (ln(base)
/// when unsigned) in the node's auxiliary slot for the backward pass.
pub(super) fn forward<W: Width, const SIGNED: bool>(
    a: Loc,
    b: Loc,
    out: Loc,
    chunks: usize,
) -> ForwardStep {
    if !out.batched {
        return Box::new(move |arenas: &mut Fwd| {
            let (src, dst) = arenas.flat.split_at_mut(out.offset);
            let (av, bv) = (a.source(src, arenas.params), b.source(src, arenas.params));
            let (y, logs) = dst.split_at_mut(out.features);
            for f in 0..out.features {
                let (base, exponent) = (
                    f32x8::splat(av[flat_index(a, f)]),
                    f32x8::splat(bv[flat_index(b, f)]),
                );
                let (value, log) = if SIGNED {
                    let (power, log) = crate::math::pow_and_ln(base.abs(), exponent);
                    (base.sgn() * power, log)
                } else {
                    crate::math::pow_and_ln(base, exponent)
                };
                (y[f], logs[f]) = (value.to_array()[0], log.to_array()[0]);
            }
        });
    }
    with_operand!(a, out.features, a => with_operand!(b, out.features, b => rows::<W, _, _, SIGNED>(a, b, out, chunks)))
}

/// The rows of [`forward`]; a signed power takes the powers of |base| and multiplies each row
/// by sgn(base) once it is done.
fn rows<W: Width, A: Operand, B: Operand, const SIGNED: bool>(
    a: A,
    b: B,
    out: Loc,
    chunks: usize,
) -> ForwardStep {
    let (offset, len) = (
        vectors::<W::V>(out.offset),
        vectors::<W::V>(out.len(chunks)),
    );
    let chunks = vectors::<W::V>(chunks);
    Box::new(move |arenas: &mut Fwd| {
        W::run(
            #[inline(always)]
            || {
                let (src, dst) = lanes_mut::<W::V>(arenas.rows).split_at_mut(offset);
                let (flat, params) = (&*arenas.flat, arenas.params);
                let (y, logs) = dst.split_at_mut(len);
                for f in 0..out.features {
                    let uniform = b.uniform(flat, params, f);
                    let (a, b) = (
                        a.row(src, flat, params, f, chunks),
                        b.row(src, flat, params, f, chunks),
                    );
                    let (y, logs) = (
                        &mut y[f * chunks..][..chunks],
                        &mut logs[f * chunks..][..chunks],
                    );
                    row::<W::V, SIGNED>(a, b, uniform, y, logs);
                }
            },
        )
    })
}

/// One row of [`rows`].
#[inline(always)]
fn row<V: Vector, const SIGNED: bool>(
    a: impl Row<V>,
    b: impl Row<V>,
    uniform: Option<f32>,
    y: &mut [V],
    logs: &mut [V],
) {
    let chunks = y.len();
    // |base| for a signed power
    #[inline(always)]
    fn base<V: Vector, const SIGNED: bool>(a: impl Row<V>, c: usize) -> V {
        if SIGNED {
            Vector::abs(a.at(c))
        } else {
            a.at(c)
        }
    }
    // an unbatched exponent (a weight broadcast over the batch) is settled per row
    if let Some(exponent) = uniform {
        crate::math::pow_and_ln_row(
            #[inline(always)]
            |c| base::<V, SIGNED>(a, c),
            exponent,
            y,
            logs,
        );
    } else {
        // two vectors at a time: pow is latency-bound, interleaving doubles throughput
        let mut c = 0;
        while c + 2 <= chunks {
            let [p0, p1] = crate::math::pow_and_ln_pair(
                [base::<V, SIGNED>(a, c), base::<V, SIGNED>(a, c + 1)],
                [b.at(c), b.at(c + 1)],
            );
            (y[c], logs[c]) = p0;
            (y[c + 1], logs[c + 1]) = p1;
            c += 2;
        }
        if c < chunks {
            (y[c], logs[c]) = crate::math::pow_and_ln(base::<V, SIGNED>(a, c), b.at(c));
        }
    }
    if SIGNED {
        for (c, y) in y.iter_mut().enumerate() {
            *y = a.at(c).sgn() * *y;
        }
    }
}

/// The exponent's gradient of pow and signed pow from the saved ln|base|: 0 where base == 0
/// and e >= 0, else g * (out * ln|base|).
#[derive(Clone, Copy)]
pub(super) struct Exponent;

impl Partial for Exponent {
    #[inline(always)]
    fn grad<L: Real>(self, a: L, b: L, out: L, log: L, g: L) -> L {
        L::select(
            a.equal(L::zero()) & b.ge(L::zero()),
            L::zero(),
            g * (out * log),
        )
    }
}
