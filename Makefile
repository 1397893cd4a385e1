# vllm.c build.
#   make                 release build, -O3 -march=native  -> ./vllmc
#   make PORTABLE=1      no -march=native (runs on any x86-64 / aarch64) -> build/portable/vllmc
#   make test            C unit tests (tests/test_*.c) + end-to-end tests; test_forward
#                        and test_backend_cpu also once per kernel variant (VLLMC_KERNELS)
#   make test SANITIZE=1 the same under ASan + UBSan (objects in build/asan;
#                        e2e tests marked heavy are skipped there)
#   make CUDA=1          also builds src/backend/cuda/*.cu with nvcc (none written yet)
#   make fuzz            libFuzzer runs on the GGUF / safetensors readers (FUZZ_SECONDS each)
CC       ?= cc
PORTABLE ?= 0
SANITIZE ?= 0
CUDA     ?= 0

PKGS     := libpcre2-8 libutf8proc jansson libmicrohttpd libxxhash
CFLAGS   := -std=c11 -D_GNU_SOURCE -Wall -Wextra -g -Iinclude -Isrc \
            $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -ledit -lpthread -lm

ifeq ($(SANITIZE),1)
  BUILD  ?= build/asan
  CFLAGS += -O2 -march=native -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  LDFLAGS+= -fsanitize=address,undefined
else ifeq ($(PORTABLE),1)
  BUILD  ?= build/portable
  CFLAGS += -O3
else
  BUILD  ?= build/release
  CFLAGS += -O3 -march=native
endif
CFLAGS += -fopenmp
LDFLAGS+= -fopenmp

SRC      := $(shell find src -name '*.c' ! -path 'src/main.c' | sort)
OBJ      := $(SRC:%.c=$(BUILD)/%.o)
LIB      := $(BUILD)/libvllmc.a

ifeq ($(CUDA),1)
  NVCC    ?= nvcc
  CU_SRC  := $(shell find src -name '*.cu' | sort)
  CU_OBJ  := $(CU_SRC:%.cu=$(BUILD)/%.cu.o)
  OBJ     += $(CU_OBJ)
  CFLAGS  += -DVLLMC_CUDA
  LDLIBS  += -lcudart -lcublas -lstdc++
endif

