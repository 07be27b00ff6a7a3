//! Compiles a [`ProgSpec`] to a real BPF program whose results are observable.
//!
//! * Every program uses the case's *oracle map*, a `BPF_F_MMAPABLE` array user space reads
//!   without syscalls: entry 0 is the header (the key to run on, a stop flag, the clock base
//!   for `BPF_F_TIMER_ABS`, the callback log length, the main body's results), the next
//!   entries count callback starts per `(program, callback)` slot, the rest is a log with one
//!   record per callback run: `(slot + 1) | kind << 32` written last, then one result per
//!   statement.
//! * `main` looks its element up in the self map (key from the header) and stores each
//!   statement's R0; a callback is a static subprogram per `(callback, kind)` that bumps its
//!   run counter and logs its results. A set stop flag or a full log makes every callback
//!   return at once: the stop condition of all re-arming.
//! * Registers: R6 the header, R7 `self` (value, or NULL in main), R8 `self`'s map, R9 the
//!   callback's key pointer.

use crate::asm::{Asm, Cond, Label, Reg, Size};
use crate::host::{Host, Kfunc, MAX_SUBPROGS};
use crate::sys::{FuncInfo, RawInsn};
use spec::verify::max_call_frames;
use spec::{Call, CbIdx, Features, MapIdx, MapRef, Nanos, ProgSpec, Ret, Stmt, Target, TimerFlags};
use std::os::fd::RawFd;

/// Words per oracle-map entry.
pub const WORDS: usize = 32;
/// Header words.
pub const KEY: usize = 0;
pub const STOP: usize = 1;
pub const BASE: usize = 2;
pub const LOG_LEN: usize = 3;
pub const OVERFLOW: usize = 4;
pub const MAIN_RETS: usize = 8;
/// Statements a main body may have.
pub const MAX_MAIN: usize = WORDS - MAIN_RETS;
/// Statements a callback body may have.
pub const MAX_CALLBACK: usize = WORDS - 1;
/// Run-counter entries, and the `(program, callback)` slots they hold.
pub const RUN_ENTRIES: usize = 8;
pub const MAX_SLOTS: usize = RUN_ENTRIES * WORDS;
/// First log entry, and how many callback runs one case may log.
pub const LOG_BASE: usize = 1 + RUN_ENTRIES;
pub const LOG_CAP: usize = 512;
pub const ENTRIES: usize = LOG_BASE + LOG_CAP;

/// Result encodings that no call returns.
pub const SKIP: u64 = 0x8000_0000_0000_0001;
pub const NOELEM: u64 = 0x8000_0000_0000_0002;
/// `kptr_xchg(.., new)` could not acquire its object (the case is poisoned).
pub const ACQUIRE_FAILED: u64 = 0x8000_0000_0000_0003;

/// Who runs a callback; logged with each run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CbKind {
    Timer = 1,
    Wq = 2,
    TaskWork = 3,
}

impl CbKind {
    pub fn from_word(w: u64) -> Option<CbKind> {
        match w >> 32 {
            1 => Some(CbKind::Timer),
            2 => Some(CbKind::Wq),
            3 => Some(CbKind::TaskWork),
            _ => None,
        }
    }
}

// Helper ids (`enum bpf_func_id`, UAPI: stable across kernels).
const MAP_LOOKUP_ELEM: i32 = 1;
const MAP_UPDATE_ELEM: i32 = 2;
const MAP_DELETE_ELEM: i32 = 3;
const GET_CURRENT_TASK_BTF: i32 = 158;
const TIMER_INIT: i32 = 169;
const TIMER_SET_CALLBACK: i32 = 170;
const TIMER_START: i32 = 171;
const TIMER_CANCEL: i32 = 172;
const KPTR_XCHG: i32 = 194;

