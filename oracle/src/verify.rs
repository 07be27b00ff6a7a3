//! The kernel side of the verifier differential: a [`spec::prog::Case`] loaded on the running
//! kernel, its verdict typed as the spec's [`Verdict`] with the rejection reason normalized by
//! the message table ([`crate::messages`]).
//!
//! [`load`] does what a libbpf loader would do with the case (`docs/verifier-case-format.md`):
//!
//! 1. Creates the maps in order (`BPF_MAP_CREATE`): key `u32`; value size from
//!    [`spec::layout::value_size`] with the value BTF of [`Host::value_btf`] when the case
//!    says `btf` (no BTF at all otherwise); a map-in-map's value is the inner map's fd (4
//!    bytes, no BTF, as libbpf creates them) unless it declares special fields, and its inner
//!    template is the case map `inner` names. A failure is [`Verdict::MapCreate`].
//! 2. Resolves every helper (`enum bpf_func_id` `BPF_FUNC_<name>`) and kfunc (vmlinux
//!    `BTF_KIND_FUNC` by [`spec::prog::Kfunc::kernel_name`]) against this kernel's BTF
//!    ([`Host::funcs`]). A function this kernel lacks is
//!    `Reject(UnknownFunc(name))` *without a load*: libbpf fails to resolve the name before
//!    `BPF_PROG_LOAD`, so no verifier ever sees the program. (The first missing function in
//!    instruction order is named.)
//! 3. Encodes the program ([`crate::asm`]): subprograms concatenated in order, each
//!    subprogram call and `&func` pointing at its callee's first slot, every jump offset
//!    exactly as the case gives it (out of range ones included: judging them is the
//!    verifier's job), maps as `BPF_PSEUDO_MAP_FD` of the fds of step 1.
//! 4. Builds the program's BTF: one `int name(void)` function per subprogram, `main` (the
//!    first) global whatever its declared linkage, the others static or global as declared
//!    ([`Host::func_btf`], cached per shape); passes `func_info` (one record per subprogram)
//!    only when the case says so, and then no program BTF at all.
//! 5. `BPF_PROG_LOAD` at log level 0 (no log: the verdict at full speed), with license `GPL`
//!    or `Proprietary` and `BPF_F_SLEEPABLE` as the case says. A rejected program is loaded
//!    again at log level 1 for the verifier's messages, and the log's verdict line classified
//!    ([`crate::messages::classify_case`]).
//!
//! What the oracle cannot answer is [`Verdict::Unsupported`] with the reason: program types
//! that need an attach target (fentry / tp_btf / lsm: see [`crate::engine`]), an allocation
//! failure (`-ENOMEM` is no deterministic answer), the verifier's complexity limits (which
//! the spec does not model), and cases no loader could express (a map or subprogram index
//! past the case's, a subprogram name BTF cannot carry, a register number past 4 bits).
//!
//! Hygiene: only loads; nothing is run, attached or pinned. Every map, BTF and program fd is
//! owned and closed when `load` returns (the per-shape BTF caches of the [`Host`] live as long
//! as it does).

use crate::asm::{Alu, Asm, Cond, Reg, Size, Src};
use crate::engine::{MISSING_FD, map_flags, map_type, prog_type};
use crate::host::{FuncBtf, Host, MapKey};
use crate::messages;
use crate::sys::{self, FuncInfo, MapAttr, MapBtf, ProgAttr, RawInsn, Sys};
use spec::prog::MapDecl;
use spec::prog::{AluOp, Callee, Case, Imm64, Insn, Linkage, Operand};
use spec::verify::Verdict;
use spec::{Errno, MapIdx, MapSpec, layout};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

/// How many lines of a rejected load's log [`Loaded::log`] keeps.
pub const LOG_TAIL: usize = 8;

/// The kernel's answer to one case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loaded {
    pub verdict: Verdict,
    /// The last [`LOG_TAIL`] meaningful lines of the verifier's log (level 1: instruction
    /// echoes included, the statistics trailer left out) of a rejected load.
    pub log: Option<String>,
    /// The errno of the failed `BPF_PROG_LOAD` (`EACCES`, `EINVAL`, ...), for reports.
    pub errno: Option<i32>,
}

impl Loaded {
    fn verdict(verdict: Verdict) -> Loaded {
        Loaded {
            verdict,
            log: None,
            errno: None,
        }
    }
}

