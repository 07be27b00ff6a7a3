//! The lock-based implementation (5.15 to 6.19): `bpf_timer_kern` / `bpf_async_kern` = the
//! timer pointer plus the element's `bpf_spin_lock`, which serialises init, set_callback,
//! start, cancel's first half and cancel_and_free's detach (`kernel/bpf/helpers.c`).
//!
//! Each fix of the patch history that changed this design is a [`Fix`]; a design is the set
//! of fixes it has ([`Fixes`]). A race module's buggy variant lacks its fix, its fixed variant
//! has it, and both have every other fix except those that later replaced it (a replaced
//! fix's code path is gone, so keeping the replacement would hide the bug).
//!
//! Ownership (with [`Fix::MapOwnsProgRef`]): a timer holds one reference on the prog of its
//! callback, taken by set_callback and dropped by set_callback's swap, cancel and
//! cancel_and_free; the callback itself never takes or drops one. `cb->prog` and
//! `callback_fn` are guarded by the element's lock.

use super::{CbId, Ctx, Invariant, Kernel, MapId, ProgId, SlotId, Work, cpu_name};

/// The fixes to the lock-based design, in the order they were made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fix {
    /// v1→v2 (2021): element delete / update, LRU eviction and map free cancel and free the
    /// element's timer (`bpf_timer_cancel_and_free` in the free paths).
    FreeOnElementFree,
    /// v1→v2 (2021): `bpf_timer_*` take the element's `bpf_spin_lock`.
    SpinLock,
    /// v1→v2 (2021): cancel_and_free skips `hrtimer_cancel` when called from the timer's own
    /// callback (`hrtimer_running == t`). Replaced by [`Fix::DeferFreeInCb`].
    SkipCancelInOwnCb,
    /// v2→v3 (2021): the map slot owns the prog reference (taken by set_callback) instead of
    /// one reference per `bpf_timer_start`, dropped by the callback when it finishes.
    MapOwnsProgRef,
    /// v3→v4 (2021): init and set_callback return -EPERM on a map with `usercnt == 0`.
    EpermWithoutUref,
    /// v3→v4 (2021): init uses the map argument the program passes (checked by the verifier
    /// to be the timer's own map, inner maps included: 3e8ce29850f1), not the verifier's
    /// hidden, static map pointer.
    ExplicitMapArg,
    /// v4→v5 (2021): drop the prog reference and unlock before `hrtimer_cancel`.
    UnlockBeforeCancel,
    /// fd381ce60a2d (Oct 2023): init publishes the timer, then re-checks usercnt.
    RecheckUsercnt,
    /// 0281b919e175 (Feb 2024): `kfree_rcu` and `rcu_read_lock` in `bpf_timer_cancel`.
    KfreeRcu,
    /// d4523831f07a (Jul 2024): the `cancelling` counter, -EDEADLK on mutual cancels.
    Cancelling,
    /// a6fcd19d7eac (Jul 2024): cancel_and_free inside any timer callback defers the cancel
    /// and free to a kworker (`delete_work`).
    DeferFreeInCb,
    /// 58f038e6d209 (Jan 2025): on PREEMPT_RT, cancel_and_free uses `hrtimer_try_to_cancel`
    /// and leaves a running callback to the kworker.
    RtTryToCancel,
}

impl Fix {
    pub const ALL: [Fix; 12] = [
        Fix::FreeOnElementFree,
        Fix::SpinLock,
        Fix::SkipCancelInOwnCb,
        Fix::MapOwnsProgRef,
        Fix::EpermWithoutUref,
        Fix::ExplicitMapArg,
        Fix::UnlockBeforeCancel,
        Fix::RecheckUsercnt,
        Fix::KfreeRcu,
        Fix::Cancelling,
        Fix::DeferFreeInCb,
        Fix::RtTryToCancel,
    ];

    /// The later fix whose code replaced this one's.
    pub const fn replaced_by(self) -> Option<Fix> {
        match self {
            Fix::SkipCancelInOwnCb => Some(Fix::DeferFreeInCb),
            _ => None,
        }
    }