TEST_SRC := $(sort $(wildcard tests/test_*.c))
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_COMMON := $(wildcard tests/common/*.c)

# ./vllmc is the release binary; the other builds keep theirs in their own
# folder (a `make PORTABLE=1` must not leave its binary where `make test` of
# the release build would find it up to date)
ifeq ($(BUILD),build/release)
BIN := vllmc
else
BIN := $(BUILD)/vllmc
endif

.PHONY: all test unit e2e clean fuzz bench
BENCH_BIN := $(BUILD)/bench/membw $(BUILD)/bench/bench_engine $(BUILD)/bench/tokenizer_bench $(BUILD)/bench/matmul_bench
# the bench tools already built are relinked too (a stale one measures old code)
all: $(BIN) $(wildcard $(BENCH_BIN))

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/%.cu.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) -O3 -Iinclude -Isrc -DVLLMC_CUDA -c $< -o $@

$(LIB): $(OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(BUILD)/src/main.o $(LIB)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(TEST_COMMON) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests $< $(TEST_COMMON) -o $@ $(LIB) $(LDFLAGS) $(LDLIBS) -lcmocka

# kernel-level tests run once more per lower kernel variant (VLLMC_KERNELS,
# src/backend/cpu/kernels.c): the default run covers the best one
KERNEL_TESTS    := $(BUILD)/tests/test_forward $(BUILD)/tests/test_backend_cpu
KERNEL_VARIANTS := portable avx2 avx512

unit: $(TEST_BIN)
	@fail=0; for t in $(TEST_BIN); do \
	  printf '== %s\n' $$t; VLLMC_BIN=$(BIN) $$t || fail=1; done; \
	  for k in $(KERNEL_VARIANTS); do for t in $(KERNEL_TESTS); do \
	    printf '== VLLMC_KERNELS=%s %s\n' $$k $$t; VLLMC_KERNELS=$$k $$t || fail=1; done; done; \
	  if [ $$fail = 0 ]; then echo "unit: all passed"; else echo "unit: FAILED"; exit 1; fi

# Under the sanitizers the e2e tests marked heavy (whole-model batches, long
# prompts: minutes each there) are left to the release build.
ifeq ($(SANITIZE),1)
  E2E_SELECT := -m "not heavy"
endif
e2e: $(BIN)
	@if ls tests/e2e/test_*.py >/dev/null 2>&1; then VLLMC_BIN=$(abspath $(BIN)) python3 -m pytest -q $(E2E_SELECT) tests/e2e; fi

test: unit e2e

bench: $(BIN) $(BENCH_BIN)

$(BUILD)/bench/%: bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< -o $@ $(LIB) $(LDFLAGS) $(LDLIBS)

clean:
	rm -rf build vllmc

-include $(OBJ:.o=.d)

# make fuzz [FUZZ_SECONDS=60]: libFuzzer (clang) targets tests/fuzz/fuzz_<t>.c,
# each linked with the sources in FUZZ_SRC_<t> and seeded from FUZZ_SEEDS_<t>
# (a new target: add a build rule and a case line below);
# runs each for FUZZ_SECONDS. Crash inputs land in build/fuzz/.
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_CFLAGS  := -std=c11 -D_GNU_SOURCE -g -O1 -Iinclude -Isrc -fsanitize=fuzzer,address,undefined \
                -fno-sanitize-recover=undefined $(shell pkg-config --cflags jansson libxxhash 2>/dev/null)
FUZZ_SRC_gguf        := src/model/gguf.c src/model/config.c src/model/dtype.c src/util/error.c src/util/strmap.c
FUZZ_SEEDS_gguf      := $(wildcard tests/fixtures/formats/*.gguf)
FUZZ_SRC_safetensors := src/model/safetensors.c src/model/dtype.c src/util/error.c src/util/strmap.c
FUZZ_SEEDS_safetensors := $(wildcard tests/fixtures/formats/*.safetensors tests/fixtures/formats/*/*.safetensors)
FUZZ_SRC_tokenize    := $(filter-out src/tokenizer/chat% src/tokenizer/jinja%,$(wildcard src/tokenizer/*.c)) \
                        src/model/gguf.c src/model/dtype.c src/util/error.c src/util/strmap.c
FUZZ_SEEDS_tokenize  := $(wildcard tests/fixtures/tokenizer/*.inp)
FUZZ_TARGETS := gguf safetensors tokenize

build/fuzz/fuzz_gguf: tests/fuzz/fuzz_gguf.c $(FUZZ_SRC_gguf)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $^ -o $@ -ljansson -lxxhash -lm

build/fuzz/fuzz_safetensors: tests/fuzz/fuzz_safetensors.c $(FUZZ_SRC_safetensors)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $^ -o $@ -ljansson -lxxhash -lm

build/fuzz/fuzz_tokenize: tests/fuzz/fuzz_tokenize.c $(FUZZ_SRC_tokenize) $(BUILD)/tests/test_tokenizer
	@mkdir -p $(dir $@)
	$(BUILD)/tests/test_tokenizer >/dev/null   # unpacks tests/fixtures/tmp/tokenizer/
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(shell pkg-config --cflags libpcre2-8 libutf8proc) $(filter %.c,$^) -o $@ \
	  -lpcre2-8 -lutf8proc -ljansson -lxxhash -lm

fuzz: $(FUZZ_TARGETS:%=build/fuzz/fuzz_%)
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p build/fuzz/corpus_$$t; \
	  case $$t in gguf) seeds="$(FUZZ_SEEDS_gguf)";; safetensors) seeds="$(FUZZ_SEEDS_safetensors)";; \
	    tokenize) seeds="$(FUZZ_SEEDS_tokenize)";; esac; \
	  cp $$seeds build/fuzz/corpus_$$t/ 2>/dev/null; \
	  echo "== fuzz_$$t for $(FUZZ_SECONDS)s"; \
	  build/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -artifact_prefix=build/fuzz/ \
	    build/fuzz/corpus_$$t || exit 1; \
	done
