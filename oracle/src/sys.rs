//! The one module that talks to C: libbpf (BTF construction and parsing, the bpf(2) wrappers)
//! and the few libc calls libbpf does not cover (mmap of an array map, bpffs mounts, clocks).
//! Everything above it is safe Rust over owned file descriptors.
//!
//! Every call returns `Result<_, Sys>` with the errno the kernel gave. `EINTR` and `EAGAIN`
//! are retried here (a bounded number of times), so callers never see them.
#![allow(unsafe_code)]

use libbpf_sys as bpf;
use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::AtomicU64;

/// A failed system call: the errno (positive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sys(pub i32);

impl std::fmt::Display for Sys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", std::io::Error::from_raw_os_error(self.0))
    }
}

impl std::error::Error for Sys {}

/// How many times an `EINTR` / `EAGAIN` is retried before it is reported.
const RETRIES: usize = 16;

/// Run a libbpf call that returns `>= 0` or `-errno`, retrying interrupted ones.
fn call(mut f: impl FnMut() -> i64) -> Result<i64, Sys> {
    for _ in 0..RETRIES {
        let r = f();
        if r >= 0 {
            return Ok(r);
        }
        let e = i32::try_from(-r).unwrap_or(libc::EINVAL);
        if e != libc::EINTR && e != libc::EAGAIN {
            return Err(Sys(e));
        }
    }
    Err(Sys(libc::EAGAIN))
}