    const fn bit(self) -> u32 {
        1 << self as u32
    }
}

/// A set of fixes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fixes(u32);

impl Fixes {
    pub const fn has(self, f: Fix) -> bool {
        self.0 & f.bit() != 0
    }

    const fn all() -> Fixes {
        let mut bits = 0;
        let mut i = 0;
        while i < Fix::ALL.len() {
            bits |= Fix::ALL[i].bit();
            i += 1;
        }
        Fixes(bits)
    }

    /// The same without `f` (a buggy design that lacked more than one later fix).
    pub const fn without(self, f: Fix) -> Fixes {
        Fixes(self.0 & !f.bit())
    }

    /// Every fix but those that replaced `f`.
    pub const fn fixed(f: Fix) -> Fixes {
        match f.replaced_by() {
            Some(r) => Fixes::all().without(r),
            None => Fixes::all(),
        }
    }

    /// The same without `f`.
    pub const fn buggy(f: Fix) -> Fixes {
        Fixes::fixed(f).without(f)
    }

    /// The design on `v`'s side of `f`.
    pub const fn side(f: Fix, v: super::Variant) -> Fixes {
        match v {
            super::Variant::Buggy => Fixes::buggy(f),
            super::Variant::Fixed => Fixes::fixed(f),
        }
    }
}

fn locked(ctx: &Ctx, f: Fixes, slot: SlotId) {
    if f.has(Fix::SpinLock) {
        ctx.lock(slot);
    }
}

fn unlock(k: &mut Kernel, f: Fixes, slot: SlotId) {
    if f.has(Fix::SpinLock) {
        k.slots[slot.0].lock = None;
    }
}

/// `drop_prog_refcnt`: clear the callback and put the slot's prog reference.
fn drop_prog_refcnt(k: &mut Kernel, cpu: usize, f: Fixes, t: CbId) {
    let cb = k.cb(t);
    cb.callback = None;
    if f.has(Fix::MapOwnsProgRef)
        && let Some(p) = cb.prog.take()
    {
        k.prog_put(cpu, p);
    }
}

/// `helpers.c: bpf_timer_init` (`__bpf_async_init`), 5.15+.
pub fn init(ctx: &Ctx, f: Fixes, slot: SlotId, map_arg: MapId) -> i64 {
    const EBUSY: i64 = -16;
    const EPERM: i64 = -1;
    let map = if f.has(Fix::ExplicitMapArg) {
        map_arg
    } else {
        // The verifier's hidden map pointer: the map the program was verified against (for
        // an inner map's element, the inner-map template).
        ctx.step(|k, _| k.slots[slot.0].static_map)
    };
    locked(ctx, f, slot);
    let busy = ctx.step(|k, cpu| {
        let busy = k.slots[slot.0].cb.is_some();
        if busy {
            unlock(k, f, slot);
            k.note(cpu, format_args!("bpf_timer_init(t{}) = -EBUSY", slot.0));
        }
        busy
    });
    if busy {
        return EBUSY;
    }
    let early_check = f.has(Fix::EpermWithoutUref) && !f.has(Fix::RecheckUsercnt);
    if early_check {
        let refused = ctx.step(|k, cpu| {
            let zero = k.maps[map.0].usercnt == 0;
            if zero {
                unlock(k, f, slot);
                k.note(
                    cpu,
                    format_args!(
                        "bpf_timer_init(t{}): map{} usercnt 0: -EPERM",
                        slot.0, map.0
                    ),
                );
            } else {
                let n = k.maps[map.0].usercnt;
                k.note(
                    cpu,
                    format_args!("bpf_timer_init(t{}): map{} usercnt {n} ok", slot.0, map.0),
                );
            }
            zero
        });
        if refused {
            return EPERM;
        }
    }
    let t = ctx.step(|k, cpu| {
        let t = k.alloc_cb(slot, map);
        k.slots[slot.0].cb = Some(t);
        k.note(
            cpu,
            format_args!(
                "bpf_timer_init(t{}): timer#{} allocated and published",
                slot.0, t.0
            ),
        );
        t
    });
    if f.has(Fix::EpermWithoutUref) && f.has(Fix::RecheckUsercnt) {
        // smp_mb() after the publish pairs with the uref drop's atomic dec-and-test.
        let refused = ctx.step(|k, cpu| {
            let zero = k.maps[map.0].usercnt == 0;
            if zero {
                k.slots[slot.0].cb = None;
                k.free_cb(cpu, t);
                k.note(
                    cpu,
                    format_args!(
                        "bpf_timer_init(t{}): map{} usercnt 0 after publish: undone, -EPERM",
                        slot.0, map.0
                    ),
                );
            }
            zero
        });
        if refused {
            ctx.step(|k, _| unlock(k, f, slot));
            return EPERM;
        }
    }
    ctx.step(|k, _| unlock(k, f, slot));
    0
}

