//! `step` lines.

use super::{UPDATE_FLAGS, elem};
use crate::lex::Cursor;
use crate::syntax::SynStep;
use crate::value::{duration, lookup, name};
use spec::{ObjRef, Op, UpdateFlags};

/// `[BPF_ANY|BPF_NOEXIST|BPF_EXIST]`, `BPF_ANY` when absent.
fn optional_update_flags(c: &mut Cursor<'_>) -> Result<UpdateFlags, String> {
    if c.at_end() {
        return Ok(UpdateFlags::Any);
    }
    lookup(&UPDATE_FLAGS, c.word("update flags")?, "update flag")
}

/// `step <kind> ...`, after `step`.
pub(super) fn step<'a>(c: &mut Cursor<'a>) -> Result<SynStep<'a>, String> {
    let handle = |c: &mut Cursor<'a>, op: fn(ObjRef) -> Op| -> Result<SynStep<'a>, String> {
        let name = name(c.word("a map or program name")?)?;
        Ok(SynStep::Handle { op, name })
    };
    Ok(match c.word("a step")? {
        "run" => {
            let prog = name(c.word("a program name")?)?;
            if !c.eat_word("on") {
                return Err("expected `on <map>[<key>]` after the program".to_owned());
            }
            SynStep::Run { prog, on: elem(c)? }
        }
        "update" => {
            let elem = elem(c)?;
            if elem.inner_at.is_none() && c.eat("=") {
                SynStep::UpdateInner {
                    outer: elem.map,
                    key: elem.key,
                    inner: name(c.word("an inner map name")?)?,
                    flags: optional_update_flags(c)?,
                }
            } else {
                SynStep::Update {
                    elem,
                    flags: optional_update_flags(c)?,
                }
            }
        }
        "delete" => SynStep::Delete(elem(c)?),
        "lookup" => SynStep::Lookup(elem(c)?),
        "close" => handle(c, Op::Close)?,
        "pin" => handle(c, Op::Pin)?,
        "unpin" => handle(c, Op::Unpin)?,
        "get_fd" => handle(c, Op::GetFdById)?,
        "wait" => SynStep::Wait(duration(c.word("a duration")?)?),
        "runs" => SynStep::Runs(name(c.word("a callback name")?)?),
        "alive" => SynStep::Alive(name(c.word("a map or program name")?)?),
        other => {
            return Err(format!(
                "unknown step `{other}` (known: run, update, delete, lookup, close, pin, unpin, get_fd, wait, runs, alive)"
            ));
        }
    })
}
