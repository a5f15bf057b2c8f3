//! A 3 x 3 convolution by Winograd's F(4x4, 3x3) (the transforms and their numerics:
//! [`crate::winograd`]), forward and both gradients, on the engine's micro-kernel.
//!
//! The output is cut into blocks of 4 x 4 positions ("tiles", the last row and column of
//! tiles cut short where the image is not a multiple of 4). The unit of work is a lane block:
//! two 8-lane chunks of the batch, 16 lanes, so that every 64-byte line of a row the transforms
//! read or write is used whole while it is in cache (chunk by chunk, each line would travel
//! twice). On the AVX-512 path a block is one 16-lane vector ([`at_width`]), elsewhere two
//! 8-lane chunks, with the same bits. A block's tiles go in groups of 48 columns, one tile of
//! the 16-lane micro-kernel: 16 columns per tile (8 for a last block of one chunk), 3 tiles a
//! group. For a group, the input transform writes `V_ξ` straight into the packed panels the
//! micro-kernel reads, 36 products `M_ξ = U_ξ V_ξ` follow, and the output transform reads them
//! back while they are in cache: no im2col matrix, no packing copies, no whole-image transform
//! in memory.
//!
//! Threads share out the batch's lane blocks ([`LaneChunks`]), so the overlapping input
//! blocks of the input gradient add into their elements in one order (tile by tile) whatever
//! the thread count. The weight gradient sums each lane block's products on its own and then
//! the blocks in order, again independent of the threads. Padding lanes of the batch are
//! masked out of the weight gradient's operands.

use rayon::prelude::*;
use wide::bytemuck::cast_slice;
use wide::f32x8;

use super::{BackwardStep, Bwd, ForwardStep, Fwd, Seen, conv_pool, floats, floats_mut};
use crate::gemm::{Init, LaneChunks, LanePart, MR, MatMut, MatRef, NR, PackA, Put};
use crate::gemm::{packed_product, panel_len, parts};
use crate::layout::{Layout, Loc};
use crate::ops::{Relu, UnaryKernel};
use crate::simd::vector::{IntVector, Vector};
use crate::tape::{Conv2d, Image};
use crate::winograd::{self, M, TILE};

/// Chunks per lane block: 16 lanes, a 64-byte line of every row.
const BLOCK: usize = 2;
/// Columns of a group of tiles: one tile of the 16-lane micro-kernel.
const COLUMNS: usize = 48;
/// Positions of the transformed 6 x 6 block.
const XI: usize = TILE * TILE;
/// Elements of the weight gradient's block sums added up per task.
const SUM_STRETCH: usize = 4096;
/// Pooled positions per side of a tile: its 2 x 2 pooling blocks.
const POOLED: usize = M / 2;
const _: () = assert!(M.is_multiple_of(2), "a tile holds whole pooling blocks");

/// Chunks `first..first + len` of the batch, `len` at most [`BLOCK`].
#[derive(Clone, Copy)]
struct Lanes {
    first: usize,
    len: usize,
}

impl Lanes {
    /// Tiles per group: 8 columns per tile and chunk.
    fn group_tiles(self) -> usize {
        COLUMNS / (8 * self.len)
    }

    /// The first column of chunk `first + j` of the group's tile `k`.
    fn column(self, k: usize, j: usize) -> usize {
        8 * (k * self.len + j)
    }

    /// The block's vectors of `V` (`V::LANES / 8` chunks each): the offset in the block and
    /// the batch's chunk of each one's first chunk.
    fn pieces<V: Vector>(self) -> impl Iterator<Item = (usize, usize)> {
        (0..self.len)
            .step_by(V::LANES / 8)
            .map(move |j| (j, self.first + j))
    }
}

/// Whether the lane blocks of two chunks run as one 16-lane AVX-512 vector: where the array
/// kernels run at 16 lanes ([`crate::simd::array_path`]), as the packed products the
/// convolution's products use do.
fn sixteen_lanes() -> bool {
    cfg!(target_arch = "x86_64") && crate::simd::array_path() == crate::simd::AVX512
}