/// `helpers.c: bpf_timer_set_callback` (`__bpf_async_set_callback`), 5.15+.
pub fn set_callback(ctx: &Ctx, f: Fixes, prog: ProgId, slot: SlotId) -> i64 {
    locked(ctx, f, slot);
    ctx.step(|k, cpu| {
        let ret = match k.slots[slot.0].cb {
            None => -22,
            Some(t) if f.has(Fix::EpermWithoutUref) && k.maps[k.cbs[t.0].map.0].usercnt == 0 => -1,
            Some(t) => {
                if f.has(Fix::MapOwnsProgRef) {
                    let prev = k.cb(t).prog;
                    if prev != Some(prog) {
                        k.prog_inc(cpu, prog);
                        if let Some(p) = prev {
                            k.prog_put(cpu, p);
                        }
                    }
                }
                let cb = k.cb(t);
                cb.prog = Some(prog);
                cb.callback = Some(prog);
                0
            }
        };
        unlock(k, f, slot);
        k.note(
            cpu,
            format_args!("bpf_timer_set_callback(t{}) = {ret}", slot.0),
        );
        ret
    })
}

/// `helpers.c: bpf_timer_start`, 5.15+. Before [`Fix::MapOwnsProgRef`] (v2) a start takes a
/// prog reference that the callback drops when it finishes, unless the timer is queued and no
/// callback runs (v2's test: `!hrtimer_active() || hrtimer_callback_running()`).
pub fn start(ctx: &Ctx, f: Fixes, slot: SlotId) -> i64 {
    locked(ctx, f, slot);
    // Without the element's lock (v1) the timer pointer is read locklessly (`READ_ONCE`) and
    // used in a later step: a free path may detach and free the timer in between.
    let lockless = (!f.has(Fix::SpinLock)).then(|| {
        ctx.step(|k, cpu| {
            let t = k.slots[slot.0].cb;
            if let Some(t) = t {
                k.note(
                    cpu,
                    format_args!(
                        "bpf_timer_start(t{}) reads timer#{} without a lock",
                        slot.0, t.0
                    ),
                );
            }
            t
        })
    });
    ctx.step(|k, cpu| {
        let ret = match lockless.unwrap_or(k.slots[slot.0].cb) {
            None => -22,
            Some(t) => match k.cb(t).prog {
                None => -22,
                Some(p) => {
                    let hr = k.cb(t).hr;
                    if !f.has(Fix::MapOwnsProgRef) && (!hr.queued || hr.running.is_some()) {
                        k.prog_inc(cpu, p);
                    }
                    k.cb(t).hr.queued = true;
                    0
                }
            },
        };
        unlock(k, f, slot);
        k.note(cpu, format_args!("bpf_timer_start(t{}) = {ret}", slot.0));
        ret
    })
}

