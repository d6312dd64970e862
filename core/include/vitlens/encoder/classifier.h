// The one object the front ends use: load a checkpoint once, classify
// decoded images, optionally with every layer's attention.
//
// Thread rule: a Classifier is created and used on one thread (its oneDNN
// primitives must run where they were made). GUI and stream code create it
// on their worker thread.
#pragma once

#include <memory>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "vitlens/encoder/encoder.h"
#include "vitlens/maps/map_spec.h"
#include "vitlens/encoder/memory_estimate.h"
#include "vitlens/model/model_config.h"
#include "vitlens/images/preprocess.h"

namespace vitlens {

struct ClassifierOptions {
    Precision precision = Precision::F32;
    int threads = 0;  // 0: one per physical core
    int input_h = 0, input_w = 0;  // 0: the model's own size; else see set_input_size()
};

struct TopEntry {
    int index = 0;
    std::string label;
    float prob = 0.f;
};

struct Prediction {
    std::vector<float> logits;  // (K)
    std::vector<float> probs;   // (K) softmax of logits; sigmoid of each for a multi-label model
    std::vector<TopEntry> top;  // best first
};

// What one explain pass computes besides the prediction (explain_request()
// derives it from a MapSpec; a front end that shows several views asks for
// their union, e.g. the GUI: the attention and the features of one forward).
struct ExplainRequest {
    MapNeed need = MapNeed::Capture;  // None: no attention; Capture: attention + token norms; Gradients: + the gradient
    int target_class = -1;            // Gradients: the class whose logit is differentiated, -1 = the top-1
    bool features = false;            // the final tokens too (MapMethod::Features)
    int top_k = 5;
};
// What `spec` needs, with `top_k` entries in the prediction.
ExplainRequest explain_request(const MapSpec& spec, int top_k = 5);
// What all of `specs` need from one pass (the largest need; the class of
// the last spec that needs gradients).
ExplainRequest explain_request(const std::vector<MapSpec>& specs, int top_k = 5);

// Everything needed to show one image's maps, tensors shaped for one image.
struct Explained {
    Prediction prediction;     // empty for a backbone
    Geometry geometry;         // set by explain(rgb, ...) only
    Tensor attention;          // (L, H, T, T) when the request's need is Capture or Gradients, else empty
    Tensor token_norms;        // (L, T) likewise
    int explained_class = -1;  // Gradients: the class whose logit was differentiated
    Tensor attention_grad;     // (L, H, T, T) with Gradients: d logit / d attention, else empty
    Features features;         // with `features`: tokens (1, T, D), pooled (1, F)
    double forward_ms = 0, backward_ms = 0;
};

class Classifier {
public:
    explicit Classifier(const std::string& model_dir, ClassifierOptions opt = {});
    ~Classifier();

    const ModelSpec& spec() const { return spec_; }
    Precision precision() const { return encoder_->precision(); }
    // The encoder itself, for tests and the faithfulness curves (which run masked batches).
    Encoder& encoder() { return *encoder_; }
    double load_seconds() const { return load_seconds_; }
    int threads() const { return threads_; }

    // Classifies 8-bit RGB images (any size) as one batch; top_k entries each.
    std::vector<Prediction> classify(const std::vector<cv::Mat>& rgb, int top_k = 5);
    // Patches already prepared: (B, N, C*P*P). A model without a head (a
    // backbone) gives empty predictions (no logits, no top) and still fills `capture`.
    std::vector<Prediction> classify_patches(const float* patches, int B, int top_k = 5,
                                             AttentionCapture* capture = nullptr);
    // Features of patches (B, N, C*P*P), any model; predictions too when it has a head.
    std::vector<Prediction> embed_patches(const float* patches, int B, Features& out, int top_k = 5);
    // The one explain path. Patches of one image, (1, N, C*P*P) -> `e`: the
    // prediction and what `r` asks for, from one forward (and the backward
    // only with MapNeed::Gradients; features with gradients take a second
    // forward). `e`'s tensors are reused when their size is unchanged, so a
    // stream passes the same `e` frame after frame.
    void explain_patches(const float* patches, const ExplainRequest& r, Explained& e);
    // The same for an 8-bit RGB image of any size, geometry included.
    Explained explain(const cv::Mat& rgb, const ExplainRequest& r);
    // What the map `spec` needs (explain_request(spec, top_k)).
    Explained explain(const cv::Mat& rgb, const MapSpec& spec, int top_k = 5);
    // Attention and token norms (a backbone: no prediction).
    Explained explain(const cv::Mat& rgb, int top_k = 5);
    // The same plus d logit[cls] / d attention (cls -1: the top-1 class).
    Explained explain_class(const cv::Mat& rgb, int cls, int top_k = 5);

private:
    std::vector<Prediction> run(const float* patches, int B, int top_k, AttentionCapture* capture, Features* f);
    void attribute(const float* patches, const ExplainRequest& r, Explained& e);

    ModelSpec spec_;
    std::unique_ptr<Encoder> encoder_;
    double load_seconds_ = 0;
    int threads_ = 1;
};

// The one top-k rule: at most the model's classes, never negative (a
// prediction has this many entries; a CSV has this many top columns).
int clamp_top_k(int top_k, int num_classes);

// Numerically stable softmax (or, multi_label, a sigmoid per class) + top-k of one logit row.
Prediction make_prediction(const float* logits, int K, const std::vector<std::string>& labels, int top_k,
                           bool multi_label = false);

// Physical cores (falls back to logical CPUs).
int default_thread_count();
// Sets the oneDNN (OpenMP) thread count for the calling thread.
void set_thread_count(int n);


}  // namespace vitlens
