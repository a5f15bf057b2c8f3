//! Backward steps: each node's contribution to its inputs' gradients.
//!
//! A step reads the forward values and the node's own gradient and adds into an input's
//! gradient slot, which lies before the node's slot when both share an arena.

use wide::f32x8;

use super::operand::{OneRow, Operand, OwnRows, Row, Scalar, Splats, flat_index, with_operand};
use rayon::prelude::*;

use super::{
    BackwardStep, Bwd, Dense, PARALLEL, SPLIT_PIECE, Seen, batch_sum, fill_pieces, lanes,
    lanes_mut, vectors,
};
use crate::Real;
use crate::layout::{Layout, Loc, pick, pick_mut, with_param};
use crate::ops::{BinaryKernel, UnaryKernel, with_binary_kernel, with_unary_kernel};
use crate::simd::vector::Vector;
use crate::simd::width::Width;
use crate::tape::{BinaryOp, Op, Tape, UnaryOp};

/// Which gradient slots the backward pass overwrites before anything adds to them. The
/// first step to reach a batched slot, if it writes all of it, stores instead of adding,
/// and the slot needs no clearing beforehand. Claims are made in execution order.
pub(crate) struct FirstWrites {
    reached: Vec<bool>,
    /// Per node: its first writer overwrites it whole.
    pub overwritten: Vec<bool>,
}

impl FirstWrites {
    pub fn new(nodes: usize) -> FirstWrites {
        FirstWrites {
            reached: vec![false; nodes],
            overwritten: vec![false; nodes],
        }
    }

    /// Records a step writing to `node`'s gradient (all of it when `whole`) and returns
    /// whether it may store rather than add.
    fn claim(&mut self, node: usize, loc: Loc, whole: bool) -> bool {
        let store = !self.reached[node] && whole && loc.batched;
        self.reached[node] = true;
        self.overwritten[node] |= store;
        store
    }
}

