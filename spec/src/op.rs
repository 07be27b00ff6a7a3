//! The one `Op` vocabulary: what user space does (bpf(2) syscalls), what programs do (helper
//! and kfunc calls, as statements of a program body) and what time does (`Advance`).
//!
//! The same type feeds scenario files, quickcheck, cargo-fuzz, Kani, loom and shuttle. Object
//! references are index newtypes into the world's handle tables (objects in creation order,
//! dead ones included); an index past the end wraps modulo the table length, so every
//! generated `Op` names *some* object and a dead one answers as the kernel does (-EBADF).

#[cfg(feature = "arbitrary")]
use arbitrary::{Arbitrary, Unstructured};

/// A map, by creation order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(Arbitrary))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct MapIdx(pub u8);

/// A program, by load order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(Arbitrary))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ProgIdx(pub u8);

/// A callback subprogram of one program, by declaration order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(Arbitrary))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct CbIdx(pub u8);

/// A map key (`u32`, as in every map the spec models).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Key(pub u32);

#[cfg(feature = "arbitrary")]
impl<'a> Arbitrary<'a> for Key {
    /// Small keys, so that generated ops hit the same elements often.
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Key(u.int_in_range(0..=3)?))
    }
}

/// Virtual nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Nanos(pub u64);

impl Nanos {
    pub const MS: u64 = 1_000_000;
}

#[cfg(feature = "arbitrary")]
impl<'a> Arbitrary<'a> for Nanos {
    /// Durations a real test may use: never below 1 ms for a timer (kernel hygiene rule).
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        const CHOICES: [u64; 6] = [
            Nanos::MS,
            2 * Nanos::MS,
            5 * Nanos::MS,
            20 * Nanos::MS,
            1_000 * Nanos::MS,
            10_000 * Nanos::MS,
        ];
        Ok(Nanos(*u.choose(&CHOICES)?))
    }
}

/// Map types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(Arbitrary))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum MapKind {
    Array,
    PercpuArray,
    Hash,
    PercpuHash,
    LruHash,
    ArrayOfMaps,
    HashOfMaps,
}

impl MapKind {
    pub const fn is_hash(self) -> bool {
        matches!(
            self,
            MapKind::Hash | MapKind::PercpuHash | MapKind::LruHash | MapKind::HashOfMaps
        )
    }
    pub const fn is_map_in_map(self) -> bool {
        matches!(self, MapKind::ArrayOfMaps | MapKind::HashOfMaps)
    }
}

/// Special (BTF-recognised) fields a map value holds. Counts, so that the duplicate-field
/// rules are expressible; plain data bytes are implicit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ValueLayout {
    pub timer: u8,
    pub wq: u8,
    pub task_work: u8,
    /// `__kptr` (referenced).
    pub kptr: u8,
    /// `__kptr_untrusted`.
    pub kptr_untrusted: u8,
    pub spin_lock: u8,
}

impl ValueLayout {
    pub const fn has_special_fields(&self) -> bool {
        self.has_async() || self.kptr != 0 || self.kptr_untrusted != 0 || self.spin_lock != 0
    }
    pub const fn has_async(&self) -> bool {
        self.timer != 0 || self.wq != 0 || self.task_work != 0
    }
    pub const fn count(&self, f: Field) -> u8 {
        match f {
            Field::Timer => self.timer,
            Field::Wq => self.wq,
            Field::TaskWork => self.task_work,
            Field::Kptr => self.kptr,
            Field::KptrUntrusted => self.kptr_untrusted,
            Field::SpinLock => self.spin_lock,
        }
    }
}

/// One kind of special field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(Arbitrary))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Field {
    Timer,
    Wq,
    TaskWork,
    Kptr,
    KptrUntrusted,
    SpinLock,
}

impl Field {
    pub const ALL: [Field; 6] = [
        Field::Timer,
        Field::Wq,
        Field::TaskWork,
        Field::Kptr,
        Field::KptrUntrusted,
        Field::SpinLock,
    ];