// Stack slots (offsets from the frame pointer).
const ENTRY_KEY: i16 = -8;
const ELEM_KEY: i16 = -16;
const SELF_KEY: i16 = -24;
const RECORD: i16 = -32;
const INNER: i16 = -40;
const VALUE_PTR: i16 = -48;
/// A zero value for `bpf_map_update_elem`, large enough for every value layout.
const ZERO_LEN: i16 = 160;
const ZERO: i16 = VALUE_PTR - ZERO_LEN;

/// What the generator needs to know about the case.
pub struct Env<'a> {
    pub host: &'a Host,
    pub oracle: RawFd,
    /// A user fd of each map, -1 if there is none (the kernel then answers -EBADF).
    pub map_fd: &'a dyn Fn(MapIdx) -> RawFd,
    /// The run-counter slot of `(this program, cb)`.
    pub slot: &'a mut dyn FnMut(CbIdx) -> Result<usize, Refusal>,
}

/// Why a program is not built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The kernel has no such kfunc (vmlinux BTF says so; libbpf refuses the same way).
    UnknownKfunc(&'static str),
    /// The oracle will not run it: a hazard to the host or a limit of this generator.
    Cannot(&'static str),
}

/// A program ready for `BPF_PROG_LOAD`.
pub struct Compiled {
    pub insns: Vec<RawInsn>,
    pub func_info: Vec<FuncInfo>,
}

/// Compile `spec`.
pub fn compile(spec: &ProgSpec, env: &mut Env<'_>) -> Result<Compiled, Refusal> {
    check_limits(spec, &env.host.kernel.features)?;
    let mut g = Gen {
        asm: Asm::new(),
        env,
        spec,
        subprogs: Vec::new(),
    };
    g.main()?;
    let mut next = 0;
    let mut starts = Vec::new();
    while next < g.subprogs.len() {
        let (cb, kind, label) = g.subprogs[next];
        starts.push(g.asm.pc());
        g.asm.bind(label);
        g.callback(cb, kind)?;
        next += 1;
    }
    let (_, main_ty, cb_tys) = g.env.host.prog_btf();
    let mut func_info = vec![FuncInfo {
        insn_off: 0,
        type_id: main_ty,
    }];
    func_info.extend(starts.iter().zip(cb_tys).map(|(&s, &ty)| FuncInfo {
        insn_off: s as u32,
        type_id: ty,
    }));
    Ok(Compiled {
        insns: g.asm.finish(),
        func_info,
    })
}

/// Bodies within the result area; no callback re-arms a timer faster than 1 ms or at an
/// absolute time (which may be in the past: an immediate re-fire loop).
fn check_limits(spec: &ProgSpec, f: &Features) -> Result<(), Refusal> {
    if spec.main.len() > MAX_MAIN || spec.callbacks.iter().any(|b| b.len() > MAX_CALLBACK) {
        return Err(Refusal::Cannot(
            "a body longer than the oracle's result area",
        ));
    }
    // A callback only dead code passes is never walked, so the verifier never marks it an
    // async callback, and its stack-depth pass follows the function addresses in such
    // callbacks as direct calls: a chain of `MAX_CALL_FRAMES` frames (a cycle among them) is
    // "the call stack of 8 frames is too deep" (16 since 7.2). An artefact of code the verifier
    // skips, not a rule of the spec (found by the kernel oracle).
    let live = spec.live_callbacks();
    if spec
        .reachable_callbacks()
        .into_iter()
        .any(|cb| !live.contains(&cb) && too_deep(spec, &live, cb, 1, max_call_frames(f)))
    {
        return Err(Refusal::Cannot(
            "callbacks only dead code passes nest MAX_CALL_FRAMES frames deep",
        ));
    }
    let cbs = spec.reachable_callbacks();
    for s in cbs.iter().flat_map(|&cb| spec.callback_body(cb)) {
        if let Call::TimerStart { nsecs, flags, .. } = s.call
            && (nsecs.0 < Nanos::MS || flags.0 & TimerFlags::ABS != 0)
        {
            return Err(Refusal::Cannot(
                "a callback re-arms a timer faster than 1 ms or at an absolute time",
            ));
        }
    }
    Ok(())
}

/// Whether unwalked callback `cb`, entered as frame `frame`, leads the stack-depth pass
/// through unwalked callbacks to `max_frames` frames (`MAX_CALL_FRAMES`).
fn too_deep(spec: &ProgSpec, live: &[CbIdx], cb: CbIdx, frame: usize, max_frames: usize) -> bool {
    frame >= max_frames
        || spec
            .callback_body(cb)
            .iter()
            .filter_map(|s| s.call.callback())
            .any(|next| !live.contains(&next) && too_deep(spec, live, next, frame + 1, max_frames))
}

struct Gen<'e, 'a> {
    asm: Asm,
    env: &'e mut Env<'a>,
    spec: &'e ProgSpec,
    /// Callback subprograms to emit: `(callback, kind, entry label)`.
    subprogs: Vec<(CbIdx, CbKind, Label)>,
}

/// Which body is being generated.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Body {
    Main,
    Callback,
}