fn fd_result(f: impl FnMut() -> i64) -> Result<OwnedFd, Sys> {
    let fd = call(f)?;
    // SAFETY: libbpf returned a new file descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

fn cstr(s: &str) -> CString {
    CString::new(s).expect("names have no NUL byte")
}

/// An in-memory BTF under construction (`btf__new_empty` and the `btf__add_*` calls).
pub struct BtfBuilder(*mut bpf::btf);

impl BtfBuilder {
    pub fn new() -> BtfBuilder {
        // SAFETY: plain constructor; NULL only on allocation failure.
        let p = unsafe { bpf::btf__new_empty() };
        assert!(!p.is_null(), "btf__new_empty: out of memory");
        BtfBuilder(p)
    }

    fn id(r: i32, what: &str) -> u32 {
        assert!(r > 0, "BTF construction failed at {what}: {r}");
        r as u32
    }

    pub fn int(&mut self, name: &str, size: usize, signed: bool) -> u32 {
        let enc = if signed {
            bpf::BTF_INT_SIGNED as i32
        } else {
            0
        };
        // SAFETY: valid builder and NUL-terminated name.
        Self::id(
            unsafe { bpf::btf__add_int(self.0, cstr(name).as_ptr(), size as u64, enc) },
            name,
        )
    }

    pub fn ptr(&mut self, to: u32) -> u32 {
        // SAFETY: valid builder.
        Self::id(unsafe { bpf::btf__add_ptr(self.0, to as i32) }, "ptr")
    }

    pub fn type_tag(&mut self, tag: &str, to: u32) -> u32 {
        // SAFETY: valid builder and NUL-terminated tag.
        Self::id(
            unsafe { bpf::btf__add_type_tag(self.0, cstr(tag).as_ptr(), to as i32) },
            tag,
        )
    }

    /// `struct name { fields }` with `(name, type, byte offset)` fields.
    pub fn structure(&mut self, name: &str, size: u32, fields: &[(&str, u32, u32)]) -> u32 {
        // SAFETY: valid builder; fields are added right after their struct, as libbpf needs.
        let id = Self::id(
            unsafe { bpf::btf__add_struct(self.0, cstr(name).as_ptr(), size) },
            name,
        );
        for &(f, ty, off) in fields {
            // SAFETY: as above.
            let r = unsafe { bpf::btf__add_field(self.0, cstr(f).as_ptr(), ty as i32, off * 8, 0) };
            assert!(r == 0, "BTF construction failed at field {name}.{f}: {r}");
        }
        id
    }

    pub fn array(&mut self, elem: u32, index: u32, n: u32) -> u32 {
        // SAFETY: valid builder.
        Self::id(
            unsafe { bpf::btf__add_array(self.0, index as i32, elem as i32, n) },
            "array",
        )
    }

    /// `int (void)`-shaped prototype returning `ret`.
    pub fn func_proto(&mut self, ret: u32) -> u32 {
        // SAFETY: valid builder.
        Self::id(
            unsafe { bpf::btf__add_func_proto(self.0, ret as i32) },
            "func_proto",
        )
    }

    /// A function; `global` or static linkage.
    pub fn func(&mut self, name: &str, proto: u32, global: bool) -> u32 {
        let linkage = if global {
            bpf::BTF_FUNC_GLOBAL
        } else {
            bpf::BTF_FUNC_STATIC
        };
        // SAFETY: valid builder and NUL-terminated name.
        Self::id(
            unsafe { bpf::btf__add_func(self.0, cstr(name).as_ptr(), linkage, proto as i32) },
            name,
        )
    }

    /// `BPF_BTF_LOAD` of the raw data built so far.
    pub fn load(&self) -> Result<OwnedFd, Sys> {
        let mut size = 0u32;
        // SAFETY: valid builder; the returned buffer lives as long as the builder.
        let raw = unsafe { bpf::btf__raw_data(self.0, &mut size) };
        assert!(!raw.is_null(), "btf__raw_data: out of memory");
        fd_result(|| {
            // SAFETY: `raw` points at `size` bytes owned by the builder.
            i64::from(unsafe { bpf::bpf_btf_load(raw, u64::from(size), std::ptr::null_mut()) })
        })
    }
}

impl Default for BtfBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for BtfBuilder {
    fn drop(&mut self) {
        // SAFETY: owned pointer, freed once.
        unsafe { bpf::btf__free(self.0) }
    }
}

/// The running kernel's BTF (`/sys/kernel/btf/vmlinux`), read-only.
pub struct VmlinuxBtf(*mut bpf::btf);

// SAFETY: the parsed BTF is immutable after loading; libbpf's read accessors do not mutate.
unsafe impl Send for VmlinuxBtf {}
// SAFETY: as above.
unsafe impl Sync for VmlinuxBtf {}

/// BTF kinds used in lookups.
pub const BTF_KIND_STRUCT: u32 = bpf::BTF_KIND_STRUCT;
pub const BTF_KIND_FUNC: u32 = bpf::BTF_KIND_FUNC;
pub const BTF_KIND_ENUM: u32 = bpf::BTF_KIND_ENUM;

impl VmlinuxBtf {
    pub fn load() -> Result<VmlinuxBtf, Sys> {
        // SAFETY: plain loader; NULL with errno set on failure.
        let p = unsafe { bpf::btf__load_vmlinux_btf() };
        if p.is_null() {
            return Err(Sys(std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::ENOENT)));
        }
        Ok(VmlinuxBtf(p))
    }

    /// The BTF id of the named type of `kind`.
    pub fn find(&self, name: &str, kind: u32) -> Option<u32> {
        // SAFETY: valid BTF, NUL-terminated name.
        let r = unsafe { bpf::btf__find_by_name_kind(self.0, cstr(name).as_ptr(), kind) };
        (r > 0).then_some(r as u32)
    }

    /// The size of a type.
    pub fn size(&self, id: u32) -> Option<u64> {
        // SAFETY: valid BTF; an unknown id returns an error.
        let r = unsafe { bpf::btf__resolve_size(self.0, id) };
        u64::try_from(r).ok()
    }

    /// The value of enumerator `member` of `enum name`.
    pub fn enum_value(&self, name: &str, member: &str) -> Option<i64> {
        let id = self.find(name, BTF_KIND_ENUM)?;
        // SAFETY: `id` is a valid ENUM; its `vlen` `btf_enum` records follow the type header
        // in the BTF's memory, as the BTF format defines.
        unsafe {
            let t = bpf::btf__type_by_id(self.0, id);
            let vlen = ((*t).info & 0xffff) as usize;
            let entries = t.add(1).cast::<bpf::btf_enum>();
            (0..vlen).find_map(|i| {
                let e = *entries.add(i);
                let n = bpf::btf__name_by_offset(self.0, e.name_off);
                (!n.is_null() && CStr::from_ptr(n).to_bytes() == member.as_bytes())
                    .then_some(i64::from(e.val))
            })
        }
    }
}

