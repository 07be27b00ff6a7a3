//! What user space does through bpf(2): map create / update / delete / lookup, program load
//! and run, and the handle syscalls (close, pin, unpin, get-fd-by-id).
//!
//! Every map syscall first resolves the map through a user handle: a map user space can no
//! longer reach (no fd, no pin) gives -EBADF, as `__bpf_map_get` on a closed fd does.

use super::helpers::ProgMapOp;
use super::{Ctx, Frame, Res};
use crate::era::Kernel;
use crate::errno::Errno;
use crate::op::{
    ElemRef, Field, Key, MapIdx, MapKind, MapRef, MapSpec, ObjRef, ProgIdx, ProgSpec, UpdateFlags,
    ValueLayout,
};
use crate::outcome::{Outcome, Unsupported};
use crate::world::{Elem, ElemId, Handles, Life, MapObj, ProgObj, World};

/// The result of an element operation: 0 or an errno.
pub(crate) type ElemResult = Result<(), Errno>;

impl MapSpec {
    /// What `BPF_MAP_CREATE` (syscall.c `map_create`, `map_check_btf`) of this spec does on
    /// `kernel`, whatever else exists: the spec the map gets (its value holding the special
    /// fields the kernel recognises), and whether the checks let it be created. `template`
    /// resolves the inner-map template a map-in-map names: the kind of the map user space
    /// reaches through that handle, if any. [`World::map_create`] and the verifier model
    /// (which needs no world) both create maps by it.
    pub(crate) fn create(
        &self,
        kernel: &Kernel,
        template: impl FnOnce(MapIdx) -> Option<MapKind>,
    ) -> (MapSpec, ElemResult) {
        let spec = MapSpec {
            value: recognised_fields(kernel, self.value),
            ..*self
        };
        let checked = check_map_spec(kernel, &spec, self.value.has_special_fields(), template);
        (spec, checked)
    }
}

/// The special fields the kernel recognises in a value. A second field of a kind allowed
/// once (timer, wq, task_work, spin lock) is refused by the BTF field parser (-E2BIG), and
/// `map_check_btf` keeps the error as the map's record: the map is created, and with
/// [`crate::Features::btf_record`] none of its special fields counts; before, only that kind
/// is ignored. Found by the kernel oracle (the spec called it unsupported).
///
/// A kind the era's kernel does not know (`struct bpf_wq` before 6.10, `struct
/// bpf_task_work` before 6.18: `btf_parse_fields` matches the names it knows) is plain bytes
/// of the value. Found by the VM matrix: on 6.12 a value whose only special field was a
/// `bpf_task_work` has no BTF record. Kptrs are parsed since v5.19 ([`crate::Features::kptr`]);
/// before [`crate::Features::kptr_untrusted_tag`] the tag `kptr_untrusted` is unknown: the
/// kptr parse fails and neither kptr field counts (the `kptr` one, when alone, is an
/// unreferenced kptr: [`Field::is_referenced_kptr`]).
fn recognised_fields(kernel: &Kernel, v: ValueLayout) -> ValueLayout {
    let f = &kernel.features;
    let kptrs = f.kptr && (f.kptr_untrusted_tag || v.kptr_untrusted == 0);
    let v = ValueLayout {
        wq: if f.wq { v.wq } else { 0 },
        task_work: if f.task_work { v.task_work } else { 0 },
        kptr: if kptrs { v.kptr } else { 0 },
        kptr_untrusted: if kptrs { v.kptr_untrusted } else { 0 },
        ..v
    };
    let dup = |f: Field| v.count(f) > 1;
    let unique = [Field::Timer, Field::Wq, Field::TaskWork, Field::SpinLock];
    if kernel.features.btf_record {
        if unique.into_iter().any(dup) {
            return ValueLayout::default();
        }
        return v;
    }
    ValueLayout {
        timer: if dup(Field::Timer) { 0 } else { v.timer },
        wq: if dup(Field::Wq) { 0 } else { v.wq },
        task_work: if dup(Field::TaskWork) { 0 } else { v.task_work },
        spin_lock: if dup(Field::SpinLock) { 0 } else { v.spin_lock },
        ..v
    }
}

