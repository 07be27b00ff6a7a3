//! Instruction lines, both ways: [`insn`] reads one, [`insn_text`] writes one, in the syntax of
//! the kernel's verifier log (`r1 += -4`, `r0 = *(u64 *)(r1 + 8)`, `if r0 == 0 goto +3`,
//! `call bpf_timer_init`), spelt from the same tables.
//!
//! Immediates are decimal, `ld_imm64` constants hexadecimal (`r1 = 0x1234 ll`); memory offsets
//! are written `+ 8` / `- 4`, jump offsets `+3` / `-2` (in `struct bpf_insn` slots, stored as
//! written: a jump out of range is the verifier's to reject).

use crate::lex::{Cursor, INSN_PUNCTS};
use crate::value::{lookup, small_index};
use crate::write::text::word;
use spec::prog::{AluOp, Callee, Cond, Helper, Imm64, Insn, Kfunc, Operand, Reg, Size};

/// The names instructions use: maps and subprograms, by index.
#[derive(Clone, Debug)]
pub(super) struct Names<'a> {
    pub maps: Vec<&'a str>,
    pub subprogs: Vec<&'a str>,
}

/// The name of index `i` in `names`; `?<i>` (which no file parses) past the end.
pub(super) fn name_of(names: &[&str], i: impl Into<usize>) -> String {
    let i = i.into();
    names
        .get(i)
        .map_or_else(|| format!("?{i}"), |n| (*n).to_owned())
}

/// `BPF_ALU64` operations by their assignment operator (`BPF_MOV` is `=`).
const ALU_OPS: [(&str, AluOp); 9] = [
    ("=", AluOp::Mov),
    ("+=", AluOp::Add),
    ("-=", AluOp::Sub),
    ("*=", AluOp::Mul),
    ("&=", AluOp::And),
    ("|=", AluOp::Or),
    ("^=", AluOp::Xor),
    ("<<=", AluOp::Lsh),
    (">>=", AluOp::Rsh),
];

const SIZES: [(&str, Size); 4] = [
    ("u8", Size::B),
    ("u16", Size::H),
    ("u32", Size::W),
    ("u64", Size::DW),
];

const CONDS: [(&str, Cond); 8] = [
    ("==", Cond::Eq),
    ("!=", Cond::Ne),
    (">", Cond::Gt),
    (">=", Cond::Ge),
    ("<", Cond::Lt),
    ("<=", Cond::Le),
    ("s>", Cond::Sgt),
    ("s<", Cond::Slt),
];

/// One instruction line.
pub(super) fn insn(text: &str, names: &Names<'_>) -> Result<Insn, String> {
    let mut c = Cursor::with_puncts(text, &INSN_PUNCTS)?;
    let insn = if c.eat("*") {
        let (size, dst, off) = memory(&mut c)?;
        c.expect("=")?;
        let src = operand(c.word("a register or an immediate")?)?;
        Insn::Store {
            size,
            dst,
            off,
            src,
        }
    } else {
        match c.word("an instruction")? {
            "exit" => Insn::Exit,
            "goto" => Insn::Ja {
                off: offset(&mut c, "a jump offset")?,
            },
            "call" => Insn::Call(callee(c.word("a function name")?, names)?),
            "if" => {
                let dst = reg(c.word("a register")?)?;
                let cond = cond(&mut c)?;
                let src = operand(c.word("a register or an immediate")?)?;
                if !c.eat_word("goto") {
                    return Err("expected `goto <offset>` after the condition".to_owned());
                }
                Insn::JmpIf {
                    cond,
                    dst,
                    src,
                    off: offset(&mut c, "a jump offset")?,
                }
            }
            dst if dst.starts_with('r') => assignment(reg(dst)?, &mut c, names)?,
            other => {
                return Err(format!(
                    "unknown instruction `{other}` (known: `rN = ...`, `rN += ...`, `*(...) = ...`, \
                     `if ... goto`, `goto`, `call`, `exit`)"
                ));
            }
        }
    };
    c.end()?;
    Ok(insn)
}

