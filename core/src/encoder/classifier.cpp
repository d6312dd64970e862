#include "vitlens/encoder/classifier.h"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "vitlens/model/checkpoint.h"
#include "vitlens/errors.h"

namespace vitlens {

int default_thread_count() {
    // Count distinct (physical id, core id) pairs; hyperthreads share a core.
    std::ifstream f("/proc/cpuinfo");
    std::set<std::pair<int, int>> cores;
    std::string line;
    int phys = 0;
    while (std::getline(f, line)) {
        auto val = [&] { return std::atoi(line.substr(line.find(':') + 1).c_str()); };
        if (line.rfind("physical id", 0) == 0) phys = val();
        else if (line.rfind("core id", 0) == 0) cores.insert({phys, val()});
    }
    int logical = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    if (cores.empty()) return logical;
    return std::min<int>(logical, std::max<int>(1, static_cast<int>(cores.size())));
}

void set_thread_count(int n) { omp_set_num_threads(std::max(1, n)); }

int clamp_top_k(int top_k, int num_classes) { return std::clamp(top_k, 0, std::max(0, num_classes)); }

Prediction make_prediction(const float* logits, int K, const std::vector<std::string>& labels, int top_k,
                           bool multi_label) {
    Prediction p;
    p.logits.assign(logits, logits + K);
    p.probs.resize(K);
    if (multi_label) {
        for (int i = 0; i < K; ++i) p.probs[i] = static_cast<float>(1.0 / (1.0 + std::exp(-double(logits[i]))));
    } else {
        float mx = *std::max_element(logits, logits + K);
        double sum = 0;
        for (int i = 0; i < K; ++i) sum += (p.probs[i] = std::exp(logits[i] - mx));
        for (float& v : p.probs) v = static_cast<float>(v / sum);
    }
    std::vector<int> idx(K);
    for (int i = 0; i < K; ++i) idx[i] = i;
    const int k = clamp_top_k(top_k, K);
    std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int a, int b) {
        return p.logits[a] > p.logits[b] || (p.logits[a] == p.logits[b] && a < b);
    });
    for (int i = 0; i < k; ++i) p.top.push_back({idx[i], labels[idx[i]], p.probs[idx[i]]});
    return p;
}

Classifier::Classifier(const std::string& dir, ClassifierOptions opt) {
    auto t0 = std::chrono::steady_clock::now();
    threads_ = opt.threads > 0 ? opt.threads : default_thread_count();
    set_thread_count(threads_);
    // Blocks stream from the mapped file into the encoder one at a time. F32
    // weights are reordered straight from the mapping (no f32 copy), and the
    // mapped pages are let go after each block, so the resident set holds the
    // reordered weights plus about one block of the file.
    SafeTensors st = open_checkpoint(dir);
    spec_ = read_model_spec(dir, st);
    if (opt.input_h > 0 || opt.input_w > 0)
        set_input_size(spec_, opt.input_h > 0 ? opt.input_h : opt.input_w, opt.input_w > 0 ? opt.input_w : opt.input_h);
    {
        EncoderWeights top = load_top_weights(st, spec_, Borrow::Views);
        encoder_ = std::make_unique<Encoder>(
            spec_, top,
            [&](int l) {
                st.release_pages();  // block l-1 is reordered by now
                return load_block_weights(st, spec_, l, Borrow::Views);
            },
            opt.precision);
    }
    st.release_pages();
    load_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

Classifier::~Classifier() = default;

std::vector<Prediction> Classifier::classify_patches(const float* patches, int B, int top_k,
                                                     AttentionCapture* capture) {
    return run(patches, B, top_k, capture, nullptr);
}

std::vector<Prediction> Classifier::embed_patches(const float* patches, int B, Features& f, int top_k) {
    return run(patches, B, top_k, nullptr, &f);
}

std::vector<Prediction> Classifier::run(const float* patches, int B, int top_k, AttentionCapture* capture, Features* f) {
    set_thread_count(threads_);
    const int K = spec_.num_classes;
    std::vector<float> logits(size_t(B) * K);
    encoder_->forward(patches, B, K ? logits.data() : nullptr, capture, f);
    std::vector<Prediction> out;
    out.reserve(B);
    for (int b = 0; b < B; ++b)
        out.push_back(K ? make_prediction(logits.data() + size_t(b) * K, K, spec_.labels, top_k, spec_.multi_label)
                        : Prediction{});
    return out;
}

std::vector<Prediction> Classifier::classify(const std::vector<cv::Mat>& rgb, int top_k) {
    if (rgb.empty()) return {};
    const int64_t per = int64_t(spec_.patches()) * spec_.patch_dim();
    Tensor batch({int64_t(rgb.size()), per});
    for (size_t i = 0; i < rgb.size(); ++i) {
        Tensor t = prepare_image(rgb[i], spec_, nullptr);
        std::copy(t.data(), t.data() + per, batch.data() + i * per);
    }
    return classify_patches(batch.data(), static_cast<int>(rgb.size()), top_k);
}

ExplainRequest explain_request(const MapSpec& spec, int top_k) {
    ExplainRequest r;
    r.need = map_need(spec);
    r.target_class = spec.target_class;
    r.features = spec.method == MapMethod::Features;
    r.top_k = top_k;
    return r;
}

ExplainRequest explain_request(const std::vector<MapSpec>& specs, int top_k) {
    ExplainRequest all;
    all.need = MapNeed::None;
    all.top_k = top_k;
    for (const MapSpec& spec : specs) {
        const ExplainRequest r = explain_request(spec, top_k);
        if (int(r.need) > int(all.need)) all.need = r.need;
        if (r.need == MapNeed::Gradients) all.target_class = r.target_class;
        all.features = all.features || r.features;
    }
    return all;
}

namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// The capture's (L, 1, ...) tensors as one image's (L, ...).
void shape_for_one_image(const ModelSpec& s, Explained& e) {
    const int64_t L = s.layers, H = s.heads, T = s.tokens();
    if (!e.attention.empty()) e.attention.reshape({L, H, T, T});
    if (!e.token_norms.empty()) e.token_norms.reshape({L, T});
    if (!e.attention_grad.empty()) e.attention_grad.reshape({L, H, T, T});
}

}  // namespace

