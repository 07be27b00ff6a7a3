# bpf-async-spec: the two commands a developer needs are `make check` and `make ci`.
#
#   make check   the main job: every scenario in spec/testdata through the spec, in every era
#                it names, then on the real kernel (bpfspec conform) when bpf() is usable:
#                the kernel against the files and the spec against the kernel. Without
#                bpf() the kernel half prints SKIPPED and why (it never counts as passed)
#   make ci      the whole suite: formatting, clippy, every test (quickcheck: 10,000 random
#                op sequences per era), then `make check`
#   make bench   step throughput (ops/s), scenario checking (scenarios/s), and differential
#                cases/s on one CPU against the real kernel with the spec's share of a case

CARGO ?= cargo
SCENARIOS := spec/testdata
BPFSPEC := target/release/bpfspec

.PHONY: check ci test lint bench build conform

build:
	$(CARGO) build --release -p bpfspec

check: build
	$(BPFSPEC) check $(SCENARIOS)
	@rc=0; $(BPFSPEC) conform $(SCENARIOS) || rc=$$?; \
	if [ $$rc -eq 77 ]; then echo "make check: kernel conformance SKIPPED (see above)"; \
	elif [ $$rc -ne 0 ]; then exit $$rc; fi

# Generated differential cases on the real kernel (bounded; prints agreement, poison causes,
# cases/s and the fd / program / map counts before and after).
conform: build
	$(BPFSPEC) conform --generate 20000 --seed 1

test:
	$(CARGO) test --workspace --release

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --release -- -D warnings

ci: lint test check

bench:
	$(CARGO) bench -p spec --bench step
	$(CARGO) bench -p scenario --bench check
	$(CARGO) bench -p oracle --bench diff