impl Drop for VmlinuxBtf {
    fn drop(&mut self) {
        // SAFETY: owned pointer, freed once.
        unsafe { bpf::btf__free(self.0) }
    }
}

/// BTF of a map's key and value.
#[derive(Clone, Copy, Debug)]
pub struct MapBtf {
    pub fd: RawFd,
    pub key: u32,
    pub value: u32,
}

/// Arguments of `BPF_MAP_CREATE`.
#[derive(Clone, Copy, Debug)]
pub struct MapAttr {
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub flags: u32,
    pub btf: Option<MapBtf>,
    pub inner: Option<RawFd>,
}

pub fn map_create(a: &MapAttr) -> Result<OwnedFd, Sys> {
    let mut o = bpf::bpf_map_create_opts {
        sz: size_of::<bpf::bpf_map_create_opts>() as u64,
        map_flags: a.flags,
        ..Default::default()
    };
    if let Some(b) = a.btf {
        o.btf_fd = b.fd as u32;
        o.btf_key_type_id = b.key;
        o.btf_value_type_id = b.value;
    }
    if let Some(i) = a.inner {
        o.inner_map_fd = i as u32;
    }
    fd_result(|| {
        // SAFETY: options struct initialised above; name NULL is allowed.
        i64::from(unsafe {
            bpf::bpf_map_create(
                a.map_type,
                std::ptr::null(),
                a.key_size,
                a.value_size,
                a.max_entries,
                &o,
            )
        })
    })
}

/// One BPF instruction, laid out as `struct bpf_insn`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawInsn {
    pub code: u8,
    /// `src << 4 | dst`.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

/// `struct bpf_func_info`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct FuncInfo {
    pub insn_off: u32,
    pub type_id: u32,
}

/// Arguments of `BPF_PROG_LOAD`.
pub struct ProgAttr<'a> {
    pub prog_type: u32,
    pub sleepable: bool,
    pub license: &'a str,
    pub insns: &'a [RawInsn],
    /// The program's BTF (`prog_btf_fd`); 0 for none.
    pub btf_fd: RawFd,
    /// `func_info` records; none passes no `func_info` at all.
    pub func_info: &'a [FuncInfo],
}

/// A failed load: the errno and the verifier's messages.
#[derive(Clone, Debug)]
pub struct LoadError {
    pub errno: Sys,
    pub log: String,
}

/// `BPF_F_SLEEPABLE`.
const BPF_F_SLEEPABLE: u32 = 1 << 4;
/// `BPF_LOG_LEVEL1`: the verifier's messages and the instruction-by-instruction trace (each
/// instruction echoed before it is checked, register states at branches).
pub const LOG_LEVEL1: u32 = 1;
/// `BPF_LOG_STATS`: the verifier's messages (its verdict among them) and statistics, without
/// the instruction-by-instruction trace of level 1, whose formatting would cost more than
/// verifying.
pub const LOG_MESSAGES: u32 = 4;
/// First log buffer; grown to `log_true_size` when the kernel says `-ENOSPC`.
const LOG_START: usize = 16 << 10;

/// `BPF_PROG_LOAD` with the verifier's messages logged, so that a rejected program needs no
/// second verification to say why; the buffer grows when the kernel says `-ENOSPC`.
pub fn prog_load(a: &ProgAttr<'_>) -> Result<OwnedFd, LoadError> {
    prog_load_logged(a, LOG_MESSAGES)
}

