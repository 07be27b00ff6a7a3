//! Statements of a program body: `[if runs(<cb>) < <N>:] <helper>(<elem>, ...)`.

use super::{UPDATE_FLAGS, elem};
use crate::lex::{Cursor, Line};
use crate::syntax::{SynStmt, SynTarget};
use crate::value::{duration, lookup, small_index, uint};
use spec::{Call, CbIdx, ClockFlags, KfuncFlags, Target, TaskWorkMode, TimerFlags};

/// `callbacks[name]`, for a callback of the program being parsed.
fn callback(callbacks: &[&str], name: &str) -> Result<CbIdx, String> {
    let i = callbacks
        .iter()
        .position(|&cb| cb == name)
        .ok_or_else(|| format!("`{name}` is not a callback of this program"))?;
    small_index(i, "callbacks").map(CbIdx)
}

/// `[if runs(<cb>) < <N>:] <call>`.
pub(super) fn stmt<'a>(line: Line<'a>, callbacks: &[&str]) -> Result<SynStmt<'a>, String> {
    let mut c = Cursor::new(line.text)?;
    let guard = if c.eat_word("if") {
        if !c.eat_word("runs") {
            return Err("expected `runs(<callback>)` after `if`".to_owned());
        }
        c.expect("(")?;
        let cb = callback(callbacks, c.word("a callback name")?)?;
        c.expect(")")?;
        c.expect("<")?;
        let n = uint(c.word("a run count")?, "a guard's run count")?;
        c.expect(":")?;
        Some((cb, n))
    } else {
        None
    };
    let helper = c.word("a helper call")?;
    let args = lookup(&HELPERS, helper, "helper")?;
    c.expect("(")?;
    let target = if c.eat_word("self") {
        SynTarget::SelfElem
    } else {
        SynTarget::Elem(elem(&mut c)?)
    };
    let call = args(&mut c, callbacks)?;
    c.expect(")")?;
    c.end()?;
    Ok(SynStmt {
        line: line.number,
        guard,
        call,
        target,
    })
}

/// The arguments after the element; the call acts on `SELF` until compiled.
type Args = fn(&mut Cursor<'_>, &[&str]) -> Result<Call, String>;

const SELF: Target = Target::SelfElem;

const HELPERS: [(&str, Args); 14] = [
    ("timer_init", |c, _| {
        let clock = arg(c, "a clock", |w| {
            lookup(&CLOCKS, w, "clock").or_else(|e| uint(w, "a clock").map_err(|_| e))
        })?;
        Ok(Call::TimerInit {
            elem: SELF,
            clock: ClockFlags(clock),
        })
    }),
    ("timer_set_callback", |c, cbs| {
        let cb = arg(c, "a callback", |w| callback(cbs, w))?;
        Ok(Call::TimerSetCallback { elem: SELF, cb })
    }),
    ("timer_start", |c, _| {
        let nsecs = arg(c, "a duration", duration)?;
        c.expect(",")?;
        let flags = c.list("|", None, |c| {
            let w = c.word("timer flags")?;
            lookup(&TIMER_FLAGS, w, "timer flag").or_else(|e| uint(w, "timer flags").map_err(|_| e))
        })?;
        Ok(Call::TimerStart {
            elem: SELF,
            nsecs,
            flags: TimerFlags(flags.into_iter().fold(0, |a, b| a | b)),
        })
    }),
    ("timer_cancel", |_, _| Ok(Call::TimerCancel { elem: SELF })),
    ("timer_cancel_async", |_, _| {
        Ok(Call::TimerCancelAsync { elem: SELF })
    }),
    ("wq_init", |c, _| {
        let flags = arg(c, "flags", kfunc_flags)?;
        Ok(Call::WqInit { elem: SELF, flags })
    }),
    ("wq_set_callback", |c, cbs| {
        let cb = arg(c, "a callback", |w| callback(cbs, w))?;
        let flags = arg(c, "flags", kfunc_flags)?;
        Ok(Call::WqSetCallback {
            elem: SELF,
            cb,
            flags,
        })
    }),
    ("wq_start", |c, _| {
        let flags = arg(c, "flags", kfunc_flags)?;
        Ok(Call::WqStart { elem: SELF, flags })
    }),
    ("task_work_schedule_signal", |c, cbs| {
        task_work(c, cbs, TaskWorkMode::Signal)
    }),
    ("task_work_schedule_resume", |c, cbs| {
        task_work(c, cbs, TaskWorkMode::Resume)
    }),
    ("kptr_xchg", |c, _| {
        let new = arg(c, "`new` or `null`", |w| {
            lookup(&[("new", true), ("null", false)], w, "kptr")
        })?;
        Ok(Call::KptrXchg { elem: SELF, new })
    }),
    ("map_update", |c, _| {
        let flags = arg(c, "update flags", |w| {
            lookup(&UPDATE_FLAGS, w, "update flag")
        })?;
        Ok(Call::MapUpdate { elem: SELF, flags })
    }),
    ("map_delete", |_, _| Ok(Call::MapDelete { elem: SELF })),
    ("map_lookup", |_, _| Ok(Call::MapLookup { elem: SELF })),
];

pub(crate) const CLOCKS: [(&str, u64); 6] = [
    ("CLOCK_MONOTONIC", ClockFlags::MONOTONIC),
    ("CLOCK_REALTIME", ClockFlags::REALTIME),
    ("CLOCK_BOOTTIME", ClockFlags::BOOTTIME),
    ("CLOCK_TAI", ClockFlags::TAI),
    ("CLOCK_REALTIME_ALARM", ClockFlags::REALTIME_ALARM),
    ("CLOCK_BOOTTIME_ALARM", ClockFlags::BOOTTIME_ALARM),
];

pub(crate) const TIMER_FLAGS: [(&str, u64); 2] = [
    ("BPF_F_TIMER_ABS", TimerFlags::ABS),
    ("BPF_F_TIMER_CPU_PIN", TimerFlags::CPU_PIN),
];

/// `, <word>`: the next argument of a call.
fn arg<T>(
    c: &mut Cursor<'_>,
    what: &str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, String> {
    c.expect(",")?;
    parse(c.word(what)?)
}

fn kfunc_flags(word: &str) -> Result<KfuncFlags, String> {
    uint(word, "flags").map(KfuncFlags)
}

fn task_work(c: &mut Cursor<'_>, cbs: &[&str], mode: TaskWorkMode) -> Result<Call, String> {
    let cb = arg(c, "a callback", |w| callback(cbs, w))?;
    Ok(Call::TaskWorkSchedule {
        elem: SELF,
        cb,
        mode,
    })
}
