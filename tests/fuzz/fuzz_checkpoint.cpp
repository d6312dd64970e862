// libFuzzer: the checkpoint-to-encoder mapping. The input is a safetensors
// file (seeded with valid fixtures); the first byte picks an HF ViT or a
// timm config, so hostile shapes and names meet both mappings.
#include <cstdint>
#include <vector>

#include "vitlens/model/checkpoint.h"
#include "vitlens/errors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    std::vector<uint8_t> bytes(data + 1, data + size);
    try {
        auto st = vitlens::SafeTensors::from_bytes("fuzz.safetensors", bytes);
        const char* hf = R"({"architectures":["ViTForImageClassification"],"hidden_size":48,"num_hidden_layers":2,
            "num_attention_heads":3,"intermediate_size":96,"image_size":32,"patch_size":8,"num_labels":7})";
        const char* timm = R"({"architecture":"vit_tiny_patch8_32","num_classes":7,
            "pretrained_cfg":{"input_size":[3,32,32],"crop_pct":0.875}})";
        vitlens::ModelSpec s = vitlens::parse_model_config(data[0] & 1 ? timm : hf, "config.json", &st);
        vitlens::load_encoder_weights(st, s);
    } catch (const vitlens::ModelError&) {
    }
    return 0;
}
