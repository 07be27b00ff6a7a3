//! The running kernel as an [`Engine`]: every op is a real bpf(2) call, every program is a
//! real program (see [`crate::codegen`]), a wait is a real sleep, and queries read the kernel.
//!
//! Time: the engine keeps the spec's virtual clock `now`; the kernel's clock runs ahead of
//! it by the real time the ops took ([`KernelEngine::drift`]). A wait sleeps `ns` from the
//! moment it starts, so the drift does not grow during waits, and a program's absolute
//! expiries (`BPF_F_TIMER_ABS`) count from `real now - now`. The differential runner uses
//! the drift to tell whether an expiry was too close to call.
//!
//! What the engine itself answers, without the kernel: closing an fd the case does not hold
//! (-EBADF, as `close(2)` does). A map or program the case cannot reach is passed to the
//! kernel as an fd that is never open, so the kernel gives its own answer (-EBADF, or -EINVAL
//! where it probes the fd's kind).
//!
//! Hygiene: dropping the engine sets the oracle map's stop flag (every callback returns at
//! once), closes every fd and removes every pin, which cancels and frees every timer.

use crate::codegen::{self, CbKind, Env, Refusal};
use crate::host::Host;
use crate::messages;
use crate::sys::{self, Kind, MapAttr, MapBtf, Mmap, ProgAttr, Sys};
use spec::{
    CallbackRun, CbIdx, ElemRef, Engine, Errno, Kernel, Key, MapFlags, MapIdx, MapKind, MapRef,
    MapSpec, ObjRef, Observation, Op, Outcome, ProgIdx, ProgSpec, ProgType, Query, Ret,
    Unsupported, UpdateFlags,
};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How long a query waits for deferred frees (RCU, workqueues) before it calls an object
/// alive.
pub const ALIVE_PATIENCE: Duration = Duration::from_millis(30);
/// How long a wait's end waits for callbacks still running to finish their record.
const SETTLE: Duration = Duration::from_millis(20);

/// Why a case's kernel results are not a deterministic answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Poison {
    /// An allocation failed (-ENOMEM).
    OutOfMemory,
    /// More callback runs than the oracle's log holds: callbacks were stopped.
    LogFull,
    /// A syscall failed with an errno the spec has no name for.
    UnknownErrno(i32),
    /// `bpf_task_from_pid` found no task for a `kptr_xchg(.., new)`.
    AcquireFailed,
}

impl std::fmt::Display for Poison {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Poison::OutOfMemory => f.write_str("-ENOMEM: allocation failure"),
            Poison::LogFull => write!(f, "more than {} callback runs", codegen::LOG_CAP),
            Poison::UnknownErrno(e) => write!(f, "errno {e} has no name in the spec"),
            Poison::AcquireFailed => f.write_str("kptr_xchg could not acquire a task"),
        }
    }
}

/// User handles on one kernel object.
#[derive(Default)]
struct Handles {
    fds: Vec<OwnedFd>,
    id: Option<u32>,
    pinned: bool,
}

struct MapEntry {
    spec: MapSpec,
    h: Handles,
}

struct ProgEntry {
    spec: ProgSpec,
    h: Handles,
}

/// An fd to use for one syscall: held by the case, opened just for it, or none.
enum Use {
    Held(RawFd),
    Temp(OwnedFd),
    Missing,
}

impl Use {
    fn raw(&self) -> RawFd {
        match self {
            Use::Held(fd) => *fd,
            Use::Temp(fd) => fd.as_raw_fd(),
            Use::Missing => MISSING_FD,
        }
    }
}

pub struct KernelEngine<'h> {
    host: &'h Host,
    mem: Mmap,
    oracle: OwnedFd,
    maps: Vec<MapEntry>,
    progs: Vec<ProgEntry>,
    /// Run-counter slots: `(program, callback)` by slot.
    slots: Vec<(ProgIdx, CbIdx)>,
    /// Next log record to read.
    log_read: usize,
    /// Timer and wq runs read but not yet reported (reported by the next wait).
    pending: Vec<CallbackRun>,
    /// Real time (CLOCK_MONOTONIC ns) when the case started.
    t0: u64,
    now: u64,
    pin_dir: Option<String>,
    poison: Option<Poison>,
    /// The verdict line and log tail of the last rejected load.
    pub last_log: Option<String>,
}