    /// The kernel's BTF struct / tag name.
    pub const fn kernel_name(self) -> &'static str {
        match self {
            Field::Timer => "bpf_timer",
            Field::Wq => "bpf_wq",
            Field::TaskWork => "bpf_task_work",
            Field::Kptr => "kptr",
            Field::KptrUntrusted => "kptr_untrusted",
            Field::SpinLock => "bpf_spin_lock",
        }
    }

    /// Whether a kptr field of this tag holds a reference on `features`' kernel (only
    /// `bpf_kptr_xchg` writes it, plain stores are refused): the tag `kptr` since v6.4, the
    /// unreferenced kind before ([`crate::Features::kptr_untrusted_tag`]).
    pub const fn is_referenced_kptr(self, features: &crate::Features) -> bool {
        matches!(self, Field::Kptr) && features.kptr_untrusted_tag
    }
}

/// `BPF_MAP_CREATE` flags the spec distinguishes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct MapFlags {
    /// `BPF_F_NO_PREALLOC` (hash maps: elements allocated on insert).
    pub no_prealloc: bool,
    /// `BPF_F_RDONLY_PROG`.
    pub rdonly_prog: bool,
    /// `BPF_F_WRONLY_PROG`.
    pub wronly_prog: bool,
}

/// Arguments of `BPF_MAP_CREATE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct MapSpec {
    pub kind: MapKind,
    pub max_entries: u8,
    pub value: ValueLayout,
    pub flags: MapFlags,
    /// Inner-map template of a map-in-map.
    pub inner: Option<MapIdx>,
}

/// Generated maps are small (1 to 4 entries, rarely 0) and mostly well formed: each special
/// field is present or not, a duplicate or a read-only / write-only flag is rare, so that
/// generated sequences reach the async rules instead of failing at map creation.
#[cfg(feature = "arbitrary")]
impl<'a> Arbitrary<'a> for MapSpec {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let mut field = |dup_ok: bool| -> arbitrary::Result<u8> {
            Ok(match u.int_in_range(0..=31u8)? {
                0..=13 => 0,
                31 if dup_ok => 2,
                _ => 1,
            })
        };
        let value = ValueLayout {
            timer: field(true)?,
            wq: field(true)?,
            task_work: field(true)?,
            kptr: field(false)?,
            kptr_untrusted: field(false)?,
            spin_lock: 0,
        };
        let flags = MapFlags {
            no_prealloc: u.ratio(1, 8)?,
            rdonly_prog: u.ratio(1, 32)?,
            wronly_prog: u.ratio(1, 32)?,
        };
        let max_entries = if u.ratio(1, 64)? {
            0
        } else {
            u.int_in_range(1..=4)?
        };
        Ok(MapSpec {
            kind: u.arbitrary()?,
            max_entries,
            value,
            flags,
            inner: u.arbitrary()?,
        })
    }
}

/// Program types the spec distinguishes (by their map-compatibility and context rules).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(Arbitrary))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum ProgType {
    SocketFilter,
    SchedCls,
    Xdp,
    Syscall,
    Kprobe,
    Tracepoint,
    PerfEvent,
    RawTracepoint,
    /// `BPF_PROG_TYPE_TRACING` (fentry/fexit/tp_btf).
    Tracing,
    Lsm,
}

impl ProgType {
    /// verifier.c `can_be_sleepable`: fentry / fexit (`Tracing`), LSM; `Syscall`, which must
    /// be; once sleepable uprobes exist, `Kprobe` (the load cannot tell a uprobe from a
    /// kprobe: attaching does); and since 7.2 tracepoints and raw tracepoints (attaching checks
    /// that the tracepoint may fault).
    pub const fn can_be_sleepable(self, f: &crate::Features) -> bool {
        match self {
            ProgType::Tracing | ProgType::Lsm | ProgType::Syscall => true,
            ProgType::Kprobe => f.sleepable_uprobes,
            ProgType::Tracepoint | ProgType::RawTracepoint => f.sleepable_tracepoints,
            _ => false,
        }
    }

    /// `is_tracing_prog_type()` in verifier.c: the types `check_map_prog_compatibility` treats
    /// as tracing. `BPF_PROG_TYPE_TRACING` (fentry, tp_btf) is deliberately not among them.
    pub const fn is_tracing(self) -> bool {
        matches!(
            self,
            ProgType::Kprobe | ProgType::Tracepoint | ProgType::PerfEvent | ProgType::RawTracepoint
        )
    }

