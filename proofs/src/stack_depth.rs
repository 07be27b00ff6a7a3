//! `check_max_stack_depth`: the spec's verdict on call graphs of small subprograms equals a
//! reference recursive definition of the stack a call chain needs, and async callbacks are
//! stack roots of their own.
//!
//! Bounds: four subprograms (`main` and three static ones, each calling only later ones: the
//! kernel refuses recursion) whose frames take 0, 8, 136, 264 or 512 bytes, every call graph
//! of that shape; the same four with frames of 0, 264 or 512 bytes and each edge a call, the
//! registration of a timer callback, or none; call chains of 1 to 10 frames; a timer
//! callback registered by `main` and perhaps also called directly. Each case goes through
//! `spec::verify::verify` whole.

use spec::prog::build::Builder;
use spec::prog::{Callee, Cond, Helper, MapDecl, Reg};
use spec::verify::{Verdict, verify};
use spec::{Era, Field, Kernel, MapKind, RejectReason, ValueLayout, layout};

use crate::programs::{Frame, case, holding, stack_cost, static_subprog, subprogs_case};
use crate::universe::{any_era, any_of};

/// `MAX_BPF_STACK`.
const MAX_STACK: i64 = 512;
/// `MAX_CALL_FRAMES`.
const MAX_CALL_FRAMES: u8 = 8;
/// `MAX_CALL_FRAMES` since v7.2 (`Features::sixteen_call_frames`).
const SIXTEEN_CALL_FRAMES: u8 = 16;
/// Subprograms of the call-graph harness.
const N: usize = 4;

/// The subprograms after `i` whose edge from `i` satisfies `is`, `edges` holding one edge per
/// pair `i < j` in order (0→1, 0→2, 0→3, 1→2, 1→3, 2→3).
fn later<E: Copy>(edges: &[E; 6], i: usize, is: impl Fn(E) -> bool) -> impl Iterator<Item = usize> {
    let pair = |i: usize, j: usize| i * (2 * N - i - 1) / 2 + (j - i - 1);
    (i + 1..N).filter(move |&j| is(edges[pair(i, j)]))
}

/// The calls of subprogram `i` to later ones.
fn calls(edges: &[bool; 6], i: usize) -> impl Iterator<Item = usize> + '_ {
    later(edges, i, |called| called)
}

/// Whether every subprogram but `main` has an edge that `is` from an earlier one (else
/// `check_cfg`: "unreachable insn").
fn all_reached<E: Copy>(edges: &[E; 6], is: impl Fn(E) -> bool + Copy) -> bool {
    (1..N).all(|j| (0..j).any(|i| later(edges, i, is).any(|c| c == j)))
}

/// The reference: the stack the deepest call chain from `s` needs, each frame rounded up to
/// 16 bytes, defined by recursion on the call graph.
fn deepest(frames: &[Frame; N], edges: &[bool; 6], s: usize) -> i64 {
    frames[s].cost()
        + calls(edges, s)
            .map(|c| deepest(frames, edges, c))
            .max()
            .unwrap_or(0)
}

/// The number of frames of the longest call chain from `s`.
fn longest(edges: &[bool; 6], s: usize) -> usize {
    1 + calls(edges, s)
        .map(|c| longest(edges, c))
        .max()
        .unwrap_or(0)
}

/// verifier.c `check_max_stack_depth` / `check_max_stack_depth_subprog` (all eras): a
/// program loads exactly when its deepest call chain needs at most `MAX_BPF_STACK` bytes,
/// else "combined stack size of %d calls is %d. Too large".
#[kani::proof]
#[kani::unwind(5)] // the recursion and the loops over the four subprograms
pub fn verify_check_max_stack_depth_matches_recursive_definition() {
    let era = any_era(|_| true);
    let frames: [Frame; N] = kani::any();
    let edges: [bool; 6] = kani::any();
    // Every subprogram is called.
    kani::assume(all_reached(&edges, |called| called));
    let c = subprogs_case(vec![], N, |i, b| {
        frames[i].touch(b);
        for c in calls(&edges, i) {
            b.call(Callee::Subprog(c as u8));
        }
    });
    let verdict = verify(&Kernel::new(era), &c);
    let need = deepest(&frames, &edges, 0);
    let expected = if need > MAX_STACK {
        Verdict::Reject(RejectReason::CombinedStackTooLarge)
    } else {
        Verdict::Accept
    };
    assert_eq!(verdict, expected, "stack of {need} bytes");
    kani::cover!(
        verdict == Verdict::Accept && longest(&edges, 0) == N,
        "a chain of four frames loads"
    );
    kani::cover!(
        need > MAX_STACK && frames.iter().all(|f| f.cost() < MAX_STACK),
        "frames that fit alone, refused together"
    );
}

