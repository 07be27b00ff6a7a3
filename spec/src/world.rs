//! The world: everything the kernel holds that the async rules can observe.
//!
//! Ownership, as in the kernel:
//! * A **map** is held by `refcnt`; user handles (fds and bpffs pins) hold `refcnt` *and*
//!   `usercnt`; a live program holds `refcnt` on each of its `used_maps`; an outer map-in-map
//!   element holds `refcnt` on its inner map (syscall.c `bpf_map_inc` via `map_fd_get_ptr`,
//!   inferred: no `usercnt`).
//! * A **program** is held by `refcnt`: its user fds and pin, one reference per timer / wq slot
//!   whose callback it set, and one per pending task_work.
//! * An **element** is a storage cell (`ElemId`). A map links keys to cells; a deleted,
//!   replaced or evicted cell is unlinked with its special fields freed, but stays addressable
//!   so that a callback still running on it sees what the kernel's callback sees (an empty
//!   slot).
//! * **Time** is a virtual clock; armed hrtimers and queued work items are entries of an event
//!   queue ordered by (due time, arming order). Nothing reads a real clock.

use crate::era::Kernel;
use crate::op::{CbIdx, Key, MapIdx, MapSpec, ObjRef, ProgIdx, ProgSpec, Query};
use crate::outcome::Observation;
use std::collections::BTreeMap;

/// A storage cell of a map element.
pub type ElemId = usize;

/// Lifecycle of a map or program handle-table entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Life {
    /// Creation / load failed: there never was an object.
    Failed,
    Live,
    /// refcnt reached 0 and the object was freed; its id is gone.
    Freed,
}

/// User handles on an object: fds and the bpffs pin.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Handles {
    pub fds: u32,
    pub pinned: bool,
}

impl Handles {
    /// Count of user references (each fd and the pin hold one).
    pub fn count(&self) -> u64 {
        u64::from(self.fds) + u64::from(self.pinned)
    }
    /// User space can reach the object (an fd, or a pin to open).
    pub fn reachable(&self) -> bool {
        self.count() > 0
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapObj {
    pub spec: MapSpec,
    pub life: Life,
    pub handles: Handles,
    pub refcnt: u64,
    pub usercnt: u64,
    /// Linked elements by key. Arrays are fully populated at creation.
    pub elems: BTreeMap<Key, ElemId>,
    /// Where an element of this map that held a referenced kptr left it (delete, replace,
    /// eviction) in an era whose element free keeps kptrs (`Features::element_free_keeps_kptr`):
    /// the elements created since (ids from this one on) may sit in that memory, kptr included.
    pub freed_kptr_since: Option<ElemId>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgObj {
    pub spec: ProgSpec,
    pub life: Life,
    pub handles: Handles,
    pub refcnt: u64,
    /// Maps the program holds a reference on while it lives.
    pub used_maps: Vec<MapIdx>,
    /// Callbacks the verifier walked with more than one map
    /// ([`crate::verifier::SharedCallbacks`]).
    pub shared_callbacks: crate::verifier::SharedCallbacks,
}

/// A `bpf_hrtimer` or `bpf_work` (the kernel's `bpf_async_cb`) living in a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AsyncObj {
    /// Unique per allocation, so that an event can never reach a reallocated object.
    pub id: u64,
    /// The program whose callback is set; the slot holds one reference on it.
    pub callback: Option<(ProgIdx, CbIdx)>,
    /// The queued hrtimer expiry or work item.
    pub queued: Option<EventKey>,
}

/// A `bpf_task_work` context (`bpf_task_work_ctx`, helpers.c since 6.18), as its state
/// machine `STANDBY → PENDING → … → RUNNING → STANDBY`; freeing the context is `FREED`, i.e.
/// the slot becomes `None`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TaskWorkCtx {
    /// Allocated, nothing scheduled.
    #[default]
    Standby,
    /// Scheduled on the current task, holding a program reference.
    Pending(ProgIdx, CbIdx),
    /// The callback runs; the runner owns the program reference and puts it at the end.
    Running(ProgIdx, CbIdx),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Elem {
    pub map: MapIdx,
    pub key: Key,
    /// Still reachable through its map.
    pub linked: bool,
    pub timer: Option<AsyncObj>,
    pub wq: Option<AsyncObj>,
    pub task_work: Option<TaskWorkCtx>,
    /// A referenced kptr holds an acquired object.
    pub kptr: bool,
    /// Map-in-map value: the inner map, on which this element holds a reference.
    pub inner: Option<MapIdx>,
    /// LRU recency stamp (insert, update, program lookup).
    pub last_use: u64,
}

impl Elem {
    pub fn new(map: MapIdx, key: Key, stamp: u64) -> Elem {
        Elem {
            map,
            key,
            linked: true,
            timer: None,
            wq: None,
            task_work: None,
            kptr: false,
            inner: None,
            last_use: stamp,
        }
    }

    /// No special field holds anything.
    pub fn is_empty(&self) -> bool {
        self.timer.is_none()
            && self.wq.is_none()
            && self.task_work.is_none()
            && !self.kptr
            && self.inner.is_none()
    }

    pub fn holds_async(&self) -> bool {
        self.timer.is_some() || self.wq.is_some() || self.task_work.is_some()
    }
}

/// Position in the event queue: due time, then arming order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventKey {
    pub at: u64,
    pub seq: u64,
}

/// Something queued to happen at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// An armed hrtimer expires (`bpf_timer_cb`).
    TimerExpiry { elem: ElemId, id: u64 },
    /// A scheduled work item runs (`bpf_wq_work`).
    WorkRun { elem: ElemId, id: u64 },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct World {
    pub kernel: Kernel,
    /// Virtual time in ns.
    pub now: u64,
    pub maps: Vec<MapObj>,
    pub progs: Vec<ProgObj>,
    pub elems: Vec<Elem>,
    pub events: BTreeMap<EventKey, Event>,
    /// task_work callbacks to run when the current task returns to user space, FIFO.
    pub task_works: Vec<ElemId>,
    /// Callback starts per (program, callback).
    pub runs: BTreeMap<(ProgIdx, CbIdx), u64>,
    /// Acquired objects currently owned by referenced-kptr slots.
    pub kptr_objects: u64,
    /// Monotonic counters: event arming order, async allocation ids, LRU stamps.
    pub(crate) seq: u64,
    /// Objects whose refcnt reached 0, freed when the current RCU read section (program run
    /// or callback) ends.
    pub(crate) doomed_maps: Vec<MapIdx>,
    pub(crate) doomed_progs: Vec<ProgIdx>,
}

impl World {
    pub fn new(kernel: Kernel) -> World {
        World {
            kernel,
            now: 0,
            maps: Vec::new(),
            progs: Vec::new(),
            elems: Vec::new(),
            events: BTreeMap::new(),
            task_works: Vec::new(),
            runs: BTreeMap::new(),
            kptr_objects: 0,
            seq: 0,
            doomed_maps: Vec::new(),
            doomed_progs: Vec::new(),
        }
    }