/// The `*_alloc_check`s, the map-in-map `bpf_map_meta_alloc` checks and `map_check_btf`, in
/// that order. `sized` says the declared value holds special fields (so it is larger than a
/// map fd), recognised or not; `template` is as in [`MapSpec::create`].
fn check_map_spec(
    kernel: &Kernel,
    spec: &MapSpec,
    sized: bool,
    template: impl FnOnce(MapIdx) -> Option<MapKind>,
) -> ElemResult {
    // `bpf_map_flags_access_ok`, in every `*_alloc_check` before the other flags: read-only
    // and write-only to programs at once is -EINVAL (found by the kernel oracle: before an
    // LRU map's -ENOTSUPP for no preallocation).
    if spec.flags.rdonly_prog && spec.flags.wronly_prog {
        return Err(Errno::EINVAL);
    }
    // `array_map_alloc_check`: arrays are always preallocated. `htab_map_alloc_check`: an LRU
    // map cannot be (-ENOTSUPP, the kernel-internal 524).
    if spec.flags.no_prealloc {
        match spec.kind {
            MapKind::Array | MapKind::PercpuArray | MapKind::ArrayOfMaps => {
                return Err(Errno::EINVAL);
            }
            MapKind::LruHash => return Err(Errno::ENOTSUPP),
            MapKind::Hash | MapKind::PercpuHash | MapKind::HashOfMaps => {}
        }
    }
    // The size checks come after the flag checks (`htab_map_alloc_check`: an LRU map without
    // preallocation is -ENOTSUPP even with max_entries 0; found by the oracle).
    if spec.max_entries == 0 {
        return Err(Errno::EINVAL);
    }
    // `fd_array_map_alloc_check` / `htab_of_map_alloc_check`: a map-in-map value is a 4-byte
    // map fd, so a value with special fields has the wrong size (found by the kernel oracle;
    // the spec said -EOPNOTSUPP, from the later BTF check).
    if spec.kind.is_map_in_map() && sized {
        return Err(Errno::EINVAL);
    }
    // `fd_array_map_alloc_check`: programs cannot be limited to reading or writing an array
    // of maps; a hash of maps has no such check (found by the kernel oracle).
    if spec.kind == MapKind::ArrayOfMaps && (spec.flags.rdonly_prog || spec.flags.wronly_prog) {
        return Err(Errno::EINVAL);
    }
    if kernel.features.btf_record {
        check_record(spec)?;
    } else {
        check_fields_by_kind(spec)?;
    }
    if spec.kind.is_map_in_map() {
        // `bpf_map_meta_alloc`: the inner template must be an fd of a map that is not itself
        // a map-in-map.
        let Some(kind) = spec.inner.and_then(template) else {
            return Err(Errno::EBADF);
        };
        if kind.is_map_in_map() {
            return Err(Errno::EINVAL);
        }
    }
    Ok(())
}

/// `map_check_btf` since v6.2 ([`crate::Features::btf_record`]): the record's fields
/// together.
fn check_record(spec: &MapSpec) -> ElemResult {
    if !spec.value.has_special_fields() {
        return Ok(());
    }
    // Special fields can be neither read-only nor write-only to programs.
    if spec.flags.rdonly_prog || spec.flags.wronly_prog {
        return Err(Errno::EACCES);
    }
    // Each kind of field is allowed in a fixed set of map types.
    let allowed = |f: Field| match f {
        Field::Timer | Field::Wq | Field::TaskWork => {
            matches!(spec.kind, MapKind::Hash | MapKind::LruHash | MapKind::Array)
        }
        Field::SpinLock => matches!(spec.kind, MapKind::Hash | MapKind::Array),
        Field::Kptr | Field::KptrUntrusted => !spec.kind.is_map_in_map(),
    };
    if Field::ALL
        .into_iter()
        .any(|f| spec.value.count(f) > 0 && !allowed(f))
    {
        return Err(Errno::EOPNOTSUPP);
    }
    Ok(())
}

