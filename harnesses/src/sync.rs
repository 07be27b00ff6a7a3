//! The sync shim: the one place the models touch a concurrency primitive.
//!
//! A model keeps ALL its shared state (the modelled kernel's memory) in one [`Monitor`]: a
//! mutex and a condition variable. Each kernel step is one critical section on it
//! ([`Monitor::step`]), so the checkers interleave the modelled CPUs between kernel steps,
//! never inside one (sequentially consistent memory, at kernel-step granularity). A kernel
//! path that waits (spins on a `bpf_spin_lock`, `hrtimer_cancel` waiting for a running
//! callback, `cancel_work_sync`) blocks on the condition ([`Monitor::wait_until`]) instead of
//! spinning, so no checker wastes schedules on spin iterations.
//!
//! The primitives are those of std, loom or shuttle. Unlike tokio's and mountpoint-s3's shims
//! (chosen at compile time by `cfg(loom)` / a feature), the choice is made at run time by
//! [`with_tool`]: one build runs every race under both checkers, so `bpfspec races` can put
//! loom's and shuttle's figures side by side without a second compilation of the workspace.
//! Loom and shuttle run their threads as coroutines on the calling OS thread, which is why a
//! thread-local choice reaches every modelled CPU.

use std::cell::Cell;
use std::sync::PoisonError;

/// Which checker's primitives the models use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    /// Plain threads: one real execution.
    Std,
    Loom,
    Shuttle,
}

thread_local! {
    static TOOL: Cell<Tool> = const { Cell::new(Tool::Std) };
}

/// Run `f` with the models' primitives taken from `tool`.
pub fn with_tool<R>(tool: Tool, f: impl FnOnce() -> R) -> R {
    struct Restore(Tool);
    impl Drop for Restore {
        fn drop(&mut self) {
            TOOL.with(|t| t.set(self.0));
        }
    }
    let _restore = Restore(TOOL.with(|t| t.replace(tool)));
    f()
}

fn tool() -> Tool {
    TOOL.with(Cell::get)
}

/// What a waiting step decides.
pub enum Wait<R> {
    /// The condition holds: the step ran and returned this.
    Ready(R),
    /// Not yet: sleep until another step changes the state.
    Blocked,
}

/// A mutex-protected value with a condition variable signalled after every step that a
/// thread waits for, and a second one, the doorbell, signalled only by [`Monitor::kick`]. Both
/// spare the checkers futile schedules (a notification is a scheduling point for loom): a
/// step notifies only when some thread waits on the condition, and a long-lived waiter (the
/// kworker, idle until work is queued) sleeps on the doorbell rather than re-checking after
/// every step (a kworker scenario ran 15 to 30 times as many loom executions).
pub struct Monitor<T>(Inner<T>);

/// The value and the number of threads waiting on the every-step condition.
struct Guarded<T> {
    value: T,
    step_waiters: usize,
}

// One monitor per execution: the size difference between the tools' types does not matter.
#[allow(clippy::large_enum_variant)]
enum Inner<T> {
    Std(std::sync::Mutex<Guarded<T>>, [std::sync::Condvar; 2]),
    Loom(loom::sync::Mutex<Guarded<T>>, [loom::sync::Condvar; 2]),
    Shuttle(
        shuttle::sync::Mutex<Guarded<T>>,
        [shuttle::sync::Condvar; 2],
    ),
}

/// The every-step condition and the doorbell, as indices of a monitor's pair.
const STEP: usize = 0;
const DOORBELL: usize = 1;

/// The same body for each tool's mutex and condvars (their APIs are std's).
macro_rules! on_each_tool {
    ($inner:expr, |$m:ident, $c:ident| $body:expr) => {
        match $inner {
            Inner::Std($m, $c) => $body,
            Inner::Loom($m, $c) => $body,
            Inner::Shuttle($m, $c) => $body,
        }
    };
}

impl<T> Monitor<T> {
    pub fn new(value: T) -> Monitor<T> {
        let g = Guarded {
            value,
            step_waiters: 0,
        };
        Monitor(match tool() {
            Tool::Std => Inner::Std(std::sync::Mutex::new(g), Default::default()),
            Tool::Loom => Inner::Loom(
                loom::sync::Mutex::new(g),
                [loom::sync::Condvar::new(), loom::sync::Condvar::new()],
            ),
            Tool::Shuttle => Inner::Shuttle(
                shuttle::sync::Mutex::new(g),
                [shuttle::sync::Condvar::new(), shuttle::sync::Condvar::new()],
            ),
        })
    }

    /// One atomic kernel step.
    pub fn step<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        on_each_tool!(&self.0, |m, c| {
            let mut g = m.lock().unwrap_or_else(PoisonError::into_inner);
            let r = f(&mut g.value);
            let waiters = g.step_waiters > 0;
            drop(g);
            if waiters {
                c[STEP].notify_all();
            }
            r
        })
    }

    /// A step that may have to wait: `f` runs on each wake-up (after any step) until it is
    /// ready.
    pub fn wait_until<R>(&self, f: impl FnMut(&mut T) -> Wait<R>) -> R {
        self.wait_on(STEP, f)
    }

    /// A wait that `f` re-checks only when the doorbell rings ([`Monitor::kick`]): every
    /// step that can make it ready must kick.
    pub fn wait_for_kick<R>(&self, f: impl FnMut(&mut T) -> Wait<R>) -> R {
        self.wait_on(DOORBELL, f)
    }

    /// Ring the doorbell.
    pub fn kick(&self) {
        on_each_tool!(&self.0, |_m, c| c[DOORBELL].notify_all())
    }

    fn wait_on<R>(&self, cv: usize, mut f: impl FnMut(&mut T) -> Wait<R>) -> R {
        on_each_tool!(&self.0, |m, c| {
            let mut g = m.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                match f(&mut g.value) {
                    Wait::Ready(r) => {
                        let waiters = g.step_waiters > 0;
                        drop(g);
                        if waiters {
                            c[STEP].notify_all();
                        }
                        return r;
                    }
                    Wait::Blocked => {
                        let counted = cv == STEP;
                        g.step_waiters += usize::from(counted);
                        g = c[cv].wait(g).unwrap_or_else(PoisonError::into_inner);
                        g.step_waiters -= usize::from(counted);
                    }
                }
            }
        })
    }
}

/// A modelled CPU (a checker thread).
pub struct JoinHandle(JoinInner);

enum JoinInner {
    Std(std::thread::JoinHandle<()>),
    Loom(loom::thread::JoinHandle<()>),
    Shuttle(shuttle::thread::JoinHandle<()>),
}

pub fn spawn(f: impl FnOnce() + Send + 'static) -> JoinHandle {
    JoinHandle(match tool() {
        Tool::Std => JoinInner::Std(std::thread::spawn(f)),
        Tool::Loom => JoinInner::Loom(loom::thread::spawn(f)),
        Tool::Shuttle => JoinInner::Shuttle(shuttle::thread::spawn(f)),
    })
}

impl JoinHandle {
    /// Wait for the thread; its panic (a broken invariant) goes on in the caller.
    pub fn join(self) {
        let r = match self.0 {
            JoinInner::Std(h) => h.join(),
            JoinInner::Loom(h) => h.join(),
            JoinInner::Shuttle(h) => h.join(),
        };
        if let Err(p) = r {
            std::panic::resume_unwind(p);
        }
    }
}