    /// The types whose `get_func_proto` falls back to `bpf_tracing_func_proto` (bpf_trace.c:
    /// kprobe, tracepoint, perf_event, raw_tracepoint and tracing programs; `bpf_lsm_func_proto`
    /// and `syscall_prog_func_proto` through `tracing_prog_func_proto`), where the tracing
    /// helpers such as `bpf_copy_from_user` were before `bpf_base_func_proto` offered them
    /// (see [`crate::Features::copy_from_user_for_every_prog_type`]). The networking types
    /// fall back to `bpf_base_func_proto` only.
    pub const fn has_tracing_helpers(self) -> bool {
        !matches!(
            self,
            ProgType::SocketFilter | ProgType::SchedCls | ProgType::Xdp
        )
    }
}

/// Element of a map, as a program or user space names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(Arbitrary))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ElemRef {
    pub map: MapRef,
    pub key: Key,
}

/// A map, directly or as the inner map stored in an element of a map-in-map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum MapRef {
    Map(MapIdx),
    Inner { outer: MapIdx, key: Key },
}

/// Mostly a map itself: an inner-map reference only loads when the outer map is a
/// map-in-map, which generated maps rarely are.
#[cfg(feature = "arbitrary")]
impl<'a> Arbitrary<'a> for MapRef {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(if u.ratio(1, 8)? {
            MapRef::Inner {
                outer: u.arbitrary()?,
                key: u.arbitrary()?,
            }
        } else {
            MapRef::Map(u.arbitrary()?)
        })
    }
}

/// Which element a program statement acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(Arbitrary))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Target {
    /// The element the program runs on, or whose async object invoked the callback.
    SelfElem,
    Elem(ElemRef),
}

/// Flags word of `bpf_timer_init` (a clock id, checked against `MAX_CLOCKS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ClockFlags(pub u64);

impl ClockFlags {
    pub const REALTIME: u64 = 0;
    pub const MONOTONIC: u64 = 1;
    pub const BOOTTIME: u64 = 7;
    pub const REALTIME_ALARM: u64 = 8;
    pub const BOOTTIME_ALARM: u64 = 9;
    pub const TAI: u64 = 11;
    /// `MAX_CLOCKS`.
    pub const MAX_CLOCKS: u64 = 16;
}

#[cfg(feature = "arbitrary")]
impl<'a> Arbitrary<'a> for ClockFlags {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        const C: [u64; 8] = [
            ClockFlags::MONOTONIC,
            ClockFlags::MONOTONIC,
            ClockFlags::MONOTONIC,
            ClockFlags::REALTIME,
            ClockFlags::BOOTTIME,
            ClockFlags::TAI,
            ClockFlags::BOOTTIME_ALARM,
            ClockFlags::MAX_CLOCKS | ClockFlags::MONOTONIC,
        ];
        Ok(ClockFlags(*u.choose(&C)?))
    }
}

/// Flags word of `bpf_timer_start`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct TimerFlags(pub u64);

impl TimerFlags {
    /// `BPF_F_TIMER_ABS`.
    pub const ABS: u64 = 1;
    /// `BPF_F_TIMER_CPU_PIN`.
    pub const CPU_PIN: u64 = 2;
}

#[cfg(feature = "arbitrary")]
impl<'a> Arbitrary<'a> for TimerFlags {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        const C: [u64; 6] = [0, 0, 0, TimerFlags::ABS, TimerFlags::CPU_PIN, 4];
        Ok(TimerFlags(*u.choose(&C)?))
    }
}

/// A small flags word for kfuncs whose only valid flags value is 0 (`bpf_wq_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct KfuncFlags(pub u64);

#[cfg(feature = "arbitrary")]
impl<'a> Arbitrary<'a> for KfuncFlags {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(KfuncFlags(if u.ratio(1, 8)? { 1 } else { 0 }))
    }
}

