//! Kernel versions as named inputs.
//!
//! Behaviour that changed across kernel versions is never an `if version >= …` in the rules:
//! each change is one named field of [`Features`], documented with the commit that introduced
//! it, and each era is one `Features` value. A kernel to model is a [`Kernel`]: an era plus the
//! build configuration that matters (`CONFIG_PREEMPT_RT`). The kernel oracle fills the same
//! struct by probing a running kernel.
//!
//! Eras are upstream releases. Distribution kernels carry stable backports; where a backport
//! changes an answer, the oracle's probe (not this table) is the authority.

use std::fmt;
use std::str::FromStr;

/// A kernel release the spec models.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Era {
    /// v5.15: first release with `bpf_timer` (b00628b1c7d5, 68134668c17f). Lock-based
    /// `bpf_timer_kern`.
    V5_15,
    /// v6.1 (Debian bookworm): adds referenced kptrs and `bpf_kptr_xchg` (v5.19).
    V6_1,
    /// v6.12 (Debian trixie): `bpf_async_cb`, `bpf_wq`, timer ABS / CPU_PIN flags, deferred
    /// free from callbacks.
    V6_12,
    /// v6.18 (this machine): `bpf_task_work`, PREEMPT_RT rejects `bpf_timer`.
    V6_18,
    /// v7.0: lock-free `bpf_async_cb` (refcount + irq_work), `bpf_timer_cancel_async`,
    /// `KF_IMPLICIT_ARGS`, timers allowed in tracing programs, kfuncs in raw tracepoints.
    V7_0,
    /// v7.2 (Debian's 7.2.13, the VM matrix's 7.x kernel): 16 call frames, sleepable
    /// tracepoints, element free keeps a referenced kptr.
    V7_2,
}

impl Era {
    /// Every modelled era, oldest first.
    pub const ALL: [Era; 6] = [
        Era::V5_15,
        Era::V6_1,
        Era::V6_12,
        Era::V6_18,
        Era::V7_0,
        Era::V7_2,
    ];

    /// The version string used in scenario files and on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            Era::V5_15 => "5.15",
            Era::V6_1 => "6.1",
            Era::V6_12 => "6.12",
            Era::V6_18 => "6.18",
            Era::V7_0 => "7.0",
            Era::V7_2 => "7.2",
        }
    }

    /// The behaviour set of this era.
    pub const fn features(self) -> Features {
        let v5_15 = Features {
            kptr: false,
            timer_abs_flag: false,
            timer_cpu_pin_flag: false,
            wq: false,
            defer_free_in_callback: false,
            task_work: false,
            preempt_rt_rejects_timer: false,
            timer_cancel_async: false,
            tracing_progs_reject_timer: true,
            btf_record: false,
            attach_checks_after_maps: false,
            sleepable_uprobes: false,
            implicit_kfunc_args: false,
            array_lookup_elides_null: false,
            task_kfuncs_in_tracepoints: false,
            kfunc_args_trusted_by_default: false,
            wq_map_field_checks: false,
            task_kfuncs: false,
            eq_branch_on_ranges: false,
            task_kfuncs_in_raw_tracepoints: false,
            might_sleep_helpers: false,
            copy_from_user_for_every_prog_type: false,
            async_cb_sleepable_by_kind: false,
            sixteen_call_frames: false,
            sleepable_tracepoints: false,
            element_free_keeps_kptr: false,
            kptr_untrusted_tag: false,
            map_ops_return_long: false,
            lazy_global_subprogs: false,
            kptr_xchg_checks_btf_first: false,
        };
        match self {
            Era::V5_15 => v5_15,
            Era::V6_1 => Features {
                kptr: true,
                sleepable_uprobes: true,
                ..v5_15
            },
            Era::V6_12 => Features {
                btf_record: true,
                attach_checks_after_maps: true,
                timer_abs_flag: true,
                timer_cpu_pin_flag: true,
                wq: true,
                defer_free_in_callback: true,
                task_kfuncs_in_tracepoints: true,
                task_kfuncs: true,
                eq_branch_on_ranges: true,
                preempt_rt_rejects_timer: true,
                might_sleep_helpers: true,
                kptr_untrusted_tag: true,
                map_ops_return_long: true,
                lazy_global_subprogs: true,
                kptr_xchg_checks_btf_first: true,
                ..Era::V6_1.features()
            },
            Era::V6_18 => Features {
                task_work: true,
                array_lookup_elides_null: true,
                wq_map_field_checks: true,
                copy_from_user_for_every_prog_type: true,
                async_cb_sleepable_by_kind: true,
                ..Era::V6_12.features()
            },
            Era::V7_0 => Features {
                timer_cancel_async: true,
                tracing_progs_reject_timer: false,
                implicit_kfunc_args: true,
                kfunc_args_trusted_by_default: true,
                task_kfuncs_in_raw_tracepoints: true,
                ..Era::V6_18.features()
            },
            Era::V7_2 => Features {
                sixteen_call_frames: true,
                sleepable_tracepoints: true,
                element_free_keeps_kptr: true,
                ..Era::V7_0.features()
            },
        }
    }

    /// The modelled era a running kernel `major.minor` behaves like: the newest era not newer
    /// than it. `None` before v5.15 (no `bpf_timer`).
    pub fn for_version(major: u32, minor: u32) -> Option<Era> {
        Era::ALL.iter().rev().copied().find(|e| {
            let (ma, mi) = e.version();
            (major, minor) >= (ma, mi)
        })
    }

    /// `(major, minor)` of the release.
    pub const fn version(self) -> (u32, u32) {
        match self {
            Era::V5_15 => (5, 15),
            Era::V6_1 => (6, 1),
            Era::V6_12 => (6, 12),
            Era::V6_18 => (6, 18),
            Era::V7_0 => (7, 0),
            Era::V7_2 => (7, 2),
        }
    }
}