/// `BPF_PROG_LOAD` at log level 0 (no log buffer: the verifier formats nothing), the fastest
/// way to a verdict.
pub fn prog_load_quiet(a: &ProgAttr<'_>) -> Result<OwnedFd, Sys> {
    load_once(a, 0, &mut []).map_err(|(e, _)| e)
}

/// `BPF_PROG_LOAD` at log `level`, the whole log kept: the buffer grows to the kernel's
/// `log_true_size` when it says `-ENOSPC`.
pub fn prog_load_logged(a: &ProgAttr<'_>, level: u32) -> Result<OwnedFd, LoadError> {
    let mut buf = vec![0u8; LOG_START];
    loop {
        match load_once(a, level, &mut buf) {
            Ok(fd) => return Ok(fd),
            Err((Sys(libc::ENOSPC), need)) if need as usize > buf.len() => {
                buf = vec![0u8; need as usize];
            }
            Err((errno, _)) => {
                let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
                let log = String::from_utf8_lossy(&buf[..end]).into_owned();
                return Err(LoadError { errno, log });
            }
        }
    }
}

fn load_once(a: &ProgAttr<'_>, level: u32, log: &mut [u8]) -> Result<OwnedFd, (Sys, u32)> {
    let mut o = bpf::bpf_prog_load_opts {
        sz: size_of::<bpf::bpf_prog_load_opts>() as u64,
        prog_flags: if a.sleepable { BPF_F_SLEEPABLE } else { 0 },
        prog_btf_fd: a.btf_fd as u32,
        log_level: level,
        ..Default::default()
    };
    if !a.func_info.is_empty() {
        o.func_info = a.func_info.as_ptr().cast();
        o.func_info_cnt = a.func_info.len() as u32;
        o.func_info_rec_size = size_of::<FuncInfo>() as u32;
    }
    if !log.is_empty() {
        o.log_buf = log.as_mut_ptr().cast();
        o.log_size = log.len() as u32;
    }
    let lic = cstr(a.license);
    let r = call(|| {
        // SAFETY: instructions, func_info and log buffer outlive the call; RawInsn has the
        // layout of struct bpf_insn.
        i64::from(unsafe {
            bpf::bpf_prog_load(
                a.prog_type,
                std::ptr::null(),
                lic.as_ptr(),
                a.insns.as_ptr().cast(),
                a.insns.len() as u64,
                &mut o,
            )
        })
    });
    match r {
        // SAFETY: a new fd owned by nobody else.
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) }),
        Err(e) => Err((e, o.log_true_size)),
    }
}

/// `BPF_PROG_TEST_RUN` once, with `data` as packet (or none); returns the program's retval.
pub fn test_run(prog: &impl AsRawFd, data: Option<&[u8]>) -> Result<u32, Sys> {
    let mut o = bpf::bpf_test_run_opts {
        sz: size_of::<bpf::bpf_test_run_opts>() as u64,
        // 0 runs once; syscall programs refuse any other value.
        repeat: 0,
        ..Default::default()
    };
    if let Some(d) = data {
        o.data_in = d.as_ptr().cast();
        o.data_size_in = d.len() as u32;
    }
    call(|| {
        // SAFETY: the options point at `data`, which outlives the call.
        i64::from(unsafe { bpf::bpf_prog_test_run_opts(prog.as_raw_fd(), &mut o) })
    })?;
    Ok(o.retval)
}

pub fn map_update(map: RawFd, key: &[u8], value: &[u8], flags: u64) -> Result<(), Sys> {
    call(|| {
        // SAFETY: key and value buffers outlive the call; the kernel reads the map's sizes.
        i64::from(unsafe {
            bpf::bpf_map_update_elem(map, key.as_ptr().cast(), value.as_ptr().cast(), flags)
        })
    })
    .map(drop)
}