    /// Resolve a generated map index: modulo the handle table (dead entries included).
    pub fn map_idx(&self, m: MapIdx) -> Option<MapIdx> {
        let n = self.maps.len();
        (n > 0).then(|| MapIdx((usize::from(m.0) % n) as u8))
    }

    pub fn prog_idx(&self, p: ProgIdx) -> Option<ProgIdx> {
        let n = self.progs.len();
        (n > 0).then(|| ProgIdx((usize::from(p.0) % n) as u8))
    }

    pub fn map(&self, m: MapIdx) -> &MapObj {
        &self.maps[usize::from(m.0)]
    }

    pub fn map_mut(&mut self, m: MapIdx) -> &mut MapObj {
        &mut self.maps[usize::from(m.0)]
    }

    pub fn prog(&self, p: ProgIdx) -> &ProgObj {
        &self.progs[usize::from(p.0)]
    }

    pub fn prog_mut(&mut self, p: ProgIdx) -> &mut ProgObj {
        &mut self.progs[usize::from(p.0)]
    }

    pub(crate) fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Answer a query (BPF_*_GET_NEXT_ID listing; the callbacks' result counters).
    pub fn observe(&self, q: &Query) -> Observation {
        match *q {
            Query::Alive(ObjRef::Map(m)) => Observation::Alive(
                self.map_idx(m)
                    .is_some_and(|m| self.map(m).life == Life::Live),
            ),
            Query::Alive(ObjRef::Prog(p)) => Observation::Alive(
                self.prog_idx(p)
                    .is_some_and(|p| self.prog(p).life == Life::Live),
            ),
            Query::Runs { prog, cb } => Observation::Count(
                self.prog_idx(prog)
                    .map_or(0, |p| self.runs.get(&(p, cb)).copied().unwrap_or(0)),
            ),
        }
    }
}