/// The fd passed for an object the case holds no fd of: never open (above any fd limit), so
/// the kernel answers as for a closed fd.
pub(crate) const MISSING_FD: RawFd = 1 << 30;

/// A packet for program types that take one (an Ethernet frame of zeroes).
const PACKET: [u8; 64] = [0; 64];

impl<'h> KernelEngine<'h> {
    pub fn new(host: &'h Host) -> Result<KernelEngine<'h>, Sys> {
        // One case, one CPU: per-CPU kernel state (LRU free lists) stays deterministic.
        sys::stay_on_this_cpu()?;
        let attr = MapAttr {
            map_type: libbpf_sys::BPF_MAP_TYPE_ARRAY,
            key_size: 4,
            value_size: (codegen::WORDS * 8) as u32,
            max_entries: codegen::ENTRIES as u32,
            flags: libbpf_sys::BPF_F_MMAPABLE,
            btf: None,
            inner: None,
        };
        let oracle = sys::map_create(&attr)?;
        let len = (codegen::ENTRIES * codegen::WORDS * 8).next_multiple_of(4096);
        let mem = Mmap::map(&oracle, len)?;
        let t0 = sys::monotonic_ns();
        Ok(KernelEngine {
            host,
            mem,
            oracle,
            maps: Vec::new(),
            progs: Vec::new(),
            slots: Vec::new(),
            log_read: 0,
            pending: Vec::new(),
            t0,
            now: 0,
            pin_dir: None,
            poison: None,
            last_log: None,
        })
    }

    /// Why this case's results are not deterministic, if they are not.
    pub fn poison(&self) -> Option<&Poison> {
        self.poison.as_ref()
    }

    /// Virtual time, ns.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// How far the kernel's clock is ahead of the virtual `now`, in ns: the real time the
    /// ops took.
    pub fn drift(&self) -> u64 {
        sys::monotonic_ns().saturating_sub(self.t0 + self.now)
    }

    fn word(&self, w: usize) -> u64 {
        self.mem.words()[w].load(Ordering::Acquire)
    }

    fn taint(&mut self, p: Poison) {
        self.poison.get_or_insert(p);
    }

    /// An errno as the spec names it; an unnamed one poisons the case.
    fn errno(&mut self, e: Sys) -> Outcome {
        if e.0 == libc::ENOMEM {
            self.taint(Poison::OutOfMemory);
        }
        match Errno::from_value(i64::from(e.0)) {
            Some(e) => Outcome::Err(e),
            None => {
                self.taint(Poison::UnknownErrno(e.0));
                Outcome::Err(Errno::EINVAL)
            }
        }
    }

    fn status(&mut self, r: Result<(), Sys>) -> Outcome {
        match r {
            Ok(()) => Outcome::Ok,
            Err(e) => self.errno(e),
        }
    }

    fn map_at(&self, m: MapIdx) -> Option<usize> {
        let n = self.maps.len();
        (n > 0).then(|| usize::from(m.0) % n)
    }

    fn prog_at(&self, p: ProgIdx) -> Option<usize> {
        let n = self.progs.len();
        (n > 0).then(|| usize::from(p.0) % n)
    }

    fn handles(&mut self, o: ObjRef) -> Option<(&mut Handles, Kind, String)> {
        match o {
            ObjRef::Map(m) => {
                let i = self.map_at(m)?;
                Some((&mut self.maps[i].h, Kind::Map, format!("m{i}")))
            }
            ObjRef::Prog(p) => {
                let i = self.prog_at(p)?;
                Some((&mut self.progs[i].h, Kind::Prog, format!("p{i}")))
            }
        }
    }

    /// The fd user space would use for an object: one it holds, or its pin opened.
    fn user_fd(&self, h: &Handles, pin: &str) -> Use {
        if let Some(fd) = h.fds.first() {
            return Use::Held(fd.as_raw_fd());
        }
        match (&self.pin_dir, h.pinned) {
            (Some(dir), true) => {
                sys::obj_get(&format!("{dir}/{pin}")).map_or(Use::Missing, Use::Temp)
            }
            _ => Use::Missing,
        }
    }

    fn map_fd(&self, m: MapIdx) -> Use {
        match self.map_at(m) {
            Some(i) => self.user_fd(&self.maps[i].h, &format!("m{i}")),
            None => Use::Missing,
        }
    }

    /// The map a user names (an inner map through its outer element) and its spec.
    fn user_map(&mut self, r: MapRef) -> Result<(Use, Option<MapSpec>), Outcome> {
        match r {
            MapRef::Map(m) => {
                let spec = self.map_at(m).map(|i| self.maps[i].spec);
                Ok((self.map_fd(m), spec))
            }
            MapRef::Inner { outer, key } => {
                let fd = self.map_fd(outer);
                let ospec = self.map_at(outer).map(|i| self.maps[i].spec);
                let mut value = vec![0u8; self.value_len(ospec)];
                let looked = sys::map_lookup(fd.raw(), &key.0.to_ne_bytes(), &mut value);
                if let Err(e) = looked {
                    return Err(self.errno(e));
                }
                let id = u32::from_ne_bytes(value[..4].try_into().expect("4 bytes"));
                match sys::get_fd_by_id(Kind::Map, id) {
                    Ok(fd) => {
                        let spec = self
                            .maps
                            .iter()
                            .find(|m| m.h.id == Some(id))
                            .map(|m| m.spec);
                        Ok((Use::Temp(fd), spec))
                    }
                    Err(e) => Err(self.errno(e)),
                }
            }
        }
    }

    /// The bytes user space passes as a value of a map with `spec`.
    fn value_len(&self, spec: Option<MapSpec>) -> usize {
        let Some(s) = spec else { return 8 };
        if s.kind.is_map_in_map() && !s.value.has_special_fields() {
            return 4;
        }
        let size = spec::layout::value_size(&s.value) as usize;
        match s.kind {
            MapKind::PercpuArray | MapKind::PercpuHash => size * self.host.ncpus,
            _ => size,
        }
    }

    fn map_create(&mut self, spec: &MapSpec) -> Outcome {
        let map_type = map_type(spec.kind);
        let flags = map_flags(spec.flags);
        let plain_mim = spec.kind.is_map_in_map() && !spec.value.has_special_fields();
        let btf = if plain_mim {
            None
        } else {
            match self.host.value_btf(&spec.value) {
                Ok(b) => Some(b),
                Err(e) => {
                    self.maps.push(MapEntry {
                        spec: *spec,
                        h: Handles::default(),
                    });
                    return self.errno(e);
                }
            }
        };
        let inner = if spec.kind.is_map_in_map() {
            Some(spec.inner.map_or(Use::Missing, |i| self.map_fd(i)))
        } else {
            None
        };
        let attr = MapAttr {
            map_type,
            key_size: 4,
            value_size: if plain_mim {
                4
            } else {
                spec::layout::value_size(&spec.value)
            },
            max_entries: u32::from(spec.max_entries),
            flags,
            btf: btf.as_ref().map(|b| MapBtf {
                fd: b.fd.as_raw_fd(),
                key: b.key,
                value: b.value,
            }),
            inner: inner.as_ref().map(Use::raw),
        };
        let r = sys::map_create(&attr);
        let mut h = Handles::default();
        let out = match r {
            Ok(fd) => {
                h.id = sys::id_of(Kind::Map, fd.as_raw_fd()).ok();
                h.fds.push(fd);
                Outcome::Ok
            }
            Err(e) => self.errno(e),
        };
        self.maps.push(MapEntry { spec: *spec, h });
        out
    }

    fn prog_load(&mut self, spec: &ProgSpec) -> Outcome {
        let idx = ProgIdx(self.progs.len() as u8);
        let (out, h) = self.load(idx, spec);
        self.progs.push(ProgEntry {
            spec: spec.clone(),
            h,
        });
        out
    }

    fn load(&mut self, idx: ProgIdx, spec: &ProgSpec) -> (Outcome, Handles) {
        let failed = Handles::default();
        let prog_type = match prog_type(spec.ty) {
            Ok(t) => t,
            Err(why) => {
                return (
                    Outcome::Unsupported(Unsupported::OracleCannotDrive(why)),
                    failed,
                );
            }
        };
        // Maps the program names, held open for the load (pins opened if need be).
        let n = self.maps.len();
        let fds: Vec<Use> = (0..n).map(|i| self.map_fd(MapIdx(i as u8))).collect();
        let raw: Vec<RawFd> = fds.iter().map(Use::raw).collect();
        let map_fd = |m: MapIdx| {
            if n == 0 {
                MISSING_FD
            } else {
                raw[usize::from(m.0) % n]
            }
        };
        let slots = &mut self.slots;
        let mut slot = |cb: CbIdx| -> Result<usize, Refusal> {
            if let Some(s) = slots.iter().position(|&x| x == (idx, cb)) {
                return Ok(s);
            }
            if slots.len() == codegen::MAX_SLOTS {
                return Err(Refusal::Cannot("more callbacks than the oracle counts"));
            }
            slots.push((idx, cb));
            Ok(slots.len() - 1)
        };
        let mut env = Env {
            host: self.host,
            oracle: self.oracle.as_raw_fd(),
            map_fd: &map_fd,
            slot: &mut slot,
        };
        let compiled = match codegen::compile(spec, &mut env) {
            Ok(c) => c,
            Err(Refusal::UnknownKfunc(name)) => {
                return (
                    Outcome::Reject(spec::RejectReason::UnknownFunc(name)),
                    failed,
                );
            }
            Err(Refusal::Cannot(why)) => {
                return (
                    Outcome::Unsupported(Unsupported::OracleCannotDrive(why)),
                    failed,
                );
            }
        };
        let (btf_fd, _, _) = self.host.prog_btf();
        let attr = ProgAttr {
            prog_type,
            sleepable: spec.sleepable,
            license: if spec.gpl { "GPL" } else { "Proprietary" },
            insns: &compiled.insns,
            btf_fd,
            func_info: &compiled.func_info,
        };
        match sys::prog_load(&attr) {
            Ok(fd) => {
                let mut h = Handles {
                    id: sys::id_of(Kind::Prog, fd.as_raw_fd()).ok(),
                    ..Handles::default()
                };
                h.fds.push(fd);
                self.last_log = None;
                (Outcome::Ok, h)
            }
            Err(e) if e.errno.0 == libc::EBADF => (Outcome::Err(Errno::EBADF), failed),
            Err(e) if e.errno.0 == libc::ENOMEM => (self.errno(e.errno), failed),
            // The oracle's own acquire / release kfuncs for kptr objects are not available to
            // every program type: the program the spec describes cannot be built here.
            Err(e) if messages::refuses_oracle_kfunc(&e.log) => (
                Outcome::Unsupported(Unsupported::OracleCannotDrive(
                    "this program type cannot call the kfuncs that acquire / release a \
                         kptr object",
                )),
                failed,
            ),
            Err(e) if messages::hits_complexity_limit(&e.log) => (
                Outcome::Unsupported(Unsupported::OracleCannotDrive(
                    "the verifier's path limits stop the generated code (a branch per guard)",
                )),
                failed,
            ),
            Err(e) => {
                let reason = messages::classify(&e.log, spec);
                let tail: Vec<&str> = e.log.lines().rev().take(6).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                self.last_log = Some(format!("errno {}: {}", e.errno, tail.join("\n")));
                (Outcome::Reject(reason), failed)
            }
        }
    }

    fn prog_run(&mut self, p: ProgIdx, key: Key) -> Outcome {
        let Some(i) = self.prog_at(p) else {
            return Outcome::Err(Errno::EBADF);
        };
        let fd = self.user_fd(&self.progs[i].h, &format!("p{i}"));
        let data = match self.progs[i].spec.ty {
            ProgType::SocketFilter | ProgType::SchedCls | ProgType::Xdp => Some(&PACKET[..]),
            ProgType::Syscall => None,
            _ if matches!(fd, Use::Missing) => None,
            _ => {
                return Outcome::Unsupported(Unsupported::OracleCannotDrive(
                    "BPF_PROG_TEST_RUN cannot run this program type",
                ));
            }
        };
        let words = self.mem.words();
        words[codegen::KEY].store(u64::from(key.0), Ordering::Release);
        words[codegen::BASE].store(self.t0 + self.drift(), Ordering::Release);
        if let Err(e) = sys::test_run(&RawFdRef(fd.raw()), data) {
            return self.errno(e);
        }
        let spec = &self.progs[i].spec;
        let rets: Vec<Ret> = spec
            .main
            .iter()
            .enumerate()
            .map(|(n, s)| (s.call, self.word(codegen::MAIN_RETS + n)))
            .collect::<Vec<_>>()
            .into_iter()
            .map(|(c, raw)| self.decode(&c, raw))
            .collect();
        let mut callbacks = Vec::new();
        for (kind, run) in self.read_log(Duration::ZERO) {
            if kind == CbKind::TaskWork {
                callbacks.push(run);
            } else {
                self.pending.push(run);
            }
        }
        Outcome::Ran { rets, callbacks }
    }

    /// A stored result; an allocation failure poisons the case.
    fn decode(&mut self, call: &spec::Call, raw: u64) -> Ret {
        if raw == codegen::ACQUIRE_FAILED {
            self.taint(Poison::AcquireFailed);
        }
        let r = codegen::decode(call, raw);
        if r == Ret::err(Errno::ENOMEM) {
            self.taint(Poison::OutOfMemory);
        }
        r
    }

    /// New complete log records, in start order. A record still being written is waited
    /// for up to `patience`, else left for the next read.
    fn read_log(&mut self, patience: Duration) -> Vec<(CbKind, CallbackRun)> {
        if self.word(codegen::OVERFLOW) != 0 {
            self.taint(Poison::LogFull);
        }
        let len = (self.word(codegen::LOG_LEN) as usize).min(codegen::LOG_CAP);
        let deadline = sys::monotonic_ns() + patience.as_nanos() as u64;
        let mut out = Vec::new();
        while self.log_read < len {
            let base = (codegen::LOG_BASE + self.log_read) * codegen::WORDS;
            let head = self.word(base);
            if head == 0 {
                if sys::monotonic_ns() >= deadline {
                    break;
                }
                std::thread::sleep(Duration::from_micros(100));
                continue;
            }
            let slot = (head & 0xffff_ffff) as usize - 1;
            let kind = CbKind::from_word(head).expect("records carry their kind");
            let (prog, cb) = self.slots[slot];
            let body = self.progs[usize::from(prog.0)]
                .spec
                .callback_body(cb)
                .to_vec();
            let rets: Vec<Ret> = body
                .iter()
                .enumerate()
                .map(|(n, s)| (s.call, self.word(base + 1 + n)))
                .collect::<Vec<_>>()
                .into_iter()
                .map(|(c, raw)| self.decode(&c, raw))
                .collect();
            out.push((kind, CallbackRun { prog, cb, rets }));
            self.log_read += 1;
        }
        out
    }

    fn advance(&mut self, ns: u64) -> Outcome {
        let start = sys::monotonic_ns();
        self.now = self.now.saturating_add(ns);
        sys::sleep_until(start.saturating_add(ns));
        let new = self.read_log(SETTLE);
        let mut fired = std::mem::take(&mut self.pending);
        fired.extend(new.into_iter().map(|(_, r)| r));
        Outcome::Fired(fired)
    }

    fn close(&mut self, o: ObjRef) -> Outcome {
        match self.handles(o).and_then(|(h, _, _)| h.fds.pop()) {
            Some(fd) => {
                drop(fd);
                Outcome::Ok
            }
            None => Outcome::Err(Errno::EBADF),
        }
    }

    fn pin(&mut self, o: ObjRef) -> Outcome {
        if self.pin_dir.is_none() {
            match self.host.pin_dir() {
                Ok(d) => self.pin_dir = Some(d),
                Err(e) => return self.errno(e),
            }
        }
        let dir = self.pin_dir.clone().expect("created above");
        let Some((h, _, name)) = self.handles(o) else {
            return Outcome::Err(Errno::EBADF);
        };
        let fd = h.fds.first().map_or(MISSING_FD, AsRawFd::as_raw_fd);
        match sys::obj_pin(fd, &format!("{dir}/{name}")) {
            Ok(()) => {
                h.pinned = true;
                Outcome::Ok
            }
            Err(e) => self.errno(e),
        }
    }

    fn unpin(&mut self, o: ObjRef) -> Outcome {
        let dir = self.pin_dir.clone().unwrap_or_default();
        let Some((h, _, name)) = self.handles(o) else {
            return Outcome::Err(Errno::ENOENT);
        };
        match std::fs::remove_file(format!("{dir}/{name}")) {
            Ok(()) => {
                h.pinned = false;
                Outcome::Ok
            }
            Err(e) => self.errno(Sys(e.raw_os_error().unwrap_or(libc::ENOENT))),
        }
    }

    fn get_fd_by_id(&mut self, o: ObjRef) -> Outcome {
        let Some((h, kind, _)) = self.handles(o) else {
            return Outcome::Err(Errno::ENOENT);
        };
        match sys::get_fd_by_id(kind, h.id.unwrap_or(0)) {
            Ok(fd) => {
                h.fds.push(fd);
                Outcome::Ok
            }
            Err(e) => self.errno(e),
        }
    }

    fn elem_op(&mut self, elem: &ElemRef, op: ElemOp) -> Outcome {
        let (fd, spec) = match self.user_map(elem.map) {
            Ok(x) => x,
            Err(o) => return o,
        };
        let key = elem.key.0.to_ne_bytes();
        let mut value = vec![0u8; self.value_len(spec)];
        let r = match op {
            ElemOp::Update(flags, inner) => {
                if let Some(inner) = inner {
                    value[..4].copy_from_slice(&inner.to_ne_bytes());
                }
                sys::map_update(fd.raw(), &key, &value, update_flags(flags))
            }
            ElemOp::Delete => sys::map_delete(fd.raw(), &key),
            ElemOp::Lookup => sys::map_lookup(fd.raw(), &key, &mut value),
        };
        self.status(r)
    }

    /// Is the object's id still listed? Deferred frees get `patience` to finish.
    pub fn alive(&self, o: ObjRef, patience: Duration) -> bool {
        let (id, kind) = match o {
            ObjRef::Map(m) => (self.map_at(m).and_then(|i| self.maps[i].h.id), Kind::Map),
            ObjRef::Prog(p) => (self.prog_at(p).and_then(|i| self.progs[i].h.id), Kind::Prog),
        };
        let Some(id) = id else { return false };
        let deadline = sys::monotonic_ns() + patience.as_nanos() as u64;
        loop {
            let listed = sys::next_id(kind, id - 1).is_ok_and(|n| n == Some(id));
            if !listed || sys::monotonic_ns() >= deadline {
                return listed;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn runs(&self, p: ProgIdx, cb: CbIdx) -> u64 {
        let Some(i) = self.prog_at(p) else { return 0 };
        let p = ProgIdx(i as u8);
        self.slots
            .iter()
            .position(|&s| s == (p, cb))
            .map_or(0, |s| {
                self.word((1 + s / codegen::WORDS) * codegen::WORDS + s % codegen::WORDS)
            })
    }
}

/// A borrowed raw fd for calls that take `AsRawFd`.
struct RawFdRef(RawFd);

impl AsRawFd for RawFdRef {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

#[derive(Clone, Copy)]
enum ElemOp {
    /// With the inner map fd of a map-in-map store.
    Update(UpdateFlags, Option<i32>),
    Delete,
    Lookup,
}

/// `BPF_MAP_TYPE_*` of a map kind.
pub(crate) fn map_type(kind: MapKind) -> u32 {
    match kind {
        MapKind::Hash => libbpf_sys::BPF_MAP_TYPE_HASH,
        MapKind::Array => libbpf_sys::BPF_MAP_TYPE_ARRAY,
        MapKind::PercpuHash => libbpf_sys::BPF_MAP_TYPE_PERCPU_HASH,
        MapKind::PercpuArray => libbpf_sys::BPF_MAP_TYPE_PERCPU_ARRAY,
        MapKind::LruHash => libbpf_sys::BPF_MAP_TYPE_LRU_HASH,
        MapKind::ArrayOfMaps => libbpf_sys::BPF_MAP_TYPE_ARRAY_OF_MAPS,
        MapKind::HashOfMaps => libbpf_sys::BPF_MAP_TYPE_HASH_OF_MAPS,
    }
}

/// `map_flags` of `BPF_MAP_CREATE`.
pub(crate) fn map_flags(f: MapFlags) -> u32 {
    let bit = |on: bool, flag: u32| if on { flag } else { 0 };
    bit(f.no_prealloc, libbpf_sys::BPF_F_NO_PREALLOC)
        | bit(f.rdonly_prog, libbpf_sys::BPF_F_RDONLY_PROG)
        | bit(f.wronly_prog, libbpf_sys::BPF_F_WRONLY_PROG)
}

/// `BPF_PROG_TYPE_*` of a program type, or why the oracle cannot load it here.
pub(crate) fn prog_type(ty: ProgType) -> Result<u32, &'static str> {
    Ok(match ty {
        ProgType::SocketFilter => libbpf_sys::BPF_PROG_TYPE_SOCKET_FILTER,
        ProgType::SchedCls => libbpf_sys::BPF_PROG_TYPE_SCHED_CLS,
        ProgType::Xdp => libbpf_sys::BPF_PROG_TYPE_XDP,
        ProgType::Syscall => libbpf_sys::BPF_PROG_TYPE_SYSCALL,
        ProgType::Kprobe => libbpf_sys::BPF_PROG_TYPE_KPROBE,
        ProgType::Tracepoint => libbpf_sys::BPF_PROG_TYPE_TRACEPOINT,
        ProgType::PerfEvent => libbpf_sys::BPF_PROG_TYPE_PERF_EVENT,
        ProgType::RawTracepoint => libbpf_sys::BPF_PROG_TYPE_RAW_TRACEPOINT,
        ProgType::Tracing | ProgType::Lsm => {
            return Err("fentry / tp_btf / lsm programs need an attach target");
        }
    })
}

fn update_flags(f: UpdateFlags) -> u64 {
    match f {
        UpdateFlags::Any => u64::from(libbpf_sys::BPF_ANY),
        UpdateFlags::NoExist => u64::from(libbpf_sys::BPF_NOEXIST),
        UpdateFlags::Exist => u64::from(libbpf_sys::BPF_EXIST),
    }
}

impl Engine for KernelEngine<'_> {
    fn name(&self) -> String {
        format!("kernel {}", self.host.detection.release)
    }

    fn kernel(&self) -> Kernel {
        self.host.kernel
    }

    fn apply(&mut self, op: &Op) -> Outcome {
        match op {
            Op::MapCreate(s) => self.map_create(s),
            Op::MapUpdate { elem, flags } => self.elem_op(elem, ElemOp::Update(*flags, None)),
            Op::MapUpdateInner {
                outer,
                key,
                inner,
                flags,
            } => {
                let inner = self.map_fd(*inner);
                let elem = ElemRef {
                    map: MapRef::Map(*outer),
                    key: *key,
                };
                self.elem_op(&elem, ElemOp::Update(*flags, Some(inner.raw())))
            }
            Op::MapDelete { elem } => self.elem_op(elem, ElemOp::Delete),
            Op::MapLookup { elem } => self.elem_op(elem, ElemOp::Lookup),
            Op::ProgLoad(s) => self.prog_load(s),
            Op::ProgRun { prog, key } => self.prog_run(*prog, *key),
            Op::Close(o) => self.close(*o),
            Op::Pin(o) => self.pin(*o),
            Op::Unpin(o) => self.unpin(*o),
            Op::GetFdById(o) => self.get_fd_by_id(*o),
            Op::Advance { ns } => self.advance(ns.0),
        }
    }

    fn observe(&mut self, q: &Query) -> Observation {
        match *q {
            Query::Alive(o) => Observation::Alive(self.alive(o, ALIVE_PATIENCE)),
            Query::Runs { prog, cb } => Observation::Count(self.runs(prog, cb)),
        }
    }
}

impl Drop for KernelEngine<'_> {
    fn drop(&mut self) {
        self.mem.words()[codegen::STOP].store(1, Ordering::Release);
        self.progs.clear();
        self.maps.clear();
        if let Some(dir) = self.pin_dir.take() {
            if let Ok(entries) = std::fs::read_dir(&dir) {
                for e in entries.flatten() {
                    let _ = std::fs::remove_file(e.path());
                }
            }
            let _ = std::fs::remove_dir(&dir);
        }
    }
}
