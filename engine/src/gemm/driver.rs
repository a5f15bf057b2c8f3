//! The blocked loop nest around the micro-kernel, and the split between threads.

use std::marker::PhantomData;

use rayon::prelude::*;

use super::kernel::{Finish, MR, NR, Start, tile};
#[cfg(target_arch = "x86_64")]
use super::kernel_avx512::{
    AValues, BVectors, InPlaceA, InPlaceB, MR2, NR2, PackedA, PackedB, tile16,
};
use super::pack::{PackA, PackB, panel_len};
use super::{MatMut, MatRef};
use crate::Workspace;
use crate::ops::{Relu, UnaryKernel};

/// Depth of a block (the `pc` loop): an A panel (MR x kc) and a B panel (kc x NR) stay in L1.
/// Depths are split into equal blocks of at most this size.
const KC: usize = 384;
/// Rows of a block of A (the `ic` loop): `MC x kc` packed values stay in L2.
const MC: usize = 120;
/// Packed values of a block of B (the `jc` loop), which stays in L2 while the tiles of every
/// row block use it: `kc x nc` with nc up to this over kc.
const B_BLOCK: usize = 1 << 17;

/// The longest side of a part's C across which an operand is read in place: the rows of a
/// dense layer's forward product on one thread (128) or its columns for an evaluation
/// chunk (256), not the 4,608 rows of its input gradient's part.
const IN_PLACE_ACROSS: usize = 256;

/// How the elements of C start before the products are added.
#[derive(Clone, Copy, Debug)]
pub enum Init<'a> {
    /// `beta C`: C is not read when beta is 0, and taken as it is when beta is 1.
    Beta(f32),
    /// One value per row of C (a bias), C not read.
    RowBias(&'a [f32]),
}

impl Init<'_> {
    /// How a tile whose first row is row `i` of C (of `m`) starts.
    fn tile_start(&self, i: usize, m: usize) -> Start {
        match *self {
            Init::Beta(beta) => match beta {
                0.0 => Start::Zero,
                1.0 => Start::Load,
                _ => Start::Scale(beta),
            },
            Init::RowBias(bias) => {
                let mut values = [0.0; MR];
                let here = MR.min(m - i);
                values[..here].copy_from_slice(&bias[i..i + here]);
                Start::Rows(values)
            }
        }
    }

    /// Sets element `c` of row `i` of C to its start (reading it only when beta is not 0).
    ///
    /// # Safety
    /// `c` must be valid for reading and writing.
    pub(super) unsafe fn set(&self, c: *mut f32, i: usize) {
        // SAFETY: as the caller guarantees.
        unsafe {
            *c = match *self {
                Init::Beta(beta) => match beta {
                    0.0 => 0.0,
                    1.0 => *c,
                    _ => beta * *c,
                },
                Init::RowBias(bias) => bias[i],
            }
        }
    }
}

/// `C = alpha A B + beta C` (see the [module docs](super) for the exact arithmetic), with its
/// own packing space. Use [`gemm_into`] to reuse the space across calls.
///
/// # Panics
/// If the shapes do not agree.
pub fn gemm(alpha: f32, a: MatRef<'_>, b: MatRef<'_>, beta: f32, c: MatMut<'_>) {
    gemm_into(&mut Workspace::default(), alpha, a, b, Init::Beta(beta), c)
}

/// `C = alpha A B + init`, packing in `work` (which grows to the largest request and
/// allocates nothing afterwards).
///
/// # Panics
/// If the shapes do not agree, or a row bias has not one value per row of C.
pub fn gemm_into(
    work: &mut Workspace,
    alpha: f32,
    a: MatRef<'_>,
    b: MatRef<'_>,
    init: Init<'_>,
    c: MatMut<'_>,
) {
    if super::dot::suits(&a, &b) && c.rows == a.rows && c.cols == b.cols && a.cols == b.rows {
        if let Init::RowBias(bias) = init {
            assert_eq!(
                bias.len(),
                a.rows,
                "{} bias values for {} rows",
                bias.len(),
                a.rows
            );
        }
        return super::dot::products(work, alpha, a, b, init, c);
    }
    product(work, alpha, &a, &b, init, c)
}