/// Runs the lane-block function `$f` on lane block `$lanes` as one 16-lane AVX-512 vector if
/// `$wide` ([`sixteen_lanes`]) and the block has two chunks, else chunk by chunk at 8 lanes.
/// The lanes' bits are the same either way: every transform is the same chain of operations
/// lane by lane.
macro_rules! at_width {
    ($wide:expr, $lanes:expr, $f:ident($($arg:expr),* $(,)?)) => {{
        #[cfg(target_arch = "x86_64")]
        if $wide && $lanes.len == 2 {
            use crate::simd::width::{Avx512, Width};
            // the closure inlined too: all of the block's code compiles for AVX-512
            Avx512::run(#[inline(always)] || $f::<<Avx512 as Width>::V>($($arg),*))
        } else {
            $f::<f32x8>($($arg),*)
        }
        #[cfg(not(target_arch = "x86_64"))]
        $f::<f32x8>($($arg),*)
    }};
}

/// Where a convolution's tiles lie.
#[derive(Clone, Copy)]
struct Geometry {
    conv: Conv2d,
    chunks: usize,
    tiles_x: usize,
    tiles: usize,
}

impl Geometry {
    fn new(conv: Conv2d, chunks: usize) -> Geometry {
        let out = conv.output();
        let tiles_x = out.width.div_ceil(M);
        Geometry {
            conv,
            chunks,
            tiles_x,
            tiles: out.height.div_ceil(M) * tiles_x,
        }
    }

    /// The top-left output position of tile `t`.
    fn corner(&self, t: usize) -> (usize, usize) {
        (t / self.tiles_x * M, t % self.tiles_x * M)
    }

    /// Row of input feature (c, y, x), if inside the image.
    #[inline(always)]
    fn input_row(&self, c: usize, y: usize, x: usize) -> Option<usize> {
        let input = self.conv.input;
        (y < input.height && x < input.width).then(|| (c * input.height + y) * input.width + x)
    }

    /// Row of output feature (f, y, x), if inside the image.
    #[inline(always)]
    fn output_row(&self, f: usize, y: usize, x: usize) -> Option<usize> {
        let out = self.conv.output();
        (y < out.height && x < out.width).then(|| (f * out.height + y) * out.width + x)
    }

    /// Multiply-adds of one pass's products (for the split between threads).
    fn multiply_adds(&self) -> usize {
        XI * self.conv.filters * self.conv.input.channels * self.tiles * 8 * self.chunks
    }

    /// Lane blocks of the batch.
    fn blocks(&self) -> usize {
        self.chunks.div_ceil(BLOCK)
    }

    /// Chunks per part of the batch on the current pool: whole lane blocks.
    fn per_part(&self) -> usize {
        let blocks = self.blocks();
        blocks.div_ceil(parts(self.multiply_adds(), blocks)) * BLOCK
    }

    /// The lane blocks of `chunks` (a part's, starting at a block's first chunk).
    fn lane_blocks(&self, chunks: std::ops::Range<usize>) -> impl Iterator<Item = Lanes> + use<> {
        let end = chunks.end;
        chunks.step_by(BLOCK).map(move |first| Lanes {
            first,
            len: BLOCK.min(end - first),
        })
    }

    /// The groups of tiles of lane block `lanes`: (first tile, tiles).
    fn groups(&self, lanes: Lanes) -> impl Iterator<Item = (usize, usize)> + use<> {
        let (tiles, per) = (self.tiles, lanes.group_tiles());
        (0..tiles)
            .step_by(per)
            .map(move |t0| (t0, per.min(tiles - t0)))
    }
}

/// Packed A panels of `U_ξ` (filters x channels), or of `U_ξ^T` when `transposed`, for each
/// ξ: `XI` blocks of `a_len(rows, depth)` values, after `XI * filters * channels` values of
/// working space for U itself (laid out filter, channel, ξ: filters transformed in parallel,
/// then each ξ packed in parallel).
fn kernels<'s>(conv: Conv2d, weights: &[f32], transposed: bool, space: &'s mut [f32]) -> &'s [f32] {
    let (filters, channels) = (conv.filters, conv.input.channels);
    let (u, packed) = space.split_at_mut(XI * filters * channels);
    u.par_chunks_mut(channels * XI)
        .zip(weights.par_chunks(channels * 9))
        .for_each(|(u, weights)| {
            for (u, w) in u.chunks_mut(XI).zip(weights.chunks(9)) {
                let t = winograd::kernel_tile(|i, j| w[i * 3 + j]);
                for (xi, u) in u.iter_mut().enumerate() {
                    *u = t[xi / TILE][xi % TILE];
                }
            }
        });
    let (rows, depth) = if transposed {
        (channels, filters)
    } else {
        (filters, channels)
    };
    let len = a_len(rows, depth);
    let u = &*u;
    packed[..XI * len]
        .par_chunks_mut(len)
        .enumerate()
        .for_each(|(xi, packed)| {
            let u_xi = MatRef::new(&u[xi..], filters, channels, channels * XI, XI);
            let u_xi = if transposed { u_xi.t() } else { u_xi };
            u_xi.pack_a(0, rows, 0, depth, packed);
        });
    &packed[..XI * len]
}

/// The 36 products `C_ξ = A_ξ B_ξ` of one group, `rows x cols` at depth `depth`: A panels
/// `a_xi` values apart, B panels `b_xi` apart, C laid out (row, ξ, column), so that a transform
/// reading one row's 36 positions reads one short stretch.
fn products(
    depth: usize,
    (a, a_xi): (&[f32], usize),
    (b, b_xi): (&[f32], usize),
    (rows, cols): (usize, usize),
    c: &mut [f32],
) {
    for xi in 0..XI {
        packed_product(
            depth,
            &a[xi * a_xi..][..a_xi],
            &b[xi * b_xi..][..b_xi],
            Init::Beta(0.0),
            MatMut::new(
                &mut c[xi * cols..][..(rows - 1) * XI * cols + cols],
                rows,
                cols,
                XI * cols,
                1,
            ),
        );
    }
}

/// Values of the A panels of `rows` rows at depth `depth`.
fn a_len(rows: usize, depth: usize) -> usize {
    rows.div_ceil(MR) * panel_len(depth, MR)
}

/// Values of the B panels of `cols` columns at depth `depth`.
fn b_len(cols: usize, depth: usize) -> usize {
    cols.div_ceil(NR) * panel_len(depth, NR)
}

/// Where column `col` starts in B panels of depth `depth` (its value at depth d `d * NR`
/// further).
#[inline(always)]
fn column_at(col: usize, depth: usize) -> usize {
    col / NR * panel_len(depth, NR) + col % NR
}