impl Gen<'_, '_> {
    /// `r0 = &oracle[entry]`, or jump to `null`.
    fn oracle_entry(&mut self, entry: i32, null: Label) {
        self.asm.store_imm(Size::W, Reg::FP, ENTRY_KEY, entry);
        self.asm.ld_map(Reg::R1, self.env.oracle);
        self.lookup_at(ENTRY_KEY, null);
    }

    /// `r0 = bpf_map_lookup_elem(r1, fp + key)`; jump to `null` on NULL.
    fn lookup_at(&mut self, key: i16, null: Label) {
        let a = &mut self.asm;
        a.mov(Reg::R2, Reg::FP);
        a.add_imm(Reg::R2, i32::from(key));
        a.call_helper(MAP_LOOKUP_ELEM);
        a.jump_if(Cond::Eq, Reg::R0, 0, null);
    }

    /// Zero the value buffer (the verifier needs initialised stack).
    fn zero_buffer(&mut self) {
        for off in (ZERO..VALUE_PTR).step_by(8) {
            self.asm.store_imm(Size::DW, Reg::FP, off, 0);
        }
    }

    fn main(&mut self) -> Result<(), Refusal> {
        let out = self.asm.label();
        self.oracle_entry(0, out);
        self.asm.mov(Reg::R6, Reg::R0);
        self.zero_buffer();
        // Further maps the program holds (`used_maps`) without a statement on them.
        for &m in &self.spec.maps {
            self.asm.ld_map(Reg::R1, (self.env.map_fd)(m));
        }
        self.asm.mov_imm(Reg::R7, 0);
        self.asm.mov_imm(Reg::R8, 0);
        if let Some(r) = self.spec.self_map {
            let no_self = self.asm.label();
            // The key to run on, from the header.
            self.asm.load(Size::DW, Reg::R1, Reg::R6, word(KEY));
            self.asm.store(Size::W, Reg::FP, SELF_KEY, Reg::R1);
            match r {
                MapRef::Map(m) => self.asm.ld_map(Reg::R8, (self.env.map_fd)(m)),
                MapRef::Inner { outer, key } => {
                    self.asm.store_imm(Size::W, Reg::FP, ELEM_KEY, key.0 as i32);
                    self.asm.ld_map(Reg::R1, (self.env.map_fd)(outer));
                    self.lookup_at(ELEM_KEY, no_self);
                    self.asm.mov(Reg::R8, Reg::R0);
                }
            }
            self.asm.mov(Reg::R1, Reg::R8);
            self.asm.mov(Reg::R2, Reg::FP);
            self.asm.add_imm(Reg::R2, i32::from(SELF_KEY));
            self.asm.call_helper(MAP_LOOKUP_ELEM);
            self.asm.mov(Reg::R7, Reg::R0);
            self.asm.bind(no_self);
        }
        for (i, s) in self.spec.main.iter().enumerate() {
            self.stmt(Body::Main, i, s)?;
        }
        self.asm.bind(out);
        self.asm.mov_imm(Reg::R0, 0);
        self.asm.exit();
        Ok(())
    }

