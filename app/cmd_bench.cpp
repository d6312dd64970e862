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

#include "cli_args.h"
#include "commands.h"
#include "exit_codes.h"
#include "model_options.h"
#include "text_out.h"
#include "vitlens/model/bench_models.h"

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

struct BenchArgs {
    std::string arch, format = "text";
    int batch = 1, iters = 20, warmup = 3;
    bool capture = false, attribution = false;
};

const char* kBenchUsage =
    "Usage: vitlens bench [--model DIR | --arch vit_tiny|vit_small|vit_base] [options]\n\n"
    "Times the encoder on random input: latency median/p90, images/s, GFLOP/s, time per stage,\n"
    "load time and peak RSS. Speed targets live here, not in the tests.";

void add_bench_options(po::options_description& d, BenchArgs& a) {
    OptionTable(d)
        .choice("arch", &a.arch, "", {"vit_tiny", "vit_small", "vit_base"}, "A",
                "random weights of vit_tiny, vit_small or vit_base (224, patch 16)")
        .integer("batch,b", &a.batch, 1, 1, 1024, "N", "images per forward")
        .integer("iters", &a.iters, 20, 1, 1'000'000, "N", "timed forwards")
        .integer("warmup", &a.warmup, 3, 0, 1'000'000, "N", "untimed forwards first")
        .flag("attention", &a.capture, "capture attention as heatmaps do")
        .flag("attribution", &a.attribution,
              "also time the attribution pass (forward + backward to every layer's attention, top-1 class)\n"
              "and print its ratio to the forward; f32 or int8")
        .choice("format,f", &a.format, "text", {"text", "json"}, "F", "text | json");
}

// The encoder under test: a checkpoint, or random weights of a standard shape.
struct BenchModel {
    std::unique_ptr<Classifier> clf;
    std::unique_ptr<Encoder> enc;
    ModelSpec spec;
    std::string what;
    double load_s = 0, load_peak_mib = 0;
    Encoder& encoder() { return clf ? clf->encoder() : *enc; }
};

BenchModel load_bench_model(const BenchArgs& a, const ModelOptions& mo, const ClassifierOptions& copt) {
    BenchModel m;
    auto t0 = std::chrono::steady_clock::now();
    if (!a.arch.empty()) {
        m.spec = spec_for_arch(a.arch);
        if (copt.input_h > 0) set_input_size(m.spec, copt.input_h, copt.input_w);  // e.g. ViT-B at 384
        EncoderWeights w = random_encoder_weights(m.spec, 0);
        t0 = std::chrono::steady_clock::now();  // load = weight reorder, as from a checkpoint
        m.enc = std::make_unique<Encoder>(m.spec, w, copt.precision);
        m.what = a.arch + " (random weights)";
    } else {
        m.what = mo.resolve();
        m.clf = std::make_unique<Classifier>(m.what, copt);
        m.spec = m.clf->spec();
    }
    m.load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    m.load_peak_mib = status_mib("VmHWM:");
    return m;
}

struct BenchResult {
    double median_ms = 0, p90_ms = 0, run_peak_mib = 0;
    double attribution_ms = 0;  // median of attention_gradients(), when asked for
    StageTimes stages{};
    double stage_total = 0;
};

// Milliseconds of `iters` calls of fn after `warmup` untimed ones.
template <class F>
std::vector<double> time_calls(int warmup, int iters, F fn) {
    for (int i = 0; i < warmup; ++i) fn();
    std::vector<double> ms;
    for (int i = 0; i < iters; ++i) {
        auto t = std::chrono::steady_clock::now();
        fn();
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count());
    }
    return ms;
}

// Timed forwards, then a few profiled ones for the time per stage (they wait
// after each stage), then the attribution pass when asked for.
BenchResult time_forwards(Encoder& e, const ModelSpec& spec, const BenchArgs& a) {
    reset_peak_rss();
    std::mt19937 rng(1);
    std::normal_distribution<float> nd;
    Tensor x({int64_t(a.batch), int64_t(spec.patches()) * spec.patch_dim()});
    for (int64_t i = 0; i < x.numel(); ++i) x[i] = nd(rng);
    std::vector<float> logits(size_t(a.batch) * spec.num_classes);
    AttentionCapture cap;
    AttentionCapture* capture = a.capture ? &cap : nullptr;
    std::vector<double> ms =
        time_calls(a.warmup, a.iters, [&] { e.forward(x.data(), a.batch, logits.data(), capture); });
    BenchResult r;
    r.median_ms = quantile(ms, 0.5);
    r.p90_ms = quantile(ms, 0.9);
    e.set_profiling(true);
    e.reset_stage_times();
    for (int i = 0; i < std::max(1, std::min(a.iters, 5)); ++i) e.forward(x.data(), a.batch, logits.data(), capture);
    e.set_profiling(false);
    r.stages = e.stage_times();
    for (double v : r.stages) r.stage_total += v;
    if (a.attribution) {
        AttentionGradients g;
        std::vector<int> classes(size_t(a.batch));
        r.attribution_ms = quantile(time_calls(a.warmup, a.iters, [&] {
                                        std::fill(classes.begin(), classes.end(), -1);
                                        e.attention_gradients(x.data(), a.batch, classes.data(), logits.data(), g);
                                    }),
                                    0.5);
    }
    r.run_peak_mib = status_mib("VmHWM:");
    return r;
}

