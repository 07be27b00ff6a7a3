//! The host kernel: whether bpf() can be used at all, which spec era it behaves as (probed,
//! not assumed), and what every case on it shares: helper and kfunc ids from vmlinux BTF, the
//! BTF of programs and map values, and a private bpffs for pins.

use crate::sys::{self, BTF_KIND_FUNC, BTF_KIND_STRUCT, BtfBuilder, VmlinuxBtf};
use spec::prog::{Helper, Kfunc as ProgKfunc};
use spec::verify::Verdict;
use spec::{Era, Features, Field, Kernel, ValueLayout, layout};
use std::collections::HashMap;
use std::fmt;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Why the kernel cannot serve as oracle here. Tests print it and report SKIPPED.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unavailable(pub String);

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A kfunc as this kernel names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kfunc {
    pub btf_id: u32,
    /// The `_impl` form with a trailing hidden `aux__prog` argument the caller passes as
    /// NULL (6.x); `false` for `KF_IMPLICIT_ARGS` kfuncs (7.0), which take no such argument.
    pub aux_arg: bool,
}

/// The kfuncs the code generator calls, `None` when this kernel lacks them.
#[derive(Clone, Copy, Debug, Default)]
pub struct Kfuncs {
    pub wq_init: Option<Kfunc>,
    pub wq_set_callback: Option<Kfunc>,
    pub wq_start: Option<Kfunc>,
    pub task_work_signal: Option<Kfunc>,
    pub task_work_resume: Option<Kfunc>,
    pub timer_cancel_async: Option<Kfunc>,
    /// Acquires the object a `kptr_xchg(.., new)` stores.
    pub task_from_pid: Option<Kfunc>,
    /// Releases the object `kptr_xchg` hands back.
    pub task_release: Option<Kfunc>,
}

/// The ids of the program model's functions ([`spec::prog::Helper`], [`spec::prog::Kfunc`])
/// in this kernel, from its BTF: a helper's `enum bpf_func_id` value (`BPF_FUNC_<name>`), a
/// kfunc's `BTF_KIND_FUNC` id. `None` where this kernel lacks the function.
#[derive(Clone, Copy, Debug, Default)]
pub struct FuncIds {
    helpers: [Option<i32>; Helper::ALL.len()],
    kfuncs: [Option<u32>; ProgKfunc::ALL.len()],
}

impl FuncIds {
    fn probe(vm: &VmlinuxBtf) -> FuncIds {
        let mut ids = FuncIds::default();
        for (slot, h) in ids.helpers.iter_mut().zip(Helper::ALL) {
            let name = h.kernel_name();
            let member = format!("BPF_FUNC_{}", name.strip_prefix("bpf_").unwrap_or(name));
            *slot = vm
                .enum_value("bpf_func_id", &member)
                .and_then(|v| i32::try_from(v).ok());
        }
        for (slot, k) in ids.kfuncs.iter_mut().zip(ProgKfunc::ALL) {
            *slot = vm.find(k.kernel_name(), BTF_KIND_FUNC);
        }
        ids
    }

    /// The helper's `enum bpf_func_id` value.
    pub fn helper(&self, h: Helper) -> Option<i32> {
        let i = Helper::ALL.iter().position(|&x| x == h)?;
        self.helpers[i]
    }

    /// The kfunc's vmlinux BTF id.
    pub fn kfunc(&self, k: ProgKfunc) -> Option<u32> {
        let i = ProgKfunc::ALL.iter().position(|&x| x == k)?;
        self.kfuncs[i]
    }
}

/// The BTF of a verifier case's program: one `int name(void)` `BTF_KIND_FUNC` per
/// subprogram, in order.
pub struct FuncBtf {
    pub fd: OwnedFd,
    /// The type id of each subprogram's function.
    pub funcs: Vec<u32>,
}

/// The shape of a program's BTF: each subprogram's name and whether it is global.
type FuncShape = Vec<(String, bool)>;

/// Program BTFs kept by shape (names and linkages); past this many the cache starts over, so
/// that arbitrary names cannot hold an unbounded number of BTF fds.
const FUNC_BTF_CACHE: usize = 256;