/// `map_check_btf` before v6.2: one block per kind, spin lock, then timer, then kptrs (the
/// kinds 6.1 knows), each with its own flag check and map types.
fn check_fields_by_kind(spec: &MapSpec) -> ElemResult {
    let v = &spec.value;
    let (rdonly, wronly) = (spec.flags.rdonly_prog, spec.flags.wronly_prog);
    let (hash_or_array, lru_hash) = (
        matches!(spec.kind, MapKind::Hash | MapKind::Array),
        spec.kind == MapKind::LruHash,
    );
    if v.spin_lock > 0 {
        if rdonly {
            return Err(Errno::EACCES);
        }
        if !hash_or_array {
            return Err(Errno::ENOTSUPP);
        }
    }
    if v.timer > 0 {
        if rdonly {
            return Err(Errno::EACCES);
        }
        if !(hash_or_array || lru_hash) {
            return Err(Errno::EOPNOTSUPP);
        }
    }
    if v.kptr > 0 || v.kptr_untrusted > 0 {
        if rdonly || wronly {
            return Err(Errno::EACCES);
        }
        // "bpf: Support kptrs in percpu arraymap" (6df4ea1ff0ff, v6.1).
        if !(hash_or_array || lru_hash || spec.kind == MapKind::PercpuArray) {
            return Err(Errno::EOPNOTSUPP);
        }
    }
    Ok(())
}

impl World {
    /// `BPF_MAP_CREATE` ([`MapSpec::create`]). A failed creation still takes a table slot
    /// (with [`Life::Failed`]) so that indices follow declaration order.
    pub(crate) fn map_create(&mut self, declared: &MapSpec) -> Res<Outcome> {
        let (spec, checked) = declared.create(&self.kernel, |i| {
            let tmpl = self.map(self.map_idx(i)?);
            (tmpl.life == Life::Live && tmpl.handles.reachable()).then_some(tmpl.spec.kind)
        });
        let (life, out) = match checked {
            Ok(()) => (Life::Live, Outcome::Ok),
            Err(e) => (Life::Failed, Outcome::Err(e)),
        };
        let idx = MapIdx(u8::try_from(self.maps.len()).expect("INV-TABLE: at most 256 maps"));
        let live = life == Life::Live;
        self.maps.push(MapObj {
            spec,
            life,
            handles: Handles {
                fds: u32::from(live),
                pinned: false,
            },
            refcnt: u64::from(live),
            usercnt: u64::from(live),
            elems: Default::default(),
            freed_kptr_since: None,
        });
        if live && !spec.kind.is_hash() {
            // Arrays are preallocated: every index exists from the start.
            for k in 0..u32::from(spec.max_entries) {
                self.insert_cell(idx, Key(k));
            }
        }
        Ok(out)
    }

    /// A new element cell linked at `key` of map `m`.
    pub(crate) fn insert_cell(&mut self, m: MapIdx, key: Key) -> ElemId {
        let stamp = self.next_seq();
        let e = self.elems.len();
        self.elems.push(Elem::new(m, key, stamp));
        self.map_mut(m).elems.insert(key, e);
        e
    }

    /// The map a user handle reaches (`__bpf_map_get` / `bpf_map_get`), or -EBADF.
    fn user_map(&self, m: MapIdx) -> Result<MapIdx, Errno> {
        let m = self.map_idx(m).ok_or(Errno::EBADF)?;
        let map = self.map(m);
        (map.life == Life::Live && map.handles.reachable())
            .then_some(m)
            .ok_or(Errno::EBADF)
    }

    /// A map as a user names it: directly, or the inner map stored in a reachable outer map
    /// (user space looks the inner id up and opens it).
    fn user_map_ref(&self, r: MapRef) -> Result<MapIdx, Errno> {
        match r {
            MapRef::Map(m) => self.user_map(m),
            MapRef::Inner { outer, key } => {
                let outer = self.user_map(outer)?;
                self.inner_of(outer, key).ok_or(Errno::ENOENT)
            }
        }
    }

    /// The live inner map stored at `outer[key]`.
    pub(crate) fn inner_of(&self, outer: MapIdx, key: Key) -> Option<MapIdx> {
        let e = *self.map(outer).elems.get(&key)?;
        self.elems[e]
            .inner
            .filter(|&i| self.map(i).life == Life::Live)
    }

