//! Reference counts and free paths: who holds what, and what dies when the last holder lets
//! go.
//!
//! Frees that the kernel defers past an RCU grace period (`bpf_prog_put` → deferred free →
//! `bpf_free_used_maps`; `bpf_map_put` → `bpf_map_free_deferred`) are queued as *doomed* and
//! carried out by [`World::settle`] when the current program run or callback (an RCU read
//! section) has ended. An object whose refcnt is 0 is therefore still usable by the code that
//! is running, exactly as in the kernel, but `bpf_prog_inc_not_zero` on it fails.

use super::Frame;
use crate::mutants::{self, Mutant};
use crate::op::{MapIdx, ProgIdx};
use crate::outcome::Unsupported;
use crate::world::{ElemId, Life, TaskWorkCtx, World};

/// Why a slot's fields are being freed: the uref drop frees only async objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FreeCause {
    /// `map_release_uref` (`*_map_free_internal_structs`): timers, wq, task_work only; kptrs
    /// survive ("we don't reset or free fields other than timer and workqueue on uref
    /// dropping to zero", arraymap.c / hashtab.c, all eras).
    UrefDrop,
    /// `bpf_obj_free_fields`: element update, delete, LRU eviction, map free.
    Element,
    /// `bpf_obj_free_fields` on an array element updated in place: like [`FreeCause::Element`],
    /// but in 7.2 the kptr stays (`Features::element_free_keeps_kptr`).
    InPlaceUpdate,
}

impl World {
    /// `bpf_prog_inc_not_zero` (syscall.c): fails once refcnt reached 0.
    pub(crate) fn prog_inc_not_zero(&mut self, p: ProgIdx) -> bool {
        let prog = self.prog_mut(p);
        if prog.refcnt == 0 {
            return false;
        }
        prog.refcnt += 1;
        true
    }

    /// `bpf_prog_put` (syscall.c).
    pub(crate) fn prog_put(&mut self, p: ProgIdx) {
        let prog = self.prog_mut(p);
        assert!(
            prog.refcnt > 0,
            "INV-PROG-REFCNT: put of program {} with refcnt 0",
            p.0
        );
        prog.refcnt -= 1;
        if prog.refcnt == 0 {
            self.doomed_progs.push(p);
        }
    }

    /// `bpf_map_inc` (syscall.c): refcnt only.
    pub(crate) fn map_inc(&mut self, m: MapIdx) {
        self.map_mut(m).refcnt += 1;
    }

    /// `bpf_map_put` (syscall.c).
    pub(crate) fn map_put(&mut self, m: MapIdx) {
        let map = self.map_mut(m);
        assert!(
            map.refcnt > 0,
            "INV-MAP-REFCNT: put of map {} with refcnt 0",
            m.0
        );
        map.refcnt -= 1;
        if map.refcnt == 0 {
            self.doomed_maps.push(m);
        }
    }

    /// `bpf_map_inc_with_uref` / `__bpf_map_inc_not_zero(map, true)`: a new user handle.
    pub(crate) fn map_inc_with_uref(&mut self, m: MapIdx) {
        let map = self.map_mut(m);
        map.refcnt += 1;
        map.usercnt += 1;
    }

    /// `bpf_map_put_with_uref` (syscall.c): `bpf_map_put_uref` then `bpf_map_put`. When
    /// usercnt reaches 0, `map->ops->map_release_uref` cancels and frees every timer, wq and
    /// task_work of the map (all eras), which drops their program references: this is what
    /// breaks the timer → prog → map reference cycle.
    pub(crate) fn map_put_with_uref(&mut self, m: MapIdx) -> Result<(), Unsupported> {
        let map = self.map_mut(m);
        assert!(
            map.usercnt > 0,
            "INV-MAP-USERCNT: uref put of map {} with usercnt 0",
            m.0
        );
        map.usercnt -= 1;
        if map.usercnt == 0 && !mutants::active(Mutant::UrefDropKeepsAsyncObjects) {
            let cells: Vec<ElemId> = map.elems.values().copied().collect();
            for e in cells {
                self.free_fields(e, FreeCause::UrefDrop, None)?;
            }
        }
        self.map_put(m);
        Ok(())
    }

    /// Free the special fields of one element (`bpf_obj_free_fields` or the uref-drop subset).
    /// `frame` is the running program or callback, if the free happens inside one.
    pub(crate) fn free_fields(
        &mut self,
        e: ElemId,
        cause: FreeCause,
        frame: Option<&Frame>,
    ) -> Result<(), Unsupported> {
        self.timer_cancel_and_free(e, frame)?;
        self.wq_cancel_and_free(e);
        self.task_work_cancel_and_free(e);
        let releases_kptr = match cause {
            FreeCause::Element => !mutants::active(Mutant::ElementFreeKeepsKptr),
            FreeCause::InPlaceUpdate => {
                !self.kernel.features.element_free_keeps_kptr
                    && !mutants::active(Mutant::ElementFreeKeepsKptr)
            }
            FreeCause::UrefDrop => mutants::active(Mutant::UrefDropReleasesKptrs),
        };
        if releases_kptr {
            let elem = &mut self.elems[e];
            // BPF_KPTR_REF: xchg the slot to NULL and release the object (kptr dtor).
            if std::mem::take(&mut elem.kptr) {
                self.kptr_objects -= 1;
            }
        }
        if cause != FreeCause::UrefDrop {
            // Map-in-map: the outer element's reference on the inner map.
            if let Some(inner) = self.elems[e].inner.take() {
                self.map_put(inner);
            }
        }
        Ok(())
    }