/// How many parts the current rayon pool splits `A B` into (1: it runs on the calling thread
/// alone), for tests that must know a product really was shared out, and for benchmarks.
pub fn split(a: MatRef<'_>, b: MatRef<'_>) -> usize {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    if m == 0 || n == 0 || k == 0 {
        1
    } else if super::dot::suits(&a, &b) {
        super::dot::parts_of(m, k, n)
    } else {
        Plan::new(m, k, n).parts
    }
}

/// [`gemm_into`] with any operands that pack themselves (the layers' views of activations).
pub(crate) fn product(
    work: &mut Workspace,
    alpha: f32,
    a: &impl PackA,
    b: &impl PackB,
    init: Init<'_>,
    c: MatMut<'_>,
) {
    product_then(work, alpha, a, b, init, Finish::Store, c)
}

/// [`product`], every element of C then stored as `finish` says (as its tile is stored).
pub(crate) fn product_then(
    work: &mut Workspace,
    alpha: f32,
    a: &impl PackA,
    b: &impl PackB,
    init: Init<'_>,
    finish: Finish,
    c: MatMut<'_>,
) {
    let (m, k, n) = (a.rows(), a.depth(), b.cols());
    assert_eq!(b.depth(), k, "A is {m} x {k} but B has depth {}", b.depth());
    assert!(
        c.rows == m && c.cols == n,
        "C is {} x {}, the product {m} x {n}",
        c.rows,
        c.cols
    );
    if let Init::RowBias(bias) = init {
        assert_eq!(bias.len(), m, "{} bias values for {m} rows", bias.len());
    }
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        // no products: every element is its start
        return start_all(&init, finish, Out::of(c), m, n);
    }
    let plan = Plan::new(m, k, n);
    let out = Out::of(c);
    let space = wide::bytemuck::cast_slice_mut(work.take(plan.parts * plan.part_len.div_ceil(8)));
    let run = |(part, space): (usize, &mut [f32])| {
        let (rows, cols) = plan.part(part);
        block_loop(&plan, alpha, a, b, (init, finish), out, rows, cols, space);
    };
    if plan.parts == 1 {
        run((0, space));
    } else {
        space
            .par_chunks_mut(plan.part_len.div_ceil(8) * 8)
            .enumerate()
            .for_each(run);
    }
}

/// The block sizes of one product and its split into parts.
struct Plan {
    m: usize,
    k: usize,
    n: usize,
    /// Depth, row and column blocks (the last of each may be shorter).
    kc: usize,
    mc: usize,
    nc: usize,
    parts: usize,
    /// Split along the rows (else along the columns), in whole tiles.
    by_rows: bool,
    /// Packing space of one part: an A block and a B block.
    a_len: usize,
    part_len: usize,
}

impl Plan {
    fn new(m: usize, k: usize, n: usize) -> Plan {
        // equal depth blocks in whole groups of eight (operands that pack by transposing
        // eight depths at a time rely on it)
        let blocks = k.div_ceil(KC).max(1);
        let kc = k.div_ceil(blocks).div_ceil(8).max(1) * 8;
        let (tiles_m, tiles_n) = (m.div_ceil(MR), n.div_ceil(NR));
        let parts = parts(m * n * k, tiles_m.max(tiles_n));
        // split the side whose tiles share out more evenly; on a tie the longer one (every
        // part packs all of the operand along the other side), and for a square C the rows,
        // which leave every part the whole width of C (whole 16-lane vectors more often than
        // its halves)
        let spread = |tiles: usize| tiles.div_ceil(parts) * parts * 1000 / tiles.max(1);
        let by_rows = match spread(tiles_m).cmp(&spread(tiles_n)) {
            std::cmp::Ordering::Less => true,
            std::cmp::Ordering::Greater => false,
            std::cmp::Ordering::Equal => m >= n,
        };
        let (part_m, part_n) = if by_rows {
            (tiles_m.div_ceil(parts) * MR, n)
        } else {
            (m, tiles_n.div_ceil(parts) * NR)
        };
        let most_nc = (B_BLOCK / kc / NR).max(1) * NR;
        // column blocks in pairs of panels: whole tiles of the 16-lane kernel
        let (mc, nc) = (balanced(part_m, MC, MR), balanced(part_n, most_nc, 2 * NR));
        let a_len = mc / MR * panel_len(kc, MR);
        let b_len = nc / NR * panel_len(kc, NR);
        Plan {
            m,
            k,
            n,
            kc,
            mc,
            nc,
            parts,
            by_rows,
            a_len,
            part_len: a_len + b_len,
        }
    }

