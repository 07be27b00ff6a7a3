//! Virtual time: hrtimer expiries and work items as events, task_work on the way back to user
//! space. Nothing reads a clock; a `wait` is an [`crate::Op::Advance`].

use super::{Ctx, Frame, Res};
use crate::op::{CbIdx, ProgIdx};
use crate::outcome::{CallbackRun, Outcome, Unsupported};
use crate::world::{ElemId, Event, TaskWorkCtx, World};

/// Callbacks one `Advance` may run before the spec calls the scenario unbounded: a callback
/// that re-arms itself for an instant that is already due would keep the kernel's softirq
/// busy forever (`timer_lockup`), which the spec does not model.
pub const CALLBACKS_PER_ADVANCE: usize = 10_000;

impl World {
    /// Let `ns` pass: every event due up to `now + ns` happens in (due time, arming order),
    /// including those that callbacks queue meanwhile. `bpf_timer_cb` runs the callback if
    /// one is set (hrtimer_running names the timer meanwhile) and never restarts the hrtimer
    /// itself; `bpf_wq_work` runs the wq callback. Deferred frees settle after each callback
    /// (the callback's RCU read section ends).
    pub(crate) fn advance(&mut self, ns: u64) -> Res<Outcome> {
        let until = self.now.saturating_add(ns);
        let mut fired = Vec::new();
        while let Some((&key, &ev)) = self.events.first_key_value() {
            if key.at > until {
                break;
            }
            if fired.len() == CALLBACKS_PER_ADVANCE {
                return Err(Unsupported::UnboundedRearm);
            }
            self.events.remove(&key);
            self.now = self.now.max(key.at);
            let (elem, id, timer) = match ev {
                Event::TimerExpiry { elem, id } => (elem, id, true),
                Event::WorkRun { elem, id } => (elem, id, false),
            };
            let slot = if timer {
                &mut self.elems[elem].timer
            } else {
                &mut self.elems[elem].wq
            };
            let obj = slot
                .as_mut()
                .filter(|o| o.id == id)
                .expect("INV-EVENTS: an event whose async object is gone");
            obj.queued = None;
            if let Some((p, cb)) = obj.callback {
                let ctx = if timer {
                    Ctx::Timer { timer: id, cb }
                } else {
                    Ctx::Wq { cb }
                };
                fired.push(self.run_callback(p, cb, elem, ctx)?);
            }
            self.settle()?;
        }
        self.now = until;
        Ok(Outcome::Fired(fired))
    }

    /// Run one callback on element `elem`: its run counter goes up before its body runs.
    fn run_callback(&mut self, p: ProgIdx, cb: CbIdx, elem: ElemId, ctx: Ctx) -> Res<CallbackRun> {
        *self.runs.entry((p, cb)).or_insert(0) += 1;
        let body = self.prog(p).spec.callback_body(cb).to_vec();
        let frame = Frame {
            prog: p,
            self_elem: Some(elem),
            ctx,
        };
        let rets = self.run_body(&frame, &body)?;
        Ok(CallbackRun { prog: p, cb, rets })
    }

    /// The task returns to user space: `task_work_run` takes the task's whole list and runs
    /// it newest first (`task_work_add` pushes at the head), then takes the works added
    /// meanwhile, and so on (all eras with `bpf_task_work`; its irq_work adds each work as soon
    /// as the program schedules it, outside PREEMPT_RT, where that irq_work is lazy). Found
    /// by the kernel oracle. Each callback: PENDING → RUNNING, run, → STANDBY, then the
    /// program reference is put (`bpf_task_work_callback`).
    pub(crate) fn run_task_works(&mut self) -> Res<Vec<CallbackRun>> {
        let mut ran = Vec::new();
        while !self.task_works.is_empty() {
            let mut batch = std::mem::take(&mut self.task_works);
            batch.reverse();
            for e in batch {
                // A work cancelled after the list was taken (its element freed by an earlier
                // callback of the batch) finds its context FREED and skips the program.
                if let Some(TaskWorkCtx::Pending(p, cb)) = self.elems[e].task_work {
                    ran.push(self.run_task_work(e, p, cb)?);
                }
            }
        }
        Ok(ran)
    }

    fn run_task_work(&mut self, e: ElemId, p: ProgIdx, cb: CbIdx) -> Res<CallbackRun> {
        self.elems[e].task_work = Some(TaskWorkCtx::Running(p, cb));
        let run = self.run_callback(p, cb, e, Ctx::TaskWork { cb })?;
        if self.elems[e].task_work == Some(TaskWorkCtx::Running(p, cb)) {
            self.elems[e].task_work = Some(TaskWorkCtx::Standby);
        }
        self.prog_put(p);
        self.settle()?;
        Ok(run)
    }
}