/// verifier.c `check_func_call` / `check_max_stack_depth_subprog` (all eras): a chain of
/// more than `MAX_CALL_FRAMES` frames is "the call stack of %d frames is too deep !";
/// `MAX_CALL_FRAMES` is 8, and 16 since v7.2 (2148794eeaf2; Debian's 7.2.13 in the VM matrix
/// loads a chain of 16 frames and refuses 17).
#[kani::proof]
#[kani::unwind(18)] // one subprogram per frame, at most 17
pub fn verify_check_max_stack_depth_call_chain_limit() {
    let era = any_era(|_| true);
    let kernel = Kernel::new(era);
    let limit = if kernel.features.sixteen_call_frames {
        SIXTEEN_CALL_FRAMES
    } else {
        MAX_CALL_FRAMES
    };
    let frames: u8 = kani::any_where(|&n| (1..=SIXTEEN_CALL_FRAMES + 1).contains(&n));
    // Each subprogram calls the next.
    let c = subprogs_case(vec![], usize::from(frames), |i, b| {
        if i + 1 < usize::from(frames) {
            b.call(Callee::Subprog(i as u8 + 1));
        }
    });
    let verdict = verify(&kernel, &c);
    let expected = if frames > limit {
        Verdict::Reject(RejectReason::CallStackTooDeep)
    } else {
        Verdict::Accept
    };
    assert_eq!(verdict, expected, "a chain of {frames} frames on {era}");
    kani::cover!(frames == limit && verdict == Verdict::Accept);
    kani::cover!(frames == limit + 1 && verdict != Verdict::Accept);
    kani::cover!(
        frames == MAX_CALL_FRAMES + 1 && verdict == Verdict::Accept,
        "7.2's nine frames"
    );
}

/// verifier.c `check_max_stack_depth` (since 6.5, "bpf: Repeat check_max_stack_depth for
/// async callbacks"; the selftest mirror checks 6.12 to 7.2): an async callback is a
/// root of its own, its frame is not added to the frame of the program that registers it,
/// unless that program also calls it directly (async_stack_depth.c).
#[kani::proof]
pub fn verify_check_max_stack_depth_async_callback_is_own_root() {
    let era = any_era(|_| true);
    kani::assume(era >= Era::V6_12);
    let (main_frame, cb_frame): (Frame, Frame) = kani::any();
    let called_directly: bool = kani::any();
    let timer = ValueLayout {
        timer: 1,
        ..ValueLayout::default()
    };
    let map = MapDecl::new(MapKind::Hash, timer);
    let mut b = Builder::default();
    let done = b.label();
    main_frame.touch(&mut b);
    b.lookup(0).jump_if(spec::prog::Cond::Eq, Reg::R0, 0, done);
    b.mov_reg(Reg::R1, Reg::R0)
        .add(Reg::R1, layout::offset(Field::Timer) as i32)
        .func(Reg::R2, 1)
        .helper(Helper::TimerSetCallback);
    if called_directly {
        b.call(Callee::Subprog(1));
    }
    b.at(done).ret(0);
    let main = b.finish("main", spec::prog::Linkage::Global);
    cb_frame.touch(&mut b);
    b.ret(0);
    let cb = static_subprog(&mut b, 1);
    let c = case(vec![map], main, vec![cb]);
    let verdict = verify(&Kernel::new(era), &c);
    // main's frame holds the lookup key too (4 bytes at r10 - 4).
    let main_cost = main_frame.cost().max(16);
    let fits = if called_directly {
        main_cost + cb_frame.cost() <= MAX_STACK
    } else {
        main_cost.max(cb_frame.cost()) <= MAX_STACK
    };
    let expected = if fits {
        Verdict::Accept
    } else {
        Verdict::Reject(RejectReason::CombinedStackTooLarge)
    };
    assert_eq!(verdict, expected);
    kani::cover!(
        !called_directly && main_cost + cb_frame.cost() > MAX_STACK && verdict == Verdict::Accept,
        "a callback that would not fit on its caller's stack loads as its own root"
    );
    kani::cover!(
        called_directly && verdict != Verdict::Accept,
        "a direct call counts"
    );
}