    /// A map as a program names it: it holds a reference on every map it uses, so only
    /// liveness matters, not user handles.
    pub(crate) fn prog_map_ref(&self, r: MapRef) -> Option<MapIdx> {
        let live = |m: MapIdx| self.map(m).life == Life::Live;
        match r {
            MapRef::Map(m) => self.map_idx(m).filter(|&m| live(m)),
            MapRef::Inner { outer, key } => {
                let outer = self.map_idx(outer).filter(|&m| live(m))?;
                self.inner_of(outer, key)
            }
        }
    }

    /// User `BPF_MAP_UPDATE_ELEM` with an all-zero value.
    pub(crate) fn sys_map_update(&mut self, elem: &ElemRef, flags: UpdateFlags) -> Res<Outcome> {
        let res = match self.user_map_ref(elem.map) {
            Ok(m) if self.map(m).spec.kind.is_map_in_map() => {
                // The value of a map-in-map is a map fd; fd 0 is not a map
                // (`bpf_map_fd_get_ptr`).
                Err(Errno::EINVAL)
            }
            Ok(m) => self.map_update(m, elem.key, flags, None)?,
            Err(e) => Err(e),
        };
        Ok(errno_outcome(res))
    }

    /// User `BPF_MAP_UPDATE_ELEM` of a map-in-map: store `inner` at `outer[key]`
    /// (`bpf_fd_array_map_update_elem`, `bpf_fd_htab_map_update_elem`).
    /// On a map that is not a map-in-map the fd is plain value bytes.
    pub(crate) fn sys_map_update_inner(
        &mut self,
        outer: MapIdx,
        key: Key,
        inner: MapIdx,
        flags: UpdateFlags,
    ) -> Res<Outcome> {
        let outer = match self.user_map(outer) {
            Ok(o) => o,
            Err(e) => return Ok(Outcome::Err(e)),
        };
        let ospec = self.map(outer).spec;
        if !ospec.kind.is_map_in_map() {
            // The fd is plain value bytes: nothing resolves it (found by the kernel oracle).
            return Ok(errno_outcome(self.map_update(outer, key, flags, None)?));
        }
        // An array of maps checks the slot before it resolves the inner fd; a hash of maps
        // resolves the fd first (`bpf_fd_htab_map_update_elem`). Found by the kernel oracle.
        if ospec.kind == MapKind::ArrayOfMaps
            && let Err(e) = fd_array_slot(&ospec, key, flags)
        {
            return Ok(Outcome::Err(e));
        }
        let inner = match self.user_map(inner) {
            Ok(i) => i,
            Err(e) => return Ok(Outcome::Err(e)),
        };
        // `bpf_map_meta_equal`: the inner map must match the template in type, value layout,
        // flags and size.
        let ispec = self.map(inner).spec;
        let tmpl = ospec
            .inner
            .and_then(|t| self.map_idx(t))
            .map(|t| self.map(t).spec);
        let fits = tmpl.is_some_and(|t| {
            t.kind == ispec.kind
                && t.value == ispec.value
                && t.flags == ispec.flags
                && t.max_entries == ispec.max_entries
        });
        if !fits {
            return Ok(Outcome::Err(Errno::EINVAL));
        }
        Ok(errno_outcome(self.map_update(
            outer,
            key,
            flags,
            Some(inner),
        )?))
    }

