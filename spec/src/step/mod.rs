//! `step(&mut World, &Op) -> Outcome`: the small-step semantics.
//!
//! * `syscalls` — what user space does through bpf(2).
//! * `helpers` — what a program statement does (helper and kfunc contracts).
//! * `time` — virtual time: hrtimer expiry, work items, task_work on return to user space.
//! * `lifetime` — reference counts and the free paths.
//!
//! Every step ends by settling deferred frees, so between steps no object with refcnt 0
//! exists.

mod helpers;
mod lifetime;
mod syscalls;
mod time;
pub use time::CALLBACKS_PER_ADVANCE;

use crate::op::{CbIdx, Field, Op, ProgIdx};
use crate::outcome::{Outcome, Unsupported};
use crate::world::{ElemId, World};

/// Execute one op. After an [`Outcome::Unsupported`] the world is not a kernel state any
/// more and must be discarded ([`crate::SpecEngine`] does).
pub fn step(w: &mut World, op: &Op) -> Outcome {
    let out = match op {
        Op::MapCreate(spec) => w.map_create(spec),
        Op::MapUpdate { elem, flags } => w.sys_map_update(elem, *flags),
        Op::MapUpdateInner {
            outer,
            key,
            inner,
            flags,
        } => w.sys_map_update_inner(*outer, *key, *inner, *flags),
        Op::MapDelete { elem } => w.sys_map_delete(elem),
        Op::MapLookup { elem } => w.sys_map_lookup(elem),
        Op::ProgLoad(spec) => Ok(w.prog_load(spec)),
        Op::ProgRun { prog, key } => w.prog_run(*prog, *key),
        Op::Close(obj) => w.close(*obj),
        Op::Pin(obj) => Ok(w.pin(*obj)),
        Op::Unpin(obj) => w.unpin(*obj),
        Op::GetFdById(obj) => Ok(w.get_fd_by_id(*obj)),
        Op::Advance { ns } => w.advance(ns.0),
    };
    let settled = w.settle();
    match (out, settled) {
        (Ok(o), Ok(())) => o,
        (Err(u), _) | (_, Err(u)) => Outcome::Unsupported(u),
    }
}

/// The code that is running: a program's main body or one of its callbacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Frame {
    pub prog: ProgIdx,
    /// `self`: the element the program runs on, or whose async object invoked the callback.
    pub self_elem: Option<ElemId>,
    pub ctx: Ctx,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ctx {
    /// The program's main body, run by a user task.
    Main,
    /// A timer callback (softirq); `hrtimer_running` names this timer.
    Timer { timer: u64, cb: CbIdx },
    /// A wq callback (process context, kworker).
    Wq { cb: CbIdx },
    /// A task_work callback, run by the user task on its way back to user space.
    TaskWork { cb: CbIdx },
}

impl Frame {
    /// The per-CPU `hrtimer_running` while this frame runs.
    pub fn running_timer(&self) -> Option<u64> {
        match self.ctx {
            Ctx::Timer { timer, .. } => Some(timer),
            _ => None,
        }
    }

    /// The callback running, with the field whose call passed it; `None` in the main body.
    pub fn callback(&self) -> Option<(CbIdx, Field)> {
        match self.ctx {
            Ctx::Main => None,
            Ctx::Timer { cb, .. } => Some((cb, Field::Timer)),
            Ctx::Wq { cb } => Some((cb, Field::Wq)),
            Ctx::TaskWork { cb } => Some((cb, Field::TaskWork)),
        }
    }

    /// Code that runs in a user task's context may schedule task_work on it.
    pub fn in_user_task(&self) -> bool {
        matches!(self.ctx, Ctx::Main | Ctx::TaskWork { .. })
    }
}

pub(crate) type Res<T> = Result<T, Unsupported>;