/// Load `case` on the kernel of `host` and type its answer: one `BPF_PROG_LOAD` with the
/// verifier's messages logged but not its instruction trace (`BPF_LOG_STATS`), which costs
/// about what a load at level 0 costs and names a rejection's reason at once.
/// [`Loaded::log`] then holds the messages only; [`trace`] reloads at level 1 for the
/// instructions that led there.
///
/// Panics when `BPF_MAP_CREATE` fails with an errno [`spec::Errno`] has no name for (the
/// spec could never give that answer: the differential would be meaningless), naming it.
pub fn load(host: &Host, case: &Case) -> Loaded {
    load_at(host, case, sys::LOG_MESSAGES)
}

/// [`load`] with the whole instruction trace of a rejection in [`Loaded::log`] (log level 1):
/// what a report of a divergence shows and a regression file keeps.
pub fn trace(host: &Host, case: &Case) -> Loaded {
    load_at(host, case, sys::LOG_LEVEL1)
}

fn load_at(host: &Host, case: &Case, level: u32) -> Loaded {
    let p = match prepare(host, case) {
        Ok(p) => p,
        Err(v) => return Loaded::verdict(v),
    };
    let (errno, log) = match sys::prog_load_logged(&p.attr(), level) {
        Ok(fd) => {
            drop(fd);
            return Loaded::verdict(Verdict::Accept);
        }
        Err(e) if e.errno.0 == libc::ENOMEM => return Loaded::verdict(out_of_memory()),
        Err(e) => (e.errno, e.log),
    };
    drop(p);
    let verdict = if messages::hits_complexity_limit(&log) {
        Verdict::Unsupported("the verifier's complexity limits (not modelled)")
    } else {
        Verdict::Reject(messages::classify_case(&log, case))
    };
    Loaded {
        verdict,
        log: Some(tail(&log, LOG_TAIL)),
        errno: Some(errno.0),
    }
}

/// A case ready for `BPF_PROG_LOAD`: its maps created, its program encoded with this
/// kernel's function ids and the maps' fds, its BTF loaded. It owns the maps' fds: dropping
/// it closes them.
pub struct Prepared {
    prog_type: u32,
    sleepable: bool,
    gpl: bool,
    insns: Vec<RawInsn>,
    btf: Option<Arc<FuncBtf>>,
    func_info: Vec<FuncInfo>,
    _maps: Vec<Arc<OwnedFd>>,
}

impl Prepared {
    fn attr(&self) -> ProgAttr<'_> {
        ProgAttr {
            prog_type: self.prog_type,
            sleepable: self.sleepable,
            license: if self.gpl { "GPL" } else { "Proprietary" },
            insns: &self.insns,
            btf_fd: self.btf.as_ref().map_or(0, |b| b.fd.as_raw_fd()),
            func_info: &self.func_info,
        }
    }

    /// One `BPF_PROG_LOAD` at log level 0; an accepted program is closed at once.
    pub fn load_quiet(&self) -> Result<(), Sys> {
        sys::prog_load_quiet(&self.attr()).map(drop)
    }

    /// The program's `struct bpf_insn`s.
    pub fn insns(&self) -> &[RawInsn] {
        &self.insns
    }
}

/// Steps 1 to 4 of [`load`]: what the case becomes before `BPF_PROG_LOAD`, or the verdict
/// that comes first (a map creation failure, a function this kernel lacks, an unsupported
/// case).
pub fn prepare(host: &Host, case: &Case) -> Result<Prepared, Verdict> {
    let maps = create_maps(host, case)?;
    let prog = &case.prog;
    let prog_type = prog_type(prog.ty).map_err(Verdict::Unsupported)?;
    let insns = encode(host, case, &maps)?;
    let btf = if prog.func_info {
        if prog.subprogs.iter().any(|s| !is_identifier(&s.name)) {
            return Err(Verdict::Unsupported(
                "a subprogram name BTF cannot carry (not a C identifier)",
            ));
        }
        let shape: Vec<(&str, bool)> = prog
            .subprogs
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), i == 0 || s.linkage == Linkage::Global))
            .collect();
        match host.func_btf(&shape) {
            Ok(b) => Some(b),
            Err(Sys(libc::ENOMEM)) => return Err(out_of_memory()),
            Err(e) => panic!("BPF_BTF_LOAD of the program's functions {shape:?} failed: {e}"),
        }
    } else {
        None
    };
    let func_info: Vec<FuncInfo> = match &btf {
        Some(b) => prog
            .starts()
            .into_iter()
            .zip(&b.funcs)
            .map(|(start, &type_id)| FuncInfo {
                insn_off: start as u32,
                type_id,
            })
            .collect(),
        None => Vec::new(),
    };
    Ok(Prepared {
        prog_type,
        sleepable: prog.sleepable,
        gpl: prog.gpl,
        insns,
        btf,
        func_info,
        _maps: maps,
    })
}

