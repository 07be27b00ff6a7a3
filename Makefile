# bpf-async-spec: the two commands a developer needs are `make check` and `make ci`.
#
#   make check   the main job: every scenario in spec/testdata through the spec, in every era
#                it names, then on the real kernel (bpfspec conform) when bpf() is usable:
#                the kernel against the files and the spec against the kernel. The same for
#                the verifier cases (spec/testdata/verifier, bpfspec verify-diff), then a
#                bounded verifier differential on generated programs. Without bpf() the
#                kernel halves print SKIPPED and why (they never count as passed)
#                Then the race catalogue (make races)
#   make ci      the whole suite: formatting, clippy, every test (quickcheck: 10,000 random
#                op sequences per era; each race's finds_/fixed_holds tests), then `make check`
#   make races   every race of the bpf_timer / bpf_async history (harnesses/) on its buggy and
#                fixed design under loom (preemption bound 2) and shuttle PCT (1,000 iterations,
#                5 seeds): a table of what was found after how many executions, and the fixed
#                designs cleared with their window outcomes reached
#   make bench   step throughput (ops/s), scenario checking (scenarios/s), differential
#                cases/s on one CPU against the real kernel with the spec's share of a case,
#                and the verifier model against the kernel's verifier on the same programs
#   make proofs  the Kani harnesses of proofs/ through kani-shim: every path of each harness
#                (wider integers boundary-sampled, as its line says), one [kani-shim] line per
#                harness with paths checked / pruned and covers hit, then the mutation checks
#   make kani    the same harnesses under the real Kani (cargo kani); fails, saying so, where
#                Kani is not installed
#   make matrix  the conformance suite on real Debian kernels of every era (6.1, 6.12,
#                6.12 PREEMPT_RT, 7.x) booted under QEMU (TCG), and on this host, as a table;
#                fetches the kernels into $(VM_CACHE) first (vm/fetch-kernels.sh). `make check`
#                runs it when that cache holds kernels (never on a fresh clone)
#   make fuzz-vm T=runtime|verifier SECS=S [K=kernel]  a bounded differential fuzz campaign
#                inside a guest: the host kernel is never fuzzed open-ended
#   make fuzz-smoke  each cargo-fuzz target for a bounded time (nightly; installs cargo-fuzz):
#                spec_step, scenario_parse (seeded with the corpus), runtime_diff and
#                verifier_diff (the kernel)

CARGO ?= cargo
SCENARIOS := spec/testdata
# Verifier case files: the selftest mirror, findings, and the differential's regressions.
VERIFIER_CASES := spec/testdata/verifier
# Generated programs `make check` compares with the kernel's verifier (bounded: seconds).
VERIFY_DIFF_CI ?= 3000
BPFSPEC := target/release/bpfspec

.PHONY: check ci test lint bench build conform fuzz-smoke races proofs kani matrix \
	matrix-cached fuzz-vm guest vm-tools

# The kernel matrix: kernel images (gitignored), the static bpfspec the guests run.
VM_CACHE := target/vm-cache
GUEST := target/static/x86_64-unknown-linux-gnu/release/bpfspec
MATRIX_GENERATE ?= 2000

build:
	$(CARGO) build --release -p bpfspec

