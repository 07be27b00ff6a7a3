//! `bpfspec matrix`: the conformance suite on real Debian kernels of every era the spec
//! models, each booted under QEMU (TCG) from an initramfs holding busybox, a static build of
//! this program and the scenario corpus, plus the same suite on this host, as one table.
//!
//! The guests' kernels come from `vm/fetch-kernels.sh` (`make matrix` runs it): one directory
//! per kernel in the cache with its `vmlinuz`. Each guest runs `vm/init`, which runs the
//! host row's four parts (`bpfspec matrix --local`) between markers on the serial console
//! (`===MATRIX-PART name===` ... `===MATRIX-RC name rc===`) and powers off; only the markers are trusted, not QEMU's exit
//! status. A guest that prints no end marker is booted once more. Inside, `bpfspec` detects
//! the kernel's era and features as it does on the host, so every part compares the kernel
//! with the spec's rules for that era.
//!
//! With `--fuzz TARGET --secs S` one guest runs a bounded differential campaign instead
//! (`make fuzz-vm`): open-ended fuzzing never touches the host kernel.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The parts of the suite, in the order the guest runs them: name, `bpfspec` arguments (the
/// corpus directory and the generated count filled in).
const PARTS: [(&str, &[&str]); 4] = [
    (
        "corpus",
        &["conform", "--lateness-us", "{lateness}", "{testdata}"],
    ),
    (
        "generated",
        &[
            "conform",
            "--generate",
            "{n}",
            "--until-compared",
            "--seed",
            "1",
            "--lateness-us",
            "{lateness}",
            "--threads",
            "{threads}",
        ],
    ),
    ("verifier-cases", &["verify-diff", "{testdata}/verifier"]),
    (
        "verifier-generated",
        &["verify-diff", "--generate", "{n}", "--seed", "1"],
    ),
];

/// How late, in µs, a guest's kernel may run one timer or work callback (`conform
/// --lateness-us`): under TCG a kworker or the timer softirq runs milliseconds late (Debian
/// 7.2.13: a wq callback not yet run 1.5 ms after its start, a re-armed timer's callback still
/// running 2.5 ms on), where the host's default allows 100 µs.
const TCG_LATENESS_US: u64 = 3_000;
/// Threads of a guest's generated stories (`conform --threads`): a guest has one vCPU, and
/// with the host's 16 busy threads its kworkers ran a wq callback later still (a story whose
/// wq callback had not run 4 ms after `bpf_wq_start` on 6.12 and 7.2; it agrees on the host).
const TCG_THREADS: usize = 4;

/// The guest's command-line parameters every mode shares: the first seed and the TCG
/// allowances.
fn tcg_params() -> String {
    format!("matrix.seed=1 matrix.lateness_us={TCG_LATENESS_US} matrix.threads={TCG_THREADS}")
}

/// The guest's init, run as `/init`.
const INIT: &str = include_str!("../../vm/init");

pub struct Opts {
    /// Kernels to boot (default: every kernel in the cache).
    pub kernels: Vec<String>,
    pub cache: PathBuf,
    /// The static `bpfspec` the guests run.
    pub guest: PathBuf,
    /// The scenario corpus (its `verifier/` subdirectory holds the verifier cases).
    pub testdata: PathBuf,
    /// Generated cases per generated part.
    pub generate: u64,
    /// How late, in µs, the kernel may run a callback, in the parts run by this process (the
    /// host row, or a guest's `--local`).
    pub lateness_us: u64,
    /// Threads of the generated stories in the parts run by this process.
    pub threads: usize,
    /// Guests booted at once.
    pub jobs: usize,
    /// A guest's time limit.
    pub timeout: Duration,
    /// A fuzz campaign instead of the suite: `runtime` or `verifier`, for this long.
    pub fuzz: Option<(String, u64)>,
}

/// How one part ended on one kernel.
struct Part {
    name: String,
    /// Its exit status (`None`: the guest stopped before it ended).
    rc: Option<i32>,
    /// The lines it printed.
    output: Vec<String>,
}

impl Part {
    /// The summary of the part's figures, as its table cell.
    fn cell(&self) -> String {
        let figures = self.output.iter().rev().find_map(|l| summary(l));
        let status = match self.rc {
            Some(0) => "",
            Some(77) => " SKIPPED",
            Some(_) => " FAILED",
            None => " DID NOT END",
        };
        format!("{}{status}", figures.unwrap_or_else(|| "-".into()))
    }

