# swift-realtime-audio: every target installs what it needs (apt-get, with sudo when not root).
SWIFT ?= swift
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT := DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get
SYSTEM_PACKAGES := libsndfile1-dev libasound2-dev
DEMO_OUT := demo-out
BENCH := $(SWIFT) package --package-path Benchmarks

.PHONY: setup build release test docs gateway bench-gateway soak-gateway demo bench bench-plan bench-ratios bench-carrier bench-ratios-native bench-list bench-instructions vad-fixtures samples soak fuzz check-sanitizers clean

setup:
	@if ! command -v pkg-config >/dev/null 2>&1 || ! pkg-config --exists sndfile alsa; then \
		echo "make setup: installing pkg-config $(SYSTEM_PACKAGES)"; \
		$(APT) update -qq && $(APT) install -y -qq pkg-config $(SYSTEM_PACKAGES); \
	fi

build: setup
	$(SWIFT) build

release: setup
	$(SWIFT) build -c release

# Release mode: the suite exercises the optimized (vectorized) code that ships, and its long-signal tests
# (10^8 samples through the resampler) need it.
test: setup
	@[ -d /usr/share/klettres ] || { echo "make test: installing klettres-data (real voices for the turn-detection tests)"; \
		$(APT) update -qq && $(APT) install -y -qq klettres-data; }
	$(SWIFT) test -c release
	$(SWIFT) test --package-path Examples/Gateway
	bash Examples/Gateway/nginx/test.sh

# DocC archives of the library products into .build/docs (offline, swift-docc-plugin); fails while a product has
# DocC warnings or undocumented public symbols, and lists them.
docs: setup
	bash Benchmarks/docs.sh

# The reference gateway and its harness (Examples/Gateway, a nested package): release binaries.
gateway: setup
	$(SWIFT) build -c release --package-path Examples/Gateway

# N concurrent calls through the gateway on loopback, with the fake carrier and model on this machine.
bench-gateway: gateway
	bash Examples/Gateway/bench.sh

# 50 concurrent calls round after round for 30 minutes: the gateway's memory must not grow.
soak-gateway: gateway
	bash Examples/Gateway/soak.sh