/// Writes a transformed block into B panels: of position ξ, chunk i's 8 lanes at
/// `xi * len + at(i)`.
#[inline(always)]
fn put_block<V: Vector>(
    panels: &mut [f32],
    len: usize,
    at: impl Fn(usize) -> usize,
    block: &[[V; TILE]; TILE],
) {
    for xi in 0..XI {
        let value = block[xi / TILE][xi % TILE];
        for i in 0..V::LANES / 8 {
            let at = xi * len + at(i);
            panels[at..at + 8].copy_from_slice(&value.chunk(i).to_array());
        }
    }
}

/// The vector of `rows[at..at + V::LANES]`.
#[inline(always)]
fn load<V: Vector>(rows: &[f32], at: usize) -> V {
    V::from_lanes(&rows[at..at + V::LANES])
}

/// `v` where `mask`'s bits are set, else zero bits.
#[inline(always)]
fn masked<V: Vector>(v: V, mask: V) -> V {
    V::from_bits(v.to_bits() & mask.to_bits())
}

/// The mask of every lane.
#[inline(always)]
fn all_lanes<V: Vector>() -> V {
    V::from_bits(V::Int::splat(-1))
}

/// Asks the CPU to start bringing into cache (for writing too: `WRITE`) the lines of lane
/// block `lanes` in the `size` x `size` block at `corner` of `plane` in `image` (a channel of
/// the input, a filter of the output or of the pooled output). The transforms step through
/// rows 512 bytes or more apart, a walk the hardware's prefetchers do not follow, so without
/// this every block waits on memory line by line; asked one block ahead, the lines arrive
/// while the block before is computed.
#[inline(always)]
fn prefetch<const WRITE: bool>(
    (rows, chunks): (*const f32x8, usize),
    (image, plane): (Image, usize),
    ((y0, x0), size): ((usize, usize), usize),
    lanes: Lanes,
) {
    let width = image.width;
    let first = (((plane * image.height) + y0) * width + x0) * chunks + lanes.first;
    let last = lanes.len - 1;
    for i in 0..size {
        for j in 0..size {
            // a hint only: the address may lie past the slot (an edge tile), which a prefetch
            // never reads
            let at = rows.wrapping_add(first + (i * width + j) * chunks);
            hint::<WRITE>(at);
            if last > 0 {
                hint::<WRITE>(at.wrapping_add(last));
            }
        }
    }
}

/// The block after plane `p` of the group's tile `k`, in the transforms' order (planes of a
/// tile, then the next tile), if any: `n` tiles of `planes` planes.
#[inline(always)]
fn next_block(k: usize, p: usize, (n, planes): (usize, usize)) -> Option<(usize, usize)> {
    if p + 1 < planes {
        Some((k, p + 1))
    } else {
        (k + 1 < n).then_some((k + 1, 0))
    }
}

/// One prefetch instruction for the line holding `at` (none on other architectures).
#[inline(always)]
fn hint<const WRITE: bool>(at: *const f32x8) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_ET0, _MM_HINT_T0, _mm_prefetch};
        // SAFETY: a prefetch reads nothing and faults on no address.
        unsafe {
            if WRITE {
                _mm_prefetch::<_MM_HINT_ET0>(at.cast());
            } else {
                _mm_prefetch::<_MM_HINT_T0>(at.cast());
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// `V = B^T d B` of tile `t`'s input block `d` in channel `c`, the chunks from `h` on (zeros
/// outside the image), masked; `x` the input's floats.
#[inline(always)]
fn input_transform<V: Vector>(
    geo: &Geometry,
    x: &[f32],
    c: usize,
    t: usize,
    h: usize,
    mask: V,
) -> [[V; TILE]; TILE] {
    let (y0, x0) = geo.corner(t);
    let (input, stride) = (geo.conv.input, 8 * geo.chunks);
    if y0 + TILE <= input.height && x0 + TILE <= input.width {
        // inside the image: rows a fixed stride apart
        let (first, line) = (geo.input_row(c, y0, x0).expect("inside"), input.width);
        let block =
            &x[first * stride + 8 * h..][..((TILE - 1) * line + TILE - 1) * stride + V::LANES];
        return winograd::input_tile(
            #[inline(always)]
            |i, j| masked(load(block, (i * line + j) * stride), mask),
        );
    }
    winograd::input_tile(
        #[inline(always)]
        |i, j| match geo.input_row(c, y0 + i, x0 + j) {
            Some(row) => masked(load(x, row * stride + 8 * h), mask),
            None => V::zero(),
        },
    )
}

/// Where the output's gradient comes from: the convolution's whole output, or for a pooled
/// convolution the pooled gradient and the scan's choices (which carry the ReLU's mask), from
/// which each tile of it is rebuilt ([`conv_pool::unpooled`]); all as floats.
#[derive(Clone, Copy)]
struct OutputGrad<'a> {
    dy: &'a [f32],
    choices: Option<&'a [f32]>,
}

impl<'a> OutputGrad<'a> {
    /// The output gradient of convolution `conv` in slot `out`, the node's gradient `dy`
    /// (pooled: the choices from the forward values `seen`).
    fn of(geo: &Geometry, dy: &'a [f32x8], seen: &'a Seen, out: Loc) -> OutputGrad<'a> {
        let choices = conv_pool::choices(out, geo.chunks).range(geo.chunks);
        OutputGrad {
            dy: floats(dy),
            choices: geo.conv.pool.then(|| floats(&seen.rows[choices])),
        }
    }

    /// Asks for the lines of filter `f` of tile `t` in lane block `lanes` (see [`prefetch`]).
    #[inline(always)]
    fn prefetch(&self, geo: &Geometry, f: usize, t: usize, lanes: Lanes) {
        let (y0, x0) = geo.corner(t);
        let rows = (self.dy.as_ptr().cast(), geo.chunks);
        match self.choices {
            None => prefetch::<false>(rows, (geo.conv.output(), f), ((y0, x0), M), lanes),
            Some(choices) => {
                let (image, at) = ((geo.conv.result(), f), ((y0 / 2, x0 / 2), POOLED));
                prefetch::<false>(rows, image, at, lanes);
                prefetch::<false>((choices.as_ptr().cast(), geo.chunks), image, at, lanes);
            }
        }
    }

    /// `dM = A dY A^T` of tile `t`'s output gradient for filter `f`, the chunks from `h` on
    /// (zeros outside the image and, pooled, outside the pooling blocks), masked.
    #[inline(always)]
    fn transform<V: Vector>(
        &self,
        geo: &Geometry,
        f: usize,
        t: usize,
        h: usize,
        mask: V,
    ) -> [[V; TILE]; TILE] {
        let (y0, x0) = geo.corner(t);
        let stride = 8 * geo.chunks;
        if let Some(choices) = self.choices {
            let pooled = geo.conv.result();
            let (oy, ox) = (y0 / 2, x0 / 2);
            let mut dy = [[V::zero(); M]; M];
            // loops, not iterator adapters: closures here must inline into the AVX-512 code
            for bi in 0..POOLED {
                for bj in 0..POOLED {
                    if oy + bi >= pooled.height || ox + bj >= pooled.width {
                        continue;
                    }
                    let row = (f * pooled.height + oy + bi) * pooled.width + ox + bj;
                    let at = row * stride + 8 * h;
                    let (g, chosen) = (masked(load(self.dy, at), mask), load(choices, at));
                    for (r, c) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                        let code = V::splat((2 * r + c) as f32);
                        dy[2 * bi + r][2 * bj + c] = conv_pool::unpooled(g, chosen, code);
                    }
                }
            }
            return winograd::output_grad_tile(
                #[inline(always)]
                |i, j| dy[i][j],
            );
        }
        let out = geo.conv.output();
        let dy = self.dy;
        if y0 + M <= out.height && x0 + M <= out.width {
            let (first, line) = (geo.output_row(f, y0, x0).expect("inside"), out.width);
            let block =
                &dy[first * stride + 8 * h..][..((M - 1) * line + M - 1) * stride + V::LANES];
            return winograd::output_grad_tile(
                #[inline(always)]
                |i, j| masked(load(block, (i * line + j) * stride), mask),
            );
        }
        winograd::output_grad_tile(
            #[inline(always)]
            |i, j| match geo.output_row(f, y0 + i, x0 + j) {
                Some(row) => masked(load(dy, row * stride + 8 * h), mask),
                None => V::zero(),
            },
        )
    }
}

