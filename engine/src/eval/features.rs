//! Sums and products over groups of consecutive features: each output is its group folded
//! left to right; a sum's gradient spreads to every member, a product's is the product of
//! the other members.

use wide::f32x8;

use super::{BackwardStep, Bwd, ForwardStep, Fwd, Seen, lanes, lanes_mut, vectors};
use crate::Real;
use crate::layout::Loc;
use crate::simd::width::Width;

/// The sums of each group of `group` features.
pub(super) fn sum_forward<W: Width>(x: Loc, out: Loc, group: usize, chunks: usize) -> ForwardStep {
    fold::<W, Plus>(x, out, group, chunks)
}

/// The products of each group of `group` features.
pub(super) fn product_forward<W: Width>(
    x: Loc,
    out: Loc,
    group: usize,
    chunks: usize,
) -> ForwardStep {
    fold::<W, Times>(x, out, group, chunks)
}

/// An associative combination of features (sum or product).
trait Combine: 'static {
    fn combine<L: Real>(a: L, b: L) -> L;
}

struct Plus;

struct Times;

impl Combine for Plus {
    #[inline(always)]
    fn combine<L: Real>(a: L, b: L) -> L {
        a + b
    }
}

impl Combine for Times {
    #[inline(always)]
    fn combine<L: Real>(a: L, b: L) -> L {
        a * b
    }
}

fn fold<W: Width, C: Combine>(x: Loc, out: Loc, group: usize, chunks: usize) -> ForwardStep {
    if out.batched {
        let (x, offset) = (vectors::<W::V>(x.offset), vectors::<W::V>(out.offset));
        let chunks = vectors::<W::V>(chunks);
        Box::new(move |a: &mut Fwd| {
            W::run(
                #[inline(always)]
                || {
                    let (src, dst) = lanes_mut::<W::V>(a.rows).split_at_mut(offset);
                    fold_groups::<C, W::V>(&src[x..], dst, chunks, out.features, group)
                },
            )
        })
    } else {
        Box::new(move |a: &mut Fwd| {
            let (src, dst) = a.flat.split_at_mut(out.offset);
            let x = &x.source(src, a.params)[x.offset..];
            fold_groups::<C, f32>(x, dst, 1, out.features, group)
        })
    }
}

/// `y_j = x_{j g} ∘ x_{j g + 1} ∘ ... ∘ x_{j g + g - 1}`, left to right, per lane.
#[inline(always)]
fn fold_groups<C: Combine, L: Real>(
    x: &[L],
    y: &mut [L],
    width: usize,
    outputs: usize,
    group: usize,
) {
    for j in 0..outputs {
        let y = &mut y[j * width..][..width];
        let members = &x[j * group * width..][..group * width];
        y.copy_from_slice(&members[..width]);
        for k in 1..group {
            let member = &members[k * width..][..width];
            for c in 0..width {
                y[c] = C::combine(y[c], member[c]);
            }
        }
    }
}

/// Every member of a group receives its group's gradient.
pub(super) fn sum_backward<W: Width>(
    x: Loc,
    out: Loc,
    group: usize,
    chunks: usize,
    store: bool,
) -> BackwardStep {
    // not forced inline: forced, the 8-lane iteration of the NMRU and NRU ran 2 to 4 %
    // slower (AMD EPYC Zen 4); the compiler inlines it into the 16-lane step all the same
    // (engine/README.md, "One source for every width", says how to check)
    #[inline]
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
pub(super) fn product_backward<W: Width>(
    x: Loc,
    out: Loc,
    group: usize,
    chunks: usize,
    store: bool,
) -> BackwardStep {
    #[allow(clippy::too_many_arguments)]
    // not forced inline: forced, the 8-lane iteration of the NMRU and NRU ran 2 to 4 %
    // slower (AMD EPYC Zen 4); the compiler inlines it into the 16-lane step all the same
    // (engine/README.md, "One source for every width", says how to check)
    #[inline]
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
                        grads.work.take_lanes::<W::V>(scratch),
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