/// `bpf_task_work_schedule_signal` or `_resume` (TWA_SIGNAL vs TWA_RESUME).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(Arbitrary))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum TaskWorkMode {
    Signal,
    Resume,
}

/// `BPF_ANY`, `BPF_NOEXIST`, `BPF_EXIST`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(Arbitrary))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum UpdateFlags {
    Any,
    NoExist,
    Exist,
}

/// A helper or kfunc call made by a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(Arbitrary))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Call {
    TimerInit {
        elem: Target,
        clock: ClockFlags,
    },
    TimerSetCallback {
        elem: Target,
        cb: CbIdx,
    },
    TimerStart {
        elem: Target,
        nsecs: Nanos,
        flags: TimerFlags,
    },
    TimerCancel {
        elem: Target,
    },
    TimerCancelAsync {
        elem: Target,
    },
    WqInit {
        elem: Target,
        flags: KfuncFlags,
    },
    WqSetCallback {
        elem: Target,
        cb: CbIdx,
        flags: KfuncFlags,
    },
    WqStart {
        elem: Target,
        flags: KfuncFlags,
    },
    TaskWorkSchedule {
        elem: Target,
        cb: CbIdx,
        mode: TaskWorkMode,
    },
    /// `bpf_kptr_xchg(&v->kptr, new ? acquired object : NULL)`; the program releases the old
    /// pointer it gets back.
    KptrXchg {
        elem: Target,
        new: bool,
    },
    MapUpdate {
        elem: Target,
        flags: UpdateFlags,
    },
    MapDelete {
        elem: Target,
    },
    MapLookup {
        elem: Target,
    },
}

impl Call {
    /// The kernel name of the helper / kfunc.
    pub const fn kernel_name(&self) -> &'static str {
        match self {
            Call::TimerInit { .. } => "bpf_timer_init",
            Call::TimerSetCallback { .. } => "bpf_timer_set_callback",
            Call::TimerStart { .. } => "bpf_timer_start",
            Call::TimerCancel { .. } => "bpf_timer_cancel",
            Call::TimerCancelAsync { .. } => "bpf_timer_cancel_async",
            Call::WqInit { .. } => "bpf_wq_init",
            Call::WqSetCallback { .. } => "bpf_wq_set_callback",
            Call::WqStart { .. } => "bpf_wq_start",
            Call::TaskWorkSchedule {
                mode: TaskWorkMode::Signal,
                ..
            } => "bpf_task_work_schedule_signal",
            Call::TaskWorkSchedule {
                mode: TaskWorkMode::Resume,
                ..
            } => "bpf_task_work_schedule_resume",
            Call::KptrXchg { .. } => "bpf_kptr_xchg",
            Call::MapUpdate { .. } => "bpf_map_update_elem",
            Call::MapDelete { .. } => "bpf_map_delete_elem",
            Call::MapLookup { .. } => "bpf_map_lookup_elem",
        }
    }

    /// The element the call acts on.
    pub fn target(&self) -> Target {
        let mut c = *self;
        *c.target_mut()
    }

    /// The same call on another element.
    pub fn on(self, t: Target) -> Call {
        let mut c = self;
        *c.target_mut() = t;
        c
    }

    fn target_mut(&mut self) -> &mut Target {
        match self {
            Call::TimerInit { elem, .. }
            | Call::TimerSetCallback { elem, .. }
            | Call::TimerStart { elem, .. }
            | Call::TimerCancel { elem }
            | Call::TimerCancelAsync { elem }
            | Call::WqInit { elem, .. }
            | Call::WqSetCallback { elem, .. }
            | Call::WqStart { elem, .. }
            | Call::TaskWorkSchedule { elem, .. }
            | Call::KptrXchg { elem, .. }
            | Call::MapUpdate { elem, .. }
            | Call::MapDelete { elem }
            | Call::MapLookup { elem } => elem,
        }
    }

    /// The special field the call operates on, if any.
    pub const fn field(&self) -> Option<Field> {
        match self {
            Call::TimerInit { .. }
            | Call::TimerSetCallback { .. }
            | Call::TimerStart { .. }
            | Call::TimerCancel { .. }
            | Call::TimerCancelAsync { .. } => Some(Field::Timer),
            Call::WqInit { .. } | Call::WqSetCallback { .. } | Call::WqStart { .. } => {
                Some(Field::Wq)
            }
            Call::TaskWorkSchedule { .. } => Some(Field::TaskWork),
            Call::KptrXchg { .. } => Some(Field::Kptr),
            Call::MapUpdate { .. } | Call::MapDelete { .. } | Call::MapLookup { .. } => None,
        }
    }

    /// The callback subprogram the call passes, if any.
    pub const fn callback(&self) -> Option<CbIdx> {
        match *self {
            Call::TimerSetCallback { cb, .. }
            | Call::WqSetCallback { cb, .. }
            | Call::TaskWorkSchedule { cb, .. } => Some(cb),
            _ => None,
        }
    }
}