/// `helpers.c: bpf_timer_cancel`, 5.15+.
pub fn cancel(ctx: &Ctx, f: Fixes, slot: SlotId) -> i64 {
    const EDEADLK: i64 = -35;
    if f.has(Fix::KfreeRcu) {
        ctx.step(|k, cpu| k.rcu_read_lock(cpu));
    }
    locked(ctx, f, slot);
    // (timer, an early return value, whether we count in its `cancelling`)
    let (t, early, counted) = ctx.step(|k, cpu| {
        let Some(t) = k.slots[slot.0].cb else {
            return (None, Some(-22), false);
        };
        let cur = k.cpus[cpu].hrtimer_running;
        if cur == Some(t) {
            return (Some(t), Some(EDEADLK), false);
        }
        let counted = f.has(Fix::Cancelling) && cur.is_some();
        if counted {
            k.cb(t).cancelling += 1;
        }
        (Some(t), None, counted)
    });
    let early = match (early, counted) {
        (None, true) => ctx.step(|k, cpu| {
            // Read after the increment (smp_mb__after_atomic): a callback cancelling us.
            let cur = k.cpus[cpu]
                .hrtimer_running
                .expect("counted only in a callback");
            (k.cb(cur).cancelling > 0).then_some(EDEADLK)
        }),
        (e, _) => e,
    };
    let ret = match (t, early) {
        (_, Some(e)) => {
            ctx.step(|k, _| unlock(k, f, slot));
            e
        }
        (None, None) => unreachable!("no timer is an early return"),
        (Some(t), None) => {
            let unlock_first = f.has(Fix::UnlockBeforeCancel);
            ctx.step(|k, cpu| {
                drop_prog_refcnt(k, cpu, f, t);
                if unlock_first {
                    unlock(k, f, slot);
                }
            });
            let r = ctx.hrtimer_cancel(t);
            if !f.has(Fix::MapOwnsProgRef) && r == 1 {
                // v2: the dequeued start's reference is the canceller's to drop.
                ctx.step(|k, cpu| {
                    if let Some(p) = k.cb(t).prog {
                        k.prog_put(cpu, p);
                    }
                });
            }
            if !unlock_first {
                ctx.step(|k, _| unlock(k, f, slot));
            }
            r
        }
    };
    if counted {
        ctx.step(|k, _| k.cb(t.expect("counted a timer")).cancelling -= 1);
    }
    if f.has(Fix::KfreeRcu) {
        ctx.step(|k, cpu| k.rcu_read_unlock(cpu));
    }
    ctx.step(|k, cpu| k.note(cpu, format_args!("bpf_timer_cancel(t{}) = {ret}", slot.0)));
    ret
}

/// `helpers.c: bpf_timer_cancel_and_free` (`__bpf_async_cancel_and_free`), the free path of
/// element delete / update, LRU eviction, uref drop and map free.
pub fn cancel_and_free(ctx: &Ctx, f: Fixes, slot: SlotId) {
    if ctx.step(|k, _| k.slots[slot.0].cb.is_none()) {
        return; // the lockless early-out: READ_ONCE(timer->timer) == NULL
    }
    locked(ctx, f, slot);
    let unlock_first = f.has(Fix::UnlockBeforeCancel);
    let Some(t) = ctx.step(|k, cpu| {
        let t = k.slots[slot.0].cb.take();
        if let Some(t) = t {
            drop_prog_refcnt(k, cpu, f, t);
            k.note(
                cpu,
                format_args!(
                    "bpf_timer_cancel_and_free(t{}): timer#{} detached",
                    slot.0, t.0
                ),
            );
        }
        if t.is_none() || unlock_first {
            unlock(k, f, slot);
        }
        t
    }) else {
        return;
    };
    let in_callback = ctx.step(|k, cpu| k.cpus[cpu].hrtimer_running);
    if f.has(Fix::DeferFreeInCb) && in_callback.is_some() {
        ctx.step(|k, cpu| {
            k.note(
                cpu,
                format_args!("inside a timer callback: delete_work(timer#{}) queued", t.0),
            );
            k.works.push_back(Work::TimerDelete(t));
        });
    } else if ctx.preempt_rt && f.has(Fix::RtTryToCancel) {
        ctx.step(|k, cpu| {
            if k.hrtimer_try_to_cancel(t) >= 0 {
                free(k, cpu, f, t);
            } else {
                k.note(
                    cpu,
                    format_args!(
                        "hrtimer_try_to_cancel(timer#{}) = -1: delete_work queued",
                        t.0
                    ),
                );
                k.works.push_back(Work::TimerDelete(t));
            }
        });
    } else {
        if !(f.has(Fix::SkipCancelInOwnCb) && in_callback == Some(t)) {
            ctx.hrtimer_cancel(t);
        }
        ctx.step(|k, cpu| free(k, cpu, f, t));
    }
    if !unlock_first {
        ctx.step(|k, _| unlock(k, f, slot));
    }
}

