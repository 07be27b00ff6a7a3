//! A race as a scenario: objects set up sequentially, then one checker thread per modelled CPU
//! (plus a kworker when work can be queued), then time passes until nothing is pending, then
//! user space closes everything, and the end-state invariants are checked.

use super::{
    Action, Call, CbId, Cpu, Ctx, Design, Event, Invariant, Kernel, Map, MapId, Prog, ProgId, Slot,
    SlotId, Work,
};
use super::{locked, lockfree};
use crate::sync::{self, Monitor, Wait};
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct MapDecl {
    pub name: &'static str,
    /// User fds (and pins) held at the start.
    pub usercnt: u32,
}

#[derive(Clone, Debug)]
pub struct SlotDecl {
    pub map: MapId,
    /// The map the verifier saw (see [`Slot::static_map`]); usually `map`.
    pub static_map: MapId,
}

impl SlotDecl {
    /// An element of `map`, verified against `map` itself.
    pub const fn of(map: MapId) -> SlotDecl {
        SlotDecl {
            map,
            static_map: map,
        }
    }
}

impl MapDecl {
    pub const fn new(name: &'static str, usercnt: u32) -> MapDecl {
        MapDecl { name, usercnt }
    }
}

#[derive(Clone, Debug)]
pub struct ProgDecl {
    pub name: &'static str,
    /// References user space holds (fd, link) at the start.
    pub user_refs: u32,
    pub used_maps: Vec<MapId>,
    /// The helper calls of its timer callback.
    pub callback: Vec<Call>,
}