    fn passed(&self) -> bool {
        self.rc == Some(0)
    }
}

/// The figures of a summary line of `conform` or `verify-diff`, if `line` is one.
fn summary(line: &str) -> Option<String> {
    let num = |s: &str| s.trim().split(' ').next()?.parse::<u64>().ok();
    let t = line.trim();
    if let Some(rest) = t.strip_prefix("conform: ") {
        // "conform: N scenarios on the kernel (S not for this kernel): A agree, L listed
        // divergences, X stale divergence entries, F failed"
        let ran = num(rest)?;
        let (_, figures) = rest.split_once("): ")?;
        let mut f = figures.split(", ").map(num);
        let (agree, listed, stale, failed) = (f.next()??, f.next()??, f.next()??, f.next()??);
        return Some(format!(
            "{agree}+{listed} listed/{ran}{}",
            if stale + failed > 0 {
                format!(" ({failed} failed, {stale} stale)")
            } else {
                String::new()
            }
        ));
    }
    if let Some(rest) = t.strip_prefix("compared ") {
        // "compared C: A agree, D diverged (P% ...); poisoned Z"
        let (of, figures) = rest.split_once(": ")?;
        let agree = num(figures)?;
        return Some(format!("{agree}/{of}"));
    }
    // verify-diff on case files: "<kernel>: A agree, D do not".
    let (_, figures) = t.rsplit_once(": ")?;
    let (agree, rest) = figures.split_once(" agree, ")?;
    let not = rest.strip_suffix(" do not")?;
    let (agree, not) = (agree.parse::<u64>().ok()?, not.parse::<u64>().ok()?);
    Some(format!("{agree}/{}", agree + not))
}

/// What one kernel's run gave.
struct Run {
    kernel: String,
    /// `uname -r`, and the era the oracle detected (its `kernel:` line).
    release: String,
    detection: String,
    parts: Vec<Part>,
    /// Why the run is not complete (no end marker after the retry).
    broken: Option<String>,
    seconds: f64,
}

impl Run {
    fn passed(&self) -> bool {
        self.broken.is_none() && !self.parts.is_empty() && self.parts.iter().all(Part::passed)
    }
}

/// The parts of a guest's (or the host's) console output.
fn parse(kernel: &str, log: &str, seconds: f64) -> Run {
    let mut run = Run {
        kernel: kernel.into(),
        release: String::new(),
        detection: String::new(),
        parts: Vec::new(),
        broken: None,
        seconds,
    };
    let mut ended = false;
    for line in log.lines().map(|l| l.trim_end_matches('\r')) {
        // The firmware's last output may share the first marker's line.
        let line = line.find("===MATRIX-").map_or(line, |at| &line[at..]);
        if let Some(r) = line
            .strip_prefix("===MATRIX-BEGIN ")
            .and_then(|r| r.strip_suffix("==="))
        {
            run.release = r.into();
        } else if let Some(name) = line
            .strip_prefix("===MATRIX-PART ")
            .and_then(|r| r.strip_suffix("==="))
        {
            run.parts.push(Part {
                name: name.into(),
                rc: None,
                output: Vec::new(),
            });
        } else if let Some(rc) = line
            .strip_prefix("===MATRIX-RC ")
            .and_then(|r| r.strip_suffix("==="))
        {
            if let Some(p) = run.parts.last_mut() {
                p.rc = rc.rsplit(' ').next().and_then(|n| n.parse().ok());
            }
        } else if line == "===MATRIX-END===" {
            ended = true;
        } else if let Some(p) = run.parts.last_mut().filter(|p| p.rc.is_none()) {
            if run.detection.is_empty()
                && let Some(d) = line.strip_prefix("kernel: ")
            {
                run.detection = d.into();
            }
            p.output.push(line.into());
        }
    }
    if let Some(oops) = oops(log) {
        let part = run.parts.last().map_or("the boot", |p| p.name.as_str());
        run.broken = Some(format!("kernel oops during {part}: {oops}"));
    } else if !ended {
        run.broken = Some("no end marker on the console".into());
    }
    run
}