    /// Update element `key` of map `m` (array: overwrite in place; hash: replace the cell).
    /// `inner` is the map stored by a map-in-map update. Shared by the syscall and the
    /// `bpf_map_update_elem` helper; `frame` is the running program, if any.
    pub(crate) fn map_update_in(
        &mut self,
        m: MapIdx,
        key: Key,
        flags: UpdateFlags,
        inner: Option<MapIdx>,
        frame: Option<&Frame>,
    ) -> Res<ElemResult> {
        let spec = self.map(m).spec;
        let existing = self.map(m).elems.get(&key).copied();
        match spec.kind {
            MapKind::Array | MapKind::PercpuArray => {
                // arraymap.c `array_map_update_elem`: copy the value (special fields skipped),
                // then `bpf_obj_free_fields` on the element (5.15: `check_and_free_timer_in_array`;
                // 7.2 keeps the kptr).
                if u32::from(spec.max_entries) <= key.0 {
                    return Ok(Err(Errno::E2BIG));
                }
                if flags == UpdateFlags::NoExist {
                    return Ok(Err(Errno::EEXIST));
                }
                let e = existing.expect("INV-ARRAY-FULL: array element missing");
                self.free_fields(e, super::lifetime::FreeCause::InPlaceUpdate, frame)?;
                self.elems[e].last_use = self.next_seq();
                Ok(Ok(()))
            }
            MapKind::ArrayOfMaps => {
                if let Err(e) = fd_array_slot(&spec, key, flags) {
                    return Ok(Err(e));
                }
                let e = existing.expect("INV-ARRAY-FULL: array element missing");
                self.set_inner(e, inner);
                Ok(Ok(()))
            }
            MapKind::Hash | MapKind::PercpuHash | MapKind::LruHash | MapKind::HashOfMaps => {
                let full = self.map(m).elems.len() >= usize::from(spec.max_entries);
                let existing = if spec.kind == MapKind::LruHash {
                    // hashtab.c `htab_lru_map_update_elem`: a node is popped from the LRU
                    // before the bucket is locked and the flags are checked, so a full map
                    // evicts its victim (maybe `key` itself) even when the update then fails.
                    if full {
                        let victim = self
                            .lru_victim(m)
                            .expect("INV-LRU: a full map has a victim");
                        self.unlink(victim, frame)?;
                    }
                    self.map(m).elems.get(&key).copied()
                } else {
                    existing
                };
                // hashtab.c `htab_map_update_elem`: `check_flags` first, then a new element
                // (-E2BIG when full, unless it replaces one), linked, the old one freed.
                match (flags, existing) {
                    (UpdateFlags::NoExist, Some(_)) => return Ok(Err(Errno::EEXIST)),
                    (UpdateFlags::Exist, None) => return Ok(Err(Errno::ENOENT)),
                    _ => {}
                }
                if spec.kind != MapKind::LruHash && full && existing.is_none() {
                    return Ok(Err(Errno::E2BIG));
                }
                if let Some(old) = self.map(m).elems.get(&key).copied() {
                    self.unlink(old, frame)?;
                }
                let e = self.insert_cell(m, key);
                self.set_inner(e, inner);
                Ok(Ok(()))
            }
        }
    }

    fn map_update(
        &mut self,
        m: MapIdx,
        key: Key,
        flags: UpdateFlags,
        inner: Option<MapIdx>,
    ) -> Res<ElemResult> {
        self.map_update_in(m, key, flags, inner, None)
    }

    /// Store an inner map in a map-in-map cell (taking a reference), putting the old one.
    fn set_inner(&mut self, e: ElemId, inner: Option<MapIdx>) {
        if let Some(i) = inner {
            self.map_inc(i);
        }
        if let Some(old) = std::mem::replace(&mut self.elems[e].inner, inner) {
            self.map_put(old);
        }
    }

    /// The element an LRU map evicts next: least recently inserted, updated or looked up by a
    /// program (the kernel's LRU is approximate; scenarios keep max_entries=1).
    fn lru_victim(&self, m: MapIdx) -> Option<ElemId> {
        self.map(m)
            .elems
            .values()
            .copied()
            .min_by_key(|&e| self.elems[e].last_use)
    }