    /// Unlink a cell from its map (delete, replace, eviction) after freeing its fields.
    ///
    /// In 7.2 (`Features::element_free_keeps_kptr`) the kernel leaves a referenced kptr in
    /// the unlinked element's memory until that memory is freed for good, and the map's
    /// allocator may hand the memory, kptr included, to the next element it creates. The
    /// spec releases the object here all the same (no program or user can tell the two apart
    /// but through that reuse, which the spec does not model) and marks the elements created
    /// from now on as possibly sitting in that memory (`freed_kptr_since`).
    pub(crate) fn unlink(&mut self, e: ElemId, frame: Option<&Frame>) -> Result<(), Unsupported> {
        if self.elems[e].kptr && self.kernel.features.element_free_keeps_kptr {
            let next = self.elems.len();
            self.map_mut(self.elems[e].map)
                .freed_kptr_since
                .get_or_insert(next);
        }
        self.free_fields(e, FreeCause::Element, frame)?;
        let (m, k) = (self.elems[e].map, self.elems[e].key);
        self.elems[e].linked = false;
        self.map_mut(m).elems.remove(&k);
        Ok(())
    }

    /// `bpf_timer_cancel_and_free` (helpers.c).
    /// * All eras: detach the timer from the slot and drop its program reference.
    /// * Called from the timer's own callback: `hrtimer_cancel` would wait for itself, so it is
    ///   skipped (v5.15 design). If the callback had re-armed the timer first, the skipped
    ///   cancel leaves a queued hrtimer on freed memory: a kernel use-after-free until
    ///   [`crate::Features::defer_free_in_callback`] (6.10) moved the cancel to a kworker.
    /// * Otherwise the armed timer is cancelled (inline, by kworker, or by
    ///   `hrtimer_try_to_cancel` on PREEMPT_RT: all end with the expiry gone).
    pub(crate) fn timer_cancel_and_free(
        &mut self,
        e: ElemId,
        frame: Option<&Frame>,
    ) -> Result<(), Unsupported> {
        let Some(t) = self.elems[e].timer else {
            return Ok(());
        };
        let own_callback = frame.is_some_and(|f| f.running_timer() == Some(t.id));
        if own_callback && t.queued.is_some() && !self.kernel.features.defer_free_in_callback {
            return Err(Unsupported::KernelUseAfterFree);
        }
        self.elems[e].timer = None;
        if let Some(q) = t.queued {
            self.events.remove(&q);
        }
        if let Some((p, _)) = t.callback
            && !mutants::active(Mutant::CancelAndFreeKeepsProgRef)
        {
            self.prog_put(p);
        }
        Ok(())
    }

    /// `bpf_wq_cancel_and_free` (helpers.c, since 6.10): detach, drop the program reference,
    /// and cancel the work item (`cancel_work_sync` from a kworker; never waits inline).
    pub(crate) fn wq_cancel_and_free(&mut self, e: ElemId) {
        let Some(w) = self.elems[e].wq.take() else {
            return;
        };
        if let Some(q) = w.queued {
            self.events.remove(&q);
        }
        if let Some((p, _)) = w.callback
            && !mutants::active(Mutant::WqCancelAndFreeKeepsProgRef)
        {
            self.prog_put(p);
        }
    }

    /// `bpf_task_work_cancel_and_free` (helpers.c, since 6.18): the context becomes FREED; a
    /// pending callback is cancelled (`task_work_cancel`) and its program reference dropped. A
    /// running callback finishes and its runner drops the reference.
    pub(crate) fn task_work_cancel_and_free(&mut self, e: ElemId) {
        if let Some(TaskWorkCtx::Pending(p, _)) = self.elems[e].task_work.take() {
            self.task_works.retain(|&x| x != e);
            self.prog_put(p);
        }
    }

    /// End of an RCU read section: carry out the frees of objects whose refcnt reached 0,
    /// following the cascade (a freed program drops its maps; a freed map frees its elements,
    /// whose timers drop their programs, …).
    pub(crate) fn settle(&mut self) -> Result<(), Unsupported> {
        loop {
            if let Some(p) = self.doomed_progs.pop() {
                // bpf_prog_free_deferred → bpf_free_used_maps.
                let prog = self.prog_mut(p);
                prog.life = Life::Freed;
                for m in std::mem::take(&mut prog.used_maps) {
                    self.map_put(m);
                }
            } else if let Some(m) = self.doomed_maps.pop() {
                self.free_map(m)?;
            } else {
                return Ok(());
            }
        }
    }

    /// `bpf_map_free_deferred` → `map->ops->map_free`: every element's fields are freed
    /// (array: `bpf_obj_free_fields` per element; htab: `htab_free_prealloced_fields` /
    /// `delete_all_elements`; map-in-map: the inner maps are put).
    fn free_map(&mut self, m: MapIdx) -> Result<(), Unsupported> {
        let cells: Vec<ElemId> = self.map(m).elems.values().copied().collect();
        for e in cells {
            if mutants::active(Mutant::MapFreeDropsKptrsUnreleased) {
                self.elems[e].kptr = false;
            }
            self.unlink(e, None)?;
        }
        self.map_mut(m).life = Life::Freed;
        Ok(())
    }
}