/// The backward steps of node `index`, one per input that needs a gradient (none for leaves).
pub(crate) fn steps<W: Width>(
    tape: &Tape,
    index: usize,
    layout: &Layout,
    first: &mut FirstWrites,
) -> Vec<BackwardStep> {
    let node = &tape.nodes[index];
    let out = layout.locs[index];
    let input = |k: usize| layout.locs[node.inputs[k] as usize];
    let needs = |k: usize| tape.nodes[node.inputs[k] as usize].needs_grad;
    let mut claim = |k: usize, whole: bool| first.claim(node.inputs[k] as usize, input(k), whole);
    let (chunks, batch) = (layout.chunks, layout.batch);
    let mut steps: Vec<BackwardStep> = Vec::new();
    match &node.op {
        Op::Unary(op @ (UnaryOp::Sin | UnaryOp::Cos)) if out.batched => {
            let store = claim(0, true);
            steps.push(trig::<W>(*op == UnaryOp::Sin, input(0), out, chunks, store))
        }
        Op::Unary(op) => {
            let store = claim(0, true);
            with_unary_kernel!(*op, k => steps.push(unary::<W, _>(k, input(0), out, chunks, store)))
        }
        Op::Binary(op) => {
            let (a, b) = (input(0), input(1));
            // a batched operand with the output's features has rows of its own: written whole
            let own = |l: Loc| l.batched && l.features == out.features;
            if needs(0) {
                let store = claim(0, out.batched && own(a));
                steps.push(
                    with_binary_kernel!(*op, k => binary::<W, _>(SideA(k), a, b, out, out, a, layout, store)),
                );
            }
            if needs(1) {
                let store = claim(1, out.batched && own(b));
                steps.push(if matches!(op, BinaryOp::Pow | BinaryOp::SignedPow) {
                    // the exponent's gradient reads the saved ln|base| from the auxiliary slot
                    binary::<W, _>(Exponent, a, b, out, out.aux(chunks), b, layout, store)
                } else {
                    with_binary_kernel!(*op, k => binary::<W, _>(SideB(k), a, b, out, out, b, layout, store))
                });
            }
        }
        Op::SumFeatures { group } => {
            let store = claim(0, true);
            steps.push(spread::<W>(input(0), out, *group, chunks, store))
        }
        Op::ProdFeatures { group } => {
            let store = claim(0, true);
            steps.push(product::<W>(input(0), out, *group, chunks, store))
        }
        Op::MeanBatch => {
            claim(0, false);
            let (x, chunks) = (vectors::<W::V>(input(0).offset), vectors::<W::V>(chunks));
            steps.push(Box::new(move |_: &Seen, grads: &mut Bwd| {
                W::run(
                    #[inline(always)]
                    || {
                        let rows = lanes_mut::<W::V>(grads.rows);
                        for f in 0..out.features {
                            let share =
                                <W::V as Vector>::splat(grads.flat[out.offset + f] / batch as f32);
                            for v in &mut rows[x + f * chunks..][..chunks] {
                                *v += share;
                            }
                        }
                    },
                )
            }));
        }
        Op::MeanAll | Op::SumAll => {
            claim(0, false);
            let x = input(0);
            let count = if node.op == Op::MeanAll {
                x.features * if x.batched { batch } else { 1 }
            } else {
                1
            };
            let range = vectors::<W::V>(x.offset)..vectors::<W::V>(x.offset + x.len(chunks));
            steps.push(Box::new(move |_: &Seen, grads: &mut Bwd| {
                let share = grads.flat[out.offset] / count as f32;
                if x.batched {
                    W::run(
                        #[inline(always)]
                        || {
                            let share = <W::V as Vector>::splat(share);
                            for v in &mut lanes_mut::<W::V>(grads.rows)[range.clone()] {
                                *v += share;
                            }
                        },
                    )
                } else {
                    let (before, _) = grads.flat.split_at_mut(out.offset);
                    for v in &mut x.source_mut(before, grads.params)[x.range(1)] {
                        *v += share;
                    }
                }
            }));
        }
        Op::Norm2 => {
            claim(0, false);
            let x = input(0);
            let range = vectors::<W::V>(x.offset)..vectors::<W::V>(x.offset + x.len(chunks));
            steps.push(Box::new(move |seen: &Seen, grads: &mut Bwd| {
                let norm = seen.flat[out.offset];
                // PyTorch: 0 where the norm is 0
                let scale = if norm == 0.0 {
                    0.0
                } else {
                    grads.flat[out.offset] / norm
                };
                if x.batched {
                    W::run(
                        #[inline(always)]
                        || {
                            let scale = <W::V as Vector>::splat(scale);
                            let (t, x) = (
                                &mut lanes_mut::<W::V>(grads.rows)[range.clone()],
                                &lanes::<W::V>(seen.rows)[range.clone()],
                            );
                            for (t, &x) in t.iter_mut().zip(x) {
                                *t += x * scale;
                            }
                        },
                    )
                } else {
                    let (before, _) = grads.flat.split_at_mut(out.offset);
                    let t = &mut x.source_mut(before, grads.params)[x.range(1)];
                    for (t, &x) in t
                        .iter_mut()
                        .zip(&x.source(seen.flat, seen.params)[x.range(1)])
                    {
                        *t += x * scale;
                    }
                }
            }));
        }
        Op::Matmul {
            inputs,
            outputs,
            layout: w_layout,
        } => {
            let dense = Dense {
                inputs: *inputs,
                outputs: *outputs,
                layout: *w_layout,
            };
            let (x, w) = (input(0), input(1));
            let large = super::dense::is_large(&dense, out);
            if needs(0) {
                let store = claim(0, *outputs > 0);
                steps.push(if large {
                    super::dense::input_grad(dense, x, w, out, layout, store)
                } else {
                    matmul_input::<W>(dense, x, w, out, chunks, store)
                });
            }
            if needs(1) {
                claim(1, false);
                steps.push(if large {
                    super::dense::weight_grad(dense, x, w, out, layout)
                } else {
                    matmul_weight::<W>(dense, x, w, out, layout)
                });
            }
        }
        Op::Concat => {
            let mut at = 0;
            for k in 0..node.inputs.len() {
                let part = input(k);
                if needs(k) {
                    let store = claim(k, true);
                    steps.push(copy_back(part, out, at, 1, chunks, store));
                }
                at += part.len(chunks);
            }
        }
        Op::Tile { times } => {
            claim(0, false);
            steps.push(copy_back(input(0), out, 0, *times, chunks, false))
        }
        Op::Mse => {
            let (y, t) = (input(0), input(1));
            // PyTorch: grad_input = (input - target) * (2 / numel) * grad, the factor
            // formed in double precision.
            let norm = (2.0 / (y.features * if y.batched { batch } else { 1 }) as f64) as f32;
            for (side, target) in [(0, y), (1, t)] {
                if needs(side) {
                    let sign = if side == 0 { 1.0 } else { -1.0 };
                    let store = claim(side, true);
                    steps.push(mse::<W>(y, t, target, out, norm, sign, chunks, store));
                }
            }
        }
        Op::Conv2d(conv) => {
            let (x, w, bias) = (input(0), input(1), input(2));
            if needs(0) {
                let store = claim(0, true);
                steps.push(super::conv::input_grad(*conv, x, w, out, layout, store));
            }
            if needs(1) {
                claim(1, false);
                steps.push(super::conv::weight_grad(*conv, x, w, out, layout));
            }
            if needs(2) {
                claim(2, false);
                steps.push(super::conv::bias_grad(*conv, bias, out, layout));
            }
        }
        Op::MaxPool2(image) => {
            let store = claim(0, true);
            steps.push(super::pool::backward(*image, input(0), out, layout, store));
        }
        Op::Dropout { rate } => {
            let store = claim(0, true);
            steps.push(super::dropout::backward(
                index,
                *rate,
                input(0),
                out,
                layout,
                store,
            ));
        }
        Op::Softmax { group } => {
            let store = claim(0, true);
            steps.push(super::softmax::backward(
                *group,
                input(0),
                out,
                layout,
                store,
            ));
        }
        Op::Window(window) => {
            claim(0, false);
            steps.push(super::window::backward(*window, input(0), out, layout));
        }
        Op::Input | Op::Param { .. } | Op::Const { .. } => unreachable!("leaves have no backward"),
    }
    steps
}

