//! A CNN training step allocates nothing in steady state, on one thread or two: after the
//! first steps (which grow the packing space of the matrix products), forward, backward,
//! clipping and Adam with weight decay perform zero heap allocations on any thread. Counted
//! with a global allocator; this file holds one test so no other test runs meanwhile.
//!
//! The steps run inside the pool (`install`), as a training loop does: work a step splits
//! then goes through the workers' own queues. (Called from outside any pool, each split
//! would enter the global pool's shared queue, which allocates a block now and then.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use engine::optim::{Adam, Optimizer, clip_grad_norm};
use engine::{
    ConvMethod, Grads, Graph, Image, Program, Shape, Values, WeightLayout, backward, forward,
};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static COUNTING: AtomicBool = AtomicBool::new(false);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn a_cnn_training_step_allocates_nothing() {
    for method in [ConvMethod::Direct, ConvMethod::Winograd] {
        training_steps_allocate_nothing(method);
    }
}

/// The check, with the second convolution computed by `method`.
fn training_steps_allocate_nothing(method: ConvMethod) {
    // large enough for every parallel path: split products, elementwise steps in pieces,
    // the vectorised Adam
    let image = Image::new(1, 28, 28);
    let graph = Graph::new();
    let x = graph.input(Shape::batched(image.features()));
    let t = graph.input(Shape::batched(1));
    let (w1, b1) = (graph.param("w1", 32 * 9), graph.param("b1", 32));
    let (w2, b2) = (graph.param("w2", 16 * 32 * 9), graph.param("b2", 16));
    let (w3, b3) = (graph.param("w3", 64 * 16 * 12 * 12), graph.param("b3", 64));
    let (w4, b4) = (graph.param("w4", 9 * 64), graph.param("b4", 9));
    let h = x.conv2d(w1, b1, image, 32, 3).relu();
    let h = h
        .conv2d_by(method, w2, b2, Image::new(32, 26, 26), 16, 3)
        .relu();
    let h = h.max_pool2(Image::new(16, 24, 24)).dropout(0.25);
    let h = (h.matmul(w3, WeightLayout::OutIn) + b3).relu().dropout(0.5);
    let digits: Vec<f32> = (1..=9).map(|d| d as f32).collect();
    let d = (h.matmul(w4, WeightLayout::OutIn) + b4).soft_argmax(&digits);
    let loss = (d / 3.0).mse(t);
    let tape = graph.finish(loss);

    let program = Program::new(&tape, 16);
    let mut values = Values::new(&program);
    let mut grads = Grads::new(&program);
    let mut params: Vec<f32> = (0..tape.param_len())
        .map(|i| ((i * 7919) % 1000) as f32 / 20_000.0 - 0.025)
        .collect();
    let decayed = tape.param_span(&[w4.id(), b4.id()]);
    let mut adam = Adam::new(params.len(), 1e-3).with_weight_decay(decayed, 1e-3);
    let ranges: Vec<_> = tape.params().iter().map(|p| p.range.clone()).collect();
    for f in 0..image.features() {
        for (b, v) in values.feature_mut(x.id(), f).iter_mut().enumerate() {
            *v = ((f * 13 + b * 7) % 17) as f32 / 8.0 - 0.5;
        }
    }
    values.feature_mut(t.id(), 0).fill(1.0);

    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a pool");
        pool.install(|| {
            let mut step = |seed: u64| {
                values.set_noise_seed(seed);
                forward(&params, &mut values);
                backward(&params, &values, &mut grads);
                clip_grad_norm(grads.params_mut(), &ranges, 1.0);
                adam.step(&mut params, grads.params());
            };
            step(0);
            step(1);
            ALLOCATIONS.store(0, Ordering::SeqCst);
            COUNTING.store(true, Ordering::SeqCst);
            for seed in 2..6 {
                step(seed);
            }
            COUNTING.store(false, Ordering::SeqCst);
        });
        let counted = ALLOCATIONS.load(Ordering::SeqCst);
        // the counter itself works: one deliberate allocation is seen
        COUNTING.store(true, Ordering::SeqCst);
        let probe = std::hint::black_box(Box::new(1u64));
        COUNTING.store(false, Ordering::SeqCst);
        drop(probe);
        assert_eq!(
            ALLOCATIONS.load(Ordering::SeqCst),
            counted + 1,
            "the counter missed one"
        );
        assert_eq!(
            counted, 0,
            "{counted} allocations in 4 steps on {threads} thread(s), {method:?}"
        );
        assert!(values.scalar(tape.output()).is_finite());
    }
}