    fn callback(&mut self, cb: CbIdx, kind: CbKind) -> Result<(), Refusal> {
        let slot = (self.env.slot)(cb)?;
        let out = self.asm.label();
        let a = &mut self.asm;
        a.mov(Reg::R8, Reg::R1);
        a.mov(Reg::R9, Reg::R2);
        a.mov(Reg::R7, Reg::R3);
        self.oracle_entry(0, out);
        let a = &mut self.asm;
        a.mov(Reg::R6, Reg::R0);
        a.load(Size::DW, Reg::R1, Reg::R6, word(STOP));
        a.jump_if(Cond::Ne, Reg::R1, 0, out);
        // Log index: the order in which callbacks start.
        a.mov_imm(Reg::R1, 1);
        a.fetch_add(Reg::R6, word(LOG_LEN), Reg::R1);
        let full = a.label();
        a.jump_if(Cond::Ge, Reg::R1, LOG_CAP as i32, full);
        a.add_imm(Reg::R1, LOG_BASE as i32);
        a.store(Size::W, Reg::FP, ENTRY_KEY, Reg::R1);
        a.ld_map(Reg::R1, self.env.oracle);
        self.lookup_at(ENTRY_KEY, out);
        self.asm.store(Size::DW, Reg::FP, RECORD, Reg::R0);
        let counted = self.asm.label();
        self.oracle_entry((1 + slot / WORDS) as i32, counted);
        let a = &mut self.asm;
        a.mov_imm(Reg::R1, 1);
        a.fetch_add(Reg::R0, word(slot % WORDS), Reg::R1);
        a.bind(counted);
        self.zero_buffer();
        let body = self.spec.callback_body(cb).to_vec();
        for (i, s) in body.iter().enumerate() {
            self.stmt(Body::Callback, i, s)?;
        }
        let a = &mut self.asm;
        a.load(Size::DW, Reg::R1, Reg::FP, RECORD);
        a.ld_imm64(Reg::R2, (slot as u64 + 1) | (kind as u64) << 32);
        a.store(Size::DW, Reg::R1, 0, Reg::R2);
        a.goto(out);
        a.bind(full);
        a.store_imm(Size::DW, Reg::R6, word(OVERFLOW), 1);
        a.bind(out);
        a.mov_imm(Reg::R0, 0);
        a.exit();
        Ok(())
    }

    /// The entry label of the subprogram for `(cb, kind)`.
    fn subprog(&mut self, cb: CbIdx, kind: CbKind) -> Result<Label, Refusal> {
        if let Some(&(_, _, l)) = self
            .subprogs
            .iter()
            .find(|&&(c, k, _)| c == cb && k == kind)
        {
            return Ok(l);
        }
        if self.subprogs.len() == MAX_SUBPROGS {
            return Err(Refusal::Cannot(
                "more callback subprograms than the oracle's BTF",
            ));
        }
        let l = self.asm.label();
        self.subprogs.push((cb, kind, l));
        Ok(l)
    }

    fn kfunc(&self, k: Option<Kfunc>, name: &'static str) -> Result<Kfunc, Refusal> {
        k.ok_or(Refusal::UnknownKfunc(name))
    }