    /// Whether every tile of the part with `rows` and `cols` of C is a whole tile of the
    /// 16-lane kernel: blocks of whole 8-row tiles, columns in 48s and a last 16 or 32.
    #[cfg(target_arch = "x86_64")]
    fn all_wide(&self, rows: &std::ops::Range<usize>, cols: &std::ops::Range<usize>) -> bool {
        let blocks = |range: &std::ops::Range<usize>, block: usize| {
            let len = range.len();
            [block.min(len), len % block]
        };
        blocks(rows, self.mc)
            .iter()
            .all(|mc| mc.is_multiple_of(MR2))
            && blocks(cols, self.nc)
                .iter()
                .all(|nc| (nc % NR2).is_multiple_of(16))
    }

    /// The rows and columns of C that part `p` computes.
    fn part(&self, p: usize) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
        let split = |len: usize, unit: usize| {
            let tiles = len.div_ceil(unit);
            let per = tiles.div_ceil(self.parts);
            (p * per * unit).min(len)..((p + 1) * per * unit).min(len)
        };
        if self.by_rows {
            (split(self.m, MR), 0..self.n)
        } else {
            (0..self.m, split(self.n, NR))
        }
    }
}

/// How many parts `units` of work (whole tiles, groups of columns) with `multiply_adds` in all
/// are split into on the current rayon pool: one per thread, but not below about a million
/// multiply-adds each, where a thread costs more than it saves.
pub(crate) fn parts(multiply_adds: usize, units: usize) -> usize {
    let worth = (multiply_adds / (1 << 20)).max(1);
    rayon::current_num_threads().min(units).min(worth).max(1)
}

/// Blocks of at most `most` (a multiple of `unit`) that cut `len` into equal parts, rounded up
/// to whole units: 128 rows in blocks of at most 120 become two blocks of 64, not 120 and 8.
fn balanced(len: usize, most: usize, unit: usize) -> usize {
    let blocks = len.div_ceil(most).max(1);
    len.div_ceil(blocks).div_ceil(unit) * unit
}

/// Sets every element of the `m x n` matrix `out` to its start, stored as `finish` says.
pub(super) fn start_all(init: &Init<'_>, finish: Finish, out: Out<'_>, m: usize, n: usize) {
    for i in 0..m {
        for j in 0..n {
            // SAFETY: (i, j) is an element of the view `out` was made from (checked by
            // `MatMut::new`), and nothing else writes it meanwhile.
            unsafe {
                let c = out.element(i, j);
                init.set(c, i);
                if finish == Finish::Relu {
                    *c = Relu.value(*c);
                }
            }
        }
    }
}

/// C's elements, shared by the parts of one product, each of which writes elements no other
/// part reads or writes: the view's bounds and lifetime, its elements reached through indices
/// the caller vouches for.
#[derive(Clone, Copy)]
pub(crate) struct Out<'a> {
    ptr: *mut f32,
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
    _c: PhantomData<&'a mut [f32]>,
}