/// The kernel's own report of a bug it hit, if the console has one: its `BUG:` line and
/// where it was (`RIP:`).
fn oops(log: &str) -> Option<String> {
    let bug = log
        .lines()
        .find_map(|l| l.split_once("BUG: ").map(|(_, b)| b.trim()))?;
    let rip = log
        .lines()
        .find_map(|l| l.split_once("RIP: 0010:").map(|(_, r)| r.trim()))
        .unwrap_or("?");
    Some(format!("{bug} at {rip}"))
}

/// The kernels of the cache to boot: `(name, vmlinuz)`.
fn kernels(o: &Opts) -> io::Result<Vec<(String, PathBuf)>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(&o.cache)? {
        let dir = entry?.path();
        let name = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if dir.join("vmlinuz").is_file() && (o.kernels.is_empty() || o.kernels.contains(&name)) {
            found.push((name, dir.join("vmlinuz")));
        }
    }
    found.sort();
    for k in &o.kernels {
        if !found.iter().any(|(n, _)| n == k) {
            return Err(io::Error::other(format!(
                "kernel {k} is not in {} (vm/fetch-kernels.sh fetches it)",
                o.cache.display()
            )));
        }
    }
    Ok(found)
}

/// The initramfs: busybox, `/init`, the guest `bpfspec`, the corpus as `/testdata`.
fn initramfs(o: &Opts) -> io::Result<PathBuf> {
    let root = o.cache.join("initramfs");
    if root.exists() {
        fs::remove_dir_all(&root)?;
    }
    fs::create_dir_all(root.join("bin"))?;
    for d in ["proc", "sys", "dev", "tmp"] {
        fs::create_dir_all(root.join(d))?;
    }
    fs::copy(busybox()?, root.join("bin/busybox"))?;
    fs::write(root.join("init"), INIT)?;
    fs::copy(&o.guest, root.join("bpfspec"))?;
    let status = Command::new("cp")
        .arg("-r")
        .arg(&o.testdata)
        .arg(root.join("testdata"))
        .status()?;
    if !status.success() {
        return Err(io::Error::other("copying the corpus failed"));
    }
    let status = Command::new("sh")
        .arg("-c")
        .arg("chmod +x init bpfspec bin/busybox && find . | cpio -o -H newc --quiet > ../initramfs.cpio")
        .current_dir(&root)
        .status()?;
    if !status.success() {
        return Err(io::Error::other(
            "cpio failed (is the cpio package installed?)",
        ));
    }
    Ok(o.cache.join("initramfs.cpio"))
}

/// A static busybox (Debian's busybox-static).
fn busybox() -> io::Result<&'static Path> {
    ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.is_file())
        .ok_or_else(|| io::Error::other("no busybox: install busybox-static"))
}

/// Boot `vmlinuz` with `initrd` and `cmdline` until the guest powers off or `timeout` passes:
/// the console output.
fn boot(
    vmlinuz: &Path,
    initrd: &Path,
    cmdline: &str,
    log: &Path,
    timeout: Duration,
) -> io::Result<String> {
    let out = fs::File::create(log)?;
    let mut child = Command::new("qemu-system-x86_64")
        .args([
            "-accel",
            "tcg,thread=multi",
            "-cpu",
            "max",
            "-m",
            "1G",
            "-smp",
            "1",
        ])
        .args([
            "-nographic",
            "-no-reboot",
            "-nodefaults",
            "-serial",
            "stdio",
        ])
        .arg("-kernel")
        .arg(vmlinuz)
        .arg("-initrd")
        .arg(initrd)
        .arg("-append")
        // A kernel oops panics the guest, and a panic ends QEMU (-no-reboot): a kernel bug
        // found stops its guest at once.
        .arg(format!(
            "console=ttyS0 oops=panic panic=-1 quiet loglevel=4 {cmdline}"
        ))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(Stdio::null())
        .spawn()?;
    let start = Instant::now();
    while child.try_wait()?.is_none() {
        if start.elapsed() > timeout {
            child.kill()?;
            child.wait()?;
            break;
        }
        thread::sleep(Duration::from_millis(200));
    }
    Ok(String::from_utf8_lossy(&fs::read(log)?).into_owned())
}