pub fn map_delete(map: RawFd, key: &[u8]) -> Result<(), Sys> {
    call(|| {
        // SAFETY: key buffer outlives the call.
        i64::from(unsafe { bpf::bpf_map_delete_elem(map, key.as_ptr().cast()) })
    })
    .map(drop)
}

/// `BPF_MAP_LOOKUP_ELEM` into `value` (which must hold the map's value size).
pub fn map_lookup(map: RawFd, key: &[u8], value: &mut [u8]) -> Result<(), Sys> {
    call(|| {
        // SAFETY: buffers outlive the call; `value` is as large as the map's value.
        i64::from(unsafe {
            bpf::bpf_map_lookup_elem(map, key.as_ptr().cast(), value.as_mut_ptr().cast())
        })
    })
    .map(drop)
}

pub fn obj_pin(fd: RawFd, path: &str) -> Result<(), Sys> {
    let p = cstr(path);
    // SAFETY: NUL-terminated path.
    call(|| i64::from(unsafe { bpf::bpf_obj_pin(fd, p.as_ptr()) })).map(drop)
}

pub fn obj_get(path: &str) -> Result<OwnedFd, Sys> {
    let p = cstr(path);
    // SAFETY: NUL-terminated path.
    fd_result(|| i64::from(unsafe { bpf::bpf_obj_get(p.as_ptr()) }))
}

/// Map or program: the id and fd syscalls that exist for both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Map,
    Prog,
}

pub fn get_fd_by_id(kind: Kind, id: u32) -> Result<OwnedFd, Sys> {
    fd_result(|| {
        // SAFETY: plain syscalls on an id.
        i64::from(unsafe {
            match kind {
                Kind::Map => bpf::bpf_map_get_fd_by_id(id),
                Kind::Prog => bpf::bpf_prog_get_fd_by_id(id),
            }
        })
    })
}