/// A statement of a program body: a call, optionally guarded by a callback run counter (the
/// stop condition of self-re-arming callbacks).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Stmt {
    /// Made only while `runs(cb) < n`, for a callback `cb` of the same program.
    pub guard: Option<(CbIdx, u8)>,
    pub call: Call,
}

/// Arguments of `BPF_PROG_LOAD`: the program's type and its body.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ProgSpec {
    pub ty: ProgType,
    pub sleepable: bool,
    pub gpl: bool,
    /// The map whose elements the program is run on (`self` of the main body; a program looks
    /// its element up in it).
    pub self_map: Option<MapRef>,
    /// Further maps the program references (`ld_imm64` map fds) beyond those its statements
    /// name; all are `used_maps` and hold a map reference while the program lives.
    pub maps: Vec<MapIdx>,
    pub main: Vec<Stmt>,
    pub callbacks: Vec<Vec<Stmt>>,
}

/// Generated programs are short (up to 6 main statements, up to 3 callbacks of up to 4),
/// mostly GPL, mostly of one non-tracing type and mostly run on a map, so that they load
/// and reach the helpers.
#[cfg(feature = "arbitrary")]
impl<'a> Arbitrary<'a> for ProgSpec {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        fn body(u: &mut Unstructured<'_>, max: usize) -> arbitrary::Result<Vec<Stmt>> {
            let n = u.int_in_range(0..=max)?;
            (0..n).map(|_| u.arbitrary()).collect()
        }
        let ty = if u.ratio(3, 4)? {
            ProgType::SchedCls
        } else {
            u.arbitrary()?
        };
        // Syscall programs must be sleepable; elsewhere the flag is a rare error.
        let sleepable = if ty == ProgType::Syscall {
            !u.ratio(1, 16)?
        } else {
            u.ratio(1, 16)?
        };
        let gpl = !u.ratio(1, 16)?;
        let self_map = if u.ratio(7, 8)? {
            Some(u.arbitrary()?)
        } else {
            None
        };
        let maps = if u.ratio(1, 4)? {
            vec![u.arbitrary()?]
        } else {
            Vec::new()
        };
        let n = u.int_in_range(0..=3)?;
        // Half of the bodies start the way real programs do (init, set a callback, start):
        // the protocol random calls alone rarely complete.
        let mut main = Vec::new();
        if n > 0 && u.ratio(1, 2)? {
            let cb = CbIdx(u.int_in_range(0..=n - 1)?);
            main = arm_self(u, cb)?;
        }
        main.extend(body(u, 6)?);
        let callbacks = (0..n)
            .map(|i| callback_body(u, CbIdx(i)))
            .collect::<arbitrary::Result<_>>()?;
        let mut prog = ProgSpec {
            ty,
            sleepable,
            gpl,
            self_map,
            maps,
            main,
            callbacks,
        };
        wrap_callback_indices(&mut prog);
        Ok(prog)
    }
}