fn out_of_memory() -> Verdict {
    Verdict::Unsupported("-ENOMEM: an allocation failed, not a deterministic answer")
}

/// The last `n` lines of `log` that are neither empty nor the statistics trailer.
pub fn tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty() && !messages::is_statistics(l.trim()))
        .collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A C identifier, as BTF names of functions must be (`btf_name_valid_identifier`).
fn is_identifier(s: &str) -> bool {
    let mut b = s.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
        && s.len() < 128
}

/// The maps of the case, in order: created on first use and kept by the host for later
/// cases that declare the same maps (loading a program changes nothing in a map, and creating
/// maps would cost the differential more than verifying). Two equal declarations in one case
/// are two maps.
fn create_maps(host: &Host, case: &Case) -> Result<Vec<Arc<OwnedFd>>, Verdict> {
    let mut fds: Vec<Arc<OwnedFd>> = Vec::new();
    let mut keys: Vec<MapKey> = Vec::new();
    for (i, d) in case.maps.iter().enumerate() {
        let idx = u8::try_from(i).map_err(|_| Verdict::Unsupported("more than 255 maps"))?;
        let inner = match d.spec.inner {
            Some(MapIdx(t)) if d.spec.kind.is_map_in_map() => match keys.get(usize::from(t)) {
                Some(k) => Some((Box::new(k.clone()), fds[usize::from(t)].as_raw_fd())),
                None => {
                    return Err(Verdict::Unsupported(
                        "an inner-map template declared after its outer map",
                    ));
                }
            },
            _ => None,
        };
        let mut key = MapKey {
            decl: MapDecl {
                spec: MapSpec {
                    inner: None,
                    ..d.spec
                },
                btf: d.btf,
            },
            inner: inner.as_ref().map(|(k, _)| k.clone()),
            nth: 0,
        };
        key.nth = keys
            .iter()
            .filter(|k| k.decl == key.decl && k.inner == key.inner)
            .count();
        let fd = host.cached_map(key.clone(), || {
            create_map(host, idx, d, inner.as_ref().map(|&(_, fd)| fd))
        })?;
        keys.push(key);
        fds.push(fd);
    }
    Ok(fds)
}

/// `BPF_MAP_CREATE` of map `idx` of a case (`inner`: the fd of its inner-map template).
fn create_map(
    host: &Host,
    idx: u8,
    d: &MapDecl,
    inner: Option<std::os::fd::RawFd>,
) -> Result<OwnedFd, Verdict> {
    let s = &d.spec;
    let mim = s.kind.is_map_in_map();
    let inner = match (mim, inner) {
        (false, _) => None,
        (true, None) => Some(MISSING_FD),
        (true, Some(fd)) => Some(fd),
    };
    let plain_mim = mim && !s.value.has_special_fields();
    let btf = if plain_mim || !d.btf {
        None
    } else {
        match host.value_btf(&s.value) {
            Ok(b) => Some(b),
            Err(e) => return Err(map_failed(idx, e)),
        }
    };
    let attr = MapAttr {
        map_type: map_type(s.kind),
        key_size: 4,
        value_size: if plain_mim {
            4
        } else {
            layout::value_size(&s.value)
        },
        max_entries: u32::from(s.max_entries),
        flags: map_flags(s.flags),
        btf: btf.as_ref().map(|b| MapBtf {
            fd: b.fd.as_raw_fd(),
            key: b.key,
            value: b.value,
        }),
        inner,
    };
    sys::map_create(&attr).map_err(|e| map_failed(idx, e))
}

fn map_failed(map: u8, e: Sys) -> Verdict {
    if e.0 == libc::ENOMEM {
        return out_of_memory();
    }
    match Errno::from_value(i64::from(e.0)) {
        Some(errno) => Verdict::MapCreate { map, errno },
        None => panic!(
            "BPF_MAP_CREATE of map m{map} failed with errno {} ({e}), which spec::Errno has no \
             name for: add it there, the spec cannot give this answer",
            e.0
        ),
    }
}

fn reg(r: Reg) -> Result<Reg, Verdict> {
    // The encoding carries 4 bits of register number.
    (r.0 < 16)
        .then_some(r)
        .ok_or(Verdict::Unsupported("a register number past 4 bits"))
}

