//! The syntax tree of a scenario file: what each line says, with names not yet resolved
//! (callback names inside a program body excepted: they are local to the block).

use crate::eras::EraSet;
use crate::model::Header;
use spec::{Call, CbIdx, Errno, Key, MapSpec, Nanos, ObjRef, Op, ProgType, Ret, UpdateFlags};

/// A parsed file.
#[derive(Debug)]
pub struct File<'a> {
    pub header: Header,
    pub items: Vec<Item<'a>>,
}

/// A declaration or a step, with its expectation.
#[derive(Debug)]
pub struct Item<'a> {
    pub line: usize,
    /// The statement as written, without its expectation.
    pub text: &'a str,
    pub kind: ItemKind<'a>,
    pub expect: SynExpect<'a>,
    /// `on <eras> -> <expectation>` lines, in file order.
    pub overrides: Vec<SynOverride<'a>>,
}

#[derive(Debug)]
pub enum ItemKind<'a> {
    Map(MapDecl<'a>),
    Prog(ProgDecl<'a>),
    Step(SynStep<'a>),
}

/// `map <name> <type> ...`; `spec.inner` is left `None` until `inner` is resolved.
#[derive(Debug)]
pub struct MapDecl<'a> {
    pub name: &'a str,
    pub spec: MapSpec,
    pub inner: Option<&'a str>,
    /// Created with key / value BTF: always in scenario files; `nobtf` in verifier case files.
    pub btf: bool,
}

/// `prog <name> <type> ...` and its block.
#[derive(Debug)]
pub struct ProgDecl<'a> {
    pub name: &'a str,
    pub ty: ProgType,
    pub sleepable: bool,
    pub gpl: bool,
    /// `on <map>`: the self map of a program no `run` step names.
    pub on: Option<SynMap<'a>>,
    pub main: Vec<SynStmt<'a>>,
    pub callbacks: Vec<CallbackDecl<'a>>,
}

/// `callback <name>:` and its body.
#[derive(Debug)]
pub struct CallbackDecl<'a> {
    pub line: usize,
    pub name: &'a str,
    pub body: Vec<SynStmt<'a>>,
}

/// A statement whose call acts on `Target::SelfElem` until `target` is resolved.
#[derive(Debug)]
pub struct SynStmt<'a> {
    pub line: usize,
    pub guard: Option<(CbIdx, u8)>,
    pub call: Call,
    pub target: SynTarget<'a>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SynTarget<'a> {
    SelfElem,
    Elem(SynElem<'a>),
}

/// `map[key]`, or `map[inner_at][key]`: element `key` of the inner map at `map[inner_at]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SynElem<'a> {
    pub map: &'a str,
    pub inner_at: Option<Key>,
    pub key: Key,
}

impl<'a> SynElem<'a> {
    /// The map the element is in.
    pub fn map_part(&self) -> SynMap<'a> {
        SynMap {
            map: self.map,
            inner_at: self.inner_at,
        }
    }

    /// The map part as written: `map`, or `outer[okey]`.
    pub fn map_text(&self) -> String {
        self.map_part().text()
    }
}

/// A map as written: `map`, or `outer[okey]` (the inner map at `okey`).
#[derive(Clone, Copy, Debug)]
pub struct SynMap<'a> {
    pub map: &'a str,
    pub inner_at: Option<Key>,
}

impl SynMap<'_> {
    pub fn text(&self) -> String {
        match self.inner_at {
            None => self.map.to_owned(),
            Some(k) => format!("{}[{}]", self.map, k.0),
        }
    }
}

#[derive(Debug)]
pub enum SynStep<'a> {
    Run {
        prog: &'a str,
        on: SynElem<'a>,
    },
    Update {
        elem: SynElem<'a>,
        flags: UpdateFlags,
    },
    UpdateInner {
        outer: &'a str,
        key: Key,
        inner: &'a str,
        flags: UpdateFlags,
    },
    Delete(SynElem<'a>),
    Lookup(SynElem<'a>),
    /// `close`, `pin`, `unpin`, `get_fd`: the op, given the object.
    Handle {
        op: fn(ObjRef) -> Op,
        name: &'a str,
    },
    Wait(Nanos),
    Runs(&'a str),
    Alive(&'a str),
}

/// An expectation as written.
#[derive(Debug)]
pub enum SynExpect<'a> {
    /// `0` (`None`) or `-E…`: map creation, program load, user syscalls, a failed `run`.
    Status(Option<Errno>),
    /// `reject <reason>`: the name of a [`spec::RejectReason`].
    Reject(&'static str),
    Ran {
        rets: Vec<Ret>,
        callbacks: Vec<SynCallbackRun<'a>>,
    },
    Fired(Vec<SynCallbackRun<'a>>),
    Count(u64),
    Alive(bool),
}

/// `<cbname>(<r>, ...)`.
#[derive(Debug)]
pub struct SynCallbackRun<'a> {
    pub name: &'a str,
    pub rets: Vec<Ret>,
}

/// `on <eras> -> <expectation>`.
#[derive(Debug)]
pub struct SynOverride<'a> {
    pub line: usize,
    pub eras: EraSet,
    pub expect: SynExpect<'a>,
}