    fn stmt(&mut self, body: Body, i: usize, s: &Stmt) -> Result<(), Refusal> {
        let (skip, noelem, done) = (self.asm.label(), self.asm.label(), self.asm.label());
        if let Some((cb, n)) = s.guard {
            let slot = (self.env.slot)(cb)?;
            self.oracle_entry((1 + slot / WORDS) as i32, skip);
            self.asm
                .load(Size::DW, Reg::R1, Reg::R0, word(slot % WORDS));
            self.asm.jump_if(Cond::Ge, Reg::R1, i32::from(n), skip);
        }
        let ks = self.env.host.kfuncs;
        let call = s.call;
        match call {
            Call::MapUpdate { elem, flags } => {
                self.map_and_key(body, elem, noelem);
                let a = &mut self.asm;
                a.mov(Reg::R3, Reg::FP);
                a.add_imm(Reg::R3, i32::from(ZERO));
                a.mov_imm(Reg::R4, flags as i32);
                a.call_helper(MAP_UPDATE_ELEM);
            }
            Call::MapDelete { elem } => {
                self.map_and_key(body, elem, noelem);
                self.asm.call_helper(MAP_DELETE_ELEM);
            }
            Call::MapLookup { elem } => {
                self.map_and_key(body, elem, noelem);
                self.asm.call_helper(MAP_LOOKUP_ELEM);
                self.asm.jump_if(Cond::Eq, Reg::R0, 0, done);
                self.asm.mov_imm(Reg::R0, 1);
            }
            _ => {
                let field = call.field().expect("pointer calls name a field");
                let map = self.value_ptr(body, call.target(), noelem);
                self.asm
                    .add_imm(Reg::R1, spec::layout::offset(field) as i32);
                self.pointer_call(call, map, ks, done)?;
            }
        }
        // The paths that make no call, where they exist (unreachable code is rejected).
        let a = &mut self.asm;
        for (l, code) in [(skip, SKIP), (noelem, NOELEM)] {
            if a.is_used(l) {
                a.goto(done);
                a.bind(l);
                a.ld_imm64(Reg::R0, code);
            }
        }
        a.bind(done);
        match body {
            Body::Main => a.store(Size::DW, Reg::R6, word(MAIN_RETS + i), Reg::R0),
            Body::Callback => {
                a.load(Size::DW, Reg::R1, Reg::FP, RECORD);
                a.store(Size::DW, Reg::R1, word(1 + i), Reg::R0);
            }
        }
        Ok(())
    }

