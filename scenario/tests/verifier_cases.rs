//! Verifier case files (`*.bpfv`, `docs/verifier-case-format.md`):
//! * the fixtures parse to the cases and verdicts the format defines, and `render_case` writes
//!   them back exactly (comments aside): every instruction form, ALU operator, condition,
//!   access size, helper and kfunc, every header line and `prog` option, `on` lines, a failing
//!   map;
//! * `parse_case(render_case(x)) == x` for generated programs of every era
//!   (`spec::prog::generate`) and for every case file under `spec/testdata/verifier`;
//! * a bad file is one `FILE:LINE: what is wrong` error naming the right line.

mod support;

use arbitrary::Unstructured;
use scenario::{
    CaseFile, EraSet, Observed, VerdictOverride, as_stated, parse_case, render_case, render_program,
};
use spec::prog::{
    AluOp, Callee, Cond, Helper, Imm64, Insn, Kfunc, Linkage, Operand, Program, Reg, Size, Subprog,
    generate,
};
use spec::verify::Verdict;
use spec::{Era, Errno, Field, Kernel, MapIdx, MapKind, ProgType, RejectReason};
use std::collections::HashSet;

fn fixture_text(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parsed(text: &str) -> CaseFile {
    parse_case(text, "t.bpfv").unwrap_or_else(|e| panic!("{e}"))
}

/// `file` renders to a text that parses back to it; the text.
#[track_caller]
fn assert_round_trip(file: &CaseFile) -> String {
    let text = render_case(file);
    let back = parse_case(&text, "rendered.bpfv").unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(&back, file, "{text}");
    text
}

/// `text` without its comment lines.
fn uncommented(text: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn every_construct_parses_and_renders_back_exactly() {
    let text = fixture_text("every_instruction.bpfv");
    let file = parsed(&text);
    assert_eq!(assert_round_trip(&file), uncommented(&text));

    let insns: Vec<&Insn> = file.case.prog.insns().collect();
    // The distinct values of one part of the instructions that have it.
    let kinds = |part: fn(&Insn) -> Option<String>| -> HashSet<String> {
        insns.iter().filter_map(|i| part(i)).collect()
    };
    let ops = kinds(|i| match i {
        Insn::Alu { op, .. } => Some(format!("{op:?}")),
        _ => None,
    });
    assert_eq!(ops.len(), 9, "every ALU operator: {ops:?}");
    let conds = kinds(|i| match i {
        Insn::JmpIf { cond, .. } => Some(format!("{cond:?}")),
        _ => None,
    });
    assert_eq!(conds.len(), 8, "every condition: {conds:?}");
    let sizes = kinds(|i| match i {
        Insn::Load { size, .. } => Some(format!("{size:?}")),
        _ => None,
    });
    assert_eq!(sizes.len(), 4, "every access size: {sizes:?}");
    for h in Helper::ALL {
        assert!(insns.contains(&&Insn::Call(Callee::Helper(h))), "{h:?}");
    }
    for k in Kfunc::ALL {
        assert!(insns.contains(&&Insn::Call(Callee::Kfunc(k))), "{k:?}");
    }
    for insn in [
        Insn::Alu {
            op: AluOp::Mov,
            dst: Reg::R1,
            src: Operand::Imm(-5),
        },
        Insn::LdImm64 {
            dst: Reg::R1,
            imm: Imm64::Const(u64::MAX),
        },
        Insn::LdImm64 {
            dst: Reg::R1,
            imm: Imm64::Map(2),
        },
        Insn::LdImm64 {
            dst: Reg::R2,
            imm: Imm64::Func(1),
        },
        Insn::Store {
            size: Size::DW,
            dst: Reg::FP,
            off: -8,
            src: Operand::Imm(0),
        },
        Insn::Store {
            size: Size::H,
            dst: Reg::FP,
            off: i16::MIN,
            src: Operand::Reg(Reg::R9),
        },
        Insn::JmpIf {
            cond: Cond::Slt,
            dst: Reg::R8,
            src: Operand::Imm(i32::MIN),
            off: i16::MIN,
        },
        // Out of range: stored as written, for the verifier to reject.
        Insn::Ja { off: 1000 },
        Insn::Call(Callee::Subprog(2)),
    ] {
        assert!(insns.contains(&&insn), "{insn:?}");
    }
}

#[test]
fn every_header_line_and_option_is_kept() {
    let file = parsed(&fixture_text("every_instruction.bpfv"));
    assert_eq!(file.name, "every_instruction");
    assert_eq!(file.eras, EraSet::ALL);
    assert_eq!(
        file.observed,
        Some(Observed {
            release: "6.18.4-cloud-amd64".to_owned(),
            era: Era::V6_18,
            verdict: Verdict::Reject(RejectReason::Unmapped),
        })
    );
    assert_eq!(
        file.log,
        [
            "0: R1=ctx() R10=fp0",
            "5: (85) call bpf_map_lookup_elem#1",
            "   trailing blanks and # kept   ",
        ]
    );
    assert_eq!(file.map_names, ["inner_tmpl", "outer", "plain", "fields"]);
    let maps = &file.case.maps;
    assert_eq!(maps[1].spec.kind, MapKind::ArrayOfMaps);
    assert_eq!(maps[1].spec.inner, Some(MapIdx(0)));
    assert!(maps[0].btf && !maps[2].btf);
    assert!(maps[2].spec.flags.no_prealloc && maps[2].spec.flags.rdonly_prog);
    assert_eq!(maps[3].spec.value.kptr_untrusted, 1);
    let prog = &file.case.prog;
    assert_eq!(prog.ty, ProgType::Tracing);
    assert!(prog.sleepable && !prog.gpl && !prog.func_info);
    let linkages: Vec<(&str, Linkage)> = prog
        .subprogs
        .iter()
        .map(|s| (s.name.as_str(), s.linkage))
        .collect();
    assert_eq!(
        linkages,
        [
            ("main", Linkage::Global),
            ("cb", Linkage::Static),
            ("sub", Linkage::Global),
            ("empty", Linkage::Static),
        ]
    );
    assert!(prog.subprogs[3].insns.is_empty());
}

#[test]
fn the_first_matching_on_line_decides_an_era() {
    let file = parsed(&fixture_text("every_instruction.bpfv"));
    let reject = |r| Some(Verdict::Reject(r));
    assert_eq!(file.verdict, Verdict::Reject(RejectReason::GplOnly("")));
    assert_eq!(
        file.expected(Era::V5_15),
        reject(RejectReason::UnknownFunc(""))
    );
    assert_eq!(file.expected(Era::V6_12), Some(Verdict::Accept));
    assert_eq!(
        file.expected(Era::V7_0),
        Some(Verdict::MapCreate {
            map: 1,
            errno: Errno::E2BIG
        })
    );
}

#[test]
fn a_failing_map_line_states_the_default_verdict() {
    let text = fixture_text("map_create_fails.bpfv");
    let file = parsed(&text);
    assert_eq!(assert_round_trip(&file), uncommented(&text));
    let fails = |map, errno| Some(Verdict::MapCreate { map, errno });
    assert_eq!(file.expected(Era::V6_1), fails(1, Errno::EINVAL));
    assert_eq!(file.expected(Era::V6_12), fails(0, Errno::E2BIG));
    assert_eq!(file.expected(Era::V7_0), Some(Verdict::Accept));
    assert_eq!(file.expected(Era::V5_15), None, "outside the file's eras");
    assert_eq!(
        file.overrides[0],
        VerdictOverride {
            eras: EraSet::only(Era::V7_0),
            verdict: Verdict::Accept
        }
    );
}

#[test]
fn the_doc_example_parses() {
    let doc = include_str!("../../docs/verifier-case-format.md");
    let example = doc
        .split("```text\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the doc's first text block");
    let file = parsed(example);
    assert_eq!(assert_round_trip(&file), uncommented(example));
    let insns: Vec<&Insn> = file.case.prog.insns().collect();
    assert_eq!(
        insns[1],
        &Insn::Store {
            size: Size::W,
            dst: Reg::FP,
            off: -4,
            src: Operand::Reg(Reg::R1)
        }
    );
    assert!(insns.contains(&&Insn::Call(Callee::Kfunc(Kfunc::WqInit))));
}

/// A program of one function, `main`, holding `insns`.
fn program(insns: Vec<Insn>) -> Program {
    Program {
        ty: ProgType::SchedCls,
        sleepable: false,
        gpl: true,
        func_info: true,
        subprogs: vec![Subprog {
            name: "main".to_owned(),
            linkage: Linkage::Global,
            insns,
        }],
    }
}

#[test]
fn immediates_and_offsets_are_written_as_the_kernel_log_writes_them() {
    let insns = vec![
        Insn::Alu {
            op: AluOp::Mov,
            dst: Reg::R1,
            src: Operand::Imm(-5),
        },
        Insn::Alu {
            op: AluOp::Add,
            dst: Reg::R1,
            src: Operand::Imm(-4),
        },
        Insn::LdImm64 {
            dst: Reg::R1,
            imm: Imm64::Const(0x1234),
        },
        Insn::LdImm64 {
            dst: Reg::R1,
            imm: Imm64::Map(0),
        },
        Insn::Store {
            size: Size::W,
            dst: Reg::FP,
            off: -4,
            src: Operand::Reg(Reg::R1),
        },
        Insn::Store {
            size: Size::DW,
            dst: Reg::FP,
            off: -8,
            src: Operand::Imm(0),
        },
        Insn::Load {
            size: Size::DW,
            dst: Reg::R0,
            src: Reg::R1,
            off: 8,
        },
        Insn::JmpIf {
            cond: Cond::Sgt,
            dst: Reg::R1,
            src: Operand::Reg(Reg::R2),
            off: -2,
        },
        Insn::Ja { off: 0 },
        Insn::Exit,
    ];
    assert_eq!(
        render_program(&program(insns), &["arr".to_owned()]),
        "func main\n  r1 = -5\n  r1 += -4\n  r1 = 0x1234 ll\n  r1 = map arr\n  \
         *(u32 *)(r10 - 4) = r1\n  *(u64 *)(r10 - 8) = 0\n  r0 = *(u64 *)(r1 + 8)\n  \
         if r1 s> r2 goto -2\n  goto +0\n  exit\n"
    );
}

#[test]
fn indices_past_the_names_are_written_so_that_they_do_not_parse() {
    let prog = program(vec![
        Insn::LdImm64 {
            dst: Reg::R1,
            imm: Imm64::Map(3),
        },
        Insn::Call(Callee::Subprog(7)),
    ]);
    assert_eq!(
        render_program(&prog, &[]),
        "func main\n  r1 = map ?3\n  call ?7\n"
    );
}

/// The header lines of the error tests (lines 1 to 4).
const HEADER: &str = "case t\nsource test\neras all\nmap arr array max_entries=1 value=timer\n";

/// The error in `text`, checking its shape.
fn error_of(text: &str) -> (usize, String) {
    let e = parse_case(text, "dir/t.bpfv").expect_err("the file should not parse");
    support::line_and_message(e, "dir/t.bpfv")
}

/// The error in `HEADER + body` is on `line` and its message contains `words`.
#[track_caller]
fn assert_error(body: &str, line: usize, words: &str) {
    support::assert_at(error_of(&format!("{HEADER}{body}")), line, words);
}

/// `prog` on line 5, then `main` on line 6 with `insns` from line 7 on.
fn with_main(insns: &str) -> String {
    format!("prog sched_cls -> accept\nfunc main\n{insns}")
}

#[test]
fn bad_instructions_are_named_on_their_line() {
    for (insns, line, words) in [
        (
            "  call bpf_timer_strat\n",
            7,
            "`bpf_timer_strat` is not a helper",
        ),
        ("  r0 = 0\n  r1 = map nope\n", 8, "unknown map `nope`"),
        ("  r11 = 0\n", 7, "bad register `r11` (r0 to r10)"),
        ("  r1 = r11\n", 7, "bad register `r11`"),
        ("  w1 = 0\n", 7, "unknown instruction `w1`"),
        ("  r2 = &nosuch\n", 7, "unknown function `nosuch`"),
        ("  call nosuch\n", 7, "not a helper, a kfunc or a function"),
        (
            "  r1 = 4294967296\n",
            7,
            "out of range for a 32-bit immediate",
        ),
        ("  r1 = -1 ll\n", 7, "out of range for a 64-bit constant"),
        ("  r1 = 0x1g ll\n", 7, "expected a number, found `0x1g`"),
        ("  goto +32768\n", 7, "out of range for a jump offset"),
        ("  goto 3\n", 7, "`+N` or `-N`"),
        ("  goto + -3\n", 7, "a sign twice"),
        (
            "  r0 = *(u128 *)(r1 + 0)\n",
            7,
            "unknown access size `u128`",
        ),
        (
            "  *(u32 *)(r10 - 4) = \n",
            7,
            "expected a register or an immediate",
        ),
        ("  if r0 =< 0 goto +1\n", 7, "unknown condition `=`"),
        ("  if r0 == 0 +1\n", 7, "expected `goto <offset>`"),
        ("  r1 %= 2\n", 7, "unexpected character `%`"),
        ("  exit now\n", 7, "unexpected `now`"),
    ] {
        assert_error(&with_main(insns), line, words);
    }
}

#[test]
fn bad_declarations_are_named_on_their_line() {
    let main = "func main\n  exit\n";
    for (body, line, words) in [
        (
            "map arr hash max_entries=1\n",
            5,
            "`arr` is already declared on line 4",
        ),
        (
            "map o array_of_maps max_entries=1 inner=later\n",
            5,
            "unknown map `later`",
        ),
        ("map m array max_entries=1 nobtf nobtf\n", 5, "given twice"),
        ("map m array max_entries=1 -> 0\n", 5, "expected an errno"),
        (
            "map m array max_entries=1 -> -EINVAL\nmap n array max_entries=1 -> -E2BIG\n",
            6,
            "already fails",
        ),
        (
            &format!("map m array max_entries=1 -> -EINVAL\nprog xdp -> accept\n{main}"),
            6,
            "the program is never loaded",
        ),
        (&format!("prog xdp\n{main}"), 5, "missing `-> <verdict>`"),
        (
            &format!("prog xdp -> map arr fails -EINVAL\n{main}"),
            5,
            "stated on its line",
        ),
        (
            &format!("prog xdp -> reject unmapped\n{main}"),
            5,
            "cannot expect `unmapped`",
        ),
        (
            &format!("prog xdp -> reject because\n{main}"),
            5,
            "unknown reject reason",
        ),
        (
            &format!("prog xdp -> maybe\n{main}"),
            5,
            "unknown verdict `maybe`",
        ),
        (
            &format!("prog xdp nofuncinfo nofuncinfo -> accept\n{main}"),
            5,
            "twice",
        ),
        (
            &format!("prog xdp on arr -> accept\n{main}"),
            5,
            "unknown program option `on`",
        ),
        (
            &format!("prog xdp -> accept\n  on 6.3 -> accept\n{main}"),
            6,
            "`6.3`",
        ),
        (
            &format!("prog xdp -> accept\n  exit\n{main}"),
            6,
            "expected an `on",
        ),
        ("prog xdp -> accept\n", 5, "missing `func` lines"),
        (
            "prog xdp -> accept\nfunc main\nfunc cb\n",
            7,
            "needs its linkage",
        ),
        (
            "prog xdp -> accept\nfunc main\nfunc main static\n",
            7,
            "already declared on line 6",
        ),
        (
            "prog xdp -> accept\nfunc bpf_wq_init\n",
            6,
            "is a helper or kfunc",
        ),
        (
            "prog xdp -> accept\nfunc main inline\n",
            6,
            "unknown linkage `inline`",
        ),
        (
            "prog xdp -> accept\nfunc main\nmap m array max_entries=1\n",
            7,
            "`map` must come before the functions",
        ),
        (
            "prog xdp -> accept\nprog xdp -> accept\n",
            6,
            "duplicate `prog` line",
        ),
        ("source late\n", 5, "`source` must come before the maps"),
        ("  r0 = 0\n", 5, "unexpected indented line"),
        ("fnuc main\n", 5, "unknown statement `fnuc`"),
    ] {
        assert_error(body, line, words);
    }
}

#[test]
fn the_header_comes_first_and_is_complete() {
    let error = error_of;
    assert!(
        error("# nothing\n")
            .1
            .contains("empty file: expected `case <slug>`")
    );
    assert_eq!(
        error("\nsource s\ncase t\n"),
        (2, "the first statement must be `case <slug>`".to_owned())
    );
    assert_eq!(
        error("case t\neras all\nprog xdp -> accept\nfunc main\n"),
        (1, "missing `source` line".to_owned())
    );
    assert_eq!(
        error("case t\nsource s\neras all\n"),
        (1, "missing `prog` line".to_owned())
    );
    let observed = |line: &str| error(&format!("case t\nsource s\neras all\n{line}\n"));
    assert_eq!(
        observed("log oops"),
        (4, "expected `log | <line>`".to_owned())
    );
    assert!(
        observed("observed 6.18 (era 6.18): accept")
            .1
            .contains("observed linux <release>")
    );
    assert!(
        observed("observed linux 6.18 (era 6.3): accept")
            .1
            .contains("`6.3`")
    );
    assert!(
        observed("observed linux 6.18 (era 6.18): map x fails -EINVAL")
            .1
            .contains("unknown map `x`")
    );
}

#[test]
fn the_kernel_log_spelling_of_offsets_is_read() {
    let file = parsed(&format!(
        "{HEADER}{}",
        with_main("  *(u32 *)(r10 -4) = r1\n  r0 = *(u64 *)(r1 +8)\n  goto -2\n")
    ));
    let insns = &file.case.prog.subprogs[0].insns;
    assert!(matches!(insns[0], Insn::Store { off: -4, .. }));
    assert!(matches!(insns[1], Insn::Load { off: 8, .. }));
    assert_eq!(insns[2], Insn::Ja { off: -2 });
}

#[test]
fn files_state_rejections_by_reason_name() {
    let wq = Verdict::Reject(RejectReason::FieldOffsetMismatch(Field::Wq));
    let stated = as_stated(wq);
    assert_eq!(
        stated,
        Verdict::Reject(RejectReason::FieldOffsetMismatch(Field::Timer))
    );
    let file = parsed(&format!(
        "{HEADER}prog xdp -> reject field_offset_mismatch\nfunc main\n"
    ));
    assert_eq!(file.expected(Era::V6_12), Some(stated));
    assert_eq!(as_stated(Verdict::Accept), Verdict::Accept);
}

/// Generated case `i` for `kernel`, if the generator makes one from its bytes.
fn generated_case(kernel: &Kernel, i: u64) -> Option<spec::prog::Case> {
    let bytes = spec::generate::seeded_bytes(i, 1024);
    generate::case(&mut Unstructured::new(&bytes), kernel).ok()
}

/// Cases per era for the generated round trip.
const GENERATED: u64 = 1_000;

#[test]
fn generated_cases_round_trip() {
    let mut written = 0;
    for era in Era::ALL {
        let kernel = Kernel::new(era);
        for i in 0..GENERATED {
            let Some(case) = generated_case(&kernel, i) else {
                continue;
            };
            let verdict = spec::verify::verify(&kernel, &case);
            if matches!(verdict, Verdict::Unsupported(_)) {
                continue;
            }
            let mut file = CaseFile::observed(
                &format!("generated_{i}"),
                &case,
                &kernel,
                "6.18.0-test",
                verdict,
                "0: (b7) r1 = 0\nprocessed 1 insns # and a comment sign",
                "spec::prog::generate",
            );
            file.overrides.push(VerdictOverride {
                eras: EraSet::ALL,
                verdict: Verdict::Accept,
            });
            let text = assert_round_trip(&file);
            assert!(text.contains(&render_program(&case.prog, &file.map_names)));
            written += 1;
        }
    }
    assert!(
        written > Era::ALL.len() as u64 * GENERATED / 2,
        "only {written} generated cases written"
    );
}

#[test]
fn every_testdata_case_parses_and_round_trips() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../spec/testdata/verifier");
    let mut paths = Vec::new();
    let mut dirs = vec![std::path::PathBuf::from(dir)];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "bpfv") {
                paths.push(p);
            }
        }
    }
    assert!(!paths.is_empty(), "no case files under {dir}");
    paths.sort();
    for path in &paths {
        let text = std::fs::read_to_string(path).unwrap();
        let file = parse_case(&text, path).unwrap_or_else(|e| panic!("{e}"));
        assert_round_trip(&file);
    }
    eprintln!("{} case files under {dir}", paths.len());
}