/// What the probe found, for the report.
#[derive(Clone, Debug)]
pub struct Detection {
    /// `uname -r`.
    pub release: String,
    /// The era the version selects.
    pub era: Era,
    /// The era's features, overridden where the kernel's BTF or a probe load says otherwise.
    pub features: Features,
    /// `(feature, era says, the kernel says)` wherever they differ (backports).
    pub overrides: Vec<(&'static str, bool, bool)>,
    pub preempt_rt: bool,
}

impl Detection {
    /// The features the kernel has otherwise than its era says (backports), by name.
    pub fn backports(&self) -> String {
        let names: Vec<_> = self.overrides.iter().map(|o| o.0).collect();
        names.join(", ")
    }
}

impl fmt::Display for Detection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let f_ = &self.features;
        let yn = |b: bool| if b { "yes" } else { "no" };
        write!(
            f,
            "Linux {} -> era {}{} (BTF: kptr_xchg {}, bpf_wq {}, bpf_task_work {}, \
             bpf_timer_cancel_async {})",
            self.release,
            self.era,
            if self.preempt_rt { " PREEMPT_RT" } else { "" },
            yn(f_.kptr),
            yn(f_.wq),
            yn(f_.task_work),
            yn(f_.timer_cancel_async),
        )?;
        for (name, era, kernel) in &self.overrides {
            write!(
                f,
                "; {name}: era says {}, kernel says {}",
                yn(*era),
                yn(*kernel)
            )?;
        }
        Ok(())
    }
}

/// BTF of a map value, loaded once per layout.
pub struct ValueBtf {
    pub fd: OwnedFd,
    pub key: u32,
    pub value: u32,
}

/// A map of a verifier case as the case declares it (its inner-map template's declaration
/// in place of the template's index), and which of the case's maps so declared it is: two
/// equal declarations in one case are two maps.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MapKey {
    pub decl: spec::prog::MapDecl,
    pub inner: Option<Box<MapKey>>,
    pub nth: usize,
}

/// Maps [`Host::cached_map`] keeps.
const MAP_CACHE: usize = 256;

/// The kernel, probed once and shared by every case.
pub struct Host {
    pub detection: Detection,
    pub kernel: Kernel,
    pub kfuncs: Kfuncs,
    /// Helper and kfunc ids of the program model (verifier cases).
    pub funcs: FuncIds,
    /// Possible CPUs (per-CPU map values are this many copies).
    pub ncpus: usize,
    prog_btf: ProgBtf,
    values: Mutex<HashMap<ValueLayout, Arc<ValueBtf>>>,
    func_btfs: Mutex<HashMap<FuncShape, Arc<FuncBtf>>>,
    maps: Mutex<HashMap<MapKey, Result<Arc<OwnedFd>, Verdict>>>,
    bpffs: Mutex<Option<String>>,
    cases: AtomicU64,
}

/// The BTF every program is loaded with: `main` and the callback functions.
struct ProgBtf {
    fd: OwnedFd,
    main: u32,
    callbacks: Vec<u32>,
}

/// Callback subprograms one program may have.
pub const MAX_SUBPROGS: usize = 64;