/// Adds `lane(c)` into `row[c]`, or stores it when the step overwrites the slot.
#[inline(always)]
fn write_row<V: Vector>(row: &mut [V], store: bool, lane: impl Fn(usize) -> V) {
    if store {
        for (c, t) in row.iter_mut().enumerate() {
            *t = lane(c);
        }
    } else {
        for (c, t) in row.iter_mut().enumerate() {
            *t += lane(c);
        }
    }
}

/// sin' = cos and cos' = -sin, from the other function saved by the forward pass.
fn trig<W: Width>(sine: bool, x: Loc, out: Loc, chunks: usize, store: bool) -> BackwardStep {
    let len = vectors::<W::V>(out.len(chunks));
    let other = vectors::<W::V>(out.aux(chunks).offset);
    let (x, out) = (vectors::<W::V>(x.offset), vectors::<W::V>(out.offset));
    Box::new(move |seen: &Seen, grads: &mut Bwd| {
        W::run(
            #[inline(always)]
            || {
                let (before, own) = lanes_mut::<W::V>(grads.rows).split_at_mut(out);
                let (t, g) = (&mut before[x..][..len], &own[..len]);
                let other = &lanes::<W::V>(seen.rows)[other..][..len];
                if sine {
                    write_row(
                        t,
                        store,
                        #[inline(always)]
                        |c| g[c] * other[c],
                    );
                } else {
                    write_row(
                        t,
                        store,
                        #[inline(always)]
                        |c| g[c] * -other[c],
                    );
                }
            },
        )
    })
}

fn unary<W: Width, K: UnaryKernel>(
    k: K,
    x: Loc,
    out: Loc,
    chunks: usize,
    store: bool,
) -> BackwardStep {
    let len = out.len(chunks);
    if out.batched && len >= PARALLEL {
        Box::new(move |seen: &Seen, grads: &mut Bwd| {
            let (before, own) = grads.rows.split_at_mut(out.offset);
            let (t, g) = (&mut before[x.offset..][..len], &own[..len]);
            let (x, y) = (
                &seen.rows[x.offset..][..len],
                &seen.rows[out.offset..][..len],
            );
            if store {
                fill_pieces(t, |c| k.grad(x[c], y[c], g[c]));
            } else {
                t.par_chunks_mut(SPLIT_PIECE)
                    .enumerate()
                    .for_each(|(i, t)| {
                        let start = i * SPLIT_PIECE;
                        for (c, t) in t.iter_mut().enumerate() {
                            let at = start + c;
                            *t += k.grad(x[at], y[at], g[at]);
                        }
                    });
            }
        })
    } else if out.batched {
        let (x, out, len) = (
            vectors::<W::V>(x.offset),
            vectors::<W::V>(out.offset),
            vectors::<W::V>(len),
        );
        Box::new(move |seen: &Seen, grads: &mut Bwd| {
            W::run(
                #[inline(always)]
                || {
                    let (before, own) = lanes_mut::<W::V>(grads.rows).split_at_mut(out);
                    let (t, g) = (&mut before[x..][..len], &own[..len]);
                    let values = lanes::<W::V>(seen.rows);
                    let (x, y) = (&values[x..][..len], &values[out..][..len]);
                    write_row(
                        t,
                        store,
                        #[inline(always)]
                        |c| k.grad(x[c], y[c], g[c]),
                    );
                },
            )
        })
    } else {
        with_param!(x, P => unary_flat::<K, P>(k, x, out, len))
    }
}