    /// Delete element `key` of map `m`; shared by the syscall and `bpf_map_delete_elem`.
    pub(crate) fn map_delete_in(
        &mut self,
        m: MapIdx,
        key: Key,
        frame: Option<&Frame>,
    ) -> Res<ElemResult> {
        let spec = self.map(m).spec;
        let existing = self.map(m).elems.get(&key).copied();
        Ok(match spec.kind {
            // arraymap.c `array_map_delete_elem`.
            MapKind::Array | MapKind::PercpuArray => Err(Errno::EINVAL),
            // arraymap.c `fd_array_map_delete_elem`.
            MapKind::ArrayOfMaps => {
                if u32::from(spec.max_entries) <= key.0 {
                    Err(Errno::E2BIG)
                } else {
                    let e = existing.expect("INV-ARRAY-FULL: array element missing");
                    match self.elems[e].inner.take() {
                        Some(old) => {
                            self.map_put(old);
                            Ok(())
                        }
                        None => Err(Errno::ENOENT),
                    }
                }
            }
            // hashtab.c `htab_map_delete_elem` / `htab_lru_map_delete_elem`.
            MapKind::Hash | MapKind::PercpuHash | MapKind::LruHash | MapKind::HashOfMaps => {
                match existing {
                    Some(e) => {
                        self.unlink(e, frame)?;
                        Ok(())
                    }
                    None => Err(Errno::ENOENT),
                }
            }
        })
    }

    /// Look up element `key` of map `m`: 0 if present. A program's lookup marks LRU recency
    /// (`bpf_lru_node_set_ref`); the syscall's does not (`*_lookup_elem_sys_only`).
    pub(crate) fn map_lookup_in(&mut self, m: MapIdx, key: Key, by_prog: bool) -> ElemResult {
        let spec = self.map(m).spec;
        let Some(e) = self.map(m).elems.get(&key).copied() else {
            return Err(Errno::ENOENT);
        };
        if spec.kind == MapKind::ArrayOfMaps && self.elems[e].inner.is_none() {
            return Err(Errno::ENOENT);
        }
        if by_prog {
            self.elems[e].last_use = self.next_seq();
        }
        Ok(())
    }

    pub(crate) fn sys_map_delete(&mut self, elem: &ElemRef) -> Res<Outcome> {
        let res = match self.user_map_ref(elem.map) {
            Ok(m) => self.map_delete_in(m, elem.key, None)?,
            Err(e) => Err(e),
        };
        Ok(errno_outcome(res))
    }

    pub(crate) fn sys_map_lookup(&mut self, elem: &ElemRef) -> Res<Outcome> {
        let res = self
            .user_map_ref(elem.map)
            .and_then(|m| self.map_lookup_in(m, elem.key, false));
        Ok(errno_outcome(res))
    }

    /// `BPF_PROG_LOAD` (syscall.c `bpf_prog_load`, verifier.c `bpf_check`). The program takes
    /// a reference on each map it uses (`used_maps`); a rejected load takes a table slot with
    /// [`Life::Failed`].
    pub(crate) fn prog_load(&mut self, spec: &ProgSpec) -> Outcome {
        let used = self.verify(spec);
        let out = match &used {
            Ok(_) => Outcome::Ok,
            Err(out) => out.clone(),
        };
        let live = out == Outcome::Ok;
        let (used_maps, shared_callbacks) = used.unwrap_or_default();
        for &m in &used_maps {
            self.map_inc(m);
        }
        self.progs.push(ProgObj {
            spec: spec.clone(),
            life: if live { Life::Live } else { Life::Failed },
            handles: Handles {
                fds: u32::from(live),
                pinned: false,
            },
            refcnt: u64::from(live),
            used_maps,
            shared_callbacks,
        });
        assert!(self.progs.len() <= 256, "INV-TABLE: at most 256 programs");
        out
    }

    /// verifier.c `bpf_check`: the passes in the era's order; the maps the program uses and
    /// the callbacks walked with more than one map.
    fn verify(
        &self,
        spec: &ProgSpec,
    ) -> Result<(Vec<MapIdx>, crate::verifier::SharedCallbacks), Outcome> {
        use crate::verifier;
        let attach_late = self.kernel.features.attach_checks_after_maps;
        verifier::check_kfuncs(self, spec).map_err(Outcome::Reject)?;
        if !attach_late {
            verifier::check_attach(self, spec).map_err(Outcome::Reject)?;
        }
        let used = self.resolve_maps(spec)?;
        if attach_late {
            verifier::check_attach(self, spec).map_err(Outcome::Reject)?;
        }
        let shared = verifier::check(self, spec)?;
        Ok((used, shared))
    }

