//! What a program statement does: the contract of every helper and kfunc, per era.
//!
//! A statement acts on an element: `self`, or a map element the program looks up. A lookup
//! that finds nothing means the call is not made ([`Ret::NoElem`]). The map operations take a
//! key, not a pointer, so they are made whenever the map exists.

use super::{Frame, Res};
use crate::errno::Errno;
use crate::mutants::{self, Mutant};
use crate::op::{
    Call, CbIdx, ClockFlags, Key, KfuncFlags, MapIdx, Stmt, Target, TimerFlags, UpdateFlags,
};
use crate::outcome::{Ret, Unsupported};
use crate::world::{AsyncObj, ElemId, Event, EventKey, TaskWorkCtx, World};

/// A map operation a program makes by key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProgMapOp {
    Update(UpdateFlags),
    Delete,
    Lookup,
}

/// Which async slot of an element: the timer or the wq share `bpf_async_cb` code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Timer,
    Wq,
}

impl World {
    /// Run a body: one result per statement.
    pub(crate) fn run_body(&mut self, frame: &Frame, body: &[Stmt]) -> Res<Vec<Ret>> {
        body.iter().map(|s| self.stmt(frame, s)).collect()
    }

    fn stmt(&mut self, frame: &Frame, s: &Stmt) -> Res<Ret> {
        if let Some((cb, n)) = s.guard
            && self.runs.get(&(frame.prog, cb)).copied().unwrap_or(0) >= u64::from(n)
        {
            return Ok(Ret::Skip);
        }
        let call = s.call;
        if let Some(op) = prog_map_op(&call) {
            let Some((m, key)) = self.target_key(frame, call.target()) else {
                return Ok(Ret::NoElem);
            };
            return Ok(match (op, self.prog_map_op(m, key, op, frame)?) {
                (ProgMapOp::Lookup, Ok(())) => Ret::Ptr,
                (ProgMapOp::Lookup, Err(_)) => Ret::Null,
                (_, Ok(())) => Ret::OK,
                (_, Err(e)) => self.map_op_error(frame, call.target(), e),
            });
        }
        let Some(e) = self.target_elem(frame, call.target()) else {
            return Ok(Ret::NoElem);
        };
        let r = match call {
            Call::TimerInit { clock, .. } => self.timer_init(e, clock)?,
            Call::TimerSetCallback { cb, .. } => self.async_set_callback(e, Slot::Timer, frame, cb),
            Call::TimerStart { nsecs, flags, .. } => self.timer_start(e, nsecs.0, flags),
            Call::TimerCancel { .. } => self.timer_cancel(e, frame),
            Call::TimerCancelAsync { .. } => self.timer_cancel_async(e, frame),
            Call::WqInit { flags, .. } => match kfunc_flags(flags) {
                Ok(()) => self.async_init(e, Slot::Wq)?,
                Err(r) => r,
            },
            Call::WqSetCallback { cb, flags, .. } => match kfunc_flags(flags) {
                Ok(()) => self.async_set_callback(e, Slot::Wq, frame, cb),
                Err(r) => r,
            },
            Call::WqStart { flags, .. } => match kfunc_flags(flags) {
                Ok(()) => self.wq_start(e),
                Err(r) => r,
            },
            Call::TaskWorkSchedule { cb, .. } => self.task_work_schedule(e, frame, cb)?,
            Call::KptrXchg { new, .. } => self.kptr_xchg(e, new)?,
            Call::MapUpdate { .. } | Call::MapDelete { .. } | Call::MapLookup { .. } => {
                unreachable!("map operations are handled by key above")
            }
        };
        Ok(r)
    }

    /// What a program's `bpf_map_update_elem` / `bpf_map_delete_elem` returns for `e`:
    /// `-errno`, or before [`crate::Features::map_ops_return_long`] the map op's `int`
    /// zero-extended, unless the call kept the generic helper (a `self` element in a callback
    /// the verifier walked with more than one map).
    fn map_op_error(&self, frame: &Frame, t: Target, e: Errno) -> Ret {
        let generic = t == Target::SelfElem
            && frame
                .callback()
                .is_some_and(|cb| self.prog(frame.prog).shared_callbacks.contains(&cb));
        if self.kernel.features.map_ops_return_long || generic {
            Ret::err(e)
        } else {
            Ret::Int(i64::from(-(e as i32) as u32))
        }
    }