pub(super) fn forward(
    conv: Conv2d,
    x: Loc,
    w: Loc,
    bias: Loc,
    out: Loc,
    layout: &Layout,
) -> ForwardStep {
    let geo = Geometry::new(conv, layout.chunks);
    let (filters, channels) = (conv.filters, conv.input.channels);
    // whole lines, so that each part's products (read as 16-lane vectors) start on one
    let u_len = (XI * filters * channels + XI * a_len(filters, channels)).next_multiple_of(16);
    let v_len = b_len(COLUMNS, channels);
    let part_len = XI * v_len + XI * filters * COLUMNS;
    Box::new(move |a: &mut Fwd| {
        let (chunks, wide) = (geo.chunks, sixteen_lanes());
        let (src, dst) = a.rows.split_at_mut(out.offset);
        let x = floats(&src[x.range(chunks)]);
        // a pooled convolution's choices follow its values
        let y = &mut dst[..if conv.pool { 2 } else { 1 } * out.len(chunks)];
        let weights = &w.source(a.flat, a.params)[w.range(1)];
        let bias = &bias.source(a.flat, a.params)[bias.range(1)];
        let per = geo.per_part();
        let parts = chunks.div_ceil(per);
        let space = floats_mut(a.work.take_aligned((u_len + parts * part_len).div_ceil(8)));
        let (u_space, rest) = space.split_at_mut(u_len);
        let u = kernels(conv, weights, false, u_space);
        LaneChunks::new(y, chunks).for_each_part(
            per,
            rest[..parts * part_len].par_chunks_mut(part_len),
            |mut y: LanePart<'_>, scratch: &mut [f32]| {
                let (v, m) = scratch.split_at_mut(XI * v_len);
                for lanes in geo.lane_blocks(y.owned()) {
                    at_width!(
                        wide,
                        lanes,
                        forward_block(&geo, (x, u, bias), lanes, (v, m), &mut y)
                    );
                }
            },
        );
    })
}

/// The forward pass of lane block `lanes` at vector `V`, group by group: the input
/// transform into the B panels `v`, 36 products with the kernels' A panels `u` into `m`,
/// the output transform into `y`.
#[inline(always)]
fn forward_block<V: Vector>(
    geo: &Geometry,
    (x, u, bias): (&[f32], &[f32], &[f32]),
    lanes: Lanes,
    (v, m): (&mut [f32], &mut [f32]),
    y: &mut LanePart<'_>,
) {
    let (filters, channels) = (geo.conv.filters, geo.conv.input.channels);
    let (u_xi, v_len) = (a_len(filters, channels), b_len(COLUMNS, channels));
    for (t0, n) in geo.groups(lanes) {
        let cols = 8 * n * lanes.len;
        transform_inputs::<V>(geo, x, lanes, (t0, n), v, v_len);
        products(channels, (u, u_xi), (v, v_len), (filters, cols), m);
        transform_outputs::<V>(geo, m, bias, lanes, (t0, n), y);
    }
}