/// `BPF_{MAP,PROG}_GET_NEXT_ID`: the next id after `start`, `None` at the end of the list.
pub fn next_id(kind: Kind, start: u32) -> Result<Option<u32>, Sys> {
    let mut next = 0u32;
    let r = call(|| {
        // SAFETY: `next` outlives the call.
        i64::from(unsafe {
            match kind {
                Kind::Map => bpf::bpf_map_get_next_id(start, &mut next),
                Kind::Prog => bpf::bpf_prog_get_next_id(start, &mut next),
            }
        })
    });
    match r {
        Ok(_) => Ok(Some(next)),
        Err(Sys(libc::ENOENT)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The id of a map or program fd (`BPF_OBJ_GET_INFO_BY_FD`).
pub fn id_of(kind: Kind, fd: RawFd) -> Result<u32, Sys> {
    match kind {
        Kind::Map => {
            let mut info = bpf::bpf_map_info::default();
            let mut len = size_of::<bpf::bpf_map_info>() as u32;
            call(|| {
                // SAFETY: `info` and `len` outlive the call and match.
                i64::from(unsafe { bpf::bpf_map_get_info_by_fd(fd, &mut info, &mut len) })
            })?;
            Ok(info.id)
        }
        Kind::Prog => {
            let mut info = bpf::bpf_prog_info::default();
            let mut len = size_of::<bpf::bpf_prog_info>() as u32;
            call(|| {
                // SAFETY: as above.
                i64::from(unsafe { bpf::bpf_prog_get_info_by_fd(fd, &mut info, &mut len) })
            })?;
            Ok(info.id)
        }
    }
}

/// A shared, writable mapping of a `BPF_F_MMAPABLE` array map, viewed as 64-bit words.
pub struct Mmap {
    ptr: *mut libc::c_void,
    len: usize,
}

// SAFETY: the mapping is only accessed through atomics.
unsafe impl Send for Mmap {}

impl Mmap {
    pub fn map(fd: &impl AsRawFd, len: usize) -> Result<Mmap, Sys> {
        // SAFETY: a fresh shared mapping of the map's pages; checked for MAP_FAILED.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(last_errno());
        }
        Ok(Mmap { ptr, len })
    }

    /// The mapping as words; BPF programs write them concurrently, hence atomics.
    pub fn words(&self) -> &[AtomicU64] {
        // SAFETY: the mapping is page aligned, `len` bytes long and lives as long as `self`;
        // AtomicU64 has the size and alignment of u64.
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<AtomicU64>(), self.len / 8) }
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: unmapping our own mapping once.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

fn last_errno() -> Sys {
    Sys(std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO))
}

/// Mount a private bpffs at `dir` (which must exist).
pub fn mount_bpffs(dir: &str) -> Result<(), Sys> {
    let (src, d, ty) = (cstr("bpf"), cstr(dir), cstr("bpf"));
    // SAFETY: NUL-terminated strings; no data argument.
    let r = unsafe { libc::mount(src.as_ptr(), d.as_ptr(), ty.as_ptr(), 0, std::ptr::null()) };
    if r != 0 {
        return Err(last_errno());
    }
    Ok(())
}

pub fn umount(dir: &str) -> Result<(), Sys> {
    let d = cstr(dir);
    // SAFETY: NUL-terminated path.
    if unsafe { libc::umount2(d.as_ptr(), libc::MNT_DETACH) } != 0 {
        return Err(last_errno());
    }
    Ok(())
}

/// `CLOCK_MONOTONIC` in ns, as `bpf_ktime_get_ns` reads it.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` outlives the call.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Sleep until `CLOCK_MONOTONIC` reads `at` ns.
pub fn sleep_until(at: u64) {
    let ts = libc::timespec {
        tv_sec: (at / 1_000_000_000) as libc::time_t,
        tv_nsec: (at % 1_000_000_000) as libc::c_long,
    };
    // SAFETY: `ts` outlives the call; EINTR simply repeats the absolute sleep.
    while unsafe {
        libc::clock_nanosleep(
            libc::CLOCK_MONOTONIC,
            libc::TIMER_ABSTIME,
            &ts,
            std::ptr::null_mut(),
        )
    } == libc::EINTR
    {}
}

/// `uname -r`.
pub fn kernel_release() -> String {
    // SAFETY: zeroed utsname is a valid out-parameter.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` outlives the call.
    if unsafe { libc::uname(&mut u) } != 0 {
        return String::from("unknown");
    }
    // SAFETY: uname NUL-terminates the field.
    unsafe { CStr::from_ptr(u.release.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// The process's open file descriptors (for leak accounting).
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count().saturating_sub(1))
}

/// Keep the calling thread on the CPU it runs on now, unless it is already held to one CPU.
/// The kernel's LRU maps keep per-CPU free and pending lists (`bpf_lru.c`), so a case whose
/// syscalls hopped CPUs could see -ENOMEM or evictions a one-CPU history would not.
pub fn stay_on_this_cpu() -> Result<(), Sys> {
    // SAFETY: a zeroed cpu_set_t is an empty set; the calls get and set this thread's mask.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: `set` outlives the call and `size` is its size.
    if unsafe { libc::sched_getaffinity(0, size, &mut set) } != 0 {
        return Err(last_errno());
    }
    // SAFETY: `set` is initialised by sched_getaffinity.
    if unsafe { libc::CPU_COUNT(&set) } <= 1 {
        return Ok(());
    }
    // SAFETY: no arguments.
    let cpu = unsafe { libc::sched_getcpu() };
    if cpu < 0 {
        return Err(last_errno());
    }
    // SAFETY: as above; CPU_SET takes a CPU number below CPU_SETSIZE (the kernel's answer).
    unsafe {
        libc::CPU_ZERO(&mut set);
        libc::CPU_SET(cpu as usize, &mut set);
    }
    // SAFETY: `set` outlives the call.
    if unsafe { libc::sched_setaffinity(0, size, &set) } != 0 {
        return Err(last_errno());
    }
    Ok(())
}