/// What follows `<dst>` in an ALU operation, a load or an `ld_imm64`.
fn assignment(dst: Reg, c: &mut Cursor<'_>, names: &Names<'_>) -> Result<Insn, String> {
    let op = lookup(
        &ALU_OPS,
        c.punct("an assignment (`=`, `+=`, ...)")?,
        "ALU operator",
    )?;
    if op != AluOp::Mov {
        let src = operand(c.word("a register or an immediate")?)?;
        return Ok(Insn::Alu { op, dst, src });
    }
    if c.eat("*") {
        let (size, src, off) = memory(c)?;
        return Ok(Insn::Load {
            size,
            dst,
            src,
            off,
        });
    }
    let imm = if c.eat("&") {
        let name = c.word("a function name")?;
        Imm64::Func(index_of(&names.subprogs, name, "function")?)
    } else if c.eat_word("map") {
        Imm64::Map(index_of(&names.maps, c.word("a map name")?, "map")?)
    } else {
        let src = c.word("a register or an immediate")?;
        if !c.eat_word("ll") {
            return Ok(Insn::Alu {
                op,
                dst,
                src: operand(src)?,
            });
        }
        let value = integer(src)?;
        Imm64::Const(
            u64::try_from(value)
                .map_err(|_| format!("`{src}` is out of range for a 64-bit constant"))?,
        )
    };
    Ok(Insn::LdImm64 { dst, imm })
}

/// `(u32 *)(r10 - 4)`, after the leading `*`.
fn memory(c: &mut Cursor<'_>) -> Result<(Size, Reg, i16), String> {
    c.expect("(")?;
    let size = lookup(
        &SIZES,
        c.word("an access size (`u8` to `u64`)")?,
        "access size",
    )?;
    c.expect("*")?;
    c.expect(")")?;
    c.expect("(")?;
    let base = reg(c.word("a register")?)?;
    let off = offset(c, "an offset")?;
    c.expect(")")?;
    Ok((size, base, off))
}

/// `+ 8`, `- 4`, `+3`, `-2`.
fn offset(c: &mut Cursor<'_>, what: &str) -> Result<i16, String> {
    let sign = if c.eat("+") {
        Some(1)
    } else if c.eat("-") {
        Some(-1)
    } else {
        None
    };
    let w = c.word(what)?;
    let value = match sign {
        Some(_) if w.starts_with('-') => {
            return Err(format!("expected {what}, found a sign twice"));
        }
        Some(sign) => sign * integer(w)?,
        None if w.starts_with('-') => integer(w)?,
        None => return Err(format!("expected {what} (`+N` or `-N`), found `{w}`")),
    };
    i16::try_from(value).map_err(|_| format!("`{w}` is out of range for {what} (16 bits)"))
}

fn cond(c: &mut Cursor<'_>) -> Result<Cond, String> {
    let signed = c.eat_word("s");
    let op = c.punct("a condition (`==`, `!=`, `>`, `>=`, `<`, `<=`, `s>`, `s<`)")?;
    let op = if signed {
        format!("s{op}")
    } else {
        op.to_owned()
    };
    lookup(&CONDS, &op, "condition")
}

/// `r0` to `r10`.
fn reg(w: &str) -> Result<Reg, String> {
    let digits = w
        .strip_prefix('r')
        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| format!("expected a register (r0 to r10), found `{w}`"))?;
    match digits.parse::<u8>() {
        Ok(n) if usize::from(n) < Reg::COUNT && reg_text(Reg(n)) == w => Ok(Reg(n)),
        _ => Err(format!("bad register `{w}` (r0 to r10)")),
    }
}

/// A register, or a 32-bit immediate (sign-extended by the instruction).
fn operand(w: &str) -> Result<Operand, String> {
    if w.starts_with('r') {
        return reg(w).map(Operand::Reg);
    }
    let value = integer(w)?;
    i32::try_from(value)
        .map(Operand::Imm)
        .map_err(|_| format!("`{w}` is out of range for a 32-bit immediate (`ll` loads 64 bits)"))
}