/// Callback indices drawn past the program's callbacks (guards, callback arguments) name at
/// most one more, empty, callback: the kernel's program and a scenario file declare every
/// callback up to the highest index named, and an index drawn from all of `u8` would declare
/// up to 255 empty ones.
#[cfg(feature = "arbitrary")]
fn wrap_callback_indices(prog: &mut ProgSpec) {
    let named = u8::try_from(prog.callbacks.len() + 1).unwrap_or(u8::MAX);
    let wrap = |cb: &mut CbIdx| cb.0 %= named;
    for s in prog
        .main
        .iter_mut()
        .chain(prog.callbacks.iter_mut().flatten())
    {
        if let Some((cb, _)) = &mut s.guard {
            wrap(cb);
        }
        if let Call::TimerSetCallback { cb, .. }
        | Call::WqSetCallback { cb, .. }
        | Call::TaskWorkSchedule { cb, .. } = &mut s.call
        {
            wrap(cb);
        }
    }
}

/// A callback body. Half of them start by acting on their own element, the cases the kernel
/// handles specially: re-arming (bounded by a guard), cancelling itself, freeing it.
#[cfg(feature = "arbitrary")]
fn callback_body(u: &mut Unstructured<'_>, me: CbIdx) -> arbitrary::Result<Vec<Stmt>> {
    let elem = Target::SelfElem;
    let mut body = Vec::new();
    if u.ratio(1, 2)? {
        let call = match u.int_in_range(0..=2u8)? {
            0 => Call::TimerStart {
                elem,
                nsecs: u.arbitrary()?,
                flags: TimerFlags(0),
            },
            1 => Call::TimerCancel { elem },
            _ => Call::MapDelete { elem },
        };
        body.push(Stmt {
            guard: Some((me, u.int_in_range(1..=3)?)),
            call,
        });
    }
    let n = u.int_in_range(0..=3)?;
    for _ in 0..n {
        body.push(u.arbitrary()?);
    }
    Ok(body)
}

/// Init, set callback `cb` and start the timer or the wq of `self`.
#[cfg(feature = "arbitrary")]
fn arm_self(u: &mut Unstructured<'_>, cb: CbIdx) -> arbitrary::Result<Vec<Stmt>> {
    let elem = Target::SelfElem;
    let (flags, stmt) = (KfuncFlags(0), |call| Stmt { guard: None, call });
    Ok(if u.ratio(2, 3)? {
        vec![
            stmt(Call::TimerInit {
                elem,
                clock: ClockFlags(ClockFlags::MONOTONIC),
            }),
            stmt(Call::TimerSetCallback { elem, cb }),
            stmt(Call::TimerStart {
                elem,
                nsecs: u.arbitrary()?,
                flags: TimerFlags(0),
            }),
        ]
    } else {
        vec![
            stmt(Call::WqInit { elem, flags }),
            stmt(Call::WqSetCallback { elem, cb, flags }),
            stmt(Call::WqStart { elem, flags }),
        ]
    })
}

/// Generated statements mostly act on `self` and are mostly unguarded; a guard bounds a
/// callback to a few runs.
#[cfg(feature = "arbitrary")]
impl<'a> Arbitrary<'a> for Stmt {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let guard = if u.ratio(1, 4)? {
            Some((u.arbitrary()?, u.int_in_range(1..=3)?))
        } else {
            None
        };
        // Most calls are the bpf_timer helpers every era has, so that programs of the older
        // eras load about as often as those of the newer ones.
        let elem = u.arbitrary()?;
        let mut call = match u.int_in_range(0..=6u8)? {
            0 => Call::TimerInit {
                elem,
                clock: u.arbitrary()?,
            },
            1 => Call::TimerSetCallback {
                elem,
                cb: u.arbitrary()?,
            },
            2 => Call::TimerStart {
                elem,
                nsecs: u.arbitrary()?,
                flags: u.arbitrary()?,
            },
            3 => Call::TimerCancel { elem },
            _ => u.arbitrary()?,
        };
        if u.ratio(3, 4)? {
            call = call.on(Target::SelfElem);
        }
        Ok(Stmt { guard, call })
    }
}

impl ProgSpec {
    /// The callbacks that are part of the loaded program: those a call of `main`, or of a
    /// callback already included, passes. A callback nothing passes is not code the kernel
    /// sees (a compiler drops an unreferenced static function), so it is neither verified
    /// nor does it reference maps.
    pub fn reachable_callbacks(&self) -> Vec<CbIdx> {
        self.callbacks_from(&self.main)
    }