    /// verifier.c `resolve_pseudo_ldimm64`: each `ld_imm64` of a map fd in instruction order
    /// (the program's extra maps, its self map, then the map each statement names, in code
    /// order) must be a map fd user space holds (-EBADF); a map met for the first time is
    /// checked against the program type.
    fn resolve_maps(&self, spec: &ProgSpec) -> Result<Vec<MapIdx>, Outcome> {
        let stmt_maps = spec.code().filter_map(|s| match s.call.target() {
            crate::op::Target::Elem(r) => Some(r.map),
            crate::op::Target::SelfElem => None,
        });
        let refs = spec
            .maps
            .iter()
            .copied()
            .chain(spec.self_map.into_iter().chain(stmt_maps).map(|r| match r {
                MapRef::Map(m) | MapRef::Inner { outer: m, .. } => m,
            }));
        let mut used = Vec::new();
        for m in refs {
            let m = self.user_map(m).map_err(Outcome::Err)?;
            if !used.contains(&m) {
                crate::verifier::check_map_compat(self, spec, m).map_err(Outcome::Reject)?;
                used.push(m);
            }
        }
        Ok(used)
    }

    /// `BPF_PROG_TEST_RUN`: run the main body on element `key` of the self map, then the
    /// task_work callbacks queued for this task on its way back to user space.
    pub(crate) fn prog_run(&mut self, p: ProgIdx, key: Key) -> Res<Outcome> {
        let Some(p) = self.prog_idx(p) else {
            return Ok(Outcome::Err(Errno::EBADF));
        };
        let prog = self.prog(p);
        if prog.life != Life::Live || !prog.handles.reachable() {
            return Ok(Outcome::Err(Errno::EBADF));
        }
        let self_elem = prog
            .spec
            .self_map
            .and_then(|r| self.prog_map_ref(r))
            .and_then(|m| self.map(m).elems.get(&key).copied());
        if let Some(e) = self_elem {
            // The program found its element with a lookup.
            self.elems[e].last_use = self.next_seq();
        }
        let body = self.prog(p).spec.main.clone();
        let frame = Frame {
            prog: p,
            self_elem,
            ctx: Ctx::Main,
        };
        let rets = self.run_body(&frame, &body)?;
        let callbacks = self.run_task_works()?;
        Ok(Outcome::Ran { rets, callbacks })
    }

    /// `close()` of one user fd: maps drop a uref and a ref (`bpf_map_release` →
    /// `bpf_map_put_with_uref`), programs a ref (`bpf_prog_release` → `bpf_prog_put`).
    pub(crate) fn close(&mut self, obj: ObjRef) -> Res<Outcome> {
        match obj {
            ObjRef::Map(m) => {
                let Some(m) = self.map_idx(m).filter(|&m| self.map(m).handles.fds > 0) else {
                    return Ok(Outcome::Err(Errno::EBADF));
                };
                self.map_mut(m).handles.fds -= 1;
                self.map_put_with_uref(m)?;
            }
            ObjRef::Prog(p) => {
                let Some(p) = self.prog_idx(p).filter(|&p| self.prog(p).handles.fds > 0) else {
                    return Ok(Outcome::Err(Errno::EBADF));
                };
                self.prog_mut(p).handles.fds -= 1;
                self.prog_put(p);
            }
        }
        Ok(Outcome::Ok)
    }

    /// `BPF_OBJ_PIN` (inode.c `bpf_obj_pin_user`): the pin takes its own reference (maps: with
    /// uref) from an fd, which is checked first; a second pin of the same object at our one
    /// path is -EEXIST.
    pub(crate) fn pin(&mut self, obj: ObjRef) -> Outcome {
        // `bpf_fd_probe_obj`: an fd that is no map, program or link is -EINVAL, a closed one
        // included (found by the kernel oracle; the spec said -EBADF before).
        let Some(h) = self.handles(obj).filter(|h| h.fds > 0) else {
            return Outcome::Err(Errno::EINVAL);
        };
        if h.pinned {
            return Outcome::Err(Errno::EEXIST);
        }
        match obj {
            ObjRef::Map(m) => {
                let m = self.map_idx(m).expect("resolved by handles()");
                self.map_mut(m).handles.pinned = true;
                self.map_inc_with_uref(m);
            }
            ObjRef::Prog(p) => {
                let p = self.prog_idx(p).expect("resolved by handles()");
                self.prog_mut(p).handles.pinned = true;
                self.prog_mut(p).refcnt += 1;
            }
        }
        Outcome::Ok
    }

