// fd_whisper_bench: decode time of Frontdoor's Whisper settings on whisper.cpp directly, for
// machines without a Rust toolchain (the GPU measurement in docs/gpu.md).
//
// It links the whisper.cpp that whisper-rs-sys 0.15.0 vendors and decodes exactly as
// src/asr/whisper.rs does: greedy (best_of 1), one CPU thread per decode, no timestamps, single
// segment, no context, suppress blank and non-speech tokens, temperature 0 without fallback,
// max tokens 16 + 8 per started second, the encoder's audio context sized to the utterance
// (frames + 64, rounded up to 64, at least 384), the council initial prompt, and the extra
// one-token decoder step that reads the no-speech probability. One whisper_context holds the
// weights; every worker thread owns its own whisper_state, like RecognizerPool's workers.
//
// Usage:
//   fd_whisper_bench MODEL (gpu|cpu) single REPS WAV...
//       each WAV decoded REPS times after 2 warm-ups: median and p95 latency, RTF, transcript.
//   fd_whisper_bench MODEL (gpu|cpu) concurrent SECONDS N1,N2,... WAV...
//       for each N: N threads, each with its own state, decode the WAVs round-robin back to back
//       (closed loop) for SECONDS: decodes/s, audio seconds per second, latency p50/p95/max.
// WAVs must be 16 kHz mono 16-bit PCM.
// FD_CUDA_BLOCKING_SYNC=1 (CUDA builds): make host threads sleep instead of spin while they wait
// for the GPU (cudaDeviceScheduleBlockingSync), to see whether host cores or the GPU limit
// concurrency; whisper-rs does not do this by itself.

#include "whisper.h"

#ifdef FD_BENCH_CUDA
#include <cuda_runtime.h>
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <time.h>
#include <vector>

