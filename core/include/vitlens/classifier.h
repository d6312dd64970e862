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

#include "vitlens/encoder.h"
#include "vitlens/map_spec.h"
#include "vitlens/model_config.h"
#include "vitlens/preprocess.h"

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

// Everything needed to explain one image.
struct Explained {
    Prediction prediction;
    Geometry geometry;
    Tensor attention;    // (L, H, T, T)
    Tensor token_norms;  // (L, T)
    // Set by explain_class() only:
    int explained_class = -1;  // the class whose logit was differentiated
    Tensor attention_grad;     // (L, H, T, T): d logit / d attention
};

class Classifier {
public:
    explicit Classifier(const std::string& model_dir, ClassifierOptions opt = {});
    ~Classifier();

    const ModelSpec& spec() const { return spec_; }
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
    // Patches of one image, (1, N, C*P*P): the prediction, and in `g` the
    // attention, token norms and d logit[cls] / d attention (batch 1).
    // cls -1 means the top-1 class and is replaced by it.
    Prediction attribute_patches(const float* patches, int& cls, int top_k, AttentionGradients& g);
    // One image with attention and token norms (a backbone: no prediction).
    Explained explain(const cv::Mat& rgb, int top_k = 5);
    // The same, plus the gradient of class `cls`'s logit (-1: the top-1
    // class) with respect to the attention (Encoder::attention_gradients).
    Explained explain_class(const cv::Mat& rgb, int cls, int top_k = 5);
    // explain() or explain_class(), whichever `map` needs.
    Explained explain_for(const cv::Mat& rgb, const MapSpec& map, int top_k = 5);

private:
    std::vector<Prediction> run(const float* patches, int B, int top_k, AttentionCapture* capture, Features* f);

    ModelSpec spec_;
    std::unique_ptr<Encoder> encoder_;
    double load_seconds_ = 0;
    int threads_ = 1;
};

// Numerically stable softmax (or, multi_label, a sigmoid per class) + top-k of one logit row.
Prediction make_prediction(const float* logits, int K, const std::vector<std::string>& labels, int top_k,
                           bool multi_label = false);

// Physical cores (falls back to logical CPUs).
int default_thread_count();
// Sets the oneDNN (OpenMP) thread count for the calling thread.
void set_thread_count(int n);


}  // namespace vitlens