/// `V = B^T d B` of every channel of the group's tiles in lane block `lanes`, written into B
/// panels (depth: channels; columns [`Lanes::column`]), `v_len` values per ξ.
#[inline(always)]
fn transform_inputs<V: Vector>(
    geo: &Geometry,
    x: &[f32],
    lanes: Lanes,
    (t0, n): (usize, usize),
    v: &mut [f32],
    v_len: usize,
) {
    let channels = geo.conv.input.channels;
    for k in 0..n {
        for c in 0..channels {
            if let Some((k, c)) = next_block(k, c, (n, channels)) {
                prefetch::<false>(
                    (x.as_ptr().cast(), geo.chunks),
                    (geo.conv.input, c),
                    (geo.corner(t0 + k), TILE),
                    lanes,
                );
            }
            for (j, h) in lanes.pieces::<V>() {
                let vt = input_transform::<V>(geo, x, c, t0 + k, h, all_lanes());
                let first = |i| column_at(lanes.column(k, j + i), channels) + c * NR;
                put_block(v, v_len, first, &vt);
            }
        }
    }
}

/// `y = A^T M A + bias` (through the ReLU if the convolution carries one, pooled if it
/// carries a pool) of every filter of the group's tiles in lane block `lanes`, from the
/// products `m` (filter, ξ, column).
#[inline(always)]
fn transform_outputs<V: Vector>(
    geo: &Geometry,
    m: &[f32],
    bias: &[f32],
    lanes: Lanes,
    (t0, n): (usize, usize),
    y: &mut LanePart<'_>,
) {
    let filters = geo.conv.filters;
    let (cols, out, pooled) = (8 * n * lanes.len, geo.conv.output(), geo.conv.result());
    for k in 0..n {
        let (y0, x0) = geo.corner(t0 + k);
        for (f, (j, h)) in (0..filters).flat_map(|f| lanes.pieces::<V>().map(move |c| (f, c))) {
            if let (0, Some((k, f))) = (j, next_block(k, f, (n, filters))) {
                let (y0, x0) = geo.corner(t0 + k);
                if geo.conv.pool {
                    // the pooled values, and the choices' planes after the last filter
                    let at = ((y0 / 2, x0 / 2), POOLED);
                    prefetch::<true>((y.base(), geo.chunks), (pooled, f), at, lanes);
                    prefetch::<true>((y.base(), geo.chunks), (pooled, filters + f), at, lanes);
                } else {
                    prefetch::<true>((y.base(), geo.chunks), (out, f), ((y0, x0), M), lanes);
                }
            }
            let col = lanes.column(k, j);
            let products = &m[f * XI * cols + col..][..(XI - 1) * cols + V::LANES];
            let yt = winograd::output_tile(
                #[inline(always)]
                |i, j| load::<V>(products, (i * TILE + j) * cols),
            );
            let (mut yt, b) = (yt, V::splat(bias[f]));
            for v in yt.iter_mut().flatten() {
                *v = if geo.conv.relu {
                    Relu.value(*v + b)
                } else {
                    *v + b
                };
            }
            if geo.conv.pool {
                put_pooled(geo, f, (y0 / 2, x0 / 2), h, &yt, y);
            } else if y0 + M <= out.height && x0 + M <= out.width {
                let first = geo.output_row(f, y0, x0).expect("inside");
                y.put_block(first, out.width, h, &yt, Put::Set);
            } else {
                for (i, line) in yt.iter().enumerate() {
                    for (j, &value) in line.iter().enumerate() {
                        if let Some(row) = geo.output_row(f, y0 + i, x0 + j) {
                            y.set(row, h, value);
                        }
                    }
                }
            }
        }
    }
}

/// The 2 x 2 pooling blocks of output tile `yt` (filter `f`, chunks from `h`), whose first is
/// pooled position `(oy, ox)`: their maxima into the pooled rows, their choices into the
/// rows after them (the blocks past the pooled image, the tiles' edges, left out).
#[inline(always)]
fn put_pooled<V: Vector>(
    geo: &Geometry,
    f: usize,
    (oy, ox): (usize, usize),
    h: usize,
    yt: &[[V; M]; M],
    y: &mut LanePart<'_>,
) {
    let pooled = geo.conv.result();
    // loops, not `array::from_fn` (engine/README.md, "One source for every width")
    let (mut maxima, mut codes) = ([[yt[0][0]; POOLED]; POOLED], [[yt[0][0]; POOLED]; POOLED]);
    for i in 0..POOLED {
        for j in 0..POOLED {
            let (r, c) = (2 * i, 2 * j);
            (maxima[i][j], codes[i][j]) = conv_pool::pool_block(
                [yt[r][c], yt[r][c + 1], yt[r + 1][c], yt[r + 1][c + 1]],
                geo.conv.relu,
            );
        }
    }
    let first = (f * pooled.height + oy) * pooled.width + ox;
    let after = pooled.features();
    if oy + POOLED <= pooled.height && ox + POOLED <= pooled.width {
        y.put_block(first, pooled.width, h, &maxima, Put::Set);
        y.put_block(after + first, pooled.width, h, &codes, Put::Set);
        return;
    }
    for i in 0..POOLED {
        for j in 0..POOLED {
            if oy + i < pooled.height && ox + j < pooled.width {
                let row = first + i * pooled.width + j;
                y.set(row, h, maxima[i][j]);
                y.set(after + row, h, codes[i][j]);
            }
        }
    }
}