    /// The call on the field pointer in R1; `map` loads the element's map into a register.
    fn pointer_call(
        &mut self,
        call: Call,
        map: MapSrc,
        ks: crate::host::Kfuncs,
        done: Label,
    ) -> Result<(), Refusal> {
        match call {
            Call::TimerInit { clock, .. } => {
                self.load_map(Reg::R2, map);
                self.asm.ld_imm64(Reg::R3, clock.0);
                self.asm.call_helper(TIMER_INIT);
            }
            Call::TimerSetCallback { cb, .. } => {
                let l = self.subprog(cb, CbKind::Timer)?;
                self.asm.ld_func(Reg::R2, l);
                self.asm.call_helper(TIMER_SET_CALLBACK);
            }
            Call::TimerStart { nsecs, flags, .. } => {
                let a = &mut self.asm;
                if flags.0 & TimerFlags::ABS != 0 {
                    // Absolute expiries count from the case's clock base.
                    a.load(Size::DW, Reg::R2, Reg::R6, word(BASE));
                    a.ld_imm64(Reg::R3, nsecs.0);
                    a.add(Reg::R2, Reg::R3);
                } else {
                    a.ld_imm64(Reg::R2, nsecs.0);
                }
                a.ld_imm64(Reg::R3, flags.0);
                a.call_helper(TIMER_START);
            }
            Call::TimerCancel { .. } => self.asm.call_helper(TIMER_CANCEL),
            Call::TimerCancelAsync { .. } => {
                let k = self.kfunc(ks.timer_cancel_async, call.kernel_name())?;
                self.asm.call_kfunc(k.btf_id);
            }
            Call::WqInit { flags, .. } => {
                let k = self.kfunc(ks.wq_init, call.kernel_name())?;
                self.load_map(Reg::R2, map);
                self.asm.ld_imm64(Reg::R3, flags.0);
                self.asm.call_kfunc(k.btf_id);
            }
            Call::WqSetCallback { cb, flags, .. } => {
                let k = self.kfunc(ks.wq_set_callback, call.kernel_name())?;
                let l = self.subprog(cb, CbKind::Wq)?;
                self.asm.ld_func(Reg::R2, l);
                self.asm.ld_imm64(Reg::R3, flags.0);
                if k.aux_arg {
                    self.asm.mov_imm(Reg::R4, 0);
                }
                self.asm.call_kfunc(k.btf_id);
            }
            Call::WqStart { flags, .. } => {
                let k = self.kfunc(ks.wq_start, call.kernel_name())?;
                self.asm.ld_imm64(Reg::R2, flags.0);
                self.asm.call_kfunc(k.btf_id);
            }
            Call::TaskWorkSchedule { cb, mode, .. } => {
                let k = match mode {
                    spec::TaskWorkMode::Signal => ks.task_work_signal,
                    spec::TaskWorkMode::Resume => ks.task_work_resume,
                };
                let k = self.kfunc(k, call.kernel_name())?;
                let l = self.subprog(cb, CbKind::TaskWork)?;
                let a = &mut self.asm;
                a.store(Size::DW, Reg::FP, VALUE_PTR, Reg::R1);
                a.call_helper(GET_CURRENT_TASK_BTF);
                a.mov(Reg::R1, Reg::R0);
                a.load(Size::DW, Reg::R2, Reg::FP, VALUE_PTR);
                self.load_map(Reg::R3, map);
                self.asm.ld_func(Reg::R4, l);
                if k.aux_arg {
                    self.asm.mov_imm(Reg::R5, 0);
                }
                self.asm.call_kfunc(k.btf_id);
            }
            Call::KptrXchg { new, .. } => {
                // The task kfuncs make and drop the objects a kptr holds: the oracle's own
                // means, not the program's (absent before 6.2). Kfuncs need a GPL program.
                if !self.spec.gpl && (new || ks.task_release.is_some()) {
                    return Err(Refusal::Cannot(
                        "a non-GPL program cannot call the kfuncs that acquire / release a kptr \
                         object",
                    ));
                }
                let a = &mut self.asm;
                // The verifier walks the fall-through first: keep the call on it, so that
                // the first error it reports is the statement's, as in the spec's order.
                let failed = a.label();
                if new {
                    let acquire = ks
                        .task_from_pid
                        .ok_or(Refusal::Cannot("no bpf_task_from_pid to acquire a kptr"))?;
                    a.store(Size::DW, Reg::FP, VALUE_PTR, Reg::R1);
                    a.mov_imm(Reg::R1, std::process::id() as i32);
                    a.call_kfunc(acquire.btf_id);
                    a.jump_if(Cond::Eq, Reg::R0, 0, failed);
                    a.mov(Reg::R2, Reg::R0);
                    a.load(Size::DW, Reg::R1, Reg::FP, VALUE_PTR);
                } else {
                    a.mov_imm(Reg::R2, 0);
                }
                a.call_helper(KPTR_XCHG);
                // The old object comes back to the program, which releases it. A kernel
                // without bpf_task_release (6.1) has no referenced kptr the oracle's BTF can
                // declare (its tag `kptr` is the unreferenced kind before v6.4, and task_struct
                // has no destructor kfunc), so its verifier refuses the call itself: nothing
                // to release. Were the call accepted, the unreleased object would be refused
                // ("Unreleased reference"), a divergence in sight.
                if let Some(release) = ks.task_release {
                    a.jump_if(Cond::Eq, Reg::R0, 0, done);
                    a.mov(Reg::R1, Reg::R0);
                    a.call_kfunc(release.btf_id);
                    a.mov_imm(Reg::R0, 1);
                }
                if a.is_used(failed) {
                    a.goto(done);
                    a.bind(failed);
                    a.ld_imm64(Reg::R0, ACQUIRE_FAILED);
                }
            }
            Call::MapUpdate { .. } | Call::MapDelete { .. } | Call::MapLookup { .. } => {
                unreachable!("by-key calls are generated by stmt")
            }
        }
        Ok(())
    }