impl<'a> Out<'a> {
    /// The elements of `c`.
    pub fn of(c: MatMut<'a>) -> Out<'a> {
        Out {
            ptr: c.data.as_mut_ptr(),
            rows: c.rows,
            cols: c.cols,
            rs: c.rs,
            cs: c.cs,
            _c: PhantomData,
        }
    }

    /// The row and column strides.
    pub fn strides(&self) -> (usize, usize) {
        (self.rs, self.cs)
    }

    /// Where element (i, j) lives.
    ///
    /// # Safety
    /// (i, j) is an element of the view (`i < rows`, `j < cols`), and no other part reads or
    /// writes it while the pointer is used.
    #[inline(always)]
    pub unsafe fn element(&self, i: usize, j: usize) -> *mut f32 {
        debug_assert!(i < self.rows && j < self.cols, "({i}, {j}) outside C");
        // SAFETY: within the view's data (checked by `MatMut::new`), as the caller vouches.
        unsafe { self.ptr.add(i * self.rs + j * self.cs) }
    }

    /// Adds `v` to element (i, j).
    ///
    /// # Safety
    /// As [`Out::element`].
    #[inline(always)]
    pub unsafe fn add(&self, i: usize, j: usize, v: f32) {
        // SAFETY: as the caller vouches.
        unsafe { *self.element(i, j) += v }
    }
}

// SAFETY: the parts of one product write disjoint sets of elements (disjoint rows or columns
// of a view whose elements are distinct locations, see `MatMut::new`).
unsafe impl Send for Out<'_> {}
unsafe impl Sync for Out<'_> {}

/// The loops over blocks of one part: columns (`jc`), depth (`pc`), rows (`ic`).
#[allow(clippy::too_many_arguments)]
fn block_loop(
    plan: &Plan,
    alpha: f32,
    a: &impl PackA,
    b: &impl PackB,
    (init, finish): (Init<'_>, Finish),
    c: Out<'_>,
    rows: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
    space: &mut [f32],
) {
    let (a_space, b_space) = space.split_at_mut(plan.a_len);
    #[cfg(target_arch = "x86_64")]
    let wide = crate::simd::array_path() == crate::simd::AVX512;
    // an operand whose packed block would serve few sweeps of the other's tiles (the part's
    // other side is at most IN_PLACE_ACROSS) is read where it lies, if its rows are
    // contiguous (and, for A, alpha is 1), when every tile of the part is one of the 16-lane
    // kernel, which needs no panels: a dense layer's forward product (128 x 9,216 by
    // 9,216 x 128) spent a third of its time packing. Packed, a block that many tiles sweep
    // stays in L1; in place, its rows 512 bytes or more apart would not.
    #[cfg(target_arch = "x86_64")]
    let (a_in_place, b_in_place) = if wide && c.strides().1 == 1 && plan.all_wide(&rows, &cols) {
        (
            a.a_in_place()
                .filter(|_| alpha == 1.0 && cols.len() <= IN_PLACE_ACROSS),
            b.b_in_place().filter(|_| rows.len() <= IN_PLACE_ACROSS),
        )
    } else {
        (None, None)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let (a_in_place, b_in_place): (Option<()>, Option<()>) = (None, None);
    for jc in cols.clone().step_by(plan.nc) {
        let nc = plan.nc.min(cols.end - jc);
        for pc in (0..plan.k).step_by(plan.kc) {
            let kc = plan.kc.min(plan.k - pc);
            if b_in_place.is_none() {
                b.pack_b(pc, kc, jc, nc, b_space);
            }
            #[cfg(target_arch = "x86_64")]
            let in_place = (
                a_in_place.map(|(values, row)| InPlaceA {
                    a: values[pc..].as_ptr(),
                    row,
                }),
                b_in_place.map(|(values, stride)| InPlaceB {
                    b: values[pc * stride..].as_ptr(),
                    stride,
                }),
            );
            for ic in rows.clone().step_by(plan.mc) {
                let mc = plan.mc.min(rows.end - ic);
                if a_in_place.is_none() {
                    a.pack_a(ic, mc, pc, kc, a_space);
                }
                if alpha != 1.0 {
                    for v in &mut a_space[..mc.div_ceil(MR) * panel_len(kc, MR)] {
                        *v *= alpha;
                    }
                }
                let panels = Panels {
                    a: a_space,
                    b: b_space,
                    kc,
                    init,
                    first: pc == 0,
                    finish: if pc + kc == plan.k {
                        finish
                    } else {
                        Finish::Store
                    },
                    m: plan.m,
                };
                // along the rows of C in the inner loop: output streams of a tile's rows
                #[cfg(target_arch = "x86_64")]
                if wide {
                    for ir in (0..mc).step_by(MR2) {
                        for jr in (0..nc).step_by(NR2) {
                            panels.wide_tile(c, (ic, jc), (ir, jr), (mc, nc), in_place);
                        }
                    }
                    continue;
                }
                for ir in (0..mc).step_by(MR) {
                    for jr in (0..nc).step_by(NR) {
                        panels.tile(c, (ic, jc), (ir, jr), (mc, nc));
                    }
                }
            }
        }
    }
}

/// The packed blocks of one step of the loops, and how their tiles of C start.
struct Panels<'p, 'i> {
    a: &'p [f32],
    b: &'p [f32],
    kc: usize,
    init: Init<'i>,
    /// The first depth block: tiles start from `init`, later ones from C.
    first: bool,
    /// How the tiles are stored: as they are but in the last depth block.
    finish: Finish,
    /// Rows of C.
    m: usize,
}

impl Panels<'_, '_> {
    /// How the tile whose first row is row `i` of C starts.
    #[inline(always)]
    fn start(&self, i: usize) -> Start {
        if self.first {
            self.init.tile_start(i, self.m)
        } else {
            Start::Load
        }
    }

    /// The A panel of block rows `ir..ir + MR` and the B panel of block columns `jr..jr + NR`.
    #[inline(always)]
    fn pair(&self, ir: usize, jr: usize) -> (&[f32], &[f32]) {
        let kc = self.kc;
        (
            &self.a[ir / MR * panel_len(kc, MR)..][..MR * kc],
            &self.b[jr / NR * panel_len(kc, NR)..][..NR * kc],
        )
    }

    /// The MR x NR tile at block row `ir` and column `jr` of the block at (ic, jc) of C,
    /// whose size is `mc x nc`.
    #[inline(always)]
    fn tile(
        &self,
        c: Out<'_>,
        (ic, jc): (usize, usize),
        (ir, jr): (usize, usize),
        (mc, nc): (usize, usize),
    ) {
        let (i, j) = (ic + ir, jc + jr);
        let (a, b) = self.pair(ir, jr);
        let (mr, nr) = (MR.min(mc - ir), NR.min(nc - jr));
        write_tile(
            self.kc,
            a,
            b,
            c,
            (i, j),
            (mr, nr),
            (self.start(i), self.finish),
        );
    }

    /// The MR2 x NR2 tile at block row `ir` and column `jr` on the 16-lane kernel where its
    /// rows are whole and contiguous and its columns whole vectors of 16 (all 48, or the last
    /// 16 or 32 of C), else as the MR x NR tiles it covers.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn wide_tile(
        &self,
        c: Out<'_>,
        (ic, jc): (usize, usize),
        (ir, jr): (usize, usize),
        (mc, nc): (usize, usize),
        (a_in_place, b_in_place): (Option<InPlaceA>, Option<InPlaceB>),
    ) {
        let (rs, cs) = c.strides();
        let cols = nc - jr;
        let vectors = if cols >= NR2 { 3 } else { cols / 16 };
        if ir + MR2 <= mc && cs == 1 && (cols >= NR2 || cols.is_multiple_of(16)) {
            let (i, j) = (ic + ir, jc + jr);
            let (a0, b0) = self.pair(ir, jr);
            // the second B panel exists only for tiles past 24 columns
            let (a1, b1) = if vectors > 1 {
                self.pair(ir + MR, jr + NR)
            } else {
                (self.pair(ir + MR, jr).0, b0)
            };
            let ends = ([self.start(i), self.start(i + MR)], self.finish);
            // SAFETY: the CPU has AVX-512F (the path in use says so); the panels hold
            // MR * kc and NR * kc values, operands in place kc depths of the tile's rows
            // and columns (checked by `MatRef::new`); the tile's MR2 rows of 16 * vectors
            // contiguous values are elements of C (checked by `MatMut::new` and the plan),
            // written by this part only.
            unsafe {
                let run = (self.kc, c.element(i, j), rs, ends);
                let a_in_place = a_in_place.map(|a| InPlaceA {
                    a: a.a.wrapping_add(i * a.row),
                    ..a
                });
                let b_in_place = b_in_place.map(|b| InPlaceB {
                    b: b.b.wrapping_add(j),
                    ..b
                });
                let (a, b) = (
                    PackedA([a0.as_ptr(), a1.as_ptr()]),
                    PackedB([b0.as_ptr(), b1.as_ptr()]),
                );
                match (a_in_place, b_in_place) {
                    (Some(a), Some(b)) => wide(vectors, run, a, b),
                    (Some(a), None) => wide(vectors, run, a, b),
                    (None, Some(b)) => wide(vectors, run, a, b),
                    (None, None) => wide(vectors, run, a, b),
                }
            }
            return;
        }
        debug_assert!(
            a_in_place.is_none() && b_in_place.is_none(),
            "operands in place need whole 16-lane tiles"
        );
        for r in (ir..mc.min(ir + MR2)).step_by(MR) {
            for q in (jr..nc.min(jr + NR2)).step_by(NR) {
                self.tile(c, (ic, jc), (r, q), (mc, nc));
            }
        }
    }
}

/// One 16-lane tile of `vectors` vectors of columns (see [`tile16`]).
///
/// # Safety
/// As [`tile16`].
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn wide<A: AValues, B: BVectors>(
    vectors: usize,
    (kc, c, rs, ends): (usize, *mut f32, usize, ([Start; 2], Finish)),
    a: A,
    b: B,
) {
    // SAFETY: as the caller guarantees.
    unsafe {
        match vectors {
            3 => tile16::<3, A, B>(kc, a, b, c, rs, ends),
            2 => tile16::<2, A, B>(kc, a, b, c, rs, ends),
            _ => tile16::<1, A, B>(kc, a, b, c, rs, ends),
        }
    }
}

/// One tile of C at (i, j), of which `mr x nr` elements exist, started and stored as `ends`
/// says.
#[inline(always)]
fn write_tile(
    kc: usize,
    a: &[f32],
    b: &[f32],
    c: Out<'_>,
    (i, j): (usize, usize),
    (mr, nr): (usize, usize),
    ends: (Start, Finish),
) {
    let start = ends.0;
    let (rs, cs) = c.strides();
    if mr == MR && nr.is_multiple_of(8) && cs == 1 {
        // SAFETY: (i, j) is the tile's first element, in C, written by this part only.
        let (a, b, c) = (a.as_ptr(), b.as_ptr(), unsafe { c.element(i, j) });
        // SAFETY: the panels hold MR * kc and NR * kc values; the tile's MR rows of `nr`
        // contiguous values are elements of C (checked by `MatMut::new` and the plan), and
        // no other part writes them.
        unsafe {
            match nr / 8 {
                3 => tile::<3>(kc, a, b, c, rs, ends),
                2 => tile::<2>(kc, a, b, c, rs, ends),
                _ => tile::<1>(kc, a, b, c, rs, ends),
            }
        }
        return;
    }
    // an edge or strided tile goes through a whole tile in local memory
    let mut local = [0.0f32; MR * NR];
    if matches!(start, Start::Load | Start::Scale(_)) {
        for r in 0..mr {
            for col in 0..nr {
                // SAFETY: (i + r, j + col) is an element of C, written by this part only.
                local[r * NR + col] = unsafe { *c.element(i + r, j + col) };
            }
        }
    }
    // SAFETY: as above, with the local tile of MR rows of NR values.
    unsafe { tile::<3>(kc, a.as_ptr(), b.as_ptr(), local.as_mut_ptr(), NR, ends) };
    for r in 0..mr {
        for col in 0..nr {
            // SAFETY: as above.
            unsafe { *c.element(i + r, j + col) = local[r * NR + col] };
        }
    }
}

/// `C = A B + init` from operands the caller packed as one block: A as `m.div_ceil(MR)`
/// panels of depth `kc` (see [`panel`](super::panel)), B as `n.div_ceil(NR)` panels, for
/// layers that write their operands in packed form as they compute them (the Winograd
/// transforms). The tiles and chains are those of [`product`]; it runs on the calling thread.
///
/// # Panics
/// If the panels are shorter than the shape needs, or a row bias has not one value per row.
pub(crate) fn packed_product(kc: usize, a: &[f32], b: &[f32], init: Init<'_>, c: MatMut<'_>) {
    let (m, n) = (c.rows, c.cols);
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        a.len() >= (m.div_ceil(MR) - 1) * panel_len(kc, MR) + MR * kc
            && b.len() >= (n.div_ceil(NR) - 1) * panel_len(kc, NR) + NR * kc,
        "packed panels too short for a {m} x {kc} by {kc} x {n} product"
    );
    if let Init::RowBias(bias) = init {
        assert_eq!(bias.len(), m, "{} bias values for {m} rows", bias.len());
    }
    if kc == 0 {
        return start_all(&init, Finish::Store, Out::of(c), m, n);
    }
    let out = Out::of(c);
    let panels = Panels {
        a,
        b,
        kc,
        init,
        first: true,
        finish: Finish::Store,
        m,
    };
    #[cfg(target_arch = "x86_64")]
    if crate::simd::array_path() == crate::simd::AVX512 {
        for ir in (0..m).step_by(MR2) {
            for jr in (0..n).step_by(NR2) {
                panels.wide_tile(out, (0, 0), (ir, jr), (m, n), (None, None));
            }
        }
        return;
    }
    for ir in (0..m).step_by(MR) {
        for jr in (0..n).step_by(NR) {
            panels.tile(out, (0, 0), (ir, jr), (m, n));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values in [-1, 1) from a fixed sequence.
    fn values(len: usize, seed: u32) -> Vec<f32> {
        let mut state = seed;
        (0..len)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 8) as f32 / (1u32 << 23) as f32 - 1.0
            })
            .collect()
    }