// The forward that keeps what the backward reads, then the backward.
void Classifier::attribute(const float* patches, const ExplainRequest& r, Explained& e) {
    AttentionGradients g;  // takes e's storage, so a stream reuses it
    g.attention = std::move(e.attention);
    g.token_norms = std::move(e.token_norms);
    g.grad = std::move(e.attention_grad);
    int cls = r.target_class;
    std::vector<float> logits(size_t(spec_.num_classes));
    try {
        encoder_->attention_gradients(patches, 1, &cls, logits.data(), g);
    } catch (...) {  // the caller keeps its storage (and an empty map) on an error
        e.attention = std::move(g.attention);
        e.token_norms = std::move(g.token_norms);
        e.attention_grad = std::move(g.grad);
        throw;
    }
    e.prediction = make_prediction(logits.data(), spec_.num_classes, spec_.labels, r.top_k, spec_.multi_label);
    e.attention = std::move(g.attention);
    e.token_norms = std::move(g.token_norms);
    e.attention_grad = std::move(g.grad);
    e.explained_class = cls;
    e.forward_ms = g.forward_ms;
    e.backward_ms = g.backward_ms;
    if (r.features) run(patches, 1, 0, nullptr, &e.features);
}

void Classifier::explain_patches(const float* patches, const ExplainRequest& r, Explained& e) {
    set_thread_count(threads_);
    e.explained_class = -1;
    e.backward_ms = 0;
    if (r.need == MapNeed::Gradients) {
        attribute(patches, r, e);
    } else {
        const auto t0 = std::chrono::steady_clock::now();
        AttentionCapture cap;
        cap.attention = std::move(e.attention);
        cap.token_norms = std::move(e.token_norms);
        const bool keep = r.need == MapNeed::Capture;
        try {
            e.prediction = run(patches, 1, r.top_k, keep ? &cap : nullptr, r.features ? &e.features : nullptr).front();
        } catch (...) {
            e.attention = std::move(cap.attention);
            e.token_norms = std::move(cap.token_norms);
            throw;
        }
        e.attention = keep ? std::move(cap.attention) : Tensor();
        e.token_norms = keep ? std::move(cap.token_norms) : Tensor();
        e.attention_grad = Tensor();
        e.forward_ms = ms_since(t0);
    }
    if (!r.features) e.features = Features{};
    shape_for_one_image(spec_, e);
}

Explained Classifier::explain(const cv::Mat& rgb, const ExplainRequest& r) {
    Explained e;
    Tensor patches = prepare_image(rgb, spec_, &e.geometry);
    explain_patches(patches.data(), r, e);
    return e;
}

Explained Classifier::explain(const cv::Mat& rgb, const MapSpec& spec, int top_k) {
    return explain(rgb, explain_request(spec, top_k));
}

Explained Classifier::explain(const cv::Mat& rgb, int top_k) {
    ExplainRequest r;
    r.top_k = top_k;
    return explain(rgb, r);
}

Explained Classifier::explain_class(const cv::Mat& rgb, int cls, int top_k) {
    ExplainRequest r;
    r.need = MapNeed::Gradients;
    r.target_class = cls;
    r.top_k = top_k;
    return explain(rgb, r);
}

}  // namespace vitlens
