//! Implicit kfunc arguments: on 6.x a kfunc that needs the calling program takes a trailing
//! `aux__prog` the verifier fills in (`bpf_foo_impl`); 7.0's `KF_IMPLICIT_ARGS`
//! (b236134f70ba) hides it behind the plain name `bpf_foo`. The pairing of the two forms is a
//! bijection, the `_impl` form takes exactly the plain form's arguments plus the hidden one,
//! and each era has exactly one form of each pair.
//!
//! Bounds: every kfunc of the program model (`Kfunc::ALL`), every pair of them, every era:
//! exhaustive. Through the whole verifier: a SchedCls program registering a wq or task_work
//! callback by the era's form, each of R1 to R5 left unset in turn, every era with the kind.

use spec::prog::{Kfunc, Reg};
use spec::verify::{Arg, Verdict, kfunc_args, kfunc_exists, verify};
use spec::{Kernel, ProgType, RejectReason};

use crate::programs::{Async, Registration, registering_case};
use crate::universe::{any_era, any_of};

/// The plain form of an `_impl` kfunc: the kfunc named like it without the suffix.
fn plain_form(k: Kfunc) -> Option<Kfunc> {
    let stem = k.kernel_name().strip_suffix("_impl")?;
    let mut found = Kfunc::ALL.into_iter().filter(|p| p.kernel_name() == stem);
    let plain = found.next();
    assert!(found.next().is_none(), "one kfunc per name");
    plain
}

/// verifier.c `check_kfunc_args` (`__prog` arguments, 6.10 to 6.x) and 7.0's
/// `KF_IMPLICIT_ARGS` resolution: `bpf_foo_impl` ↔ `bpf_foo` is one-to-one, the `_impl`
/// form's visible arguments are the plain form's, the hidden `aux__prog` is its last, and no
/// other kfunc has a hidden argument.
#[kani::proof]
#[kani::unwind(12)] // the loops over the eleven kfuncs of the model
pub fn verify_kfunc_args_implicit_pairs_are_a_bijection() {
    let (k, other) = (any_of(&Kfunc::ALL), any_of(&Kfunc::ALL));
    let args = kfunc_args(k);
    let hidden = args.iter().filter(|&&a| a == Arg::Hidden).count();
    match plain_form(k) {
        Some(plain) => {
            assert_eq!(hidden, 1, "an _impl kfunc takes one hidden argument");
            assert_eq!(
                args.last(),
                Some(&Arg::Hidden),
                "the hidden argument is last"
            );
            assert_eq!(
                &args[..args.len() - 1],
                kfunc_args(plain),
                "{} takes {}'s arguments",
                k.kernel_name(),
                plain.kernel_name()
            );
            if other != k && plain_form(other).is_some() {
                assert_ne!(
                    plain_form(other),
                    Some(plain),
                    "two _impl forms of one kfunc"
                );
            }
            kani::cover!(plain_form(other).is_some() && other != k);
        }
        None => assert_eq!(hidden, 0, "only _impl kfuncs take hidden arguments"),
    }
    kani::cover!(plain_form(k).is_none() && kfunc_args(k).len() > 1);
}

/// verifier.c `add_kfunc_call` / `fetch_kfunc_meta` against each era's vmlinux BTF: an era
/// has the `_impl` form (6.x, `!implicit_kfunc_args`) or the plain one (7.0), never both, and
/// the other form is "invalid kernel function call".
#[kani::proof]
#[kani::unwind(12)] // the loops over the eleven kfuncs of the model
pub fn verify_kfunc_exists_one_form_per_era() {
    let kernel = Kernel::new(any_era(|_| true));
    let k = any_of(&Kfunc::ALL);
    kani::assume(plain_form(k).is_some());
    let plain = plain_form(k).expect("assumed");
    let (has_impl, has_plain) = (kfunc_exists(&kernel, k), kfunc_exists(&kernel, plain));
    assert!(
        !(has_impl && has_plain),
        "{} and its plain form both exist",
        k.kernel_name()
    );
    if has_impl || has_plain {
        assert_eq!(has_plain, kernel.features.implicit_kfunc_args);
    }
    kani::cover!(has_impl, "an era of _impl forms");
    kani::cover!(has_plain, "an era of implicit arguments");
}

/// verifier.c `check_kfunc_args` on the `_impl` forms (6.10 to 6.x: the trailing
/// `aux__prog`, a `__prog` argument, is skipped and `fixup_kfunc_call` fills it in) and
/// 7.0's `KF_IMPLICIT_ARGS` (b236134f70ba: the plain form has no such argument): a program
/// must set exactly the visible arguments, those of the kernel prototypes
/// `bpf_wq_set_callback(wq, callback_fn, flags)` and
/// `bpf_task_work_schedule_signal(task, tw, map__map, callback)`; an unset visible one is
/// "R%d !read_ok" (but an unset callback argument leaves the callback unreachable,
/// "unreachable insn"), the hidden one may be left unset.
#[kani::proof]
#[kani::unwind(7)] // the choice among six registers and the five argument registers
pub fn verify_kfunc_args_hidden_arg_never_read() {
    let era = any_era(|f| f.wq);
    let kind = any_of(&[Async::Wq, Async::TaskWork]);
    let f = era.features();
    kani::assume(kind.in_era(&f));
    let unset = any_of(&[None, Some(1), Some(2), Some(3), Some(4), Some(5)]);
    let reg = Registration {
        unset: unset.map(Reg),
        ..Registration::of(kind)
    };
    let c = registering_case(
        &f,
        ProgType::SchedCls,
        false,
        reg,
        |_| {},
        |b| {
            b.ret(0);
        },
    );
    let verdict = verify(&Kernel::new(era), &c);
    // The visible arguments, and the one that is the callback.
    let (visible, callback) = match kind {
        Async::Wq => (3, 2),
        _ => (4, 4),
    };
    let expected = match unset {
        // The callback is reached only through its address (`check_cfg`, before the walk).
        Some(r) if r == callback => Verdict::Reject(RejectReason::UnreachableInsn),
        Some(r) if r <= visible => Verdict::Reject(RejectReason::UninitRegister),
        _ => Verdict::Accept,
    };
    assert_eq!(verdict, expected, "{kind:?} on {era:?}, unset: {unset:?}");
    kani::cover!(
        !f.implicit_kfunc_args && unset == Some(visible + 1) && verdict == Verdict::Accept,
        "an _impl form with its aux__prog register unset"
    );
    kani::cover!(
        f.implicit_kfunc_args && unset == Some(visible) && verdict != Verdict::Accept,
        "the last visible argument of a KF_IMPLICIT_ARGS kfunc is read"
    );
}