    /// `unlink()` of the pin (inode.c `bpf_free_inode` / `bpf_destroy_inode` → `bpf_any_put`).
    pub(crate) fn unpin(&mut self, obj: ObjRef) -> Res<Outcome> {
        if !self.handles(obj).is_some_and(|h| h.pinned) {
            return Ok(Outcome::Err(Errno::ENOENT));
        }
        match obj {
            ObjRef::Map(m) => {
                let m = self.map_idx(m).expect("resolved by handles()");
                self.map_mut(m).handles.pinned = false;
                self.map_put_with_uref(m)?;
            }
            ObjRef::Prog(p) => {
                let p = self.prog_idx(p).expect("resolved by handles()");
                self.prog_mut(p).handles.pinned = false;
                self.prog_put(p);
            }
        }
        Ok(Outcome::Ok)
    }

    /// `BPF_MAP_GET_FD_BY_ID` (`bpf_map_inc_not_zero` with uref) / `BPF_PROG_GET_FD_BY_ID`
    /// (`bpf_prog_inc_not_zero`): -ENOENT once the id is gone.
    pub(crate) fn get_fd_by_id(&mut self, obj: ObjRef) -> Outcome {
        match obj {
            ObjRef::Map(m) => match self.map_idx(m).filter(|&m| self.map(m).life == Life::Live) {
                Some(m) => {
                    self.map_mut(m).handles.fds += 1;
                    self.map_inc_with_uref(m);
                    Outcome::Ok
                }
                None => Outcome::Err(Errno::ENOENT),
            },
            ObjRef::Prog(p) => match self
                .prog_idx(p)
                .filter(|&p| self.prog(p).life == Life::Live)
            {
                Some(p) if self.prog_inc_not_zero(p) => {
                    self.prog_mut(p).handles.fds += 1;
                    Outcome::Ok
                }
                _ => Outcome::Err(Errno::ENOENT),
            },
        }
    }

    fn handles(&self, obj: ObjRef) -> Option<Handles> {
        match obj {
            ObjRef::Map(m) => self.map_idx(m).map(|m| self.map(m).handles),
            ObjRef::Prog(p) => self.prog_idx(p).map(|p| self.prog(p).handles),
        }
    }

    /// A map operation made by a program statement (`bpf_map_{update,delete,lookup}_elem`).
    pub(crate) fn prog_map_op(
        &mut self,
        m: MapIdx,
        key: Key,
        op: ProgMapOp,
        frame: &Frame,
    ) -> Res<ElemResult> {
        match op {
            ProgMapOp::Update(_) | ProgMapOp::Delete if self.map(m).spec.kind.is_map_in_map() => {
                Err(Unsupported::ProgramUpdatesMapInMap)
            }
            ProgMapOp::Update(flags) => self.map_update_in(m, key, flags, None, Some(frame)),
            ProgMapOp::Delete => self.map_delete_in(m, key, Some(frame)),
            ProgMapOp::Lookup => Ok(self.map_lookup_in(m, key, true)),
        }
    }
}

/// arraymap.c `bpf_fd_array_map_update_elem`, before the fd is resolved: only `BPF_ANY`,
/// and the index must be in range.
fn fd_array_slot(spec: &MapSpec, key: Key, flags: UpdateFlags) -> ElemResult {
    if flags != UpdateFlags::Any {
        return Err(Errno::EINVAL);
    }
    if u32::from(spec.max_entries) <= key.0 {
        return Err(Errno::E2BIG);
    }
    Ok(())
}

fn errno_outcome(r: ElemResult) -> Outcome {
    match r {
        Ok(()) => Outcome::Ok,
        Err(e) => Outcome::Err(e),
    }
}