    /// The element a pointer-taking call acts on. `self` stays the element the body started
    /// with even if it was deleted meanwhile (the program still holds the pointer).
    fn target_elem(&self, frame: &Frame, t: Target) -> Option<ElemId> {
        match t {
            Target::SelfElem => frame.self_elem,
            Target::Elem(r) => {
                let m = self.prog_map_ref(r.map)?;
                self.map(m).elems.get(&r.key).copied()
            }
        }
    }

    /// The map and key a by-key call acts on.
    fn target_key(&self, frame: &Frame, t: Target) -> Option<(MapIdx, Key)> {
        match t {
            Target::SelfElem => frame
                .self_elem
                .map(|e| (self.elems[e].map, self.elems[e].key)),
            Target::Elem(r) => Some((self.prog_map_ref(r.map)?, r.key)),
        }
    }

    fn slot(&self, e: ElemId, s: Slot) -> Option<AsyncObj> {
        match s {
            Slot::Timer => self.elems[e].timer,
            Slot::Wq => self.elems[e].wq,
        }
    }

    fn slot_mut(&mut self, e: ElemId, s: Slot) -> &mut Option<AsyncObj> {
        match s {
            Slot::Timer => &mut self.elems[e].timer,
            Slot::Wq => &mut self.elems[e].wq,
        }
    }

    /// `bpf_timer_init` (helpers.c, all eras): the clock must be `CLOCK_REALTIME`,
    /// `CLOCK_MONOTONIC` or `CLOCK_BOOTTIME` and the flags word below `MAX_CLOCKS`, else
    /// -EINVAL; then `__bpf_async_init`.
    fn timer_init(&mut self, e: ElemId, clock: ClockFlags) -> Res<Ret> {
        let id = clock.0 & (ClockFlags::MAX_CLOCKS - 1);
        let valid = [
            ClockFlags::REALTIME,
            ClockFlags::MONOTONIC,
            ClockFlags::BOOTTIME,
        ]
        .contains(&id);
        if clock.0 >= ClockFlags::MAX_CLOCKS || !valid {
            return Ok(Ret::err(Errno::EINVAL));
        }
        self.async_init(e, Slot::Timer)
    }

    /// `__bpf_async_init` (helpers.c; timer all eras, wq since 6.10): a slot already holding
    /// an object is -EBUSY; a map without user references is -EPERM (nothing would ever free
    /// the object: `map_release_uref` has already run). The usercnt check follows the slot
    /// check in every era (before the Oct 2023 fix it came before the allocation, after it
    /// it re-checks after publishing; the result is the same on one CPU).
    fn async_init(&mut self, e: ElemId, s: Slot) -> Res<Ret> {
        if self.slot(e, s).is_some() {
            return Ok(Ret::err(Errno::EBUSY));
        }
        let elem = &self.elems[e];
        if self.map(elem.map).usercnt == 0 && !mutants::active(Mutant::AsyncInitIgnoresUsercnt) {
            return Ok(Ret::err(Errno::EPERM));
        }
        if !elem.linked {
            return Err(Unsupported::AsyncInDeletedElement);
        }
        let id = self.next_seq();
        *self.slot_mut(e, s) = Some(AsyncObj {
            id,
            callback: None,
            queued: None,
        });
        Ok(Ret::OK)
    }

    /// `bpf_timer_set_callback` / `bpf_wq_set_callback[_impl]` → `__bpf_async_set_callback`
    /// (helpers.c): no object is -EINVAL; the slot takes a reference on the calling program
    /// unless it already holds one on it (`bpf_prog_inc_not_zero`, -ENOENT once the program's
    /// refcnt reached 0), and puts the previous program's.
    ///
    /// Not modelled: the -EPERM for `usercnt == 0` before 7.0. It is unreachable on one CPU,
    /// because the uref drop frees every object of the map and init refuses new ones.
    fn async_set_callback(&mut self, e: ElemId, s: Slot, frame: &Frame, cb: CbIdx) -> Ret {
        let Some(obj) = self.slot(e, s) else {
            return Ret::err(Errno::EINVAL);
        };
        let prev = obj.callback.map(|(p, _)| p);
        if prev != Some(frame.prog) {
            if !self.prog_inc_not_zero(frame.prog) {
                return Ret::err(Errno::ENOENT);
            }
            if let Some(p) = prev
                && !mutants::active(Mutant::SetCallbackKeepsPreviousRef)
            {
                self.prog_put(p);
            }
        }
        let slot = self.slot_mut(e, s).as_mut().expect("checked above");
        slot.callback = Some((frame.prog, cb));
        Ret::OK
    }