fn free(k: &mut Kernel, cpu: usize, f: Fixes, t: CbId) {
    if f.has(Fix::KfreeRcu) {
        k.free_cb_rcu(cpu, t);
    } else {
        k.free_cb(cpu, t);
    }
}

/// `bpf_timer_delete_work` (6.10+): cancel, waiting for a running callback, then free.
pub fn delete_work(ctx: &Ctx, f: Fixes, t: CbId) {
    ctx.hrtimer_cancel(t);
    ctx.step(|k, cpu| free(k, cpu, f, t));
}

/// The element goes (user or program delete, update over it, LRU eviction): its timer is
/// cancelled and freed, or before [`Fix::FreeOnElementFree`] simply forgotten.
pub fn element_free(ctx: &Ctx, f: Fixes, slot: SlotId) {
    if f.has(Fix::FreeOnElementFree) {
        cancel_and_free(ctx, f, slot);
    } else {
        ctx.step(|k, cpu| {
            if let Some(t) = k.slots[slot.0].cb.take() {
                k.note(
                    cpu,
                    format_args!("element of t{} freed, timer#{} forgotten", slot.0, t.0),
                );
            }
        });
    }
}

/// `bpf_timer_cb`: the hrtimer callback. `None` if the timer is not queued when the softirq
/// looks (it never was, or was cancelled); else the helper results of the BPF callback
/// (empty when `callback_fn` was NULL).
pub fn timer_cb(ctx: &Ctx, f: Fixes, t: CbId) -> Option<Vec<i64>> {
    let fn_prog = ctx.step(|k, cpu| {
        if k.cbs.len() <= t.0 || k.cbs[t.0].freed || !k.cbs[t.0].hr.queued {
            return None;
        }
        k.rcu_read_lock(cpu);
        let cb = k.cb(t);
        cb.hr.queued = false;
        cb.hr.running = Some(cpu);
        let callback = cb.callback;
        k.cpus[cpu].hrtimer_running = Some(t);
        k.note(cpu, format_args!("timer#{} fires: bpf_timer_cb", t.0));
        // The callback's key and map argument are computed from `t->map` (every era).
        let map = k.cbs[t.0].map;
        if k.maps[map.0].freed {
            k.violated(
                Invariant::UseAfterFree,
                format_args!(
                    "{}: timer#{} reads its map{} ({}), which was freed",
                    cpu_name(cpu),
                    t.0,
                    map.0,
                    k.maps[map.0].name
                ),
            );
        }
        Some(callback)
    })?;
    let mut rets = Vec::new();
    if let Some(p) = fn_prog {
        let calls = ctx.step(|k, cpu| {
            if k.progs[p.0].freed {
                k.violated(
                    Invariant::UseAfterFree,
                    format_args!(
                        "{}: timer#{} calls the callback of freed prog{}",
                        cpu_name(cpu),
                        t.0,
                        p.0
                    ),
                );
            }
            k.progs[p.0].callback.clone()
        });
        for c in calls {
            rets.push(super::scenario::call(ctx, p, c));
        }
    }
    ctx.step(|k, cpu| {
        k.cpus[cpu].hrtimer_running = None;
        // The hrtimer core is done with the timer; its memory may already be gone when the
        // callback freed its own element (allowed: nothing reads it any more).
        k.cbs[t.0].hr.running = None;
        if !f.has(Fix::MapOwnsProgRef)
            && let Some(p) = fn_prog
        {
            k.prog_put(cpu, p);
        }
        k.note(cpu, format_args!("timer#{} callback returns", t.0));
        k.rcu_read_unlock(cpu);
    });
    Some(rets)
}