    /// The callbacks `roots`, or a callback already included, pass, in the order first met.
    fn callbacks_from<'a>(&'a self, roots: impl IntoIterator<Item = &'a Stmt>) -> Vec<CbIdx> {
        let mut seen: Vec<CbIdx> = Vec::new();
        let add = |body: &mut dyn Iterator<Item = &Stmt>, seen: &mut Vec<CbIdx>| {
            for cb in body.filter_map(|s| s.call.callback()) {
                if !seen.contains(&cb) {
                    seen.push(cb);
                }
            }
        };
        add(&mut roots.into_iter(), &mut seen);
        let mut next = 0;
        while next < seen.len() {
            add(&mut self.callback_body(seen[next]).iter(), &mut seen);
            next += 1;
        }
        seen
    }

    /// The callbacks the live statements of `main` (see [`ProgSpec::is_dead`]) pass, or a
    /// callback already included passes: those the verifier walks.
    pub fn live_callbacks(&self) -> Vec<CbIdx> {
        let live = (0..self.main.len()).filter(|&i| !self.is_dead(i));
        self.callbacks_from(live.map(|i| &self.main[i]))
    }

    /// Whether statement `i` of `main` is dead code: it acts on the self element of a
    /// program with no self map, so on NULL, and the verifier's walk proves the path
    /// untaken and never checks the call (found by the kernel oracle).
    pub fn is_dead(&self, i: usize) -> bool {
        self.self_map.is_none()
            && self
                .main
                .get(i)
                .is_some_and(|s| s.call.target() == Target::SelfElem)
    }

    /// The body of callback `cb`; an index the program does not declare is an empty body.
    pub fn callback_body(&self, cb: CbIdx) -> &[Stmt] {
        self.callbacks
            .get(usize::from(cb.0))
            .map_or(&[], Vec::as_slice)
    }

    /// Every statement of the loaded program: `main`, then each reachable callback.
    pub fn code(&self) -> impl Iterator<Item = &Stmt> {
        let cbs = self.reachable_callbacks();
        self.main
            .iter()
            .chain(cbs.into_iter().flat_map(move |cb| self.callback_body(cb)))
    }
}

/// A map or a program, for the fd / pin / id syscalls that work on both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(Arbitrary))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum ObjRef {
    Map(MapIdx),
    Prog(ProgIdx),
}

/// One step of the world.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(Arbitrary))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Op {
    /// `BPF_MAP_CREATE`; the new map is held by one user fd.
    MapCreate(MapSpec),
    /// `BPF_MAP_UPDATE_ELEM` from user space with an all-zero value.
    MapUpdate { elem: ElemRef, flags: UpdateFlags },
    /// `BPF_MAP_UPDATE_ELEM` of a map-in-map: store `inner` at `outer[key]`.
    MapUpdateInner {
        outer: MapIdx,
        key: Key,
        inner: MapIdx,
        flags: UpdateFlags,
    },
    /// `BPF_MAP_DELETE_ELEM`.
    MapDelete { elem: ElemRef },
    /// `BPF_MAP_LOOKUP_ELEM`.
    MapLookup { elem: ElemRef },
    /// `BPF_PROG_LOAD`; the new program is held by one user fd.
    ProgLoad(ProgSpec),
    /// Run a program once (`BPF_PROG_TEST_RUN`) on element `key` of its `self_map`.
    ProgRun { prog: ProgIdx, key: Key },
    /// `close()` of one user fd.
    Close(ObjRef),
    /// `BPF_OBJ_PIN`.
    Pin(ObjRef),
    /// `unlink()` of the pin.
    Unpin(ObjRef),
    /// `BPF_{MAP,PROG}_GET_FD_BY_ID`: one more user fd.
    GetFdById(ObjRef),
    /// Virtual time passes: started work items run, due timers fire.
    Advance { ns: Nanos },
}

/// Something to observe without changing the world.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(Arbitrary))]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Query {
    /// Does the object still exist (its id is still listed)?
    Alive(ObjRef),
    /// How many times has callback `cb` of `prog` started?
    Runs { prog: ProgIdx, cb: CbIdx },
}