    /// `bpf_timer_start` (helpers.c). Flags beyond those this era knows are -EINVAL
    /// ([`crate::Features::timer_abs_flag`], [`crate::Features::timer_cpu_pin_flag`]); no
    /// timer, or no callback (never set, or dropped by `bpf_timer_cancel`), is -EINVAL.
    /// Otherwise the hrtimer is (re)armed: relative to now, or at an absolute time on a clock
    /// that read 0 at scenario start (an expiry in the past fires at once). CPU pinning does
    /// not change anything on one CPU.
    fn timer_start(&mut self, e: ElemId, nsecs: u64, flags: TimerFlags) -> Ret {
        let f = self.kernel.features;
        let known = if f.timer_abs_flag { TimerFlags::ABS } else { 0 }
            | if f.timer_cpu_pin_flag {
                TimerFlags::CPU_PIN
            } else {
                0
            };
        if flags.0 & !known != 0 {
            return Ret::err(Errno::EINVAL);
        }
        let Some(t) = self.elems[e].timer.filter(|t| t.callback.is_some()) else {
            return Ret::err(Errno::EINVAL);
        };
        let at = if flags.0 & TimerFlags::ABS != 0 {
            nsecs.max(self.now)
        } else {
            self.now.saturating_add(nsecs)
        };
        self.enqueue(e, Slot::Timer, t, at);
        Ret::OK
    }

    /// Queue (or re-queue) the object's event at `at`.
    fn enqueue(&mut self, e: ElemId, s: Slot, obj: AsyncObj, at: u64) {
        if let Some(q) = obj.queued {
            self.events.remove(&q);
        }
        let key = EventKey {
            at,
            seq: self.next_seq(),
        };
        let ev = match s {
            Slot::Timer => Event::TimerExpiry {
                elem: e,
                id: obj.id,
            },
            Slot::Wq => Event::WorkRun {
                elem: e,
                id: obj.id,
            },
        };
        self.events.insert(key, ev);
        self.slot_mut(e, s).as_mut().expect("object present").queued = Some(key);
    }

    /// `bpf_timer_cancel` (helpers.c, all eras): no timer is -EINVAL; from the timer's own
    /// callback -EDEADLK (`hrtimer_cancel` would wait for itself). Otherwise the callback and
    /// its program reference are dropped (`drop_prog_refcnt`), so a later start needs a new
    /// set_callback, and the result is `hrtimer_cancel`'s: 1 if the timer was armed, else 0.
    fn timer_cancel(&mut self, e: ElemId, frame: &Frame) -> Ret {
        let Some(t) = self.elems[e].timer else {
            return Ret::err(Errno::EINVAL);
        };
        if frame.running_timer() == Some(t.id) {
            return Ret::err(Errno::EDEADLK);
        }
        if let Some((p, _)) = t.callback
            && !mutants::active(Mutant::TimerCancelKeepsProgRef)
        {
            self.prog_put(p);
        }
        let was_armed = self.dequeue(e, Slot::Timer);
        self.elems[e]
            .timer
            .as_mut()
            .expect("checked above")
            .callback = None;
        Ret::Int(i64::from(was_armed))
    }

    /// Remove the object's queued event; was there one?
    fn dequeue(&mut self, e: ElemId, s: Slot) -> bool {
        let Some(obj) = self.slot_mut(e, s).as_mut() else {
            return false;
        };
        match obj.queued.take() {
            Some(q) => {
                self.events.remove(&q);
                true
            }
            None => false,
        }
    }