/// dX, stored (`store`) or added: per group, `dM = A dY A^T`, `dV_ξ = U_ξ^T dM_ξ`, and
/// `B dV B^T` added into the input block of each tile, tiles in order. Stored, the rows are
/// not cleared first: each tile writes the part of its block no earlier tile covers (every
/// input position lies in some tile's block) and adds the rest.
pub(super) fn input_grad(
    conv: Conv2d,
    x: Loc,
    w: Loc,
    out: Loc,
    layout: &Layout,
    store: bool,
) -> BackwardStep {
    let geo = Geometry::new(conv, layout.chunks);
    let (filters, channels) = (conv.filters, conv.input.channels);
    // whole lines, as in the forward pass
    let u_len = (XI * filters * channels + XI * a_len(channels, filters)).next_multiple_of(16);
    let dm_len = b_len(COLUMNS, filters);
    let part_len = XI * dm_len + XI * channels * COLUMNS;
    Box::new(move |seen: &Seen, grads: &mut Bwd| {
        let (chunks, wide) = (geo.chunks, sixteen_lanes());
        let (before, own) = grads.rows.split_at_mut(out.offset);
        let dy = OutputGrad::of(&geo, &own[..out.len(chunks)], seen, out);
        let dx = &mut before[x.range(chunks)];
        let weights = &w.source(seen.flat, seen.params)[w.range(1)];
        let per = geo.per_part();
        let parts = chunks.div_ceil(per);
        let space = floats_mut(
            grads
                .work
                .take_aligned((u_len + parts * part_len).div_ceil(8)),
        );
        let (u_space, rest) = space.split_at_mut(u_len);
        let ut = kernels(conv, weights, true, u_space);
        LaneChunks::new(dx, chunks).for_each_part(
            per,
            rest[..parts * part_len].par_chunks_mut(part_len),
            |mut dx: LanePart<'_>, scratch: &mut [f32]| {
                let (dm, dv) = scratch.split_at_mut(XI * dm_len);
                for lanes in geo.lane_blocks(dx.owned()) {
                    at_width!(
                        wide,
                        lanes,
                        input_grad_block(&geo, (dy, ut), lanes, (dm, dv), (&mut dx, store))
                    );
                }
            },
        );
    })
}