fn src(o: Operand) -> Result<Src, Verdict> {
    Ok(match o {
        Operand::Reg(r) => Src::Reg(reg(r)?),
        Operand::Imm(i) => Src::Imm(i),
    })
}

const fn alu(op: AluOp) -> Alu {
    match op {
        AluOp::Mov => Alu::Mov,
        AluOp::Add => Alu::Add,
        AluOp::Sub => Alu::Sub,
        AluOp::Mul => Alu::Mul,
        AluOp::And => Alu::And,
        AluOp::Or => Alu::Or,
        AluOp::Xor => Alu::Xor,
        AluOp::Lsh => Alu::Lsh,
        AluOp::Rsh => Alu::Rsh,
    }
}

const fn size(s: spec::prog::Size) -> Size {
    match s {
        spec::prog::Size::B => Size::B,
        spec::prog::Size::H => Size::H,
        spec::prog::Size::W => Size::W,
        spec::prog::Size::DW => Size::DW,
    }
}

const fn cond(c: spec::prog::Cond) -> Cond {
    match c {
        spec::prog::Cond::Eq => Cond::Eq,
        spec::prog::Cond::Ne => Cond::Ne,
        spec::prog::Cond::Gt => Cond::Gt,
        spec::prog::Cond::Ge => Cond::Ge,
        spec::prog::Cond::Lt => Cond::Lt,
        spec::prog::Cond::Le => Cond::Le,
        spec::prog::Cond::Sgt => Cond::Sgt,
        spec::prog::Cond::Slt => Cond::Slt,
    }
}

/// The case's program as `struct bpf_insn`s, with this kernel's function ids and the maps'
/// fds.
fn encode(host: &Host, case: &Case, maps: &[Arc<OwnedFd>]) -> Result<Vec<RawInsn>, Verdict> {
    let prog = &case.prog;
    // libbpf resolves every function before the load.
    for insn in prog.insns() {
        match insn {
            Insn::Call(Callee::Helper(h)) if host.funcs.helper(*h).is_none() => {
                return Err(Verdict::Reject(spec::RejectReason::UnknownFunc(
                    h.kernel_name(),
                )));
            }
            Insn::Call(Callee::Kfunc(k)) if host.funcs.kfunc(*k).is_none() => {
                return Err(Verdict::Reject(spec::RejectReason::UnknownFunc(
                    k.kernel_name(),
                )));
            }
            _ => {}
        }
    }
    let starts = prog.starts();
    let subprog = |s: u8, pc: usize| -> Result<i32, Verdict> {
        let start = starts.get(usize::from(s)).ok_or(Verdict::Unsupported(
            "a subprogram index past the program's subprograms",
        ))?;
        Ok(*start as i32 - (pc as i32 + 1))
    };
    let mut a = Asm::new();
    for insn in prog.insns() {
        let pc = a.pc();
        match *insn {
            Insn::Alu { op, dst, src: s } => a.alu(alu(op), reg(dst)?, src(s)?),
            Insn::LdImm64 { dst, imm } => match imm {
                Imm64::Const(v) => a.ld_imm64(reg(dst)?, v),
                Imm64::Map(m) => {
                    let fd = maps
                        .get(usize::from(m))
                        .ok_or(Verdict::Unsupported("a map index past the case's maps"))?;
                    a.ld_map(reg(dst)?, fd.as_raw_fd());
                }
                Imm64::Func(s) => a.ld_func_raw(reg(dst)?, subprog(s, pc)?),
            },
            Insn::Load {
                size: sz,
                dst,
                src: s,
                off,
            } => a.load(size(sz), reg(dst)?, reg(s)?, off),
            Insn::Store {
                size: sz,
                dst,
                off,
                src: s,
            } => match s {
                Operand::Reg(r) => a.store(size(sz), reg(dst)?, off, reg(r)?),
                Operand::Imm(i) => a.store_imm(size(sz), reg(dst)?, off, i),
            },
            Insn::JmpIf {
                cond: c,
                dst,
                src: s,
                off,
            } => a.jump_if_raw(cond(c), reg(dst)?, src(s)?, off),
            Insn::Ja { off } => a.goto_raw(off),
            Insn::Call(Callee::Helper(h)) => {
                a.call_helper(host.funcs.helper(h).expect("resolved above"));
            }
            Insn::Call(Callee::Kfunc(k)) => {
                a.call_kfunc(host.funcs.kfunc(k).expect("resolved above"));
            }
            Insn::Call(Callee::Subprog(s)) => a.call_subprog_raw(subprog(s, pc)?),
            Insn::Exit => a.exit(),
        }
    }
    Ok(a.finish())
}
