// vitlens bench: how fast the encoder runs here.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <string>

#include "common.h"
#include "vitlens/checkpoint.h"

namespace vitlens::app {

namespace {

// A "VmHWM:"/"VmRSS:" line of /proc/self/status, in MiB (-1 if unreadable).
double status_mib(const char* key) {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind(key, 0) == 0) return std::atof(line.c_str() + std::strlen(key)) / 1024.0;
    return -1;
}

// Starts a new peak-RSS window (Linux: writing 5 to clear_refs resets VmHWM).
void reset_peak_rss() {
    std::ofstream f("/proc/self/clear_refs");
    f << "5";
}

double quantile(std::vector<double> v, double q) {
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<size_t>(q * (v.size() - 1) + 0.5))];
}

}  // namespace

int cmd_bench(int argc, char** argv) {
    ModelOptions mo;
    std::string arch, format = "text";
    int batch = 1, iters = 20, warmup = 3;
    bool capture = false;
    po::options_description d("Options");
    d.add_options()("help,h", "show this help");
    mo.add_to(d);
    OptionTable(d)
        .choice("arch", &arch, "", {"vit_tiny", "vit_small", "vit_base"}, "A",
                "random weights of vit_tiny, vit_small or vit_base (224, patch 16)")
        .integer("batch,b", &batch, 1, 1, 1024, "N", "images per forward")
        .integer("iters", &iters, 20, 1, 1'000'000, "N", "timed forwards")
        .integer("warmup", &warmup, 3, 0, 1'000'000, "N", "untimed forwards first")
        .flag("attention", &capture, "capture attention as heatmaps do")
        .choice("format,f", &format, "text", {"text", "json"}, "F", "text | json");
    po::variables_map vm;
    if (!parse_args(argc, argv,
                    "Usage: vitlens bench [--model DIR | --arch vit_tiny|vit_small|vit_base] [options]\n\n"
                    "Times the encoder on random input: latency median/p90, images/s, GFLOP/s, time per stage,\n"
                    "load time and peak RSS. Speed targets live here, not in the tests.",
                    d, nullptr, vm))
        return kOk;
    if (!arch.empty() && !mo.model.empty()) throw UsageError("give --model or --arch, not both");

    ClassifierOptions copt = mo.classifier_options();
    int threads = copt.threads > 0 ? copt.threads : default_thread_count();
    set_thread_count(threads);
    auto t0 = std::chrono::steady_clock::now();
    std::unique_ptr<Classifier> clf;
    std::unique_ptr<Encoder> enc;
    ModelSpec spec;
    std::string what;
    if (!arch.empty()) {
        try {
            spec = spec_for_arch(arch);
        } catch (const std::invalid_argument& e) {
            throw UsageError(e.what());
        }
        EncoderWeights w = random_encoder_weights(spec, 0);
        t0 = std::chrono::steady_clock::now();  // load = weight reorder, as from a checkpoint
        enc = std::make_unique<Encoder>(spec, w, copt.precision);
        what = arch + " (random weights)";
    } else {
        std::string dir = mo.resolve();
        clf = std::make_unique<Classifier>(dir, copt);
        spec = clf->spec();
        what = dir;
    }
    double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    Encoder& e = clf ? clf->encoder() : *enc;
    const double load_peak_mib = status_mib("VmHWM:");
    reset_peak_rss();

    std::mt19937 rng(1);
    std::normal_distribution<float> nd;
    Tensor x({int64_t(batch), int64_t(spec.patches()) * spec.patch_dim()});
    for (int64_t i = 0; i < x.numel(); ++i) x[i] = nd(rng);
    std::vector<float> logits(size_t(batch) * spec.num_classes);
    AttentionCapture cap;
    for (int i = 0; i < warmup; ++i) e.forward(x.data(), batch, logits.data(), capture ? &cap : nullptr);
    std::vector<double> ms;
    for (int i = 0; i < iters; ++i) {
        auto a = std::chrono::steady_clock::now();
        e.forward(x.data(), batch, logits.data(), capture ? &cap : nullptr);
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
    }
    // Stage shares from separate profiled runs (they wait after each stage).
    e.set_profiling(true);
    e.reset_stage_times();
    int prof = std::max(1, std::min(iters, 5));
    for (int i = 0; i < prof; ++i) e.forward(x.data(), batch, logits.data(), capture ? &cap : nullptr);
    e.set_profiling(false);
    StageTimes st = e.stage_times();
    double total = 0;
    for (double v : st) total += v;

    const double run_peak_mib = status_mib("VmHWM:");
    const double weights_mib = spec.parameter_count() * 4.0 / (1 << 20);
    // The encoder's f32 working buffers for this batch (input patches,
    // residual stream, LayerNorm output, QKV, scores, context, MLP hidden, patch
    // embedding) plus the attention capture when on.
    const double B = batch, T = spec.tokens(), D = spec.hidden, H = spec.heads, N = spec.patches();
    const double act_floats = B * N * spec.patch_dim() + 3 * B * T * D + 3 * B * T * D + B * H * T * T +
                              B * T * spec.mlp + B * N * D + (capture ? spec.layers * B * (H * T * T + T) : 0);
    const double activations_mib = act_floats * 4 / (1 << 20);
    double med = quantile(ms, 0.5), p90 = quantile(ms, 0.9);
    double ips = batch * 1000.0 / med, gflops = spec.gflops() * batch / (med / 1000.0);
    if (format == "json") {
        std::printf("{\"model\": \"%s\", \"batch\": %d, \"threads\": %d, \"precision\": \"%s\", \"attention\": %s, "
                    "\"median_ms\": %.4f, \"p90_ms\": %.4f, \"images_per_s\": %.4f, \"gflops\": %.3f, "
                    "\"gflop_per_image\": %.4f, \"load_s\": %.4f, \"weights_f32_mib\": %.1f, \"activations_mib\": %.1f, "
                    "\"load_peak_rss_mib\": %.1f, \"peak_rss_mib\": %.1f, \"stages\": {",
                    json_escape(what).c_str(), batch, threads, precision_name(e.precision()), capture ? "true" : "false",
                    med, p90, ips, gflops, spec.gflops(), load_s, weights_mib, activations_mib, load_peak_mib,
                    run_peak_mib);
        for (int s = 0; s < kStageCount; ++s)
            std::printf("%s\"%s\": %.4f", s ? ", " : "", stage_name(s), total > 0 ? st[s] / total : 0.0);
        std::printf("}}\n");
    } else {
        std::printf("model:       %s\n", what.c_str());
        std::printf("setup:       batch %d, %d threads, %s%s, %d iterations after %d warm-up\n", batch, threads,
                    precision_name(e.precision()), capture ? ", attention captured" : "", iters, warmup);
        std::printf("latency:     median %.2f ms, p90 %.2f ms per batch\n", med, p90);
        std::printf("throughput:  %.1f images/s, %.1f GFLOP/s (%.3f GFLOP per image)\n", ips, gflops, spec.gflops());
        std::printf("load:        %.3f s\n", load_s);
        std::printf("memory:      weights %.1f MiB as f32, activations %.1f MiB\n", weights_mib, activations_mib);
        std::printf("peak RSS:    %.1f MiB while loading, %.1f MiB while running\n", load_peak_mib, run_peak_mib);
        std::printf("stages:     ");
        for (int s = 0; s < kStageCount; ++s) std::printf(" %s %.1f%%", stage_name(s), total > 0 ? 100 * st[s] / total : 0.0);
        std::printf("\n");
    }
    return kOk;
}

}  // namespace vitlens::app
