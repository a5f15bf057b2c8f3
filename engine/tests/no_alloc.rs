//! Steady-state training allocates nothing: after the first iteration, a full iteration
//! (inputs written, forward, backward, clipping, Adam, projection) performs zero heap
//! allocations. Counted with a global allocator; this file holds one test so no other test
//! thread can allocate meanwhile.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use engine::optim::{Adam, Optimizer, clip_grad_norm};
use engine::{Grads, Graph, Program, Shape, Values, backward, forward};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Only the test's own thread is counted (the harness may allocate on its threads).
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if COUNTING.with(Cell::get) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn a_training_iteration_allocates_nothing() {
    // An NRU-shaped model with its regulariser, every kind of reduction on the way.
    let graph = Graph::new();
    let x = graph.input(Shape::batched(10));
    let t = graph.input(Shape::batched(1));
    let coefficient = graph.input(Shape::scalar());
    let w = graph.param("W", 10);
    let a = w.tanh().square();
    let factor = x.sign() * x.abs().pow(w) * a + (1.0 - a);
    let y = factor.prod_features(10);
    let reg = w.abs().min((1.0 - w.abs()).abs()).mean_all();
    let loss = y.mse(t) + coefficient * reg + w.abs().sum_all() * 1e-9;
    let tape = graph.finish(loss);

    let program = Program::new(&tape, 128);
    let mut values = Values::new(&program);
    let mut grads = Grads::new(&program);
    let mut adam = Adam::new(tape.param_len(), 1e-3);
    let ranges: Vec<_> = tape.params().iter().map(|p| p.range.clone()).collect();
    let mut params = vec![0.3; tape.param_len()];
    let mut iteration = |i: usize, values: &mut Values, grads: &mut Grads| {
        for f in 0..10 {
            for (b, v) in values.feature_mut(x.id(), f).iter_mut().enumerate() {
                *v = 1.0 + ((b * 7 + f * 3 + i) % 11) as f32 / 10.0;
            }
        }
        values.feature_mut(t.id(), 0).fill(1.5);
        values.flat_mut(coefficient.id())[0] = i as f32 * 0.1;
        forward(&params, values);
        backward(&params, values, grads);
        clip_grad_norm(grads.params_mut(), &ranges, 1.0);
        adam.step(&mut params, grads.params());
        for p in &mut params {
            *p = p.clamp(-1.0, 1.0);
        }
    };
    iteration(0, &mut values, &mut grads);
    COUNTING.with(|c| c.set(true));
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    for i in 1..50 {
        iteration(i, &mut values, &mut grads);
    }
    let after = ALLOCATIONS.load(Ordering::SeqCst);
    // The counter itself works: one deliberate allocation is seen.
    let probe = std::hint::black_box(Box::new(1u64));
    let seen = ALLOCATIONS.load(Ordering::SeqCst) - after;
    drop(probe);
    COUNTING.with(|c| c.set(false));
    assert_eq!(seen, 1, "the allocation counter missed an allocation");
    assert_eq!(
        after - before,
        0,
        "{} allocations in 49 iterations",
        after - before
    );
    assert!(values.scalar(tape.output()).is_finite());
}