impl Host {
    /// Probe the running kernel: can bpf() be used, which era is it, which kfuncs exist.
    pub fn probe() -> Result<Host, Unavailable> {
        let release = sys::kernel_release();
        let (major, minor) = parse_version(&release)
            .ok_or_else(|| Unavailable(format!("cannot parse kernel release `{release}`")))?;
        let era = Era::for_version(major, minor).ok_or_else(|| {
            Unavailable(format!(
                "Linux {release} predates bpf_timer (5.15): nothing to compare"
            ))
        })?;
        check_bpf_access()?;
        let vm = VmlinuxBtf::load().map_err(|e| {
            Unavailable(format!(
                "no kernel BTF (/sys/kernel/btf/vmlinux: {e}): kfuncs and special fields \
                 cannot be resolved"
            ))
        })?;
        let kfunc = |names: &[&str]| {
            names.iter().find_map(|n| {
                vm.find(n, BTF_KIND_FUNC).map(|id| Kfunc {
                    btf_id: id,
                    aux_arg: n.ends_with("_impl"),
                })
            })
        };
        // 7.0 (KF_IMPLICIT_ARGS) exposes the plain name; 6.x only the `_impl` form.
        let kfuncs = Kfuncs {
            wq_init: kfunc(&["bpf_wq_init"]),
            wq_set_callback: kfunc(&["bpf_wq_set_callback", "bpf_wq_set_callback_impl"]),
            wq_start: kfunc(&["bpf_wq_start"]),
            task_work_signal: kfunc(&[
                "bpf_task_work_schedule_signal",
                "bpf_task_work_schedule_signal_impl",
            ]),
            task_work_resume: kfunc(&[
                "bpf_task_work_schedule_resume",
                "bpf_task_work_schedule_resume_impl",
            ]),
            timer_cancel_async: kfunc(&["bpf_timer_cancel_async"]),
            task_from_pid: kfunc(&["bpf_task_from_pid"]),
            task_release: kfunc(&["bpf_task_release"]),
        };
        let kptr_xchg = vm.enum_value("bpf_func_id", "BPF_FUNC_kptr_xchg").is_some();
        let era_f = era.features();
        let mut features = era_f;
        let mut overrides = Vec::new();
        let mut probe = |name: &'static str, field: &mut bool, kernel: bool| {
            if *field != kernel {
                overrides.push((name, *field, kernel));
                *field = kernel;
            }
        };
        probe("kptr", &mut features.kptr, kptr_xchg);
        probe("wq", &mut features.wq, kfuncs.wq_init.is_some());
        probe(
            "task_work",
            &mut features.task_work,
            kfuncs.task_work_signal.is_some(),
        );
        probe(
            "timer_cancel_async",
            &mut features.timer_cancel_async,
            kfuncs.timer_cancel_async.is_some(),
        );
        // Two 7.2 changes that stable 7.1.y took (Debian's 7.1.13 has both): the function
        // `bpf_obj_cancel_fields`, which a3a81d247651 ("bpf: Cancel special fields on map value
        // recycle") adds, and a sleepable tracepoint program that loads.
        probe(
            "element_free_keeps_kptr",
            &mut features.element_free_keeps_kptr,
            vm.find("bpf_obj_cancel_fields", BTF_KIND_FUNC).is_some(),
        );
        probe(
            "sleepable_tracepoints",
            &mut features.sleepable_tracepoints,
            sleepable_tracepoint_loads(),
        );
        let preempt_rt =
            std::fs::read_to_string("/sys/kernel/realtime").is_ok_and(|s| s.trim() == "1");
        // The spec's layout uses the UAPI sizes; a kernel whose BTF says otherwise cannot be
        // compared with it.
        for f in [Field::Timer, Field::Wq, Field::TaskWork, Field::SpinLock] {
            let btf = vm
                .find(f.kernel_name(), BTF_KIND_STRUCT)
                .and_then(|id| vm.size(id));
            if let Some(n) = btf.filter(|&n| n != u64::from(layout::size(f))) {
                return Err(Unavailable(format!(
                    "struct {} is {n} bytes here, the UAPI (and the spec) say {}",
                    f.kernel_name(),
                    layout::size(f)
                )));
            }
        }
        let kernel = Kernel {
            era,
            features,
            preempt_rt,
        };
        Ok(Host {
            detection: Detection {
                release,
                era,
                features,
                overrides,
                preempt_rt,
            },
            kernel,
            kfuncs,
            funcs: FuncIds::probe(&vm),
            ncpus: possible_cpus(),
            prog_btf: ProgBtf::load().map_err(|e| Unavailable(format!("BPF_BTF_LOAD: {e}")))?,
            values: Mutex::new(HashMap::new()),
            func_btfs: Mutex::new(HashMap::new()),
            maps: Mutex::new(HashMap::new()),
            bpffs: Mutex::new(None),
            cases: AtomicU64::new(0),
        })
    }

    /// The kernel the test data's per-era answers describe: this one's era with its upstream
    /// features, without the backports the probe found ([`Detection::overrides`]).
    pub fn upstream(&self) -> Kernel {
        Kernel {
            features: self.kernel.era.features(),
            ..self.kernel
        }
    }

    /// BTF fd and function type ids for a program's `func_info`.
    pub fn prog_btf(&self) -> (RawFd, u32, &[u32]) {
        let b = &self.prog_btf;
        (b.fd.as_raw_fd(), b.main, &b.callbacks)
    }

    /// The BTF of a program whose subprograms are `(name, global)`, in order: one `int
    /// name(void)` function each, global or static (loaded on first use of the shape). The
    /// names must be C identifiers (the kernel's BTF check refuses others).
    pub fn func_btf(&self, subprogs: &[(&str, bool)]) -> Result<Arc<FuncBtf>, sys::Sys> {
        let key: FuncShape = subprogs.iter().map(|&(n, g)| (n.to_owned(), g)).collect();
        let mut cache = self.func_btfs.lock().expect("func BTF cache");
        if let Some(b) = cache.get(&key) {
            return Ok(Arc::clone(b));
        }
        let mut b = BtfBuilder::new();
        let int = b.int("int", 4, true);
        let proto = b.func_proto(int);
        let funcs = subprogs
            .iter()
            .map(|&(name, global)| b.func(name, proto, global))
            .collect();
        let btf = Arc::new(FuncBtf {
            fd: b.load()?,
            funcs,
        });
        if cache.len() >= FUNC_BTF_CACHE {
            cache.clear();
        }
        cache.insert(key, Arc::clone(&btf));
        Ok(btf)
    }

    /// The map of a verifier case declared as `key` says, created by `create` on first use
    /// (its failure kept as well). At most `MAP_CACHE` are kept.
    pub fn cached_map(
        &self,
        key: MapKey,
        create: impl FnOnce() -> Result<OwnedFd, Verdict>,
    ) -> Result<Arc<OwnedFd>, Verdict> {
        let mut cache = self.maps.lock().expect("map cache");
        if let Some(m) = cache.get(&key) {
            return m.clone();
        }
        let m = create().map(Arc::new);
        if cache.len() >= MAP_CACHE {
            cache.clear();
        }
        cache.insert(key, m.clone());
        m
    }

    /// The BTF of a map value with these special fields (loaded on first use).
    pub fn value_btf(&self, v: &ValueLayout) -> Result<Arc<ValueBtf>, sys::Sys> {
        let mut cache = self.values.lock().expect("value BTF cache");
        if let Some(b) = cache.get(v) {
            return Ok(Arc::clone(b));
        }
        let b = Arc::new(self.build_value_btf(v)?);
        cache.insert(*v, Arc::clone(&b));
        Ok(b)
    }

    /// `struct value { u64 data; <special fields at their canonical offsets> }`: each
    /// special struct is recognised by the kernel by name and size; kptrs point to
    /// `struct task_struct` (by name: the kernel resolves it in vmlinux BTF).
    fn build_value_btf(&self, v: &ValueLayout) -> Result<ValueBtf, sys::Sys> {
        let mut b = BtfBuilder::new();
        let u32_ = b.int("unsigned int", 4, false);
        let u64_ = b.int("unsigned long long", 8, false);
        // An empty `struct task_struct`: the kernel finds the real one by name.
        let task = b.structure("task_struct", 0, &[]);
        let mut fields: Vec<(String, u32, u32)> = vec![("data".into(), u64_, 0)];
        let mut types = std::collections::HashMap::new();
        for (n, (off, f)) in layout::fields(v).into_iter().enumerate() {
            let size = layout::size(f);
            let ty = *types.entry(f).or_insert_with(|| match f {
                Field::Kptr | Field::KptrUntrusted => {
                    let tagged = b.type_tag(f.kernel_name(), task);
                    b.ptr(tagged)
                }
                _ if size.is_multiple_of(8) => {
                    let arr = b.array(u64_, u32_, size / 8);
                    b.structure(f.kernel_name(), size, &[("__opaque", arr, 0)])
                }
                _ => b.structure(f.kernel_name(), size, &[("val", u32_, 0)]),
            });
            fields.push((format!("{}{n}", f.kernel_name()), ty, off));
        }
        // The kernel wants members in offset order.
        fields.sort_by_key(|f| f.2);
        let refs: Vec<(&str, u32, u32)> = fields
            .iter()
            .map(|(n, t, o)| (n.as_str(), *t, *o))
            .collect();
        let value = b.structure("value", layout::value_size(v), &refs);
        Ok(ValueBtf {
            fd: b.load()?,
            key: u32_,
            value,
        })
    }

    /// Unmount the private bpffs now, if mounted and not being mounted at this very moment,
    /// and remove its directory: what dropping the host does, for a host that is never
    /// dropped (a fuzz target's static, at exit or in a panic hook). A later pin mounts a
    /// new one.
    pub fn unmount_bpffs(&self) {
        let Ok(mut bpffs) = self.bpffs.try_lock() else {
            return;
        };
        if let Some(dir) = bpffs.take() {
            // Detaching the private bpffs drops any pin a case left behind.
            let _ = sys::umount(&dir);
            let _ = std::fs::remove_dir(&dir);
        }
    }

    /// A fresh pin directory for one case, on a private bpffs mounted on first use.
    pub fn pin_dir(&self) -> Result<String, sys::Sys> {
        let mut m = self.bpffs.lock().expect("bpffs");
        if m.is_none() {
            let dir = format!("/tmp/bpfspec-bpffs-{}", std::process::id());
            std::fs::create_dir_all(&dir).map_err(io_errno)?;
            sys::mount_bpffs(&dir)?;
            *m = Some(dir);
        }
        let n = self.cases.fetch_add(1, Ordering::Relaxed);
        let dir = format!("{}/case{n}", m.as_ref().expect("mounted"));
        std::fs::create_dir(&dir).map_err(io_errno)?;
        Ok(dir)
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.unmount_bpffs();
    }
}