/// The input gradient of lane block `lanes` at vector `V`, group by group: the output
/// gradient's transform into the B panels `dm`, 36 products with the kernels' transposed A
/// panels `ut` into `dv`, their transforms added into `dx`.
#[inline(always)]
fn input_grad_block<V: Vector>(
    geo: &Geometry,
    (dy, ut): (OutputGrad<'_>, &[f32]),
    lanes: Lanes,
    (dm, dv): (&mut [f32], &mut [f32]),
    (dx, store): (&mut LanePart<'_>, bool),
) {
    let (filters, channels) = (geo.conv.filters, geo.conv.input.channels);
    let (ut_xi, dm_len) = (a_len(channels, filters), b_len(COLUMNS, filters));
    for (t0, n) in geo.groups(lanes) {
        let cols = 8 * n * lanes.len;
        transform_output_grads::<V>(geo, dy, lanes, (t0, n), dm, dm_len);
        products(filters, (ut, ut_xi), (dm, dm_len), (channels, cols), dv);
        add_input_grads::<V>(geo, dv, lanes, (t0, n), (dx, store));
    }
}

/// `dM = A dY A^T` of every filter of the group's tiles in lane block `lanes`, written into B
/// panels (depth: filters; columns [`Lanes::column`]), `dm_len` values per ξ.
#[inline(always)]
fn transform_output_grads<V: Vector>(
    geo: &Geometry,
    dy: OutputGrad<'_>,
    lanes: Lanes,
    (t0, n): (usize, usize),
    dm: &mut [f32],
    dm_len: usize,
) {
    let filters = geo.conv.filters;
    for k in 0..n {
        for f in 0..filters {
            if let Some((k, f)) = next_block(k, f, (n, filters)) {
                dy.prefetch(geo, f, t0 + k, lanes);
            }
            for (j, h) in lanes.pieces::<V>() {
                let mt = dy.transform::<V>(geo, f, t0 + k, h, all_lanes());
                let at = |i| column_at(lanes.column(k, j + i), filters) + f * NR;
                put_block(dm, dm_len, at, &mt);
            }
        }
    }
}

/// `B dV B^T` of every channel of the group's tiles in lane block `lanes`, from the products
/// `dv` (channel, ξ, column), added into the input blocks, tile after tile (`store`: written
/// where no earlier tile's block lies, see [`input_grad`]).
#[inline(always)]
fn add_input_grads<V: Vector>(
    geo: &Geometry,
    dv: &[f32],
    lanes: Lanes,
    (t0, n): (usize, usize),
    (dx, store): (&mut LanePart<'_>, bool),
) {
    let cols = 8 * n * lanes.len;
    let channels = geo.conv.input.channels;
    for k in 0..n {
        let (y0, x0) = geo.corner(t0 + k);
        // the tile above covers the block's first TILE - M lines, the tile to the left its
        // first TILE - M columns
        let put = if store {
            let overlap = |at: usize| if at > 0 { TILE - M } else { 0 };
            Put::Over(overlap(y0), overlap(x0))
        } else {
            Put::Add
        };
        for (c, (j, h)) in (0..channels).flat_map(|c| lanes.pieces::<V>().map(move |l| (c, l))) {
            if let (0, Some((k, c))) = (j, next_block(k, c, (n, channels))) {
                prefetch::<true>(
                    (dx.base(), geo.chunks),
                    (geo.conv.input, c),
                    (geo.corner(t0 + k), TILE),
                    lanes,
                );
            }
            let col = lanes.column(k, j);
            let products = &dv[c * XI * cols + col..][..(XI - 1) * cols + V::LANES];
            let dt = winograd::input_grad_tile(
                #[inline(always)]
                |i, j| load::<V>(products, (i * TILE + j) * cols),
            );
            let input = geo.conv.input;
            if y0 + TILE <= input.height && x0 + TILE <= input.width {
                let first = geo.input_row(c, y0, x0).expect("inside");
                dx.put_block(first, input.width, h, &dt, put);
                continue;
            }
            for (i, line) in dt.iter().enumerate() {
                for (j, &value) in line.iter().enumerate() {
                    if let Some(row) = geo.input_row(c, y0 + i, x0 + j) {
                        dx.put(row, h, value, put.at(i, j));
                    }
                }
            }
        }
    }
}

/// The operands of one group's `V_ξ dM_ξ^T` in lane block `lanes`, padding lanes masked
/// (`masks`, per chunk of the block): V as A panels (rows: channels), dM as B panels
/// (columns: filters), both of depth the group's columns ([`Lanes::column`]).
#[inline(always)]
fn weight_grad_operands<V: Vector>(
    geo: &Geometry,
    (dy, x): (OutputGrad<'_>, &[f32]),
    lanes: Lanes,
    (t0, n): (usize, usize),
    (dm, v): (&mut [f32], &mut [f32]),
    masks: [f32x8; BLOCK],
) {
    let (filters, channels) = (geo.conv.filters, geo.conv.input.channels);
    let cols = 8 * n * lanes.len;
    for k in 0..n {
        let (t, at) = (t0 + k, |j| lanes.column(k, j));
        put_planes::<V, NR>(
            (dm, b_len(filters, cols), panel_len(cols, NR)),
            (filters, lanes, masks, at),
            #[inline(always)]
            |f| dy.prefetch(geo, f, t, lanes),
            #[inline(always)]
            |f, h, mask| dy.transform(geo, f, t, h, mask),
        );
        put_planes::<V, MR>(
            (v, a_len(channels, cols), panel_len(cols, MR)),
            (channels, lanes, masks, at),
            #[inline(always)]
            |c| {
                prefetch::<false>(
                    (x.as_ptr().cast(), geo.chunks),
                    (geo.conv.input, c),
                    (geo.corner(t), TILE),
                    lanes,
                )
            },
            #[inline(always)]
            |c, h, mask| input_transform(geo, x, c, t, h, mask),
        );
    }
}

/// Writes the transformed blocks of `planes` planes (`transform(plane, chunk, mask)`, at
/// vector `V` from that chunk on) of one tile in lane block `lanes` as packed panels `W` wide
/// (one panel line per plane, depth the columns `column(j)` + lane of chunk j): position ξ
/// into the `per_xi` values from `ξ * per_xi`, `panel` values per panel. Planes go in eights,
/// whose 8 x 8 blocks of (plane, lane) of every chunk are transposed in registers so that
/// each depth is one contiguous store (the remaining planes lane by lane); `ahead(plane)` is
/// called one plane before its transform.
#[inline(always)]
fn put_planes<V: Vector, const W: usize>(
    (panels, per_xi, panel): (&mut [f32], usize, usize),
    (planes, lanes, masks, column): (usize, Lanes, [f32x8; BLOCK], impl Fn(usize) -> usize),
    ahead: impl Fn(usize),
    transform: impl Fn(usize, usize, V) -> [[V; TILE]; TILE],
) {
    // an eight of planes is whole lines of 8 within panels (W = 24) or two whole panels
    // (W = 4)
    const { assert!(W.is_multiple_of(8) || 8usize.is_multiple_of(W)) };
    let run = W.min(8);
    let at = |p: usize, depth: usize| p / W * panel + depth * W + p % W;
    let whole = planes - planes % 8;
    let masks: &[f32] = cast_slice(&masks);
    for p0 in (0..whole).step_by(8) {
        for (j, h) in lanes.pieces::<V>() {
            let mask = load(masks, 8 * j);
            // loops, not `array::from_fn` (engine/README.md, "One source for every width")
            let mut blocks = [[[mask; TILE]; TILE]; 8];
            for (i, block) in blocks.iter_mut().enumerate() {
                if j == 0 && p0 + i + 1 < planes {
                    ahead(p0 + i + 1);
                }
                *block = transform(p0 + i, h, mask);
            }
            for xi in 0..XI {
                let mut lines = [mask; 8];
                for (line, block) in lines.iter_mut().zip(&blocks) {
                    *line = block[xi / TILE][xi % TILE];
                }
                let depths = V::transpose_chunks(lines);
                let panels = &mut panels[xi * per_xi..][..per_xi];
                for i in 0..V::LANES / 8 {
                    let first = column(j + i);
                    for (l, values) in depths.iter().enumerate() {
                        let values = values.chunk(i).to_array();
                        for (r, part) in values.chunks_exact(run).enumerate() {
                            let to = at(p0 + r * run, first + l);
                            panels[to..to + run].copy_from_slice(part);
                        }
                    }
                }
            }
        }
    }
    for (p, (j, h)) in (whole..planes).flat_map(|p| lanes.pieces::<V>().map(move |l| (p, l))) {
        if j == 0 && p + 1 < planes {
            ahead(p + 1);
        }
        let block = transform(p, h, load(masks, 8 * j));
        for i in 0..V::LANES / 8 {
            let to = at(p, column(j + i));
            for xi in 0..XI {
                let line = &mut panels[xi * per_xi + to..][..7 * W + 1];
                let values = block[xi / TILE][xi % TILE].chunk(i).to_array();
                for (l, value) in values.into_iter().enumerate() {
                    line[l * W] = value;
                }
            }
        }
    }
}

/// The sum over the groups of lane block `lanes` of `V_ξ dM_ξ^T` into `du` (ξ, channel,
/// filter), the operands transformed at vector `V` into the A panels `v` and B panels `dm`.
#[inline(always)]
fn weight_grad_block<V: Vector>(
    geo: &Geometry,
    (dy, x): (OutputGrad<'_>, &[f32]),
    lanes: Lanes,
    (dm, v): (&mut [f32], &mut [f32]),
    masks: [f32x8; BLOCK],
    du: &mut [f32],
) {
    let (filters, channels) = (geo.conv.filters, geo.conv.input.channels);
    for (g, (t0, n)) in geo.groups(lanes).enumerate() {
        let cols = 8 * n * lanes.len;
        let (dm_xi, v_xi) = (b_len(filters, cols), a_len(channels, cols));
        weight_grad_operands::<V>(geo, (dy, x), lanes, (t0, n), (dm, v), masks);
        for xi in 0..XI {
            packed_product(
                cols,
                &v[xi * v_xi..][..v_xi],
                &dm[xi * dm_xi..][..dm_xi],
                Init::Beta(if g == 0 { 0.0 } else { 1.0 }),
                MatMut::row_major(
                    &mut du[xi * filters * channels..][..filters * channels],
                    channels,
                    filters,
                ),
            );
        }
    }
}

/// dW += `G^T (sum over lane blocks, in order, of dU) G`, where a block's `dU_ξ` is the sum
/// over its groups of `dM_ξ V_ξ^T` (filters x channels, depth the group's columns), the
/// padding lanes masked out of both operands. Each is computed as its transpose `V_ξ dM_ξ^T`
/// (channels x filters): the filters as columns fill the 16-lane kernel's 48-wide tiles in
/// the MNIST network (64 of them, where its 32 channels would leave the tiles to the 8-lane
/// kernel); every element is the same chain either way.
pub(super) fn weight_grad(conv: Conv2d, x: Loc, w: Loc, out: Loc, layout: &Layout) -> BackwardStep {
    let geo = Geometry::new(conv, layout.chunks);
    let mask = layout.lane_mask.clone();
    let (filters, channels) = (conv.filters, conv.input.channels);
    let du_len = XI * filters * channels;
    let dm_len = b_len(filters, COLUMNS);
    let v_len = a_len(channels, COLUMNS);
    let part_len = XI * (dm_len + v_len);
    Box::new(move |seen: &Seen, grads: &mut Bwd| {
        let (chunks, wide) = (geo.chunks, sixteen_lanes());
        let dy = OutputGrad::of(&geo, &grads.rows[out.range(chunks)], seen, out);
        let x = floats(&seen.rows[x.range(chunks)]);
        let per = geo.per_part();
        let parts = chunks.div_ceil(per);
        let blocks = geo.blocks();
        let space = floats_mut(
            grads
                .work
                .take_aligned((blocks * du_len + parts * part_len).div_ceil(8)),
        );
        let (partials, rest) = space.split_at_mut(blocks * du_len);
        partials
            .par_chunks_mut(per / BLOCK * du_len)
            .zip(rest[..parts * part_len].par_chunks_mut(part_len))
            .enumerate()
            .for_each(|(p, (partials, scratch))| {
                let (dm, v) = scratch.split_at_mut(XI * dm_len);
                let owned = p * per..((p + 1) * per).min(chunks);
                for (du, lanes) in partials.chunks_mut(du_len).zip(geo.lane_blocks(owned)) {
                    // chunks past the batch (a wider program's padding) have no real lanes
                    let masks = std::array::from_fn(|j| {
                        mask.get(lanes.first + j).copied().unwrap_or(f32x8::ZERO)
                    });
                    at_width!(
                        wide,
                        lanes,
                        weight_grad_block(&geo, (dy, x), lanes, (dm, v), masks, du)
                    );
                }
            });
        // the blocks' sums added in block order, a stretch of elements per task
        let (total, others) = partials.split_at_mut(du_len);
        let others = &*others;
        total
            .par_chunks_mut(SUM_STRETCH)
            .enumerate()
            .for_each(|(k, total)| {
                for other in others.chunks(du_len) {
                    let other = &other[k * SUM_STRETCH..][..total.len()];
                    for (t, o) in total.iter_mut().zip(other) {
                        *t += o;
                    }
                }
            });
        let total = &*total;
        let dw = &mut w.source_mut(grads.flat, grads.params)[w.range(1)];
        dw.par_chunks_mut(channels * 9)
            .enumerate()
            .for_each(|(f, dw)| {
                for (c, dw) in dw.chunks_mut(9).enumerate() {
                    let dg = winograd::kernel_grad_tile(|i, j| {
                        total[((i * TILE + j) * channels + c) * filters + f]
                    });
                    for (d, value) in dw.iter_mut().zip(dg.iter().flatten()) {
                        *d += value;
                    }
                }
            });
    })
}