namespace {

const char *const kPrompt = "Council helpline. Council tax bill, missed bin collection.";
constexpr int kMinAudioCtx = 384;
constexpr int kAudioCtxMargin = 64;
constexpr float kNoSpeechThreshold = 0.6f;

using Clock = std::chrono::steady_clock;

// CPU time of the calling thread: what one decode costs the host, whatever the contention.
double thread_cpu_ms() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

struct Clip {
    std::string name;
    std::vector<float> pcm;
    double seconds() const { return pcm.size() / 16000.0; }
};

bool read_u32(std::ifstream &f, uint32_t &v) { return bool(f.read(reinterpret_cast<char *>(&v), 4)); }
bool read_u16(std::ifstream &f, uint16_t &v) { return bool(f.read(reinterpret_cast<char *>(&v), 2)); }

// Minimal RIFF reader: PCM 16-bit mono 16 kHz only; anything else is refused.
bool load_wav(const std::string &path, Clip &clip) {
    std::ifstream f(path, std::ios::binary);
    char tag[4];
    uint32_t size = 0;
    if (!f.read(tag, 4) || std::memcmp(tag, "RIFF", 4) != 0 || !read_u32(f, size) || !f.read(tag, 4) ||
        std::memcmp(tag, "WAVE", 4) != 0) {
        return false;
    }
    bool fmt_ok = false;
    while (f.read(tag, 4) && read_u32(f, size)) {
        if (std::memcmp(tag, "fmt ", 4) == 0) {
            uint16_t format = 0, channels = 0, block = 0, bits = 0;
            uint32_t rate = 0, byte_rate = 0;
            if (!read_u16(f, format) || !read_u16(f, channels) || !read_u32(f, rate) || !read_u32(f, byte_rate) ||
                !read_u16(f, block) || !read_u16(f, bits)) {
                return false;
            }
            fmt_ok = format == 1 && channels == 1 && rate == 16000 && bits == 16;
            f.seekg(size - 16 + (size & 1), std::ios::cur);
        } else if (std::memcmp(tag, "data", 4) == 0) {
            if (!fmt_ok) return false;
            std::vector<int16_t> s(size / 2);
            if (!f.read(reinterpret_cast<char *>(s.data()), s.size() * 2)) return false;
            clip.pcm.resize(s.size());
            for (size_t i = 0; i < s.size(); i++) clip.pcm[i] = s[i] / 32768.0f;
            return !clip.pcm.empty();
        } else {
            f.seekg(size + (size & 1), std::ios::cur);
        }
    }
    return false;
}

// src/asr/whisper.rs audio_ctx_for.
int audio_ctx_for(size_t samples, int model_ctx) {
    size_t frames = (samples + 319) / 320;
    size_t ctx = (frames + kAudioCtxMargin + kAudioCtxMargin - 1) / kAudioCtxMargin * kAudioCtxMargin;
    int c = int(std::min<size_t>(ctx, 1u << 30));
    return std::clamp(c, std::min(kMinAudioCtx, model_ctx), model_ctx);
}

// src/asr/whisper.rs max_tokens_for.
int max_tokens_for(size_t samples) { return 16 + 8 * int((samples + 15999) / 16000); }

struct Decode {
    std::string text;
    float no_speech = 0.0f;
    double ms = 0.0;
    double cpu_ms = 0.0;
    bool ok = false;
};

Decode recognize(whisper_context *ctx, whisper_state *state, const std::vector<float> &pcm) {
    Decode d;
    auto t0 = Clock::now();
    double cpu0 = thread_cpu_ms();
    whisper_full_params p = whisper_full_default_params(WHISPER_SAMPLING_GREEDY);
    p.greedy.best_of = 1;
    p.n_threads = 1;
    p.translate = false;
    p.no_context = true;
    p.no_timestamps = true;
    p.single_segment = true;
    p.print_special = false;
    p.print_progress = false;
    p.print_realtime = false;
    p.print_timestamps = false;
    p.suppress_blank = true;
    p.suppress_nst = true;
    p.temperature = 0.0f;
    p.temperature_inc = 0.0f;
    p.no_speech_thold = kNoSpeechThreshold;
    p.max_tokens = max_tokens_for(pcm.size());
    p.audio_ctx = audio_ctx_for(pcm.size(), whisper_n_audio_ctx(ctx));
    p.language = "en";
    p.initial_prompt = kPrompt;
    if (whisper_full_with_state(ctx, state, p, pcm.data(), int(pcm.size())) != 0) return d;
    int n = whisper_full_n_segments_from_state(state);
    for (int i = 0; i < n; i++) d.text += whisper_full_get_segment_text_from_state(state, i);
    // The no-speech probability step (whisper.rs no_speech_probability).
    whisper_token sot = whisper_token_sot(ctx);
    if (whisper_decode_with_state(ctx, state, &sot, 1, 0, 1) != 0) return d;
    const float *logits = whisper_get_logits_from_state(state);
    int n_vocab = whisper_n_vocab(ctx);
    float mx = -INFINITY;
    for (int i = 0; i < n_vocab; i++) mx = std::max(mx, logits[i]);
    double sum = 0.0;
    for (int i = 0; i < n_vocab; i++) sum += std::exp(double(logits[i] - mx));
    int nosp = whisper_token_nosp(ctx);
    d.no_speech = (nosp >= 0 && nosp < n_vocab && sum > 0) ? float(std::exp(double(logits[nosp] - mx)) / sum) : 0.0f;
    d.ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    d.cpu_ms = thread_cpu_ms() - cpu0;
    d.ok = true;
    return d;
}

double percentile(std::vector<double> v, double q) {
    if (v.empty()) return NAN;
    std::sort(v.begin(), v.end());
    size_t i = size_t(std::ceil(q * v.size()));
    return v[std::min(v.size() - 1, i == 0 ? 0 : i - 1)];
}

void quiet_log(ggml_log_level level, const char *text, void *) {
    if (level == GGML_LOG_LEVEL_ERROR || level == GGML_LOG_LEVEL_WARN || std::getenv("FD_BENCH_VERBOSE")) {
        std::fputs(text, stderr);
    }
}

whisper_state *new_primed_state(whisper_context *ctx) {
    whisper_state *s = whisper_init_state(ctx);
    if (!s) return nullptr;
    // Like WhisperRecognizer::prime: one second of silence so compute buffers exist.
    std::vector<float> silence(16000, 0.0f);
    if (!recognize(ctx, s, silence).ok) {
        whisper_free_state(s);
        return nullptr;
    }
    return s;
}

int run_single(whisper_context *ctx, int reps, const std::vector<Clip> &clips) {
    whisper_state *state = new_primed_state(ctx);
    if (!state) {
        std::fprintf(stderr, "cannot create state\n");
        return 1;
    }
    std::printf("| clip | audio s | audio_ctx | p50 ms | p95 ms | RTF (p50) | CPU ms (p50) | no-speech | transcript |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|\n");
    for (const Clip &c : clips) {
        std::vector<double> ms, cpu;
        Decode last;
        for (int r = 0; r < reps + 2; r++) {
            last = recognize(ctx, state, c.pcm);
            if (!last.ok) {
                std::fprintf(stderr, "decode failed: %s\n", c.name.c_str());
                return 1;
            }
            if (r >= 2) {
                ms.push_back(last.ms);
                cpu.push_back(last.cpu_ms);
            }
        }
        double p50 = percentile(ms, 0.5);
        std::printf("| %s | %.2f | %d | %.1f | %.1f | %.4f | %.1f | %.3f | %s |\n", c.name.c_str(), c.seconds(),
                    audio_ctx_for(c.pcm.size(), whisper_n_audio_ctx(ctx)), p50, percentile(ms, 0.95),
                    p50 / 1000.0 / c.seconds(), percentile(cpu, 0.5), last.no_speech, last.text.c_str());
        std::fflush(stdout);
    }
    whisper_free_state(state);
    return 0;
}

int run_concurrent(whisper_context *ctx, double seconds, const std::vector<int> &ns, const std::vector<Clip> &clips) {
    std::vector<whisper_state *> states;
    std::printf("| N | decodes | decodes/s | audio s/s | p50 ms | p95 ms | max ms | CPU ms/decode | failures |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|\n");
    for (int n : ns) {
        while (int(states.size()) < n) {
            whisper_state *s = new_primed_state(ctx);
            if (!s) {
                std::fprintf(stderr, "cannot create state %zu\n", states.size());
                return 1;
            }
            states.push_back(s);
        }
        std::mutex mu;
        std::vector<double> lat;
        double audio_s = 0.0, cpu_total = 0.0;
        std::atomic<int> failures{0};
        auto t0 = Clock::now();
        auto deadline = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
        std::vector<std::thread> threads;
        for (int t = 0; t < n; t++) {
            threads.emplace_back([&, t] {
                size_t k = size_t(t);
                std::vector<double> mine;
                double mine_audio = 0.0, mine_cpu = 0.0;
                while (Clock::now() < deadline) {
                    const Clip &c = clips[k++ % clips.size()];
                    Decode d = recognize(ctx, states[t], c.pcm);
                    if (!d.ok) {
                        failures++;
                        continue;
                    }
                    mine.push_back(d.ms);
                    mine_audio += c.seconds();
                    mine_cpu += d.cpu_ms;
                }
                std::lock_guard<std::mutex> g(mu);
                lat.insert(lat.end(), mine.begin(), mine.end());
                audio_s += mine_audio;
                cpu_total += mine_cpu;
            });
        }
        for (auto &th : threads) th.join();
        double wall = std::chrono::duration<double>(Clock::now() - t0).count();
        std::printf("| %d | %zu | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %d |\n", n, lat.size(), lat.size() / wall,
                    audio_s / wall, percentile(lat, 0.5), percentile(lat, 0.95), percentile(lat, 1.0),
                    lat.empty() ? 0.0 : cpu_total / lat.size(), failures.load());
        std::fflush(stdout);
    }
    for (whisper_state *s : states) whisper_free_state(s);
    return 0;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc < 6) {
        std::fprintf(stderr,
                     "usage: %s MODEL (gpu|cpu) single REPS WAV...\n"
                     "       %s MODEL (gpu|cpu) concurrent SECONDS N1,N2,... WAV...\n",
                     argv[0], argv[0]);
        return 2;
    }
    whisper_log_set(quiet_log, nullptr);
    std::string model = argv[1], device = argv[2], mode = argv[3];
    int first_wav = mode == "single" ? 5 : 6;
    if (argc <= first_wav) {
        std::fprintf(stderr, "no WAV given\n");
        return 2;
    }
    std::vector<Clip> clips;
    for (int i = first_wav; i < argc; i++) {
        Clip c;
        std::string path = argv[i];
        c.name = path.substr(path.find_last_of('/') + 1);
        if (!load_wav(path, c)) {
            std::fprintf(stderr, "%s: not a 16 kHz mono 16-bit PCM WAV\n", path.c_str());
            return 2;
        }
        clips.push_back(std::move(c));
    }
#ifdef FD_BENCH_CUDA
    if (const char *b = std::getenv("FD_CUDA_BLOCKING_SYNC"); b && std::string(b) == "1") {
        cudaError_t e = cudaSetDeviceFlags(cudaDeviceScheduleBlockingSync);
        std::fprintf(stderr, "cudaSetDeviceFlags(cudaDeviceScheduleBlockingSync): %s\n", cudaGetErrorString(e));
        if (e != cudaSuccess) return 1;
    }
#endif
    whisper_context_params cp = whisper_context_default_params();
    // whisper-rs 0.16's WhisperContextParameters::default(): GPU when built with a GPU feature,
    // flash attention off.
    cp.use_gpu = device == "gpu";
    cp.flash_attn = false;
    auto t_load = Clock::now();
    whisper_context *ctx = whisper_init_from_file_with_params_no_state(model.c_str(), cp);
    if (!ctx) {
        std::fprintf(stderr, "cannot load %s\n", model.c_str());
        return 1;
    }
    std::fprintf(stderr, "loaded %s (%s) in %.0f ms; system: %s\n", model.c_str(), device.c_str(),
                 std::chrono::duration<double, std::milli>(Clock::now() - t_load).count(), whisper_print_system_info());
    int rc;
    if (mode == "single") {
        rc = run_single(ctx, std::max(1, std::atoi(argv[4])), clips);
    } else if (mode == "concurrent") {
        std::vector<int> ns;
        std::stringstream ss(argv[5]);
        std::string item;
        while (std::getline(ss, item, ',')) {
            int n = std::atoi(item.c_str());
            if (n > 0) ns.push_back(n);
        }
        rc = run_concurrent(ctx, std::atof(argv[4]), ns, clips);
    } else {
        std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
        rc = 2;
    }
    whisper_free(ctx);
    return rc;
}