impl ProgDecl {
    /// A program user space holds by one fd, using `map`, with this timer callback.
    pub fn new(name: &'static str, map: MapId, callback: Vec<Call>) -> ProgDecl {
        ProgDecl {
            name,
            user_refs: 1,
            used_maps: vec![map],
            callback,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Scenario {
    pub design: Design,
    pub preempt_rt: bool,
    pub maps: Vec<MapDecl>,
    pub slots: Vec<SlotDecl>,
    pub progs: Vec<ProgDecl>,
    /// Run on CPU0 before the CPUs start (no concurrency).
    pub setup: Vec<Action>,
    /// One list per concurrent CPU.
    pub cpus: Vec<Vec<Action>>,
    /// A kworker runs queued work concurrently with the CPUs.
    pub kworker: bool,
}

/// How many rounds of expiries the end of a scenario lets happen (a timer that re-arms
/// itself forever keeps firing; after this many rounds it is left queued).
const SETTLE_ROUNDS: usize = 3;

impl Scenario {
    /// The CPU ids: the concurrent CPUs, the kworker, then the one that settles and tears
    /// down at the end.
    fn kworker_cpu(&self) -> Cpu {
        self.cpus.len()
    }
    fn end_cpu(&self) -> Cpu {
        self.cpus.len() + 1
    }

    /// Run one execution under the current checker; returns the concurrent history.
    pub fn run(&self) -> Vec<Event> {
        let mut k = Kernel::new(self.design, self.preempt_rt, self.cpus.len() + 2);
        for m in &self.maps {
            k.maps.push(Map {
                name: m.name,
                usercnt: m.usercnt,
                refcnt: m.usercnt,
                freed: false,
            });
        }
        for p in &self.progs {
            for &m in &p.used_maps {
                k.maps[m.0].refcnt += 1;
            }
            k.progs.push(Prog {
                name: p.name,
                refcnt: p.user_refs,
                user_refs: p.user_refs,
                used_maps: p.used_maps.clone(),
                callback: p.callback.clone(),
                freed: false,
            });
        }
        for s in &self.slots {
            k.slots.push(Slot {
                map: s.map,
                cb: None,
                lock: None,
                static_map: s.static_map,
                gone: false,
            });
        }
        let m = Arc::new(Monitor::new(k));
        let config = (self.design, self.preempt_rt);
        {
            let ctx = on(&m, 0, config);
            for a in &self.setup {
                act(&ctx, a);
            }
            ctx.step(|k, _| {
                k.trace.push("concurrently:".into());
                k.clock = 0;
            });
        }
        let mut threads = Vec::new();
        for (cpu, actions) in self.cpus.iter().enumerate() {
            let (m, actions) = (Arc::clone(&m), actions.clone());
            threads.push(sync::spawn(move || {
                let ctx = on(&m, cpu, config);
                let events: Vec<Event> = actions.iter().map(|a| act(&ctx, a)).collect();
                ctx.step(|k, cpu| {
                    k.history.extend(events);
                    k.cpus[cpu].finished = true;
                });
                // The kworker, idle, waits for this.
                m.kick();
            }));
        }
        if self.kworker {
            let (m, cpu, n) = (Arc::clone(&m), self.kworker_cpu(), self.cpus.len());
            threads.push(sync::spawn(move || {
                let ctx = on(&m, cpu, config);
                let mut events = Vec::new();
                while let Some(w) = m.wait_for_kick(|k| match k.works.pop_front() {
                    Some(w) => Wait::Ready(Some(w)),
                    None if k.cpus[..n].iter().all(|c| c.finished) => Wait::Ready(None),
                    None => Wait::Blocked,
                }) {
                    events.push(act(&ctx, &Action::Work(w)));
                }
                ctx.step(|k, cpu| {
                    k.history.extend(events);
                    k.cpus[cpu].finished = true;
                });
            }));
        }
        for t in threads {
            t.join();
        }
        let ctx = on(&m, self.end_cpu(), config);
        ctx.step(|k, _| k.trace.push("then time passes:".into()));
        settle(&ctx);
        check_uref_rule(&ctx);
        ctx.step(|k, _| k.trace.push("then user space closes every map:".into()));
        let open: Vec<(MapId, u32)> = ctx.step(|k, _| {
            k.maps
                .iter()
                .enumerate()
                .map(|(i, m)| (MapId(i), m.usercnt))
                .collect()
        });
        for (map, n) in open {
            for _ in 0..n {
                act(&ctx, &Action::CloseMap(map));
            }
        }
        settle(&ctx);
        ctx.step(|k, _| {
            check_end(k);
            std::mem::take(&mut k.history)
        })
    }
}

/// CPU `cpu`'s handle on the kernel of a scenario configured as `(design, preempt_rt)`.
fn on(m: &Monitor<Kernel>, cpu: Cpu, (design, preempt_rt): (Design, bool)) -> Ctx<'_> {
    Ctx {
        m,
        cpu,
        design,
        preempt_rt,
    }
}

/// The design's answer to one helper call of `prog`.
pub fn call(ctx: &Ctx, prog: ProgId, c: Call) -> i64 {
    ctx.step(|k, cpu| {
        let who = match k.cpus[cpu].hrtimer_running {
            Some(t) => format!("timer#{} callback", t.0),
            None => format!("prog{}", prog.0),
        };
        k.note(cpu, format_args!("{who}: {c}"));
    });
    let f = match ctx.design {
        Design::Locked(f) => f,
        Design::LockFree(f) => return lockfree::call(ctx, f, prog, c),
    };
    match c {
        Call::Init(s, m) => locked::init(ctx, f, s, m),
        Call::SetCallback(s) => locked::set_callback(ctx, f, prog, s),
        Call::Start(s) => locked::start(ctx, f, s),
        Call::Cancel(s) => locked::cancel(ctx, f, s),
        Call::Delete(s) => element_delete(ctx, s),
        Call::Update(s) => element_update(ctx, s),
        Call::WqInit(..) | Call::WqSetCallback(_) | Call::WqStart(_) => {
            unreachable!("the lock-based model has no bpf_wq: {c}")
        }
    }
}

fn element_free(ctx: &Ctx, s: SlotId) {
    match ctx.design {
        Design::Locked(f) => locked::element_free(ctx, f, s),
        Design::LockFree(f) => lockfree::cancel_and_free(ctx, f, s),
    }
}

/// `map_delete_elem`: -ENOENT for a gone element, else the element and its timer go.
pub(super) fn element_delete(ctx: &Ctx, s: SlotId) -> i64 {
    let gone = ctx.step(|k, _| std::mem::replace(&mut k.slots[s.0].gone, true));
    if gone {
        return -2;
    }
    element_free(ctx, s);
    0
}

/// `map_update_elem` over an existing element: the old value's timer goes, the element
/// stays (with a fresh, zeroed timer field). A preallocated hash frees the old element's
/// fields under the bucket's raw spin lock.
pub(super) fn element_update(ctx: &Ctx, s: SlotId) -> i64 {
    ctx.step(|k, _| k.cpus[ctx.cpu].raw_locks += 1);
    element_free(ctx, s);
    // The unlock enables IRQs: the lock-free design's irq_works queued meanwhile run.
    ctx.step(|k, _| k.cpus[ctx.cpu].raw_locks -= 1);
    if let Design::LockFree(f) = ctx.design {
        lockfree::irqs_enabled(ctx, f);
    }
    0
}

/// `bpf_map_put_with_uref`: the last user reference runs `map_release_uref` (cancel and
/// free every timer of the map), then the map reference goes.
fn close_map(ctx: &Ctx, m: MapId) -> i64 {
    let last = ctx.step(|k, cpu| {
        let map = &mut k.maps[m.0];
        map.usercnt -= 1;
        let last = map.usercnt == 0;
        if last {
            k.note(cpu, format_args!("map{} usercnt 0: map_release_uref", m.0));
        }
        last
    });
    if last {
        for s in slots_of(ctx, m) {
            element_free(ctx, s);
        }
    }
    ctx.step(|k, cpu| k.map_put(cpu, m));
    0
}

fn slots_of(ctx: &Ctx, m: MapId) -> Vec<SlotId> {
    ctx.step(|k, _| {
        (0..k.slots.len())
            .filter(|&i| k.slots[i].map == m)
            .map(SlotId)
            .collect()
    })
}

fn run_work(ctx: &Ctx, w: Work) {
    match (w, ctx.design) {
        (Work::TimerDelete(t), Design::Locked(f)) => locked::delete_work(ctx, f, t),
        (Work::Wq(t), Design::LockFree(_)) => {
            lockfree::wq_work(ctx, t);
        }
        (Work::TimerDelete(_) | Work::Wq(_), d) => unreachable!("{d:?} does not queue {w:?}"),
        (Work::MapFree(m), _) => {
            for s in slots_of(ctx, m) {
                ctx.step(|k, _| k.slots[s.0].gone = true);
                element_free(ctx, s);
            }
            ctx.step(|k, cpu| {
                k.maps[m.0].freed = true;
                k.note(cpu, format_args!("map{} freed", m.0));
            });
        }
    }
}

fn fire(ctx: &Ctx, t: CbId) -> Option<Vec<i64>> {
    match ctx.design {
        Design::Locked(f) => locked::timer_cb(ctx, f, t),
        Design::LockFree(_) => lockfree::timer_cb(ctx, t),
    }
}

/// Run one action on this CPU.
pub(super) fn act(ctx: &Ctx, a: &Action) -> Event {
    let invoked = ctx.step(|k, cpu| {
        k.note(cpu, a);
        k.clock
    });
    let (rets, fired) = match a {
        Action::Run(p, calls) => {
            ctx.step(|k, cpu| k.rcu_read_lock(cpu));
            let rets = calls.iter().map(|&c| call(ctx, *p, c)).collect();
            ctx.step(|k, cpu| k.rcu_read_unlock(cpu));
            (rets, None)
        }
        Action::RunSleepable(p, calls) => {
            ctx.step(|k, cpu| k.rcu_read_lock_trace(cpu));
            let rets = calls.iter().map(|&c| call(ctx, *p, c)).collect();
            ctx.step(|k, cpu| k.rcu_read_unlock_trace(cpu));
            (rets, None)
        }
        Action::WqWork(t) => match ctx.design {
            Design::LockFree(_) => match lockfree::wq_work(ctx, *t) {
                Some(rets) => (rets, Some(true)),
                None => (Vec::new(), Some(false)),
            },
            d => unreachable!("{d:?} has no bpf_wq"),
        },
        Action::AttachTracepoint(p, calls) => {
            ctx.step(|k, _| k.hrtimer_tp = Some((*p, calls.clone())));
            (Vec::new(), None)
        }
        Action::Work(w) => {
            run_work(ctx, *w);
            (Vec::new(), None)
        }
        Action::Fire(t) => match fire(ctx, *t) {
            Some(rets) => (rets, Some(true)),
            None => (Vec::new(), Some(false)),
        },
        Action::UserDelete(s) => (vec![element_delete(ctx, *s)], None),
        Action::UserUpdate(s) => (vec![element_update(ctx, *s)], None),
        Action::CloseMap(m) => (vec![close_map(ctx, *m)], None),
        Action::CloseProg(p) => {
            ctx.step(|k, cpu| {
                k.progs[p.0].user_refs -= 1;
                k.prog_put(cpu, *p);
            });
            (vec![0], None)
        }
    };
    let returned = ctx.step(|k, _| k.clock);
    Event {
        cpu: ctx.cpu,
        action: a.clone(),
        rets,
        fired,
        invoked,
        returned,
    }
}

/// Let time pass: queued work runs and queued timers expire, for a bounded number of rounds.
fn settle(ctx: &Ctx) {
    for _ in 0..SETTLE_ROUNDS {
        while let Some(w) = ctx.step(|k, _| k.works.pop_front()) {
            run_work(ctx, w);
        }
        while ctx.step(|k, cpu| {
            k.end_grace_periods(cpu);
            k.tasks_trace_pending()
        }) {}
        let queued: Vec<CbId> = ctx.step(|k, _| {
            (0..k.cbs.len())
                .filter(|&i| !k.cbs[i].freed && k.cbs[i].hr.queued)
                .map(CbId)
                .collect()
        });
        if queued.is_empty() {
            return;
        }
        for t in queued {
            fire(ctx, t);
        }
    }
}

/// §1.6 invariant 4: once a map's usercnt is 0 (its `map_release_uref` ran), none of its
/// elements holds a timer — nothing would ever free it, and it may re-arm forever.
fn check_uref_rule(ctx: &Ctx) {
    ctx.step(|k, _| {
        for (i, s) in k.slots.iter().enumerate() {
            if let Some(t) = s.cb
                && k.maps[s.map.0].usercnt == 0
            {
                k.violated(
                    Invariant::UrefRule,
                    format_args!(
                        "t{i} holds timer#{} while map{} has usercnt 0",
                        t.0, s.map.0
                    ),
                );
            }
        }
    });
}

/// After user space closed everything and time passed: every timer is freed, and every prog
/// holds only user space's references.
fn check_end(k: &Kernel) {
    if let Some(i) = k.cbs.iter().position(|c| !c.freed) {
        k.violated(
            Invariant::Leak,
            format_args!(
                "timer#{i} is never freed (t{} of map{})",
                k.cbs[i].slot.0, k.cbs[i].map.0
            ),
        );
    }
    for (i, p) in k.progs.iter().enumerate() {
        let live = if p.freed { 0 } else { p.refcnt };
        if live != p.user_refs {
            k.violated(
                Invariant::ProgRefcount,
                format_args!(
                    "prog{i} ({}) has refcount {live} with {} user references and no timer",
                    p.name, p.user_refs
                ),
            );
        }
    }
}
