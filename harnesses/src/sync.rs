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

/// A mutex-protected value with a condition variable signalled after every step.
pub struct Monitor<T>(Inner<T>);

// One monitor per execution: the size difference between the tools' types does not matter.
#[allow(clippy::large_enum_variant)]
enum Inner<T> {
    Std(std::sync::Mutex<T>, std::sync::Condvar),
    Loom(loom::sync::Mutex<T>, loom::sync::Condvar),
    Shuttle(shuttle::sync::Mutex<T>, shuttle::sync::Condvar),
}

/// The same body for each tool's mutex / condvar pair (their APIs are std's).
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
        Monitor(match tool() {
            Tool::Std => Inner::Std(std::sync::Mutex::new(value), std::sync::Condvar::new()),
            Tool::Loom => Inner::Loom(loom::sync::Mutex::new(value), loom::sync::Condvar::new()),
            Tool::Shuttle => Inner::Shuttle(
                shuttle::sync::Mutex::new(value),
                shuttle::sync::Condvar::new(),
            ),
        })
    }

    /// One atomic kernel step.
    pub fn step<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        on_each_tool!(&self.0, |m, c| {
            let r = f(&mut m.lock().unwrap_or_else(PoisonError::into_inner));
            c.notify_all();
            r
        })
    }

    /// A step that may have to wait: `f` runs on each wake-up until it is ready.
    pub fn wait_until<R>(&self, mut f: impl FnMut(&mut T) -> Wait<R>) -> R {
        on_each_tool!(&self.0, |m, c| {
            let mut g = m.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                match f(&mut g) {
                    Wait::Ready(r) => {
                        drop(g);
                        c.notify_all();
                        return r;
                    }
                    Wait::Blocked => g = c.wait(g).unwrap_or_else(PoisonError::into_inner),
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
