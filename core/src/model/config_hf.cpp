// The Hugging Face config.json dialect: architectures[0] (ViT, DeiT, DINOv2),
// dims, classes and labels -> ModelSpec.
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "config_dialects.h"
#include "config_json.h"
#include "vitlens/model/weights.h"

namespace vitlens::detail {

namespace {

// id2label with string or integer keys and values; every index 0..n-1 present.
std::vector<std::string> read_id2label(const json& v, const std::string& file, int max_classes) {
    if (!v.is_object()) fail(file, "'id2label' must be an object, got " + std::string(v.type_name()));
    if (v.size() > static_cast<size_t>(max_classes))
        fail(file, "'id2label' has " + std::to_string(v.size()) + " entries, over the limit " +
                       std::to_string(max_classes));
    std::map<long, std::string> m;
    for (auto it = v.begin(); it != v.end(); ++it) {
        long idx;
        try {
            size_t used = 0;
            idx = std::stol(it.key(), &used);
            if (used != it.key().size()) throw std::invalid_argument("trailing");
        } catch (const std::exception&) {
            fail(file, "'id2label' key '" + it.key() + "' is not an integer");
        }
        std::string label;
        if (it.value().is_string()) label = it.value().get<std::string>();
        else if (it.value().is_number()) label = it.value().dump();
        else fail(file, "'id2label' value for " + it.key() + " must be a string or number");
        m[idx] = label;
    }
    std::vector<std::string> labels;
    for (long i = 0; i < static_cast<long>(m.size()); ++i) {
        auto it = m.find(i);
        if (it == m.end())
            fail(file, "'id2label' has a gap: index " + std::to_string(i) + " is missing (" +
                           std::to_string(m.size()) + " labels, indices must be 0.." +
                           std::to_string(m.size() - 1) + ")");
        labels.push_back(it->second);
    }
    return labels;
}

// Naming and pooling from architectures[0]; true for a model without a head.
bool hf_architecture(ModelSpec& s, const std::string& file) {
    const std::string& a = s.architecture;
    if (a == "ViTForImageClassification") s.naming = Naming::HfVit;
    else if (a == "ViTModel") { s.naming = Naming::HfVit; return true; }
    else if (a == "DeiTForImageClassification") s.naming = Naming::HfDeit;
    else if (a == "DeiTForImageClassificationWithTeacher") {
        s.naming = Naming::HfDeit;
        s.distilled_heads = true;
    } else if (a == "Dinov2ForImageClassification") {
        s.naming = Naming::HfDinov2;
        s.global_pool = "cls_avg";
    } else if (a == "Dinov2Model") {
        s.naming = Naming::HfDinov2;
        return true;
    } else {
        fail(file, "architecture '" + a +
                       "' is not supported (ViTForImageClassification, ViTModel, DeiTForImageClassification, "
                       "DeiTForImageClassificationWithTeacher, Dinov2ForImageClassification, Dinov2Model, "
                       "or a timm vision_transformer config)");
    }
    return false;
}

// Dims, activation and LayerNorm epsilon of a Hugging Face config.
void hf_dims(ModelSpec& s, const json& j, const std::string& file, const SpecLimits& lim) {
    const bool dinov2 = s.naming == Naming::HfDinov2;
    s.hidden = get_int(j, "hidden_size", file, 768, 1, lim.max_hidden);
    s.layers = get_int(j, "num_hidden_layers", file, 12, 1, lim.max_layers);
    s.heads = get_int(j, "num_attention_heads", file, 12, 1, lim.max_heads);
    if (dinov2) {  // Dinov2Config: the MLP width is hidden_size x mlp_ratio, LayerScale in every block
        if (get_bool(j, "use_swiglu_ffn", file, false))
            fail(file, "'use_swiglu_ffn' (the SwiGLU MLP of DINOv2 giant) is not supported");
        const float ratio = get_float(j, "mlp_ratio", file, 4.0f);
        if (!(ratio > 0 && double(ratio) * s.hidden <= lim.max_mlp))
            fail(file, "'mlp_ratio' " + std::to_string(ratio) + " is out of range");
        s.mlp = static_cast<int>(s.hidden * ratio);
        s.layer_scale = true;
    } else {
        s.mlp = get_int(j, "intermediate_size", file, 3072, 1, lim.max_mlp);
    }
    s.image_h = s.image_w = get_int(j, "image_size", file, dinov2 ? 518 : 224, 1, lim.max_image);
    s.patch = get_int(j, "patch_size", file, dinov2 ? 14 : 16, 1, lim.max_image);
    s.channels = get_int(j, "num_channels", file, 3, 1, 16);
    if (s.channels != 3) fail(file, "num_channels " + std::to_string(s.channels) + " is not supported (3)");
    s.qkv_bias = get_bool(j, "qkv_bias", file, true);
    s.eps = get_float(j, "layer_norm_eps", file, dinov2 ? 1e-6f : 1e-12f);
    if (!(s.eps > 0 && s.eps < 1)) fail(file, "'layer_norm_eps' must be in (0, 1)");
    if (j.contains("hidden_act")) {
        if (!j["hidden_act"].is_string()) fail(file, "'hidden_act' must be a string");
        s.hidden_act = j["hidden_act"].get<std::string>();
    }
    s.n_prefix = s.naming == Naming::HfDeit ? 2 : 1;
    s.pos_grid_h = s.image_h / s.patch;
    s.pos_grid_w = s.image_w / s.patch;
}

// Classes and labels: id2label, else num_labels, else the head's rows.
void hf_classes(ModelSpec& s, const json& j, const std::string& file, const SafeTensors* weights,
                const SpecLimits& lim) {
    if (j.contains("problem_type") && j["problem_type"].is_string())
        s.multi_label = j["problem_type"].get<std::string>() == "multi_label_classification";
    if (j.contains("id2label")) s.labels = read_id2label(j["id2label"], file, lim.max_classes);
    if (j.contains("num_labels")) s.num_classes = get_int(j, "num_labels", file, 0, 1, lim.max_classes);
    if (!s.labels.empty()) s.num_classes = static_cast<int>(s.labels.size());
    if (s.num_classes == 0 && weights) {
        std::string head = s.naming == Naming::HfDeit && s.distilled_heads ? "cls_classifier.weight" : "classifier.weight";
        if (weights->contains(head)) {
            const auto& hs = weights->info(head).shape;
            if (hs.size() == 2 && hs[0] > 0 && hs[0] <= lim.max_classes) s.num_classes = static_cast<int>(hs[0]);
        }
    }
    if (s.num_classes == 0) fail(file, "no 'id2label' or 'num_labels': cannot tell the number of classes");
}

}  // namespace

void fill_hf(ModelSpec& s, const json& j, const std::string& file, const SafeTensors* weights, const SpecLimits& lim) {
    const json& a = j["architectures"];
    if (!a.is_array() || a.empty() || !a[0].is_string())
        fail(file, "'architectures' must be a non-empty array of strings");
    s.architecture = a[0].get<std::string>();
    const bool backbone = hf_architecture(s, file);
    hf_dims(s, j, file, lim);
    if (!backbone) hf_classes(s, j, file, weights, lim);  // a backbone's id2label describes no head
    // Default preprocessing of ViTImageProcessor, used without a preprocessor_config.json.
    hf_default_preprocess(s);
}

}  // namespace vitlens::detail