/// A decimal or `0x` hexadecimal integer, optionally negative.
fn integer(w: &str) -> Result<i128, String> {
    let (negative, digits) = w.strip_prefix('-').map_or((false, w), |d| (true, d));
    let magnitude = match digits.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => digits.parse::<u64>(),
    }
    .map_err(|_| format!("expected a number, found `{w}`"))?;
    let magnitude = i128::from(magnitude);
    Ok(if negative { -magnitude } else { magnitude })
}

/// The position of `name` in `names` (of `what`s).
pub(super) fn index_of(names: &[&str], name: &str, what: &str) -> Result<u8, String> {
    let i = names
        .iter()
        .position(|n| *n == name)
        .ok_or_else(|| format!("unknown {what} `{name}`"))?;
    small_index(i, &format!("{what}s"))
}

/// A helper by its kernel name, else a kfunc, else a subprogram of the case.
fn callee(name: &str, names: &Names<'_>) -> Result<Callee, String> {
    if let Some(h) = Helper::ALL.into_iter().find(|h| h.kernel_name() == name) {
        return Ok(Callee::Helper(h));
    }
    if let Some(k) = Kfunc::ALL.into_iter().find(|k| k.kernel_name() == name) {
        return Ok(Callee::Kfunc(k));
    }
    index_of(&names.subprogs, name, "function")
        .map(Callee::Subprog)
        .map_err(|_| {
            format!("`{name}` is not a helper, a kfunc or a function of the case (`func {name}`)")
        })
}

/// Is `name` the kernel name of a helper or kfunc (which a subprogram cannot be named)?
pub(super) fn is_kernel_function(name: &str) -> bool {
    Helper::ALL.iter().any(|h| h.kernel_name() == name)
        || Kfunc::ALL.iter().any(|k| k.kernel_name() == name)
}

/// The line of `insn`.
pub(super) fn insn_text(insn: &Insn, names: &Names<'_>) -> String {
    match *insn {
        Insn::Alu { op, dst, src } => {
            format!(
                "{} {} {}",
                reg_text(dst),
                word(&ALU_OPS, op),
                operand_text(src)
            )
        }
        Insn::LdImm64 { dst, imm } => {
            let imm = match imm {
                Imm64::Const(v) => format!("{v:#x} ll"),
                Imm64::Map(m) => format!("map {}", name_of(&names.maps, m)),
                Imm64::Func(f) => format!("&{}", name_of(&names.subprogs, f)),
            };
            format!("{} = {imm}", reg_text(dst))
        }
        Insn::Load {
            size,
            dst,
            src,
            off,
        } => format!("{} = {}", reg_text(dst), memory_text(size, src, off)),
        Insn::Store {
            size,
            dst,
            off,
            src,
        } => format!("{} = {}", memory_text(size, dst, off), operand_text(src)),
        Insn::JmpIf {
            cond,
            dst,
            src,
            off,
        } => format!(
            "if {} {} {} goto {off:+}",
            reg_text(dst),
            word(&CONDS, cond),
            operand_text(src)
        ),
        Insn::Ja { off } => format!("goto {off:+}"),
        Insn::Call(Callee::Helper(h)) => format!("call {}", h.kernel_name()),
        Insn::Call(Callee::Kfunc(k)) => format!("call {}", k.kernel_name()),
        Insn::Call(Callee::Subprog(s)) => format!("call {}", name_of(&names.subprogs, s)),
        Insn::Exit => "exit".to_owned(),
    }
}

/// `r0` to `r10`, and `r11` and on (which no file parses) for registers that do not exist.
fn reg_text(r: Reg) -> String {
    format!("r{}", r.0)
}

fn operand_text(src: Operand) -> String {
    match src {
        Operand::Reg(r) => reg_text(r),
        Operand::Imm(v) => v.to_string(),
    }
}

/// `*(u32 *)(r10 - 4)`.
fn memory_text(size: Size, base: Reg, off: i16) -> String {
    let sign = if off < 0 { '-' } else { '+' };
    format!(
        "*({} *)({} {sign} {})",
        word(&SIZES, size),
        reg_text(base),
        off.unsigned_abs()
    )
}
