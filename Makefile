# Thin wrapper over CMake. `make` builds build/tlsvaultd and build/tlsvault;
# `make test` builds under ASan+UBSan with -Werror and runs the whole suite.
JOBS ?= $(shell nproc)
DATA ?= var
LISTEN ?= 127.0.0.1:8080
CMAKE_FLAGS ?=
# make install: where to (DESTDIR=/tmp/x stages it under /tmp/x)
PREFIX ?= /usr/local
DESTDIR ?=

FUZZ_SECONDS ?= 60
FUZZ_JOBS ?= 1

.PHONY: all deps build run test asan tsan format clean bench fuzz fuzz-run fuzz-merge install

all: build

deps:
	@sh scripts/install-deps

build: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTV_WERROR=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build build -j $(JOBS)

asan: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DTV_WERROR=ON -DTV_SANITIZE=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-asan -j $(JOBS)

# The optimised build is compiled too: -O2 finds warnings that -O0 hides, and
# `make run` must build on every commit that passes `make test`.
# Then valgrind memcheck over the unit tests and a short server scenario, in
# the plain build (valgrind can't run ASan binaries).
test: build asan
	@cd build-asan && ctest --output-on-failure -j $(JOBS)
	@cd build && ctest -L valgrind --no-tests=error --output-on-failure -j $(JOBS)

# The release build (build/, as `make`), then cmake --install: tlsvaultd to
# PREFIX/sbin, tlsvault to PREFIX/bin, the man pages, the systemd unit and its
# sysusers.d user under PREFIX/lib, the example config in /etc/tlsvault
# (README, "Install"). Only the two programs are built for it.
install: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTV_WERROR=ON \
		-DCMAKE_INSTALL_PREFIX="$(PREFIX)" $(CMAKE_FLAGS) >/dev/null
	@cmake --build build -j $(JOBS) --target tlsvaultd tlsvault
	@DESTDIR="$(DESTDIR)" cmake --install build

tsan: deps
	@cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DTV_WERROR=ON -DTV_TSAN=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-tsan -j $(JOBS)
	@cd build-tsan && ctest --output-on-failure -j $(JOBS)

run: build
	@sh scripts/run-dev "$(DATA)" "$(LISTEN)"

format:
	@find src tests fuzz bench -name '*.[ch]' | xargs clang-format -i

# The benchmarks (docs/PERFORMANCE.md): one table on stdout. The full run
# writes bench/results.json (committed: the latest full run); BENCH_QUICK=1
# makes the short run, whose JSON stays in build/. Corpora and the seeded
# inventory are cached in build/bench-cache.
bench: build
	@if [ -n "$(BENCH_QUICK)" ] && [ "$(BENCH_QUICK)" != 0 ]; then \
		build/tlsvault-bench --mode quick --json build/bench-results-quick.json; \
	else \
		build/tlsvault-bench --mode full --json bench/results.json; \
	fi

# libFuzzer builds of fuzz/fuzz_*.c (clang-14, ASan+UBSan); `make test`
# replays the committed corpora with the regular ASan build instead.
fuzz: deps
	@cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DTV_WERROR=ON -DTV_FUZZ=ON -DTV_TESTS=OFF $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-fuzz -j $(JOBS) --target fuzz_all

# Run every target for FUZZ_SECONDS (FUZZ_JOBS at once); FUZZ_TARGETS narrows.
fuzz-run: fuzz
	@sh scripts/fuzz-run run $(FUZZ_SECONDS) $(FUZZ_JOBS) $(FUZZ_TARGETS)

# Fold what fuzz-run found (build-fuzz/corpus) into the committed corpora,
# keeping only inputs that add coverage.
fuzz-merge: fuzz
	@sh scripts/fuzz-run merge 0 1 $(FUZZ_TARGETS)

clean:
	rm -rf build build-asan build-tsan build-fuzz
