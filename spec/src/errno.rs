//! Linux errno values, as a BPF program or a bpf(2) caller sees them (negated in R0 / `-1` +
//! `errno` from the syscall). Values are the x86_64 / generic `asm-generic/errno*.h` numbers.

use std::fmt;
use std::str::FromStr;

macro_rules! errnos {
    ($($name:ident = $val:literal, $doc:literal;)*) => {
        /// An errno the kernel returns. `Errno::EINVAL as i64` is the positive value; helpers
        /// return it negated.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize))]
        pub enum Errno {
            $(#[doc = $doc] $name = $val,)*
        }

        impl Errno {
            /// Every errno the spec can produce, for tables and generators.
            pub const ALL: &'static [Errno] = &[$(Errno::$name,)*];

            /// The symbolic name, e.g. `"EINVAL"`.
            pub const fn name(self) -> &'static str {
                match self { $(Errno::$name => stringify!($name),)* }
            }

            /// The errno for a positive value, if the spec knows it.
            pub fn from_value(v: i64) -> Option<Errno> {
                match v { $($val => Some(Errno::$name),)* _ => None }
            }
        }
    };
}

errnos! {
    EPERM = 1, "Operation not permitted: e.g. async init on a map whose usercnt is 0.";
    ENOENT = 2, "No such entry: missing hash key, dead object id, prog refcnt already 0.";
    E2BIG = 7, "Too big: array key out of range, hash map full, duplicate unique BTF field.";
    EBADF = 9, "Bad file descriptor: no user fd left for the object.";
    ENOMEM = 12, "Out of memory (allocation failure; never produced deterministically).";
    EACCES = 13, "Permission denied: RDONLY_PROG/WRONLY_PROG map with special fields.";
    EBUSY = 16, "Busy: async object already initialised, task_work already pending.";
    EEXIST = 17, "Exists: BPF_NOEXIST on an existing key, pin path taken.";
    EINVAL = 22, "Invalid argument: not initialised, no callback, bad flags or clock.";
    EDEADLK = 35, "Deadlock avoided: cancel of the timer whose callback is running.";
    EOPNOTSUPP = 95, "Not supported: special field in a map type that cannot hold it, NMI.";
    ECANCELED = 125, "Cancelled asynchronously (bpf_timer_cancel_async, deferred).";
    ENOTSUPP = 524, "Kernel-internal ENOTSUPP (e.g. BPF_PROG_TEST_RUN on a type without it).";
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Errno {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Errno::ALL
            .iter()
            .copied()
            .find(|e| e.name() == s)
            .ok_or_else(|| format!("unknown errno name `{s}`"))
    }
}
