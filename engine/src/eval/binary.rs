//! Elementwise functions of two tensors ([`BinaryOp`](crate::tape::BinaryOp)), each operand
//! batched, a shared row, or unbatched and broadcast (`operand.rs`): the values, and each
//! operand's gradient added into its own rows, its shared row, or summed over the batch.

use wide::f32x8;

use super::operand::{OneRow, Operand, OwnRows, Row, Scalar, Splats, flat_index, with_operand};
use super::{
    BackwardStep, Bwd, ForwardStep, Fwd, Seen, batch_sum, lanes, lanes_mut, vectors, write_row,
};
use crate::Real;
use crate::layout::{Layout, Loc, pick, pick_mut, with_param};
use crate::ops::BinaryKernel;
use crate::simd::vector::Vector;
use crate::simd::width::Width;

pub(super) fn forward<W: Width, K: BinaryKernel>(
    k: K,
    a: Loc,
    b: Loc,
    out: Loc,
    chunks: usize,
) -> ForwardStep {
    if !out.batched {
        return with_param!(a, PA => with_param!(b, PB => forward_flat::<K, PA, PB>(k, a, b, out)));
    }
    with_operand!(a, out.features, a => with_operand!(b, out.features, b => forward_rows::<W, _, _, _>(k, a, b, out, chunks)))
}

fn forward_flat<K: BinaryKernel, const PA: bool, const PB: bool>(
    k: K,
    a: Loc,
    b: Loc,
    out: Loc,
) -> ForwardStep {
    Box::new(move |arenas: &mut Fwd| {
        let (src, dst) = arenas.flat.split_at_mut(out.offset);
        let (av, bv) = (
            pick::<PA>(src, arenas.params),
            pick::<PB>(src, arenas.params),
        );
        for (f, y) in dst[..out.features].iter_mut().enumerate() {
            *y = k.value(av[flat_index(a, f)], bv[flat_index(b, f)]);
        }
    })
}

fn forward_rows<W: Width, K: BinaryKernel, A: Operand, B: Operand>(
    k: K,
    a: A,
    b: B,
    out: Loc,
    chunks: usize,
) -> ForwardStep {
    let (offset, chunks) = (vectors::<W::V>(out.offset), vectors::<W::V>(chunks));
    Box::new(move |arenas: &mut Fwd| {
        W::run(
            #[inline(always)]
            || {
                let (src, dst) = lanes_mut::<W::V>(arenas.rows).split_at_mut(offset);
                let (flat, params) = (&*arenas.flat, arenas.params);
                for f in 0..out.features {
                    let (a, b) = (
                        a.row(src, flat, params, f, chunks),
                        b.row(src, flat, params, f, chunks),
                    );
                    let y = &mut dst[f * chunks..][..chunks];
                    for c in 0..chunks {
                        y[c] = k.value(a.at(c), b.at(c));
                    }
                }
            },
        )
    })
}

/// A binary op's gradient with respect to one of its inputs, given both operands, the
/// output, a companion tensor (the output, or the op's saved auxiliary values) and the
/// upstream gradient.
pub(super) trait Partial: Copy + Send + Sync + 'static {
    fn grad<L: Real>(self, a: L, b: L, out: L, companion: L, g: L) -> L;
}

#[derive(Clone, Copy)]
pub(super) struct SideA<K>(pub K);

#[derive(Clone, Copy)]
pub(super) struct SideB<K>(pub K);

impl<K: BinaryKernel> Partial for SideA<K> {
    #[inline(always)]
    fn grad<L: Real>(self, a: L, b: L, out: L, _companion: L, g: L) -> L {
        self.0.grad_a(a, b, out, g)
    }
}

impl<K: BinaryKernel> Partial for SideB<K> {
    #[inline(always)]
    fn grad<L: Real>(self, a: L, b: L, out: L, _companion: L, g: L) -> L {
        self.0.grad_b(a, b, out, g)
    }
}

/// Where the gradient of one operand of a batched op accumulates, by the operand's kind:
/// its own rows, its single row, or (unbatched) sums over the real samples.
trait Target: Copy + Send + Sync + 'static {
    /// Adds the lanes into feature `f`'s gradient, or stores them (`store`, own rows only).
    #[allow(clippy::too_many_arguments)]
    fn add<V: Vector>(
        self,
        rows: &mut [V],
        flat: &mut [f32],
        params: &mut [f32],
        f: usize,
        chunks: usize,
        mask: &[f32x8],
        store: bool,
        lane: impl Fn(usize) -> V,
    );
}

impl Target for OwnRows {
    #[inline(always)]
    fn add<V: Vector>(
        self,
        rows: &mut [V],
        _: &mut [f32],
        _: &mut [f32],
        f: usize,
        chunks: usize,
        _: &[f32x8],
        store: bool,
        lane: impl Fn(usize) -> V,
    ) {
        write_row(
            &mut rows[vectors::<V>(self.0) + f * chunks..][..chunks],
            store,
            lane,
        )
    }
}