    #[test]
    fn a_relu_finish_gives_the_relu_of_the_stored_product_bit_for_bit() {
        // 16- and 8-lane tiles, edge tiles, and depths of one and of several blocks
        for (m, k, n) in [(16, 9, 96), (13, 9, 70), (8, 800, 48), (5, 385, 37)] {
            let mut a = values(m * k, 1);
            // row 1 all zeros over negative B and a -0.0 bias: -0.0 products; row 2 a NaN
            a[k..2 * k].fill(0.0);
            a[2 * k] = f32::NAN;
            let b: Vec<f32> = values(k * n, 2)
                .iter()
                .map(|v| v.abs().min(0.5) - 1.0)
                .collect();
            let mut bias = values(m, 3);
            bias[1] = -0.0;
            let (a, b) = (MatRef::row_major(&a, m, k), MatRef::row_major(&b, k, n));
            let (mut plain, mut relu) = (vec![7.0; m * n], vec![7.0; m * n]);
            let mut work = Workspace::default();
            let init = Init::RowBias(&bias);
            product(
                &mut work,
                1.0,
                &a,
                &b,
                init,
                MatMut::row_major(&mut plain, m, n),
            );
            let c = MatMut::row_major(&mut relu, m, n);
            product_then(&mut work, 1.0, &a, &b, init, Finish::Relu, c);
            assert!(plain.iter().any(|v| *v < 0.0) && plain.iter().any(|v| *v > 0.0));
            assert!(
                plain[n..2 * n]
                    .iter()
                    .all(|v| v.to_bits() == (-0.0f32).to_bits())
            );
            assert!(plain[2 * n..3 * n].iter().all(|v| v.is_nan()));
            for (p, r) in plain.iter().zip(&relu) {
                assert_eq!(
                    Relu.value(*p).to_bits(),
                    r.to_bits(),
                    "{m} x {k} x {n}: {p}"
                );
            }
        }
    }
}