    /// kfunc `bpf_timer_cancel_async` (helpers.c, since 7.0): no timer is -EINVAL; otherwise
    /// `hrtimer_try_to_cancel`: -1 when the timer's callback is running (its own callback),
    /// else 1 if it was armed and 0 if not. The callback and the program reference stay.
    /// Timer callbacks run in softirq, so the deferred (-ECANCELED) path is not taken.
    fn timer_cancel_async(&mut self, e: ElemId, frame: &Frame) -> Ret {
        let Some(t) = self.elems[e].timer else {
            return Ret::err(Errno::EINVAL);
        };
        if frame.running_timer() == Some(t.id) {
            return Ret::Int(-1);
        }
        Ret::Int(i64::from(self.dequeue(e, Slot::Timer)))
    }

    /// kfunc `bpf_wq_start` (helpers.c, since 6.10): no wq or no callback is -EINVAL;
    /// otherwise `schedule_work` (a no-op when already queued) and 0.
    fn wq_start(&mut self, e: ElemId) -> Ret {
        let Some(w) = self.elems[e].wq.filter(|w| w.callback.is_some()) else {
            return Ret::err(Errno::EINVAL);
        };
        if w.queued.is_none() {
            self.enqueue(e, Slot::Wq, w, self.now);
        }
        Ret::OK
    }

    /// kfuncs `bpf_task_work_schedule_{signal,resume}` (helpers.c, since 6.18), on the
    /// current task: `bpf_prog_inc_not_zero` failing is -EBADF; the context is allocated on
    /// first use; a context not in STANDBY is -EBUSY; a map without user references frees
    /// the context and is -EBUSY; otherwise the callback is queued for the task's return to
    /// user space.
    fn task_work_schedule(&mut self, e: ElemId, frame: &Frame, cb: CbIdx) -> Res<Ret> {
        if !frame.in_user_task() {
            return Err(Unsupported::TaskWorkWithoutUserTask);
        }
        if !self.prog_inc_not_zero(frame.prog) {
            return Ok(Ret::err(Errno::EBADF));
        }
        if self.elems[e].task_work.is_none() {
            if !self.elems[e].linked {
                self.prog_put(frame.prog);
                return Err(Unsupported::AsyncInDeletedElement);
            }
            self.elems[e].task_work = Some(TaskWorkCtx::Standby);
        }
        if self.elems[e].task_work != Some(TaskWorkCtx::Standby) {
            self.prog_put(frame.prog);
            return Ok(Ret::err(Errno::EBUSY));
        }
        if self.map(self.elems[e].map).usercnt == 0 {
            self.prog_put(frame.prog);
            self.task_work_cancel_and_free(e);
            return Ok(Ret::err(Errno::EBUSY));
        }
        self.elems[e].task_work = Some(TaskWorkCtx::Pending(frame.prog, cb));
        self.task_works.push(e);
        Ok(Ret::OK)
    }

    /// `bpf_kptr_xchg` (helpers.c, since 5.19): store the new pointer (an object the program
    /// acquired, or NULL) and return the old one, which the program then releases. In 7.2 an
    /// element's memory may hold a freed element's kptr (see `World::unlink`).
    fn kptr_xchg(&mut self, e: ElemId, new: bool) -> Res<Ret> {
        if new && !self.elems[e].linked {
            return Err(Unsupported::AsyncInDeletedElement);
        }
        let reused = self
            .map(self.elems[e].map)
            .freed_kptr_since
            .is_some_and(|first| e >= first);
        let freed = !self.elems[e].linked && self.kernel.features.element_free_keeps_kptr;
        if reused || freed {
            return Err(Unsupported::KptrInFreedMemory);
        }
        let old = std::mem::replace(&mut self.elems[e].kptr, new);
        self.kptr_objects = self.kptr_objects + u64::from(new) - u64::from(old);
        Ok(if old { Ret::Ptr } else { Ret::Null })
    }
}

/// The by-key map operation of a call, if it is one.
fn prog_map_op(c: &Call) -> Option<ProgMapOp> {
    match *c {
        Call::MapUpdate { flags, .. } => Some(ProgMapOp::Update(flags)),
        Call::MapDelete { .. } => Some(ProgMapOp::Delete),
        Call::MapLookup { .. } => Some(ProgMapOp::Lookup),
        _ => None,
    }
}

/// The wq kfuncs take a flags word that must be 0 (-EINVAL), checked first.
fn kfunc_flags(flags: KfuncFlags) -> Result<(), Ret> {
    if flags.0 == 0 {
        Ok(())
    } else {
        Err(Ret::err(Errno::EINVAL))
    }
}