fn unary_flat<K: UnaryKernel, const P: bool>(k: K, x: Loc, out: Loc, len: usize) -> BackwardStep {
    Box::new(move |seen: &Seen, grads: &mut Bwd| {
        let (before, own) = grads.flat.split_at_mut(out.offset);
        let t = &mut pick_mut::<P>(before, grads.params)[x.offset..][..len];
        let g = &own[..len];
        let (x, y) = (
            &pick::<P>(seen.flat, seen.params)[x.offset..][..len],
            &seen.flat[out.offset..][..len],
        );
        for c in 0..len {
            t[c] += k.grad(x[c], y[c], g[c]);
        }
    })
}

/// A binary op's gradient with respect to one of its inputs, given both operands, the
/// output, a companion tensor (the output, or the op's saved auxiliary values) and the
/// upstream gradient.
trait Partial: Copy + Send + Sync + 'static {
    fn grad<L: Real>(self, a: L, b: L, out: L, companion: L, g: L) -> L;
}

#[derive(Clone, Copy)]
struct SideA<K>(K);

#[derive(Clone, Copy)]
struct SideB<K>(K);

/// The exponent's gradient of pow and signed pow from the saved ln|base|: 0 where base == 0
/// and e >= 0, else g * (out * ln|base|).
#[derive(Clone, Copy)]
struct Exponent;

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
fn binary<W: Width, P: Partial>(
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
            binary_flat::<P, PA, PB, PT>(p, a, b, out, companion, target)
        )));
    }
    let mask = layout.lane_mask.clone();
    let features = out.features;
    with_operand!(a, features, a_kind => with_operand!(b, features, b_kind => {
        if target == a {
            binary_rows::<W, _, _, _, _>(p, a_kind, b_kind, a_kind, out, companion, chunks, mask, store)
        } else {
            binary_rows::<W, _, _, _, _>(p, a_kind, b_kind, b_kind, out, companion, chunks, mask, store)
        }
    }))
}

