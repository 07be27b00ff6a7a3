# bpf-async-spec: the two commands a developer needs are `make check` and `make ci`.
#
#   make check   the main job: every scenario in spec/testdata through the spec, in every era
#                it names; prints a summary and fails on any disagreement
#   make ci      the whole suite: formatting, clippy, every test (quickcheck: 10,000 random
#                op sequences per era), then `make check`
#   make bench   step throughput (ops/s) and scenario checking (scenarios/s)

CARGO ?= cargo
SCENARIOS := spec/testdata
BPFSPEC := target/release/bpfspec

.PHONY: check ci test lint bench build

build:
	$(CARGO) build --release -p bpfspec

check: build
	$(BPFSPEC) check $(SCENARIOS)

test:
	$(CARGO) test --workspace --release

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --release -- -D warnings

ci: lint test check

bench:
	$(CARGO) bench -p spec --bench step
	$(CARGO) bench -p scenario --bench check