# The main job on samples/: convert each sample to the wire formats and print what came out.
demo: release gateway
	@rm -rf $(DEMO_OUT) && mkdir -p $(DEMO_OUT)
	@bin=$$($(SWIFT) build -c release --show-bin-path)/rtaudio; set -e; \
	run() { echo "\$$ rtaudio $$*"; $$bin "$$@"; }; \
	run convert samples/speech-24k.wav $(DEMO_OUT)/speech-24k.pcm --format pcm16; \
	run convert samples/speech-24k.wav $(DEMO_OUT)/speech-24k.flac; \
	run convert samples/call-8k-ulaw.wav $(DEMO_OUT)/call-8k.alaw.wav --format g711_alaw; \
	run convert samples/call-8k-ulaw.wav $(DEMO_OUT)/call-8k.ulaw; \
	run convert samples/call-8k-ulaw.wav $(DEMO_OUT)/call-8k-pcm16.wav --format pcm16; \
	run convert samples/speech-24k.wav $(DEMO_OUT)/speech-24k-slow.wav --speed 0.75; \
	run convert samples/speech-24k.wav $(DEMO_OUT)/speech-8k-fast.ulaw --speed 1.25 --rate 8000; \
	for f in samples/speech-24k.wav samples/call-8k-ulaw.wav $(DEMO_OUT)/*; do echo; run info "$$f"; done; \
	echo; run vad samples/speech-24k.wav --plot $(DEMO_OUT)/speech-24k-turns.svg; \
	echo; run vad samples/call-8k-ulaw.wav; \
	echo; run session validate samples/session-g711.json; \
	run session run samples/session-g711.json --input samples/call-8k-ulaw.wav --reply samples/speech-24k.wav \
		--output $(DEMO_OUT)/reply-8k.ulaw; \
	echo; run session convert samples/session-g711.json --to ga; \
	run session run samples/session-ga-16k.json --input samples/speech-24k.wav; \
	echo; samples/alsa-demo.sh $$bin $(DEMO_OUT); \
	echo; echo "\$$ gateway-harness demo --wav samples/call-8k-ulaw.wav --reply samples/speech-24k.wav --out $(DEMO_OUT)/call"; \
	$$($(SWIFT) build -c release --package-path Examples/Gateway --show-bin-path)/gateway-harness demo \
		--wav samples/call-8k-ulaw.wav --reply samples/speech-24k.wav --out $(DEMO_OUT)/call

# Throughput and mallocs per chunk (package-benchmark), then the interleaved ratios to memcpy.
# SwiftPM caches the nested package's build plan and can miss a source file added to `..`; drop the plan only.
bench-plan:
	@rm -f Benchmarks/.build/release.yaml Benchmarks/.build/release/description.json

bench: setup bench-plan
	$(BENCH) benchmark --no-progress
	$(MAKE) --no-print-directory bench-ratios

bench-ratios: setup bench-plan
	$(SWIFT) build -c release --package-path Benchmarks --product codec-ratios
	$$($(SWIFT) build -c release --package-path Benchmarks --show-bin-path)/codec-ratios

# The carrier adapter (a Twilio media message decoded and encoded) against JSONSerialization and JSONDecoder.
bench-carrier: setup bench-plan
	$(SWIFT) build -c release --package-path Benchmarks --product carrier-ratios
	$$($(SWIFT) build -c release --package-path Benchmarks --show-bin-path)/carrier-ratios

# The same ratios from a build for AVX2 hardware (not portable: for gateways that build on their own hosts).
bench-ratios-native: setup
	$(SWIFT) build -c release --package-path Benchmarks --product codec-ratios --scratch-path .build-native \
		-Xswiftc -target-cpu -Xswiftc haswell
	.build-native/release/codec-ratios

# Ours against soxr, speexdsp, spandsp, sonic and SoundTouch in one process (their -dev packages are installed
# here only: neither `make test` nor the library needs them).
bench-peers: setup bench-plan
	@pkg-config --exists soxr speexdsp spandsp soundtouch && [ -e /usr/include/sonic.h ] || \
		{ $(APT) update -qq && $(APT) install -y -qq libsoxr-dev libspeexdsp-dev libspandsp-dev libsonic-dev libsoundtouch-dev; }
	$(SWIFT) build -c release --package-path Benchmarks --product peers
	$$($(SWIFT) build -c release --package-path Benchmarks --show-bin-path)/peers

# Instructions per sample of every component under callgrind (deterministic on a shared machine).
bench-instructions: setup
	@command -v valgrind >/dev/null || $(APT) install -y -qq valgrind
	bash Benchmarks/instructions.sh all
	bash Benchmarks/instructions.sh vad | tail -4
	bash Benchmarks/instructions.sh speed | tail -5
	bash Benchmarks/instructions.sh session | tail -2

# 24 hours of audio through one full-duplex session, as fast as the CPU allows (about 30 s here).
soak: release
	/usr/bin/time -v $$($(SWIFT) build -c release --show-bin-path)/rtaudio soak --hours $(or $(HOURS),24) 2>&1 | \
		grep -E '"type"|Maximum resident|Elapsed'

# libFuzzer on every input surface, FUZZ_SECONDS each (default 60); crashes land in Fuzz/crashes/.
fuzz: setup
	Fuzz/run.sh

# The whole suite under AddressSanitizer and ThreadSanitizer (release builds, their own build folders).
check-sanitizers: setup
	LSAN_OPTIONS=suppressions=$(CURDIR)/Tests/Sanitizers/lsan.supp $(SWIFT) test -c release --sanitize=address --scratch-path .build-asan
	$(SWIFT) test -c release --sanitize=thread --scratch-path .build-tsan

bench-list: setup
	$(BENCH) benchmark list

# The labelled turn-taking set the VAD tests read (committed; rebuild only to change it).
vad-fixtures:
	@command -v espeak-ng >/dev/null || $(APT) install -y -qq espeak-ng
	python3 Tests/RealtimeAudioTests/Fixtures/vad/make_fixtures.py

samples:
	@command -v espeak-ng >/dev/null && command -v sox >/dev/null || $(APT) install -y -qq espeak-ng sox
	samples/make_samples.sh

clean:
	rm -rf .build Benchmarks/.build $(DEMO_OUT)