/// An edge of a call graph with async callbacks, from a subprogram to a later one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, kani::Arbitrary)]
pub enum Edge {
    None,
    /// `call f<j>`.
    Call,
    /// `bpf_timer_set_callback(&elem->timer, &f<j>)` on an element the subprogram looks up:
    /// `f<j>` is an async callback.
    Async,
}

/// The reference with async callbacks: the stack the deepest chain of direct calls from `s`
/// needs, `cost` giving each frame's.
fn deepest_call_chain(cost: &[i64; N], edges: &[Edge; 6], s: usize) -> i64 {
    cost[s]
        + later(edges, s, |e| e == Edge::Call)
            .map(|c| deepest_call_chain(cost, edges, c))
            .max()
            .unwrap_or(0)
}

/// The stack the deepest chain from any root needs: `main` and each async callback (a
/// subprogram some edge registers).
fn deepest_from_roots(cost: &[i64; N], edges: &[Edge; 6]) -> i64 {
    let is_callback =
        |j: usize| (0..j).any(|i| later(edges, i, |e| e == Edge::Async).any(|c| c == j));
    (0..N)
        .filter(|&s| s == 0 || is_callback(s))
        .map(|s| deepest_call_chain(cost, edges, s))
        .max()
        .unwrap_or(0)
}

/// verifier.c `check_max_stack_depth` (since 6.5: "bpf: Fix max stack depth check for async
/// callbacks", then "bpf: Repeat check_max_stack_depth for async callbacks"; the selftest
/// mirror checks 6.12 to 7.2): the roots are `main` and every async callback; from
/// each, the chains of direct calls are followed, an async callback's address is not (it
/// runs on a stack of its own) but a direct call to it is; the program loads exactly when
/// no chain from any root needs more than `MAX_BPF_STACK` bytes. A subprogram that registers
/// a callback holds the lookup's key at `r10 - 4`.
#[kani::proof]
#[kani::unwind(5)] // the recursion and the loops over the four subprograms
pub fn verify_check_max_stack_depth_async_roots_match_recursive_definition() {
    let era = any_era(|_| true);
    kani::assume(era >= Era::V6_12);
    let edges: [Edge; 6] = kani::any();
    kani::assume(all_reached(&edges, |e| e != Edge::None));
    let frames: [Frame; N] =
        std::array::from_fn(|_| any_of(&[Frame::Empty, Frame::B264, Frame::B512]));
    let registers = |i: usize| later(&edges, i, |e| e == Edge::Async).next().is_some();
    let cost: [i64; N] = std::array::from_fn(|i| {
        let key = if registers(i) { 4 } else { 0 };
        stack_cost(frames[i].bytes().max(key))
    });
    let timer = MapDecl::new(MapKind::Hash, holding(Field::Timer));
    let c = subprogs_case(vec![timer], N, |i, b| {
        frames[i].touch(b);
        if registers(i) {
            let skip = b.label();
            b.lookup(0).jump_if(Cond::Eq, Reg::R0, 0, skip);
            b.mov_reg(Reg::R6, Reg::R0);
            for cb in later(&edges, i, |e| e == Edge::Async) {
                b.mov_reg(Reg::R1, Reg::R6)
                    .add(Reg::R1, layout::offset(Field::Timer) as i32)
                    .func(Reg::R2, cb as u8)
                    .helper(Helper::TimerSetCallback);
            }
            b.bind(skip);
        }
        for c in later(&edges, i, |e| e == Edge::Call) {
            b.call(Callee::Subprog(c as u8));
        }
    });
    let verdict = verify(&Kernel::new(era), &c);
    let need = deepest_from_roots(&cost, &edges);
    let expected = if need > MAX_STACK {
        Verdict::Reject(RejectReason::CombinedStackTooLarge)
    } else {
        Verdict::Accept
    };
    assert_eq!(verdict, expected, "stack of {need} bytes");
    // The same graph with each registration a call, as before 6.5.
    let as_calls = edges.map(|e| if e == Edge::Async { Edge::Call } else { e });
    kani::cover!(
        verdict == Verdict::Accept && deepest_call_chain(&cost, &as_calls, 0) > MAX_STACK,
        "a callback that would not fit on its registrar's stack loads as its own root"
    );
    kani::cover!(
        verdict != Verdict::Accept && deepest_call_chain(&cost, &edges, 0) <= MAX_STACK,
        "a callback's own chain refused, main's fits"
    );
}