/// [`binary`] on unbatched tensors, with whether each operand and the target is a
/// parameter settled at compile time.
fn binary_flat<P: Partial, const PA: bool, const PB: bool, const PT: bool>(
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
fn binary_rows<W: Width, P: Partial, A: Operand, B: Operand, T: Operand + Target>(
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

/// Every member of a group receives its group's gradient.
fn spread<W: Width>(x: Loc, out: Loc, group: usize, chunks: usize, store: bool) -> BackwardStep {
    #[inline(always)]
    fn run<L: Real>(t: &mut [L], g: &[L], width: usize, outputs: usize, group: usize) {
        for j in 0..outputs {
            let g = &g[j * width..][..width];
            for k in 0..group {
                let t = &mut t[(j * group + k) * width..][..width];
                for c in 0..width {
                    t[c] = t[c] + g[c];
                }
            }
        }
    }
    if out.batched {
        let (offset, x) = (vectors::<W::V>(out.offset), vectors::<W::V>(x.offset));
        let width = vectors::<W::V>(chunks);
        Box::new(move |_: &Seen, grads: &mut Bwd| {
            W::run(
                #[inline(always)]
                || {
                    let (before, own) = lanes_mut::<W::V>(grads.rows).split_at_mut(offset);
                    if store {
                        for j in 0..out.features {
                            let g = &own[j * width..][..width];
                            for k in 0..group {
                                before[x + (j * group + k) * width..][..width].copy_from_slice(g);
                            }
                        }
                    } else {
                        run(&mut before[x..], own, width, out.features, group)
                    }
                },
            )
        })
    } else {
        Box::new(move |_: &Seen, grads: &mut Bwd| {
            let (before, own) = grads.flat.split_at_mut(out.offset);
            let t = &mut x.source_mut(before, grads.params)[x.offset..];
            run(t, own, 1, out.features, group)
        })
    }
}

/// Gradient of a grouped product: factor k receives g times the product of the other
/// factors, formed as (product of those before k) * (product of those after k), never by
/// division, so zero factors need no special case.
fn product<W: Width>(x: Loc, out: Loc, group: usize, chunks: usize, store: bool) -> BackwardStep {
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn run<L: Real>(
        x: &[L],
        g: &[L],
        t: &mut [L],
        width: usize,
        outputs: usize,
        group: usize,
        suffix: &mut [L],
        store: bool,
    ) {
        let suffix = &mut suffix[..group * width];
        for j in 0..outputs {
            let g = &g[j * width..][..width];
            let members = &x[j * group * width..][..group * width];
            let targets = &mut t[j * group * width..][..group * width];
            // suffix[k] = x[k+1] * ... * x[group-1]
            suffix[(group - 1) * width..].fill(L::one());
            for k in (0..group - 1).rev() {
                let (head, tail) = suffix.split_at_mut((k + 1) * width);
                let next = &members[(k + 1) * width..][..width];
                let (s, tail) = (&mut head[k * width..][..width], &tail[..width]);
                for c in 0..width {
                    s[c] = tail[c] * next[c];
                }
            }
            for c in 0..width {
                let mut prefix = L::one();
                for k in 0..group {
                    let at = k * width + c;
                    let share = g[c] * (prefix * suffix[at]);
                    targets[at] = if store { share } else { targets[at] + share };
                    prefix = prefix * members[at];
                }
            }
        }
    }
    if out.batched {
        let (offset, x) = (vectors::<W::V>(out.offset), vectors::<W::V>(x.offset));
        let scratch = group * chunks;
        let chunks = vectors::<W::V>(chunks);
        Box::new(move |seen: &Seen, grads: &mut Bwd| {
            W::run(
                #[inline(always)]
                || {
                    let (before, own) = lanes_mut::<W::V>(grads.rows).split_at_mut(offset);
                    run(
                        &lanes::<W::V>(seen.rows)[x..],
                        own,
                        &mut before[x..],
                        chunks,
                        out.features,
                        group,
                        lanes_mut::<W::V>(grads.work.take(scratch)),
                        store,
                    )
                },
            )
        })
    } else {
        Box::new(move |seen: &Seen, grads: &mut Bwd| {
            let (before, own) = grads.flat.split_at_mut(out.offset);
            let scratch = grads.work.take(group.div_ceil(8));
            let suffix = wide::bytemuck::cast_slice_mut::<f32x8, f32>(scratch);
            run(
                &x.source(seen.flat, seen.params)[x.offset..],
                own,
                &mut x.source_mut(before, grads.params)[x.offset..],
                1,
                out.features,
                group,
                suffix,
                false,
            )
        })
    }
}

/// dx_i += sum_o g_o w_io (the first output's term stored when the step overwrites).
fn matmul_input<W: Width>(
    dense: Dense,
    x: Loc,
    w: Loc,
    out: Loc,
    chunks: usize,
    store: bool,
) -> BackwardStep {
    #[inline(always)]
    fn run<L: Real>(dense: &Dense, g: &[L], w: &[f32], t: &mut [L], width: usize, store: bool) {
        for i in 0..dense.inputs {
            let t = &mut t[i * width..][..width];
            for o in 0..dense.outputs {
                let g = &g[o * width..][..width];
                let wio = L::splat(w[dense.weight_index(i, o)]);
                if store && o == 0 {
                    for c in 0..width {
                        t[c] = g[c] * wio;
                    }
                } else {
                    for c in 0..width {
                        t[c] = t[c] + g[c] * wio;
                    }
                }
            }
        }
    }
    if out.batched {
        let (offset, x) = (vectors::<W::V>(out.offset), vectors::<W::V>(x.offset));
        let chunks = vectors::<W::V>(chunks);
        Box::new(move |seen: &Seen, grads: &mut Bwd| {
            W::run(
                #[inline(always)]
                || {
                    let (before, own) = lanes_mut::<W::V>(grads.rows).split_at_mut(offset);
                    run(
                        &dense,
                        own,
                        &w.source(seen.flat, seen.params)[w.offset..],
                        &mut before[x..],
                        chunks,
                        store,
                    )
                },
            )
        })
    } else {
        Box::new(move |seen: &Seen, grads: &mut Bwd| {
            let (before, own) = grads.flat.split_at_mut(out.offset);
            run(
                &dense,
                own,
                &w.source(seen.flat, seen.params)[w.offset..],
                &mut x.source_mut(before, grads.params)[x.offset..],
                1,
                false,
            )
        })
    }
}

/// dw_io += sum over the batch of g_o x_i.
fn matmul_weight<W: Width>(
    dense: Dense,
    x: Loc,
    w: Loc,
    out: Loc,
    layout: &Layout,
) -> BackwardStep {
    let (chunks, mask) = (layout.chunks, layout.lane_mask.clone());
    if out.batched {
        let (offset, x) = (vectors::<W::V>(out.offset), vectors::<W::V>(x.offset));
        let chunks = vectors::<W::V>(chunks);
        Box::new(move |seen: &Seen, grads: &mut Bwd| {
            W::run(
                #[inline(always)]
                || {
                    let dw = &mut w.source_mut(grads.flat, grads.params)[w.offset..];
                    let (rows, values) = (lanes::<W::V>(grads.rows), lanes::<W::V>(seen.rows));
                    for o in 0..dense.outputs {
                        let g = &rows[offset + o * chunks..][..chunks];
                        for i in 0..dense.inputs {
                            let x = &values[x + i * chunks..][..chunks];
                            dw[dense.weight_index(i, o)] += batch_sum(
                                &mask,
                                #[inline(always)]
                                |c| g[c] * x[c],
                            );
                        }
                    }
                },
            )
        })
    } else {
        Box::new(move |seen: &Seen, grads: &mut Bwd| {
            let (before, own) = grads.flat.split_at_mut(out.offset);
            let dw = &mut w.source_mut(before, grads.params)[w.offset..];
            let x = &x.source(seen.flat, seen.params)[x.offset..];
            for o in 0..dense.outputs {
                for i in 0..dense.inputs {
                    dw[dense.weight_index(i, o)] += own[o] * x[i];
                }
            }
        })
    }
}

/// The input at `x` receives the gradient of `copies` copies of itself, the first starting
/// `at` units into the node's gradient (concat: one copy at its position; tile: all).
fn copy_back(
    x: Loc,
    out: Loc,
    at: usize,
    copies: usize,
    chunks: usize,
    store: bool,
) -> BackwardStep {
    fn run<L: Real>(t: &mut [L], g: &[L], copies: usize) {
        let len = t.len();
        for copy in 0..copies {
            let g = &g[copy * len..][..len];
            for c in 0..len {
                t[c] = t[c] + g[c];
            }
        }
    }
    if out.batched {
        Box::new(move |_: &Seen, grads: &mut Bwd| {
            let (before, own) = grads.rows.split_at_mut(out.offset);
            let t = &mut before[x.range(chunks)];
            if store {
                let len = t.len();
                t.copy_from_slice(&own[at..][..len]);
            } else {
                run(t, &own[at..], copies)
            }
        })
    } else {
        Box::new(move |_: &Seen, grads: &mut Bwd| {
            let (before, own) = grads.flat.split_at_mut(out.offset);
            run(
                &mut x.source_mut(before, grads.params)[x.range(1)],
                &own[at..],
                copies,
            )
        })
    }
}

/// d mse / d y = (y - t) * norm * g, and the negative for t.
#[allow(clippy::too_many_arguments)]
fn mse<W: Width>(
    y: Loc,
    t: Loc,
    target: Loc,
    out: Loc,
    norm: f32,
    sign: f32,
    chunks: usize,
    store: bool,
) -> BackwardStep {
    if y.batched {
        let len = vectors::<W::V>(y.len(chunks));
        let (yo, to, target) = (
            vectors::<W::V>(y.offset),
            vectors::<W::V>(t.offset),
            vectors::<W::V>(target.offset),
        );
        Box::new(move |seen: &Seen, grads: &mut Bwd| {
            W::run(
                #[inline(always)]
                || {
                    let (norm, g, sign) = (
                        <W::V as Vector>::splat(norm),
                        <W::V as Vector>::splat(grads.flat[out.offset]),
                        <W::V as Vector>::splat(sign),
                    );
                    let values = lanes::<W::V>(seen.rows);
                    let (yv, tv, dst) = (
                        &values[yo..][..len],
                        &values[to..][..len],
                        &mut lanes_mut::<W::V>(grads.rows)[target..][..len],
                    );
                    write_row(
                        dst,
                        store,
                        #[inline(always)]
                        |c| sign * (((yv[c] - tv[c]) * norm) * g),
                    );
                },
            )
        })
    } else {
        Box::new(move |seen: &Seen, grads: &mut Bwd| {
            let (before, own) = grads.flat.split_at_mut(out.offset);
            let dst = target.source_mut(before, grads.params);
            let (yv, tv) = (
                y.source(seen.flat, seen.params),
                t.source(seen.flat, seen.params),
            );
            let g = own[0];
            for f in 0..y.features {
                dst[target.offset + f] +=
                    sign * (((yv[y.offset + f] - tv[t.offset + f]) * norm) * g);
            }
        })
    }
}