    /// R1 = the element's value (jump to `noelem` when there is none); returns where the
    /// element's map is.
    fn value_ptr(&mut self, body: Body, t: Target, noelem: Label) -> MapSrc {
        match t {
            Target::SelfElem => {
                if body == Body::Main {
                    self.asm.jump_if(Cond::Eq, Reg::R7, 0, noelem);
                }
                self.asm.mov(Reg::R1, Reg::R7);
                MapSrc::SelfMap
            }
            Target::Elem(e) => {
                let src = self.elem_map(e.map, noelem);
                self.asm
                    .store_imm(Size::W, Reg::FP, ELEM_KEY, e.key.0 as i32);
                self.load_map(Reg::R1, src);
                self.lookup_at(ELEM_KEY, noelem);
                self.asm.mov(Reg::R1, Reg::R0);
                src
            }
        }
    }

    /// R1 = map, R2 = key pointer of a by-key call.
    fn map_and_key(&mut self, body: Body, t: Target, noelem: Label) {
        match t {
            Target::SelfElem => {
                let a = &mut self.asm;
                if body == Body::Main {
                    a.jump_if(Cond::Eq, Reg::R7, 0, noelem);
                    a.mov(Reg::R2, Reg::FP);
                    a.add_imm(Reg::R2, i32::from(SELF_KEY));
                } else {
                    a.mov(Reg::R2, Reg::R9);
                }
                a.mov(Reg::R1, Reg::R8);
            }
            Target::Elem(e) => {
                let src = self.elem_map(e.map, noelem);
                self.asm
                    .store_imm(Size::W, Reg::FP, ELEM_KEY, e.key.0 as i32);
                self.load_map(Reg::R1, src);
                self.asm.mov(Reg::R2, Reg::FP);
                self.asm.add_imm(Reg::R2, i32::from(ELEM_KEY));
            }
        }
    }

    /// Resolve the map of a named element: an fd, or the inner map of an outer element
    /// (looked up now and spilled to the stack; jump to `noelem` if the slot is empty).
    fn elem_map(&mut self, r: MapRef, noelem: Label) -> MapSrc {
        match r {
            MapRef::Map(m) => MapSrc::Fd((self.env.map_fd)(m)),
            MapRef::Inner { outer, key } => {
                self.asm.store_imm(Size::W, Reg::FP, ELEM_KEY, key.0 as i32);
                self.asm.ld_map(Reg::R1, (self.env.map_fd)(outer));
                self.lookup_at(ELEM_KEY, noelem);
                self.asm.store(Size::DW, Reg::FP, INNER, Reg::R0);
                MapSrc::Spilled
            }
        }
    }

    fn load_map(&mut self, dst: Reg, src: MapSrc) {
        match src {
            MapSrc::SelfMap => self.asm.mov(dst, Reg::R8),
            MapSrc::Fd(fd) => self.asm.ld_map(dst, fd),
            MapSrc::Spilled => self.asm.load(Size::DW, dst, Reg::FP, INNER),
        }
    }
}

/// Where the map of the element a statement acts on is.
#[derive(Clone, Copy, Debug)]
enum MapSrc {
    /// R8: `self`'s map.
    SelfMap,
    Fd(RawFd),
    /// An inner map, spilled to the stack.
    Spilled,
}

/// Byte offset of header / record word `w`.
fn word(w: usize) -> i16 {
    (w * 8) as i16
}

/// Decode a stored result of `call`.
pub fn decode(call: &Call, raw: u64) -> Ret {
    match raw {
        SKIP => Ret::Skip,
        NOELEM => Ret::NoElem,
        _ => match call {
            Call::MapLookup { .. } | Call::KptrXchg { .. } => {
                if raw == 0 {
                    Ret::Null
                } else {
                    Ret::Ptr
                }
            }
            // kfuncs return C `int`: sign-extend the low 32 bits.
            Call::TimerCancelAsync { .. }
            | Call::WqInit { .. }
            | Call::WqSetCallback { .. }
            | Call::WqStart { .. }
            | Call::TaskWorkSchedule { .. } => Ret::Int(i64::from(raw as u32 as i32)),
            _ => Ret::Int(raw as i64),
        },
    }
}
