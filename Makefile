# Apus — the project's commands. `make test` is what CI runs.
.PHONY: deps build test sanitize fuzz docs demo bench-core bench-nn bench-data bench-vqa bench-graph bench-pooled-backward bench-accuracy bench-breadth bench-distributed

deps:
	./scripts/install-system-deps.sh

build: deps
	swift build

# The easy-VQA demo: fetches the data if missing, trains the CNN + LSTM model of the config
# file for 3 epochs, prints the test accuracy (checkpoints and logs in runs/easy-vqa-config/, replaced
# on every run: --overwrite).
demo: deps
	./scripts/fetch-easy-vqa.sh
	swift build -c release --product apus
	.build/release/apus train Examples/easy-vqa/vqa.yaml --overwrite

# Installs what is missing, builds, and runs the whole test suite (swift-testing); the
# ApusDistributed tests launch 2 and 3 ranks with mpirun over loopback. The ONNX round-trip
# tests run onnxruntime from a venv (Benchmarks/peers/install.sh onnx: pinned CPU wheels from
# PyPI, installed once); without it they are skipped with a note.
test: deps
	./Benchmarks/peers/install.sh onnx
	swift build --build-tests
	swift test --skip-build --disable-xctest --no-parallel

# The whole suite under AddressSanitizer (with leak checking) and ThreadSanitizer, in .build-asan
# and .build-tsan (not part of `make test`; about 11 minutes on 2 cores). One of them:
# scripts/sanitize.sh asan (or tsan).
sanitize: deps
	./scripts/sanitize.sh

# The API reference (DocC, through the swift-docc-plugin): one archive per library module in
# .build/docs/<Module>.doccarchive (static HTML: serve the folder, open /documentation/<module>).
# Fails on any DocC warning (an unresolved symbol link, say) and, through
# scripts/check-doc-coverage.sh, on any public symbol of Apus or ApusNN without documentation.
DOCS_TARGETS = Apus ApusNN ApusOptimizers ApusData ApusTrain ApusConfig
docs: deps
	swift package --allow-writing-to-directory .build/docs generate-documentation \
		$(addprefix --target ,$(DOCS_TARGETS)) --output-path .build/docs \
		--experimental-skip-synthesized-symbols --enable-inherited-docs --warnings-as-errors \
		--experimental-documentation-coverage --coverage-summary-level brief
	./scripts/check-doc-coverage.sh .build/docs Apus ApusNN

# Every reader of outside input under libFuzzer + AddressSanitizer, 10^6 inputs each (Fuzz/README.md;
# FUZZ_RUNS=… to change that). Its own build in .build-fuzz; not part of `make test`.
fuzz: deps
	./scripts/fuzz.sh

# Core micro-benchmarks against numpy and PyTorch on this machine (see Benchmarks/README.md).
bench-core: deps
	./Benchmarks/core/run.sh

# LSTM and convolution-stack forward+backward against PyTorch eager.
bench-nn: deps
	./Benchmarks/nn/run.sh

# easy-VQA loading throughput against PyTorch's DataLoader with Pillow.
bench-data: deps
	./Benchmarks/data/run.sh

# The headline: one VQA training iteration at 50, 64 and 224 pixels against PyTorch (eager and
# compiled), Keras/TensorFlow, JAX/Flax and MXNet, one framework at a time.
bench-vqa: deps
	./Benchmarks/vqa/run.sh

# Accuracy parity on real easy-VQA: the PyTorch reference, Apus from its start, a 1-thread PyTorch control, the Apus config demo.
bench-accuracy: deps
	./Benchmarks/vqa/run.sh --accuracy

# Graph mode against eager mode (time, activation memory, arena, peak RSS) at 64 and 224 pixels.
bench-graph: deps
	./Benchmarks/vqa/graph.sh

# Graph mode's backward pass of a pooled ReLU convolution, from window codes against the dense strips (VQA layers 2 and 3).
bench-pooled-backward: deps
	swift build -c release --product apus-bench
	.build/release/apus-bench pooled-backward --output Benchmarks/results/pooled-backward-$$(date +%Y-%m-%d).md

# Four training workloads beyond VQA (ResNet-18, Transformer LM, MLP, LSTM LM): Apus eager and
# graph against PyTorch eager and torch.compile, one process each, in 3 rounds (Benchmarks/README.md).
bench-breadth: deps
	./Benchmarks/breadth/run.sh

# Data-parallel training on 2 processes (mpirun, loopback): all-reduce bandwidth against a raw
# MPI_Allreduce loop, and the easy-VQA step on 1 and 2 ranks with the overlap measured.
bench-distributed: deps
	./Benchmarks/distributed/run.sh