// The encoder's f32 working buffers for this batch (input patches, residual
// stream, LayerNorm output, QKV, scores, context, MLP hidden, patch
// embedding) plus the attention capture when on, in MiB.
double activations_mib(const ModelSpec& spec, int batch, bool capture) {
    const double B = batch, T = spec.tokens(), D = spec.hidden, H = spec.heads, N = spec.patches();
    const double floats = B * N * spec.patch_dim() + 3 * B * T * D + 3 * B * T * D + B * H * T * T +
                          B * T * spec.mlp + B * N * D + (capture ? spec.layers * B * (H * T * T + T) : 0);
    return floats * 4 / (1 << 20);
}

void print_bench(BenchModel& m, const BenchResult& r, const BenchArgs& a, int threads) {
    const ModelSpec& spec = m.spec;
    const double weights_mib = spec.parameters() * 4.0 / (1 << 20), act_mib = activations_mib(spec, a.batch, a.capture);
    const double ips = a.batch * 1000.0 / r.median_ms, gflops = spec.gflops() * a.batch / (r.median_ms / 1000.0);
    const char* prec = precision_name(m.encoder().precision());
    auto share = [&](int s) { return r.stage_total > 0 ? r.stages[s] / r.stage_total : 0.0; };
    if (a.format == "json") {
        std::printf("{\"model\": \"%s\", \"batch\": %d, \"threads\": %d, \"precision\": \"%s\", \"attention\": %s, "
                    "\"median_ms\": %.4f, \"p90_ms\": %.4f, \"images_per_s\": %.4f, \"gflops\": %.3f, "
                    "\"gflop_per_image\": %.4f, \"load_s\": %.4f, \"weights_f32_mib\": %.1f, \"activations_mib\": %.1f, "
                    "\"load_peak_rss_mib\": %.1f, \"peak_rss_mib\": %.1f, \"stages\": {",
                    json_escape(m.what).c_str(), a.batch, threads, prec, a.capture ? "true" : "false", r.median_ms,
                    r.p90_ms, ips, gflops, spec.gflops(), m.load_s, weights_mib, act_mib, m.load_peak_mib,
                    r.run_peak_mib);
        for (int s = 0; s < kStageCount; ++s) std::printf("%s\"%s\": %.4f", s ? ", " : "", stage_name(s), share(s));
        std::printf("}");
        if (a.attribution)
            std::printf(", \"attribution_median_ms\": %.4f, \"attribution_ratio\": %.3f", r.attribution_ms,
                        r.attribution_ms / r.median_ms);
        std::printf("}\n");
        return;
    }
    std::printf("model:       %s\n", m.what.c_str());
    std::printf("setup:       batch %d, %d threads, %s%s, %d iterations after %d warm-up\n", a.batch, threads, prec,
                a.capture ? ", attention captured" : "", a.iters, a.warmup);
    std::printf("latency:     median %.2f ms, p90 %.2f ms per batch\n", r.median_ms, r.p90_ms);
    if (a.attribution)
        std::printf("attribution: median %.2f ms per batch, %.2fx the forward (forward + backward, top-1 class)\n",
                    r.attribution_ms, r.attribution_ms / r.median_ms);
    std::printf("throughput:  %.1f images/s, %.1f GFLOP/s (%.3f GFLOP per image)\n", ips, gflops, spec.gflops());
    std::printf("load:        %.3f s\n", m.load_s);
    std::printf("memory:      weights %.1f MiB as f32, activations %.1f MiB\n", weights_mib, act_mib);
    std::printf("peak RSS:    %.1f MiB while loading, %.1f MiB while running\n", m.load_peak_mib, r.run_peak_mib);
    std::printf("stages:     ");
    for (int s = 0; s < kStageCount; ++s) std::printf(" %s %.1f%%", stage_name(s), 100 * share(s));
    std::printf("\n");
}

}  // namespace

int cmd_bench(int argc, char** argv) {
    ModelOptions mo;
    BenchArgs a;
    po::options_description d("Options");
    d.add_options()("help,h", "show this help");
    mo.add_to(d);
    add_bench_options(d, a);
    po::variables_map vm;
    if (!parse_args(argc, argv, kBenchUsage, d, nullptr, vm)) return kOk;
    if (!a.arch.empty() && !mo.model.empty()) throw UsageError("give --model or --arch, not both");
    const ClassifierOptions copt = mo.classifier_options();
    if (const std::string why = a.attribution ? precision_problem(MapMethod::Attribution, copt.precision) : "";
        !why.empty())
        throw UsageError("--attribution: " + why + "; drop --precision " + precision_name(copt.precision));
    const int threads = copt.threads > 0 ? copt.threads : default_thread_count();
    set_thread_count(threads);
    BenchModel m = load_bench_model(a, mo, copt);
    const BenchResult r = time_forwards(m.encoder(), m.spec, a);
    print_bench(m, r, a, threads);
    return kOk;
}

}  // namespace vitlens::app