fn io_errno(e: std::io::Error) -> sys::Sys {
    sys::Sys(e.raw_os_error().unwrap_or(libc::EIO))
}

impl ProgBtf {
    fn load() -> Result<ProgBtf, sys::Sys> {
        let mut b = BtfBuilder::new();
        let int = b.int("int", 4, true);
        let proto = b.func_proto(int);
        let main = b.func("main", proto, true);
        let callbacks = (0..MAX_SUBPROGS)
            .map(|i| b.func(&format!("cb{i}"), proto, false))
            .collect();
        Ok(ProgBtf {
            fd: b.load()?,
            main,
            callbacks,
        })
    }
}

/// `major.minor` of a release string such as `6.18.44-fc-v657`.
fn parse_version(release: &str) -> Option<(u32, u32)> {
    let mut it = release.split(|c: char| !c.is_ascii_digit());
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// Can this process use bpf() at all? A one-entry array map says.
fn check_bpf_access() -> Result<(), Unavailable> {
    let attr = sys::MapAttr {
        map_type: libbpf_sys::BPF_MAP_TYPE_ARRAY,
        key_size: 4,
        value_size: 8,
        max_entries: 1,
        flags: 0,
        btf: None,
        inner: None,
    };
    match sys::map_create(&attr) {
        Ok(_) => Ok(()),
        Err(e) => Err(Unavailable(match e.0 {
            libc::EPERM | libc::EACCES => {
                format!("bpf() refused ({e}): needs root or CAP_BPF (unprivileged_bpf_disabled)")
            }
            libc::ENOSYS => format!("bpf() not available ({e}): seccomp or a kernel without BPF"),
            _ => format!("bpf() map creation failed: {e}"),
        })),
    }
}

/// Whether `BPF_PROG_LOAD` takes a sleepable `BPF_PROG_TYPE_TRACEPOINT` program (`r0 = 0;
/// exit`): `can_be_sleepable` admits tracepoints ([`Features::sleepable_tracepoints`]).
fn sleepable_tracepoint_loads() -> bool {
    const MOV_R0_0: sys::RawInsn = sys::RawInsn {
        code: 0xb7, // BPF_ALU64 | BPF_MOV | BPF_K
        regs: 0,
        off: 0,
        imm: 0,
    };
    const EXIT: sys::RawInsn = sys::RawInsn {
        code: 0x95, // BPF_JMP | BPF_EXIT
        regs: 0,
        off: 0,
        imm: 0,
    };
    sys::prog_load_quiet(&sys::ProgAttr {
        prog_type: libbpf_sys::BPF_PROG_TYPE_TRACEPOINT,
        sleepable: true,
        license: "GPL",
        insns: &[MOV_R0_0, EXIT],
        btf_fd: 0,
        func_info: &[],
    })
    .is_ok()
}

fn possible_cpus() -> usize {
    // "0-1" or "0,2-3": count every CPU in every range.
    let s = std::fs::read_to_string("/sys/devices/system/cpu/possible").unwrap_or_default();
    let n: usize = s
        .trim()
        .split(',')
        .filter_map(|r| {
            let mut it = r.split('-').map(|x| x.parse::<usize>().ok());
            let a = it.next()??;
            let b = it.next().flatten().unwrap_or(a);
            Some(b - a + 1)
        })
        .sum();
    n.max(1)
}

/// What the process and the kernel hold, for leak checks: this process's open fds and the
/// BPF programs and maps alive system-wide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Census {
    pub fds: usize,
    pub progs: usize,
    pub maps: usize,
}

impl Census {
    /// More fds, programs or maps than `before`: something was left behind. (Fewer is
    /// another process's business: the program and map counts are system-wide.)
    pub fn leaked_since(&self, before: &Census) -> bool {
        self.fds > before.fds || self.progs > before.progs || self.maps > before.maps
    }

    pub fn take() -> Census {
        let count = |kind| {
            let mut n = 0;
            let mut id = 0;
            while let Ok(Some(next)) = sys::next_id(kind, id) {
                n += 1;
                id = next;
            }
            n
        };
        Census {
            fds: sys::open_fds(),
            progs: count(sys::Kind::Prog),
            maps: count(sys::Kind::Map),
        }
    }

    /// The census once deferred frees are done (they finish within a few RCU grace periods
    /// and a kworker run, which under load took over a second once in a 20,000-case run):
    /// taken again for up to five seconds while it differs from `before`.
    pub fn settled(before: Census) -> Census {
        let mut now = Census::take();
        for _ in 0..250 {
            if now == before {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
            now = Census::take();
        }
        now
    }
}

impl fmt::Display for Census {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} fds, {} live BPF programs, {} live BPF maps",
            self.fds, self.progs, self.maps
        )
    }
}
