//! The invariants of the world, as code. [`World::check_invariants`] runs after every step in
//! tests and panics naming the first broken one (kernel-async.md §1.6 and the lifetime rules
//! of §1.5). Each is something the kernel relies on; a spec step that breaks one is a spec
//! bug.
//!
//! | id | what holds between steps |
//! |---|---|
//! | INV-SETTLED | no object waits for a deferred free |
//! | INV-PROG-REFCNT | a live program's refcnt = its user handles + the timer / wq slots whose callback it is + its scheduled task_works; a dead program is referenced by nothing |
//! | INV-MAP-REFCNT | a live map's refcnt = its user handles + live programs using it + map-in-map cells storing it |
//! | INV-MAP-USERCNT | usercnt = the user handles (fds and pin) |
//! | INV-UREF | a map with usercnt 0 holds no timer, wq or task_work |
//! | INV-EVENTS | the event queue and the armed / queued objects correspond one to one |
//! | INV-TASK-WORK | the task_work queue and the pending contexts correspond one to one |
//! | INV-KPTR | every acquired object is owned by exactly one kptr slot |
//! | INV-UNLINKED-EMPTY | a deleted, replaced or evicted element holds nothing |
//! | INV-FREED | a freed map has no elements and no references; no live object points to a freed one |
//! | INV-ARRAY-FULL | a live array has every index |

use crate::op::{MapIdx, MapKind, ProgIdx};
use crate::world::{Event, Life, TaskWorkCtx, World};

impl World {
    /// Panic with the id of the first broken invariant.
    pub fn check_invariants(&self) {
        assert!(
            self.doomed_maps.is_empty() && self.doomed_progs.is_empty(),
            "INV-SETTLED: deferred frees pending"
        );
        for (i, e) in self.elems.iter().enumerate() {
            assert!(
                e.linked || e.is_empty(),
                "INV-UNLINKED-EMPTY: deleted element {i} still holds {e:?}"
            );
        }
        for p in 0..self.progs.len() {
            self.check_prog(ProgIdx(p as u8));
        }
        for m in 0..self.maps.len() {
            self.check_map(MapIdx(m as u8));
        }
        self.check_events();
        let owned = self.elems.iter().filter(|e| e.kptr).count() as u64;
        assert_eq!(
            owned, self.kptr_objects,
            "INV-KPTR: {} objects acquired, {owned} owned by kptr slots",
            self.kptr_objects
        );
    }

    fn check_prog(&self, p: ProgIdx) {
        let prog = self.prog(p);
        let slot_refs = self
            .elems
            .iter()
            .flat_map(|e| [e.timer, e.wq])
            .flatten()
            .filter(|o| o.callback.is_some_and(|(q, _)| q == p))
            .count() as u64;
        let tw_refs = self
            .elems
            .iter()
            .filter(|e| matches!(e.task_work, Some(TaskWorkCtx::Pending(q, _)) if q == p))
            .count() as u64;
        let held = prog.handles.count() + slot_refs + tw_refs;
        match prog.life {
            Life::Live => assert_eq!(
                prog.refcnt,
                held,
                "INV-PROG-REFCNT: program {} has refcnt {} but {held} holders ({} user, {slot_refs} async slots, {tw_refs} task_works)",
                p.0,
                prog.refcnt,
                prog.handles.count()
            ),
            Life::Failed | Life::Freed => {
                assert!(
                    prog.refcnt == 0 && held == 0,
                    "INV-PROG-REFCNT: dead program {} is still referenced",
                    p.0
                );
                assert!(
                    prog.used_maps.is_empty(),
                    "INV-FREED: dead program {} holds maps",
                    p.0
                );
            }
        }
        for &m in &prog.used_maps {
            assert_eq!(
                self.map(m).life,
                Life::Live,
                "INV-FREED: program {} uses freed map {}",
                p.0,
                m.0
            );
        }
    }

    fn check_map(&self, m: MapIdx) {
        let map = self.map(m);
        let users = self
            .progs
            .iter()
            .filter(|p| p.life == Life::Live && p.used_maps.contains(&m))
            .count() as u64;
        let cells = self
            .elems
            .iter()
            .filter(|e| e.linked && e.inner == Some(m))
            .count() as u64;
        assert_eq!(
            map.usercnt,
            map.handles.count(),
            "INV-MAP-USERCNT: map {} usercnt {} with {} user handles",
            m.0,
            map.usercnt,
            map.handles.count()
        );
        match map.life {
            Life::Live => {
                let held = map.handles.count() + users + cells;
                assert_eq!(
                    map.refcnt,
                    held,
                    "INV-MAP-REFCNT: map {} has refcnt {} but {held} holders ({} user, {users} programs, {cells} outer cells)",
                    m.0,
                    map.refcnt,
                    map.handles.count()
                );
                for (&k, &e) in &map.elems {
                    let elem = &self.elems[e];
                    assert!(
                        elem.linked && elem.map == m && elem.key == k,
                        "INV-FREED: map {} links a foreign cell {e}",
                        m.0
                    );
                    if map.usercnt == 0 {
                        assert!(
                            !elem.holds_async(),
                            "INV-UREF: map {} has usercnt 0 but element {} holds an async object",
                            m.0,
                            k.0
                        );
                    }
                }
                if matches!(
                    map.spec.kind,
                    MapKind::Array | MapKind::PercpuArray | MapKind::ArrayOfMaps
                ) {
                    assert_eq!(
                        map.elems.len(),
                        usize::from(map.spec.max_entries),
                        "INV-ARRAY-FULL: array map {} misses elements",
                        m.0
                    );
                }
            }
            Life::Failed | Life::Freed => {
                assert!(
                    map.refcnt == 0 && map.elems.is_empty() && users == 0 && cells == 0,
                    "INV-FREED: dead map {} still has references or elements",
                    m.0
                );
            }
        }
    }

    fn check_events(&self) {
        for (key, ev) in &self.events {
            let (e, id, obj) = match *ev {
                Event::TimerExpiry { elem, id } => (elem, id, self.elems[elem].timer),
                Event::WorkRun { elem, id } => (elem, id, self.elems[elem].wq),
            };
            assert!(
                obj.is_some_and(|o| o.id == id && o.queued == Some(*key) && o.callback.is_some()),
                "INV-EVENTS: event {ev:?} at {} has no armed object with a callback in element {e}",
                key.at
            );
        }
        let queued = self
            .elems
            .iter()
            .flat_map(|e| [e.timer, e.wq])
            .flatten()
            .filter(|o| o.queued.is_some())
            .count();
        assert_eq!(
            queued,
            self.events.len(),
            "INV-EVENTS: {queued} objects queued, {} events",
            self.events.len()
        );
        let pending = self
            .elems
            .iter()
            .filter(|e| matches!(e.task_work, Some(TaskWorkCtx::Pending(..))))
            .count();
        assert!(
            pending == 0 && self.task_works.is_empty(),
            "INV-TASK-WORK: task_work left pending after the task returned to user space"
        );
    }
}