check: build proofs
	$(BPFSPEC) check $(SCENARIOS)
	@rc=0; $(BPFSPEC) conform $(SCENARIOS) || rc=$$?; \
	if [ $$rc -eq 77 ]; then echo "make check: kernel conformance SKIPPED (see above)"; \
	elif [ $$rc -ne 0 ]; then exit $$rc; fi
	@rc=0; $(BPFSPEC) verify-diff $(VERIFIER_CASES) || rc=$$?; \
	if [ $$rc -eq 77 ]; then echo "make check: verifier cases on the kernel SKIPPED (see above)"; \
	elif [ $$rc -ne 0 ]; then exit $$rc; fi
	@rc=0; $(BPFSPEC) verify-diff --generate $(VERIFY_DIFF_CI) --seed 1 || rc=$$?; \
	if [ $$rc -eq 77 ]; then echo "make check: verifier differential SKIPPED (see above)"; \
	elif [ $$rc -ne 0 ]; then exit $$rc; fi
	$(BPFSPEC) races
	@if ls $(VM_CACHE)/*/vmlinuz >/dev/null 2>&1; then $(MAKE) --no-print-directory matrix-cached; \
	else echo "make check: kernel matrix SKIPPED (no kernel images in $(VM_CACHE); make matrix fetches them)"; fi

races: build
	$(BPFSPEC) races

# Generated differential cases on the real kernel (bounded; prints agreement, poison causes,
# cases/s and the fd / program / map counts before and after); then 20,000 generated
# programs through both verifiers.
conform: build
	$(BPFSPEC) conform --generate 20000 --seed 1
	$(BPFSPEC) verify-diff --generate 20000 --seed 1

# The proofs crate's tests are its harnesses: `make proofs` runs them, with their reports.
test:
	$(CARGO) test --workspace --release --exclude proofs

proofs:
	$(CARGO) test -p proofs --release -- --nocapture --test-threads 2

kani:
	@$(CARGO) kani --version >/dev/null 2>&1 || { \
		echo "make kani: Kani is not installed here (cargo kani is missing or not set up)."; \
		echo "The same harnesses run through the exhaustive shim with: make proofs"; \
		exit 1; }
	$(CARGO) kani -p proofs

# The guests' bpfspec: static, so that the initramfs needs no libraries.
guest:
	RUSTFLAGS="-C target-feature=+crt-static" CARGO_TARGET_DIR=target/static \
		$(CARGO) build --release -p bpfspec --target x86_64-unknown-linux-gnu

vm-tools:
	@command -v qemu-system-x86_64 >/dev/null && command -v cpio >/dev/null && [ -x /bin/busybox ] || \
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
		qemu-system-x86 busybox-static cpio

matrix: vm-tools
	vm/fetch-kernels.sh $(VM_CACHE)
	$(MAKE) --no-print-directory matrix-cached

matrix-cached: build guest vm-tools
	$(BPFSPEC) matrix --cache $(VM_CACHE) --guest $(GUEST) --generate $(MATRIX_GENERATE)

T ?= runtime
SECS ?= 300
K ?= 6.12
fuzz-vm: build guest vm-tools
	vm/fetch-kernels.sh $(VM_CACHE) $(K)
	$(BPFSPEC) matrix --cache $(VM_CACHE) --guest $(GUEST) --kernels $(K) --fuzz $(T) --secs $(SECS)

# The fuzz targets are their own workspace (fuzz/Cargo.toml): linted here so they keep
# building without nightly.
lint:
	$(CARGO) fmt --all --check
	$(CARGO) fmt --manifest-path fuzz/Cargo.toml --check
	$(CARGO) clippy --workspace --all-targets --release -- -D warnings
	$(CARGO) clippy --manifest-path fuzz/Cargo.toml --all-targets --release -- -D warnings

ci: lint test proofs check

bench: build
	$(CARGO) bench -p spec --bench step
	$(CARGO) bench -p scenario --bench check
	$(CARGO) bench -p oracle --bench diff
	$(CARGO) bench -p oracle --bench verify
	$(BPFSPEC) races

# Bounded fuzzing only: the host kernel is never fuzzed open-ended (long campaigns belong in a
# VM guest). A divergence of runtime_diff stops the run with its crash file, the story in
# kernel vocabulary and the command that turns it into a scenario file for spec/testdata.
FUZZ_SECONDS ?= 30
FUZZ := $(CARGO) +nightly fuzz
# Full-length stories from the first input, as `conform --generate` draws them (512 bytes):
# libFuzzer's default slow length growth keeps stories too short to reach most bugs in a
# bounded run.
RUNTIME_DIFF_LEN := -len_control=0 -max_len=512
fuzz-smoke:
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	$(FUZZ) build -O
	$(FUZZ) run -O spec_step -- -max_total_time=$(FUZZ_SECONDS)
	mkdir -p fuzz/corpus/scenario_parse
	$(FUZZ) run -O scenario_parse fuzz/corpus/scenario_parse $(SCENARIOS) -- \
		-max_total_time=$(FUZZ_SECONDS)
	$(FUZZ) run -O runtime_diff -- -max_total_time=$(FUZZ_SECONDS) $(RUNTIME_DIFF_LEN)
	$(FUZZ) run -O verifier_diff -- -max_total_time=$(FUZZ_SECONDS) -len_control=0 -max_len=1024