/// One kernel: boot, and boot once more when no end marker came.
fn run_guest(o: &Opts, name: &str, vmlinuz: &Path, initrd: &Path, cmdline: &str) -> Run {
    let log = o.cache.join(format!("{name}.log"));
    let mut last = None;
    for _attempt in 0..2 {
        let start = Instant::now();
        let run = match boot(vmlinuz, initrd, cmdline, &log, o.timeout) {
            Ok(console) => parse(name, &console, start.elapsed().as_secs_f64()),
            Err(e) => Run {
                broken: Some(format!("qemu: {e}")),
                ..parse(name, "", 0.0)
            },
        };
        // An oops is the kernel's answer, not a flaky boot: not booted again.
        if run
            .broken
            .as_deref()
            .is_none_or(|b| b.starts_with("kernel oops"))
        {
            return run;
        }
        last = Some(run);
    }
    last.expect("two attempts")
}

/// Run the suite's parts here, through this program, each between its markers: into `log`
/// (the host row), or, without one, to the console as they go (the guest: a kernel oops then
/// shows inside the part it hit).
fn run_parts(o: &Opts, mut log: Option<&mut String>) {
    let exe = std::env::current_exe().unwrap_or_else(|_| "bpfspec".into());
    let say = |line: String, log: &mut Option<&mut String>| match log {
        Some(l) => l.push_str(&line),
        None => {
            print!("{line}");
            let _ = io::Write::flush(&mut io::stdout());
        }
    };
    for (name, args) in PARTS {
        let args: Vec<String> = args.iter().map(|a| fill(a, o)).collect();
        say(format!("===MATRIX-PART {name}===\n"), &mut log);
        let mut cmd = Command::new(&exe);
        cmd.args(&args).stderr(Stdio::inherit());
        let rc = match &mut log {
            Some(l) => cmd.output().map(|out| {
                l.push_str(&String::from_utf8_lossy(&out.stdout));
                out.status
            }),
            None => cmd.stdout(Stdio::inherit()).status(),
        };
        let rc = rc.map_or_else(
            |e| {
                say(format!("{e}\n"), &mut log);
                -1
            },
            |status| status.code().unwrap_or(-1),
        );
        say(format!("===MATRIX-RC {name} {rc}===\n"), &mut log);
    }
}

/// The guest's side (`bpfspec matrix --local`, from `vm/init`): the parts, to the console.
pub fn local(o: &Opts) -> ExitCode {
    run_parts(o, None);
    ExitCode::SUCCESS
}

/// The same parts on this host.
fn run_host(o: &Opts) -> Run {
    let start = Instant::now();
    let mut log = String::from("===MATRIX-BEGIN host===\n");
    run_parts(o, Some(&mut log));
    log.push_str("===MATRIX-END===\n");
    let mut run = parse("host", &log, start.elapsed().as_secs_f64());
    run.release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    run
}

/// A part's argument with the corpus directory and the generated count filled in.
fn fill(arg: &str, o: &Opts) -> String {
    arg.replace("{testdata}", &o.testdata.to_string_lossy())
        .replace("{n}", &o.generate.to_string())
        .replace("{lateness}", &o.lateness_us.to_string())
        .replace("{threads}", &o.threads.to_string())
}

