//! The path explorer behind the shim: each `kani::any()` is a choice point, a harness body is
//! replayed from its start once per path, and after each path the deepest choice that has
//! another value takes it (an odometer: depth-first over the tree of choices).
//!
//! The state is thread-local, so a harness body must be deterministic and single-threaded.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

/// A cover site: the file and line of a `kani::cover!`.
pub type Site = (&'static str, u32);

/// One choice point of the current path.
#[derive(Clone, Copy)]
struct Choice {
    /// The value taken, in `0..count`.
    taken: u32,
    /// How many values the choice point has; 0 for a replayed choice not yet reached.
    count: u32,
}

/// The unwinding payload of `kani::assume(false)`.
struct Pruned;

/// How one run of the body ended.
pub enum PathEnd {
    /// The body returned: every assertion on the path held.
    Held,
    /// `kani::assume` failed on the path.
    Pruned,
    /// The body panicked with this message (the panic hook's text, location included).
    Panicked(String),
}

/// The exploration in progress on this thread.
#[derive(Default)]
struct Exploration {
    /// The choices of the current path: a prefix replayed from the previous path, then new ones.
    choices: Vec<Choice>,
    /// How many choices the current path has made.
    cursor: usize,
    /// Whether some path drew a boundary-sampled value.
    sampled: bool,
    /// Every cover site reached, and those whose condition held.
    covers_reached: BTreeSet<Site>,
    covers_hit: BTreeSet<Site>,
}

thread_local! {
    static CURRENT: RefCell<Option<Exploration>> = const { RefCell::new(None) };
    /// Set while a body runs: the panic hook records the message instead of printing it.
    static QUIET: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn with_current<R>(f: impl FnOnce(&mut Exploration) -> R) -> R {
    CURRENT.with_borrow_mut(|current| {
        let exploration = current
            .as_mut()
            .expect("kani::any / assume / cover! used outside a #[kani::proof] harness run");
        f(exploration)
    })
}

/// The next choice of the current path, in `0..count` (`count` 0 prunes the path: no value).
pub fn choose(count: u32, sampled: bool) -> u32 {
    if count == 0 {
        prune();
    }
    let taken = with_current(|e| {
        e.sampled |= sampled;
        let at = e.cursor;
        e.cursor += 1;
        match e.choices.get_mut(at) {
            None => {
                e.choices.push(Choice { taken: 0, count });
                Ok(0)
            }
            Some(choice) if choice.count == 0 && choice.taken < count => {
                choice.count = count;
                Ok(choice.taken)
            }
            Some(choice) if choice.count == count => Ok(choice.taken),
            Some(choice) => Err((at, choice.taken, choice.count)),
        }
    });
    match taken {
        Ok(taken) => taken,
        Err((at, taken, 0)) => {
            panic!(
                "replayed choice #{at} = {taken} is out of range: that choice has {count} values"
            )
        }
        Err((at, _, was)) => panic!(
            "nondeterministic harness: choice #{at} has {count} values, {was} on the replayed path"
        ),
    }
}

/// Abandon the current path as pruned (`kani::assume(false)`).
pub fn prune() -> ! {
    panic::resume_unwind(Box::new(Pruned))
}

/// Record that the cover at `site` was reached, with its condition.
pub fn cover(cond: bool, site: Site) {
    with_current(|e| {
        e.covers_reached.insert(site);
        if cond {
            e.covers_hit.insert(site);
        }
    });
}

/// Panics inside a body are recorded for the report, not printed; elsewhere the previous
/// hook prints them as usual.
fn install_panic_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if QUIET.get() {
                LAST_PANIC.set(Some(info.to_string()));
            } else {
                previous(info);
            }
        }));
    });
}

/// The exploration of one harness on this thread; dropping it ends the exploration.
pub struct Explorer(());

impl Explorer {
    /// Start exploring, the first path replaying `prefix` (empty: the all-zero path).
    pub fn start(prefix: &[u32]) -> Explorer {
        install_panic_hook();
        CURRENT.with_borrow_mut(|current| {
            assert!(
                current.is_none(),
                "a harness run inside another harness run"
            );
            let choices = prefix
                .iter()
                .map(|&taken| Choice { taken, count: 0 })
                .collect();
            *current = Some(Exploration {
                choices,
                ..Exploration::default()
            });
        });
        Explorer(())
    }

    /// Run `body` once on the current path. With `quiet`, a panic's message is recorded and
    /// not printed.
    pub fn run_path(&mut self, body: fn(), quiet: bool) -> PathEnd {
        with_current(|e| e.cursor = 0);
        QUIET.set(quiet);
        let result = panic::catch_unwind(AssertUnwindSafe(body));
        QUIET.set(false);
        // A path that stopped before its replayed prefix ends leaves choices nobody made.
        with_current(|e| e.choices.truncate(e.cursor));
        match result {
            Ok(()) => PathEnd::Held,
            Err(payload) if payload.is::<Pruned>() => PathEnd::Pruned,
            Err(payload) => PathEnd::Panicked(
                LAST_PANIC
                    .take()
                    .unwrap_or_else(|| payload_message(payload.as_ref())),
            ),
        }
    }

    /// Move to the next path; false when every path was run.
    pub fn advance(&mut self) -> bool {
        with_current(|e| {
            while let Some(last) = e.choices.last_mut() {
                if last.taken + 1 < last.count {
                    last.taken += 1;
                    return true;
                }
                e.choices.pop();
            }
            false
        })
    }

    /// The choices the current path made, in order.
    pub fn choice_vector(&self) -> Vec<u32> {
        with_current(|e| e.choices.iter().map(|c| c.taken).collect())
    }

    /// Whether some path drew a boundary-sampled value.
    pub fn sampled(&self) -> bool {
        with_current(|e| e.sampled)
    }

    /// Every cover site reached, and those whose condition held.
    pub fn covers(&self) -> (BTreeSet<Site>, BTreeSet<Site>) {
        with_current(|e| (e.covers_reached.clone(), e.covers_hit.clone()))
    }
}

impl Drop for Explorer {
    fn drop(&mut self) {
        CURRENT.set(None);
    }
}

/// The message of a panic the hook did not see (`resume_unwind` with a foreign payload).
fn payload_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-string payload".to_string())
}