impl fmt::Display for Era {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Era {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Era::ALL
            .iter()
            .copied()
            .find(|e| e.name() == s)
            .ok_or_else(|| {
                let known: Vec<_> = Era::ALL.iter().map(|e| e.name()).collect();
                format!("unknown kernel era `{s}` (known: {})", known.join(", "))
            })
    }
}

/// Version-dependent behaviour, one named switch per kernel change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Features {
    /// Referenced kptrs in map values and the `bpf_kptr_xchg` helper (v5.19, "bpf: Allow
    /// storing referenced kptr in map", c0a5a21c25f3).
    pub kptr: bool,
    /// `BPF_F_TIMER_ABS` accepted by `bpf_timer_start` (f71f8530494b, v6.4). Without it any
    /// non-zero flags word is -EINVAL.
    pub timer_abs_flag: bool,
    /// `BPF_F_TIMER_CPU_PIN` accepted by `bpf_timer_start` (d6247ecb6c1e, v6.7).
    pub timer_cpu_pin_flag: bool,
    /// `bpf_wq` and its kfuncs `bpf_wq_init` / `bpf_wq_set_callback_impl` / `bpf_wq_start`
    /// (246331e3f1ea, 81f1d7a583fa, v6.10).
    pub wq: bool,
    /// `bpf_timer_cancel_and_free` called from inside a timer callback defers the cancel to a
    /// kworker ("bpf: Defer work in bpf_timer_cancel_and_free", a6fcd19d7eac, CVE-2024-41045,
    /// v6.10). Before it, a callback that re-arms its own timer and then frees its element
    /// left a queued hrtimer on freed memory.
    pub defer_free_in_callback: bool,
    /// `bpf_task_work` and `bpf_task_work_schedule_{signal,resume}` (Sep 2025, v6.18).
    pub task_work: bool,
    /// With `CONFIG_PREEMPT_RT` the verifier rejects `bpf_timer` ("bpf: Reject bpf_timer for
    /// PREEMPT_RT", e25ddfb388c8, v6.18; in 6.12.y as a stable backport: Debian's
    /// 6.12.117-rt rejects it, observed in the VM matrix).
    pub preempt_rt_rejects_timer: bool,
    /// The `bpf_timer_cancel_async` kfunc (a7e172aa4ca2, v7.0).
    pub timer_cancel_async: bool,
    /// `check_map_prog_compatibility` refuses timer maps in kprobe / tracepoint / perf_event /
    /// raw_tracepoint programs ("tracing progs cannot use bpf_timer yet", since v5.15), and
    /// wq maps too once `bpf_wq` exists ("tracing progs cannot use bpf_wq yet", v6.10); both
    /// checks are gone in v7.0 ("bpf: Enable bpf_timer and bpf_wq in any context",
    /// 1bfbc267ec91).
    pub tracing_progs_reject_timer: bool,
    /// A map value's special fields are parsed into one `btf_record` ("bpf: Refactor kptr_off_tab
    /// into btf_record", aa3496accc41, v6.2): a duplicate timer / wq / task_work / spin lock
    /// makes the whole record an error, so no special field of the map counts. Before, each
    /// kind was looked up on its own (`btf_find_timer`: -E2BIG) and only that kind was
    /// ignored. Observed on 6.18 by the kernel oracle and on 6.1.0-56 in the VM matrix.
    ///
    /// The same series ("bpf: Consolidate spin_lock, timer management into btf_record",
    /// db559117828d, v6.2) made `map_check_btf` check the record's fields together: a value
    /// with any special field is -EACCES when read-only or write-only to programs, then each
    /// kind's map types are checked (-EOPNOTSUPP). Before, each kind had its own block, in
    /// the order spin lock, timer, kptrs: a spin lock or a timer refuses only
    /// `BPF_F_RDONLY_PROG` (-EACCES), a spin lock outside hash / array maps is -ENOTSUPP, and
    /// kptrs refuse both flags and live in hash, LRU hash, array and percpu array maps only
    /// (the percpu array since 6df4ea1ff0ff, v6.1; percpu hash and local-storage maps came
    /// later). Observed on 6.1.0-56 in the VM matrix.
    pub btf_record: bool,
    /// `bpf_check` resolves the map fds (-EBADF, `check_map_prog_compatibility`) before
    /// `check_attach_btf_id` (the sleepable flag), no longer after: "bpf: check
    /// changes_pkt_data property for extension programs" (81f6d0530ba0, v6.13; in 6.12.y by
    /// the stable backport of April 2025, which the 6.12 era's Debian kernels carry).
    /// Observed on 6.18 by the kernel oracle; 6.1 and 6.12 await the VM matrix.
    pub attach_checks_after_maps: bool,
    /// `BPF_PROG_TYPE_KPROBE` may be loaded sleepable (for uprobes; "Only fentry/fexit/
    /// fmod_ret, lsm, iter and uprobe programs can be sleepable", v6.0). Found by the kernel
    /// oracle on 6.18.
    pub sleepable_uprobes: bool,
    /// kfuncs with a hidden `struct bpf_prog_aux *` argument are called by their plain names,
    /// without it (`KF_IMPLICIT_ARGS`, b236134f70ba, v7.0): `bpf_wq_set_callback`,
    /// `bpf_task_work_schedule_{signal,resume}`. Before, programs call the `_impl` forms and
    /// pass the hidden argument (`aux__ign`, then `aux__prog`), which the verifier ignores.
    pub implicit_kfunc_args: bool,
    /// `bpf_map_lookup_elem` on an array with a constant key below `max_entries` gives a
    /// pointer that is not NULL (`can_elide_value_nullness`, v6.14). Observed on 6.18 (the
    /// selftest mirror's findings).
    pub array_lookup_elides_null: bool,
    /// `bpf_task_from_pid` / `bpf_task_release` (the generic kfunc set) may be called from
    /// tracepoint and perf_event programs (v6.12; before, the set was not registered for
    /// them).
    pub task_kfuncs_in_tracepoints: bool,
    /// Every kfunc's pointer arguments are trusted unless marked otherwise (`KF_TRUSTED_ARGS`
    /// by default, v7.0): a maybe-NULL argument is refused before its kind is looked at.
    pub kfunc_args_trusted_by_default: bool,
    /// `process_wq_func` checks a `bpf_wq` argument's map like the timer's
    /// (`check_map_field_pointer`: BTF, then "map '%s' has no valid bpf_wq"): "bpf: Use
    /// check_map_field_pointer for wq" (Fixes d940c9b94d7e; in 6.18.y as a stable backport,
    /// observed on 6.18.44). Before (6.10 to 6.17; Debian's 6.12.117 observed in the VM
    /// matrix) it compares the offset with the record's `wq_off` only: a map whose value has
    /// other special fields but no wq gives "off %lld doesn't point to 'struct bpf_wq' that is
    /// at -22", and a map without a BTF record makes the verifier read through NULL (a kernel
    /// oops, seen in the 6.12 guest).
    pub wq_map_field_checks: bool,
    /// `bpf_task_from_pid` and `bpf_task_release` ("bpf: Add kfuncs for storing struct
    /// task_struct * as a kptr", 90660309b0c7, and 3f0e6f2b41d3, v6.2): Debian's 6.1.0-56
    /// rejects them as unknown, observed in the VM matrix.
    pub task_kfuncs: bool,
    /// `is_branch_taken` decides `==` / `!=` against a constant from the register's bounds
    /// as well (a value outside them), not only when the register is a constant ("bpf:
    /// improve JEQ/JNE branch taken logic", v6.7). Before, the other side is explored: 6.1.0-56
    /// walks `if r0 == 8` with r0 in [0, 7] (observed in the VM matrix).
    pub eq_branch_on_ranges: bool,
    /// `bpf_task_from_pid` / `bpf_task_release` may be called from raw_tracepoint programs:
    /// "bpf: allow calling kfuncs from raw_tp programs" (342297d51146, v7.0; the raw
    /// tracepoint program type now maps to the tracing kfunc hook, and "selftests: bpf: fix
    /// tests with raw_tp calling kfuncs", 83dd46ecb68e, flips `task_kfunc_raw_tp` to a
    /// success). Debian's 7.2.13 loads verifier_kfunc_prog_types.c's `task_kfunc_raw_tp`
    /// program that 6.18 refuses (observed in the VM matrix).
    pub task_kfuncs_in_raw_tracepoints: bool,
    /// Helpers say whether they may sleep (`bpf_func_proto.might_sleep`) and
    /// `check_helper_call` refuses such a call where the context may not ("helper call might
    /// sleep in a non-sleepable prog"): "bpf: Introduce might_sleep field in bpf_func_proto"
    /// (01685c5bddaa, v6.2). Before, `bpf_tracing_func_proto` offers `bpf_copy_from_user` to
    /// sleepable programs only (elsewhere "unknown func"), and no call's context is
    /// checked; every context of a sleepable program counts as sleepable
    /// then (see [`Features::async_cb_sleepable_by_kind`]), so the check could not fire.
    pub might_sleep_helpers: bool,
    /// `bpf_base_func_proto` offers `bpf_copy_from_user` (for `CAP_PERFMON`) to every program
    /// type: "bpf: Allow some trace helpers for all prog types" (ee971630f20f, v6.16; observed
    /// on 6.18: a sched_cls program gets "helper call might sleep"). Before, only the types
    /// whose protos fall back to `bpf_tracing_func_proto` have it
    /// ([`crate::ProgType::has_tracing_helpers`]); Debian's 6.12.117 refuses it to sched_cls, xdp and socket_filter programs with
    /// "program of this type cannot use helper" (observed in the VM matrix).
    pub copy_from_user_for_every_prog_type: bool,
    /// An async callback may sleep by its kind alone (`is_async_cb_sleepable`: a timer
    /// callback never, a wq or task_work callback always): "bpf: Fix sleepable context for
    /// async callbacks" (469d638d1520, v6.19, in 6.18.y). Before, `in_sleepable` also holds
    /// whenever the program is sleepable, so a sleepable program's timer callback may call
    /// `bpf_copy_from_user` (Debian's 6.12.117 and 6.1.0-56 load it, observed in the VM
    /// matrix).
    pub async_cb_sleepable_by_kind: bool,
    /// `MAX_CALL_FRAMES` is 16, not 8 (`check_func_call` and `check_max_stack_depth_subprog`
    /// refuse the 17th frame: "the call stack of 17 frames is too deep"). Observed on
    /// Debian's 7.2.13 in the VM matrix (a chain of 16 frames loads, 17 do not; 6.18 refuses
    /// the 9th): "bpf: Raise maximum call chain depth to 16 frames" (2148794eeaf2, v7.2).
    pub sixteen_call_frames: bool,
    /// `can_be_sleepable` also admits `BPF_PROG_TYPE_TRACEPOINT` and
    /// `BPF_PROG_TYPE_RAW_TRACEPOINT` (sleepable tracepoints; attaching checks that the
    /// tracepoint is a faultable one), and its refusal reads "Program of this type cannot be
    /// sleepable". Observed on Debian's 7.2.13 in the VM matrix (perf_event and xdp are still
    /// refused). "bpf: Verifier support for sleepable tracepoint programs" (8cfb77d30920,
    /// v7.2), with "bpf: Add sleepable support for classic tracepoint programs"
    /// (57918341dd19) and "bpf: Add sleepable support for raw tracepoint programs"
    /// (439ebd5b5708) in the same series (merge e85115ff37f2). Stable 7.1.y took the
    /// verifier patch (d8ff437f34e3, linux-stable-rc's linux-7.1.y, July 2026): Debian's
    /// 7.1.13 loads them too, 7.0.13 does not (the VM matrix; the oracle probes it).
    pub sleepable_tracepoints: bool,
    /// An element update, delete or eviction no longer releases a referenced kptr
    /// (`bpf_obj_cancel_fields` in place of `bpf_obj_free_fields`): it stays in the element's
    /// memory until that memory is freed for good (the allocator's destructor, or the map's
    /// free); timers, wqs and task_works are still cancelled. "bpf: Cancel special fields on
    /// map value recycle" (a3a81d247651, v7.2, merge 'fix-kptr-dtor-deadlock', with the
    /// selftest "Exercise kptr map update lifetime"; CVE-2026-74314, in stable from 7.1.5).
    /// Observed in the VM matrix on Debian's 7.2.13 and 7.1.13 (not on 7.0.13): a user or
    /// program update of an array element keeps its kptr, and a hash element deleted then
    /// re-inserted (same or another key: the allocator hands the same memory back) has its old
    /// kptr; the oracle probes it (the function in the kernel's BTF). Before (v5.19 to 7.1.4)
    /// the kptr was released at once.
    pub element_free_keeps_kptr: bool,
    /// The BTF type tag `kptr` marks a referenced kptr and `kptr_untrusted` an unreferenced
    /// one ("bpf: Rename __kptr_ref -> __kptr and __kptr -> __kptr_untrusted", 03b77e17aeb2,
    /// v6.4). Before, `btf_find_kptr` knows `kptr` as the unreferenced kind and `kptr_ref` as
    /// the referenced one, and any other tag fails `btf_parse_kptrs` (-EINVAL): the map is
    /// created with no kptr at all, its kptr fields plain bytes. Observed on 6.1.0-56 in the
    /// VM matrix (a `kptr_untrusted` field made a write-only-to-programs map creatable).
    pub kptr_untrusted_tag: bool,
    /// `bpf_map_ops`' update / delete / push / pop / peek return `long` ("bpf: return long
    /// from bpf_map_ops funcs", d7ba4cc900bf, v6.4). Before they return `int`, and
    /// `do_misc_fixups` (JIT on, 64-bit) turns a program's `bpf_map_update_elem` /
    /// `bpf_map_delete_elem` into a direct call of the map's op: the program sees the errno
    /// zero-extended from 32 bits (-EINVAL as 4294967274). A call site the verifier reached
    /// with two different maps (`record_func_map`: the map pointer is poisoned) keeps the
    /// generic helper, which sign-extends. Observed on 6.1.0-56 in the VM matrix.
    pub map_ops_return_long: bool,
    /// Global subprograms are verified after `main`, and only those it calls ("bpf: Validate
    /// global subprogs lazily", 2afae08c9dcb, v6.8). Before, `bpf_check` runs
    /// `do_check_subprogs` first: every global subprogram, in index order, then
    /// `do_check_main`; so a fault in a global subprogram is reported before one in `main`.
    /// Observed on 6.1.0-56 in the VM matrix ("Validating cb1() func#1..." then "R3
    /// !read_ok", where 6.18 reports main's "callback function not static").
    pub lazy_global_subprogs: bool,
    /// `process_kptr_func` checks that the map has BTF before that the destination is at a
    /// constant offset ("bpf: Support bpf_kptr_xchg into local kptr", b0966c724584, v6.12).
    /// Before, the constant offset first (6.1, as `process_timer_func`).
    pub kptr_xchg_checks_btf_first: bool,
}

/// The kernel a scenario runs on: an era and the build options that change behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Kernel {
    pub era: Era,
    pub features: Features,
    /// `CONFIG_PREEMPT_RT=y`.
    pub preempt_rt: bool,
}

impl Kernel {
    pub const fn new(era: Era) -> Kernel {
        Kernel {
            era,
            features: era.features(),
            preempt_rt: false,
        }
    }

    pub const fn preempt_rt(self) -> Kernel {
        Kernel {
            preempt_rt: true,
            ..self
        }
    }
}

impl fmt::Display for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}",
            self.era,
            if self.preempt_rt { "-rt" } else { "" }
        )
    }
}
