#include "model_options.h"

#include <cstdio>
#include <cstdlib>
#include <tuple>
#include <iostream>
#include <string>
#include <utility>

#include "exit_codes.h"
#include "vitlens/errors.h"
#include "vitlens/frontend/default_model.h"
#include "vitlens/hub/hub_cache.h"

namespace vitlens::app {

void ModelOptions::add_to(po::options_description& d, bool with_precision) {
    OptionTable t(d);
    t
        .text("model,m", &model, "DIR|ID",
              "checkpoint directory (config.json + model.safetensors [+ preprocessor_config.json]), or a\n"
              "Hugging Face id ORG/NAME[@REVISION] found in the local hub cache ($HF_HUB_CACHE, else\n"
              "$HF_HOME/hub, else ~/.cache/huggingface/hub); default: the bundled Fashion-MNIST ViT, or\n"
              "$VITLENS_MODEL")
        .integer("threads,t", &threads, 0, 0, 256, "N", "oneDNN threads (0 = one per physical core)")
        .text("input-size", &input_size, "H[xW]",
              "run at H x W pixels instead of the model's size (multiples of the patch size): the patch\n"
              "grid follows, position embeddings are resampled (bicubic, as HF / timm do), and the\n"
              "resize and crop scale to it");
    if (with_precision)
        t.choice("precision", &precision, "f32", {"f32", "bf16", "int8"}, "P",
                 "f32, bf16 (CPUs with AVX512-BF16/AMX) or int8 (any x86-64; fastest with VNNI/AMX)");
}

namespace {

// "224" or "448x320" (height x width) -> pixels; UsageError otherwise.
std::pair<int, int> parse_input_size(const std::string& text) {
    int h = 0, w = 0;
    char x = 0, extra = 0;
    const int n = std::sscanf(text.c_str(), "%d%c%d%c", &h, &x, &w, &extra);
    const bool ok = (n == 1 && h > 0) || (n == 3 && (x == 'x' || x == 'X') && h > 0 && w > 0);
    if (!ok || text.find_first_not_of("0123456789xX") != std::string::npos)
        throw UsageError("--input-size: expected H or HxW in pixels (e.g. 224 or 448x320), got '" + text + "'");
    return {h, n == 1 ? h : w};
}

}  // namespace

std::string ModelOptions::resolve(std::string* where) const {
    if (!model.empty()) {
        if (where) *where = "--model";
        return resolve_model_path(model);
    }
    std::string w;
    std::string dir = frontend::default_model(&w);
    dir = resolve_model_path(dir);  // $VITLENS_MODEL may be a hub id too
    if (dir.empty())
        throw ModelError(std::string("no --model given and the bundled model '") + frontend::kBundledModel +
                         "' was not found next to the executable; pass --model DIR or set VITLENS_MODEL");
    if (where) *where = w;
    return dir;
}

ClassifierOptions ModelOptions::classifier_options() const {
    ClassifierOptions o;
    o.threads = threads;
    if (!input_size.empty()) std::tie(o.input_h, o.input_w) = parse_input_size(input_size);
    o.precision = Precision::F32;
    parse_precision(precision, o.precision);  // the option's choices are the names parse_precision knows
    if (o.precision == Precision::BF16 && !cpu_has_bf16()) {
        o.precision = Precision::F32;
        std::cerr << "vitlens: --precision bf16: this CPU has no AVX512-BF16 or AMX; running in f32\n";
    }
    return o;
}

}  // namespace vitlens::app