impl Target for OneRow {
    #[inline(always)]
    fn add<V: Vector>(
        self,
        rows: &mut [V],
        _: &mut [f32],
        _: &mut [f32],
        _f: usize,
        chunks: usize,
        _: &[f32x8],
        _: bool,
        lane: impl Fn(usize) -> V,
    ) {
        write_row(&mut rows[vectors::<V>(self.0)..][..chunks], false, lane)
    }
}

impl Target for Splats {
    #[inline(always)]
    fn add<V: Vector>(
        self,
        _: &mut [V],
        flat: &mut [f32],
        params: &mut [f32],
        f: usize,
        _: usize,
        mask: &[f32x8],
        _: bool,
        lane: impl Fn(usize) -> V,
    ) {
        *self.0.slot(flat, params, f) += batch_sum(mask, lane);
    }
}

impl Target for Scalar {
    #[inline(always)]
    fn add<V: Vector>(
        self,
        _: &mut [V],
        flat: &mut [f32],
        params: &mut [f32],
        _f: usize,
        _: usize,
        mask: &[f32x8],
        _: bool,
        lane: impl Fn(usize) -> V,
    ) {
        *self.0.slot(flat, params, 0) += batch_sum(mask, lane);
    }
}

/// The backward step of a binary op for the input at `target` (which is `a` or `b`).
#[allow(clippy::too_many_arguments)]
pub(super) fn backward<W: Width, P: Partial>(
    p: P,
    a: Loc,
    b: Loc,
    out: Loc,
    companion: Loc,
    target: Loc,
    layout: &Layout,
    store: bool,
) -> BackwardStep {
    let chunks = layout.chunks;
    if !out.batched {
        return with_param!(a, PA => with_param!(b, PB => with_param!(target, PT =>
            backward_flat::<P, PA, PB, PT>(p, a, b, out, companion, target)
        )));
    }
    let mask = layout.lane_mask.clone();
    let features = out.features;
    with_operand!(a, features, a_kind => with_operand!(b, features, b_kind => {
        if target == a {
            backward_rows::<W, _, _, _, _>(p, a_kind, b_kind, a_kind, out, companion, chunks, mask, store)
        } else {
            backward_rows::<W, _, _, _, _>(p, a_kind, b_kind, b_kind, out, companion, chunks, mask, store)
        }
    }))
}

/// [`backward`] on unbatched tensors, with whether each operand and the target is a
/// parameter settled at compile time.
fn backward_flat<P: Partial, const PA: bool, const PB: bool, const PT: bool>(
    p: P,
    a: Loc,
    b: Loc,
    out: Loc,
    companion: Loc,
    target: Loc,
) -> BackwardStep {
    Box::new(move |seen: &Seen, grads: &mut Bwd| {
        let (before, own) = grads.flat.split_at_mut(out.offset);
        let t = pick_mut::<PT>(before, grads.params);
        let (av, bv, vflat) = (
            pick::<PA>(seen.flat, seen.params),
            pick::<PB>(seen.flat, seen.params),
            seen.flat,
        );
        for (f, &g) in own[..out.features].iter().enumerate() {
            let (x, y) = (av[flat_index(a, f)], bv[flat_index(b, f)]);
            let contribution = p.grad(x, y, vflat[out.offset + f], vflat[companion.offset + f], g);
            t[flat_index(target, f)] += contribution;
        }
    })
}

#[allow(clippy::too_many_arguments)]
fn backward_rows<W: Width, P: Partial, A: Operand, B: Operand, T: Operand + Target>(
    p: P,
    a: A,
    b: B,
    target: T,
    out: Loc,
    companion: Loc,
    chunks: usize,
    mask: Vec<f32x8>,
    store: bool,
) -> BackwardStep {
    let (chunks, features) = (vectors::<W::V>(chunks), out.features);
    let (out, companion) = (
        vectors::<W::V>(out.offset),
        vectors::<W::V>(companion.offset),
    );
    Box::new(move |seen: &Seen, grads: &mut Bwd| {
        W::run(
            #[inline(always)]
            || {
                let (before, own) = lanes_mut::<W::V>(grads.rows).split_at_mut(out);
                let (vrows, vflat, vparams) = (lanes::<W::V>(seen.rows), seen.flat, seen.params);
                for f in 0..features {
                    let (a, b) = (
                        a.row(vrows, vflat, vparams, f, chunks),
                        b.row(vrows, vflat, vparams, f, chunks),
                    );
                    let y = &vrows[out + f * chunks..][..chunks];
                    let companion = &vrows[companion + f * chunks..][..chunks];
                    let g = &own[f * chunks..][..chunks];
                    target.add(
                        before,
                        grads.flat,
                        grads.params,
                        f,
                        chunks,
                        &mask,
                        store,
                        #[inline(always)]
                        |c: usize| p.grad(a.at(c), b.at(c), y[c], companion[c], g[c]),
                    );
                }
            },
        )
    })
}
