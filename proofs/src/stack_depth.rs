//! `check_max_stack_depth`: the spec's verdict on call graphs of small subprograms equals a
//! reference recursive definition of the stack a call chain needs, and async callbacks are
//! stack roots of their own.
//!
//! Bounds: four subprograms (`main` and three static ones, each calling only later ones: the
//! kernel refuses recursion) whose frames take 0, 8, 136, 264 or 512 bytes, every call graph
//! of that shape; call chains of 1 to 10 frames; a timer callback registered by `main` and
//! perhaps also called directly. Each case goes through `spec::verify::verify` whole.

use spec::prog::build::Builder;
use spec::prog::{Callee, Helper, MapDecl, Reg};
use spec::verify::{Verdict, verify};
use spec::{Era, Field, Kernel, MapKind, RejectReason, ValueLayout, layout};

use crate::programs::{Frame, case, static_subprog, subprogs_case};
use crate::universe::any_era;

/// `MAX_BPF_STACK`.
const MAX_STACK: i64 = 512;
/// `MAX_CALL_FRAMES`.
const MAX_CALL_FRAMES: u8 = 8;
/// Subprograms of the call-graph harness.
const N: usize = 4;

/// The calls of subprogram `i` to later ones, `edges` holding one flag per pair `i < j` in
/// order (0→1, 0→2, 0→3, 1→2, 1→3, 2→3).
fn calls(edges: &[bool; 6], i: usize) -> impl Iterator<Item = usize> + '_ {
    let pair = |i: usize, j: usize| i * (2 * N - i - 1) / 2 + (j - i - 1);
    (i + 1..N).filter(move |&j| edges[pair(i, j)])
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
    // Every subprogram is called (`check_cfg`: "unreachable insn" otherwise).
    kani::assume((1..N).all(|j| (0..j).any(|i| calls(&edges, i).any(|c| c == j))));
    let c = subprogs_case(N, |i, b| {
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
/// more than `MAX_CALL_FRAMES` frames is "the call stack of %d frames is too deep !".
#[kani::proof]
#[kani::unwind(11)] // one subprogram per frame, at most 10
pub fn verify_check_max_stack_depth_call_chain_limit() {
    let era = any_era(|_| true);
    let frames: u8 = kani::any_where(|&n| (1..=10).contains(&n));
    // Each subprogram calls the next.
    let c = subprogs_case(usize::from(frames), |i, b| {
        if i + 1 < usize::from(frames) {
            b.call(Callee::Subprog(i as u8 + 1));
        }
    });
    let verdict = verify(&Kernel::new(era), &c);
    let expected = if frames > MAX_CALL_FRAMES {
        Verdict::Reject(RejectReason::CallStackTooDeep)
    } else {
        Verdict::Accept
    };
    assert_eq!(verdict, expected, "a chain of {frames} frames");
    kani::cover!(frames == MAX_CALL_FRAMES && verdict == Verdict::Accept);
    kani::cover!(frames == MAX_CALL_FRAMES + 1 && verdict != Verdict::Accept);
}

/// verifier.c `check_max_stack_depth` (since 6.5, "bpf: Repeat check_max_stack_depth for
/// async callbacks"; the selftest mirror checks 6.12, 6.18 and 7.0): an async callback is a
/// root of its own, its frame is not added to the frame of the program that registers it,
/// unless that program also calls it directly (async_stack_depth.c).
#[kani::proof]
pub fn verify_check_max_stack_depth_async_callback_is_own_root() {
    let era = any_era(|_| true);
    kani::assume(matches!(era, Era::V6_12 | Era::V6_18 | Era::V7_0));
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