pub fn run(o: &Opts) -> ExitCode {
    let start = Instant::now();
    let prepared = kernels(o).and_then(|k| Ok((k, initramfs(o)?)));
    let (kernels, initrd) = match prepared {
        Ok(p) => p,
        Err(e) => {
            eprintln!("bpfspec matrix: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some((target, secs)) = &o.fuzz {
        return fuzz(o, &kernels, &initrd, target, *secs);
    }
    let cmdline = format!(
        "matrix.mode=suite matrix.generate={} {}",
        o.generate,
        tcg_params()
    );
    // The host first, alone: its timer scenarios run in real time.
    let mut runs = vec![run_host(o)];
    for batch in kernels.chunks(o.jobs.max(1)) {
        let done: Vec<Run> = thread::scope(|s| {
            let guests: Vec<_> = batch
                .iter()
                .map(|(name, vmlinuz)| s.spawn(|| run_guest(o, name, vmlinuz, &initrd, &cmdline)))
                .collect();
            guests
                .into_iter()
                .map(|g| g.join().expect("a guest thread"))
                .collect()
        });
        runs.extend(done);
    }
    print_table(&runs);
    for r in runs.iter().filter(|r| !r.passed()) {
        print_failure(o, r);
    }
    let failed = runs.iter().filter(|r| !r.passed()).count();
    println!(
        "matrix: {} kernels (host included) in {:.0} s, {failed} with a failure",
        runs.len(),
        start.elapsed().as_secs_f64()
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn print_table(runs: &[Run]) {
    println!(
        "| kernel | release | era detected | {} | time |",
        PARTS.map(|(n, _)| n).join(" | ")
    );
    println!("|---|---|---|{}---|", "---|".repeat(PARTS.len()));
    for r in runs {
        let cells: Vec<String> = PARTS
            .iter()
            .map(|(name, _)| {
                r.parts
                    .iter()
                    .find(|p| p.name == *name)
                    .map_or_else(|| "-".into(), Part::cell)
            })
            .collect();
        let era = r.detection.split(" (").next().unwrap_or("");
        println!(
            "| {} | {} | {} | {} | {:.0} s |",
            r.kernel,
            r.release,
            era,
            cells.join(" | "),
            r.seconds
        );
    }
}

/// What went wrong on one kernel: the failing parts' reports (their divergences, each with
/// its first differing step), and where the whole console log is.
fn print_failure(o: &Opts, r: &Run) {
    println!("\n{} ({}):", r.kernel, r.release);
    if let Some(why) = &r.broken {
        println!("  {why}");
    }
    for p in r.parts.iter().filter(|p| !p.passed()) {
        println!("  {} ended with {:?}; its last lines:", p.name, p.rc);
        let from = p.output.len().saturating_sub(40);
        for l in &p.output[from..] {
            println!("    {l}");
        }
    }
    if r.kernel != "host" {
        println!(
            "  console log: {}",
            o.cache.join(format!("{}.log", r.kernel)).display()
        );
    }
}

/// A bounded fuzz campaign in one guest per kernel: batches of generated cases until `secs`
/// pass.
fn fuzz(
    o: &Opts,
    kernels: &[(String, PathBuf)],
    initrd: &Path,
    target: &str,
    secs: u64,
) -> ExitCode {
    if !matches!(target, "runtime" | "verifier") {
        eprintln!("bpfspec matrix: --fuzz is runtime or verifier, not {target}");
        return ExitCode::from(crate::EXIT_USAGE);
    }
    let cmdline = format!(
        "matrix.mode=fuzz matrix.target={target} matrix.secs={secs} {}",
        tcg_params()
    );
    let mut failed = 0;
    for (name, vmlinuz) in kernels {
        let run = run_guest(o, name, vmlinuz, initrd, &cmdline);
        let bad = run.parts.iter().filter(|p| !p.passed()).count();
        println!(
            "{name} ({}): {} batches of 1,000 {target} cases in {:.0} s, {bad} with a divergence",
            run.release,
            run.parts.len(),
            run.seconds
        );
        if !run.passed() {
            failed += 1;
            print_failure(o, &run);
        }
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Summary lines as `conform` and `verify-diff` print them (bpfspec/src/conform.rs,
    /// verify_diff.rs), and a console log cut short.
    #[test]
    fn summaries_and_markers_parse() {
        assert_eq!(
            summary(
                "conform: 45 scenarios on the kernel (1 not for this kernel): 44 agree, 1 \
                 listed divergences, 0 stale divergence entries, 0 failed"
            )
            .as_deref(),
            Some("44+1 listed/45")
        );
        assert_eq!(
            summary("  compared 1990: 1989 agree, 1 diverged (99.95% agreement); poisoned 10")
                .as_deref(),
            Some("1989/1990")
        );
        assert_eq!(
            summary("kernel 6.18 (Linux 6.18.44): 60 agree, 2 do not").as_deref(),
            Some("60/62")
        );
        assert_eq!(summary("before: 5 fds"), None);
        let run = parse(
            "6.1",
            "noise\n===MATRIX-BEGIN 6.1.0-56-cloud-amd64===\n===MATRIX-PART corpus===\nkernel: \
             Linux 6.1 -> era 6.1 (BTF: ...)\n===MATRIX-RC corpus 0===\n===MATRIX-PART \
             generated===\npartial\n",
            1.0,
        );
        assert_eq!(run.release, "6.1.0-56-cloud-amd64");
        assert_eq!(run.detection, "Linux 6.1 -> era 6.1 (BTF: ...)");
        assert!(run.parts[0].passed());
        assert_eq!(run.parts[1].rc, None);
        assert!(run.broken.is_some() && !run.passed());
    }
}
