// libFuzzer: config.json (HF and timm) and preprocessor_config.json parsers.
// The first byte picks the parser; the rest is the text.
#include <cstdint>
#include <string>

#include "vitlens/errors.h"
#include "vitlens/model/model_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
    try {
        if (data[0] & 1) {
            vitlens::ModelSpec s = vitlens::parse_model_config(
                R"({"architectures":["ViTForImageClassification"],"num_labels":3,"image_size":32,"patch_size":8})", "c",
                nullptr);
            vitlens::parse_preprocessor_config(text, "preprocessor_config.json", s);
        } else {
            vitlens::parse_model_config(text, "config.json", nullptr);
        }
    } catch (const vitlens::ModelError&) {
    }
    return 0;
}
