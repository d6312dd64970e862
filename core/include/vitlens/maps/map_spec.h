// One way to ask for a map: a MapSpec names the method and its parameters,
// compute_map() makes the map from what the encoder captured. The CLI, the
// GUI and the stream engine only choose a spec; a new method is added here.
#pragma once

#include <string>
#include <vector>

#include "vitlens/maps/attention_maps.h"
#include "vitlens/encoder/encoder.h"
#include "vitlens/encoder/memory_estimate.h"
#include "vitlens/model/model_config.h"
#include "vitlens/model/tensor.h"

namespace vitlens {

enum class MapMethod {
    Rollout,    // attention flow from the class token through all layers
    Attention,  // the class token's row of one layer (heads fused or one head)
    Query,      // where one patch looks, in one layer
    Attribution,  // why one class: gradient-weighted attention (Chefer et al. 2021)
    Features,     // no attention: the patch features' first three principal components as colours
    Random,       // a baseline for faithfulness: a seeded random value per patch
};
const char* map_method_name(MapMethod m);
// Any method's name ("rollout" ... "random"); throws ArgumentError naming the choices.
MapMethod parse_map_method(const std::string& s);
// The four attention maps, the choices of `explain --method` and the GUI's
// menu (features and random are views the stream and eval offer on their own).
const std::vector<std::string>& map_method_names();

struct MapSpec {
    MapMethod method = MapMethod::Rollout;
    Fusion fusion = Fusion::Mean;  // how heads are combined
    float discard = 0.f;           // rollout: lowest fraction of each layer's attention zeroed, [0, 1)
    int layer = -1;                // attention/query: layer, < 0 counts from the end
    int head = -1;                 // attention/query: one head, -1 fuses them
    int query_row = 0, query_col = 0;  // query: the patch, 0-based, rows from the top
    float clip_percentile = 0.f;   // > 0: cap the map at this percentile (outlier tokens)
    int target_class = -1;         // attribution: the class explained, -1 = the top-1
    uint64_t seed = 0;             // random: the same seed gives the same map
};

// What the forward pass must keep for `spec`: nothing (features, random),
// every layer's attention, or the attention and its gradient (attribution).
MapNeed map_need(const MapSpec& spec);
// map_need(spec) == MapNeed::Gradients.
bool needs_gradients(const MapSpec& spec);

// The one precision rule of the maps: "" when `method` can run with the
// model loaded at `p`, else the fact that forbids it (attribution's backward
// pass runs in f32 only). Front ends add the option or menu that fixes it.
std::string precision_problem(MapMethod method, Precision p);

// Throws ArgumentError when `spec` asks for what the model does not have
// (layer, head, query patch) or a parameter out of range, with the numbers.
void validate(const MapSpec& spec, const ModelSpec& model);

// The layout of the model's tokens (prefix tokens, then the patch grid).
TokenLayout token_layout(const ModelSpec& model);

// att: one image's attention, (L, H, T, T); grad: d logit / d att, the same
// shape, required by needs_gradients() methods (else may be null).
// Returns a (grid_h, grid_w) map, max 1. Every method but Features (whose
// three channels come from the tokens: compute_view in map_view.h).
AttentionMap compute_map(const Tensor& att, const Tensor* grad, const TokenLayout& lay, const MapSpec& spec);
inline AttentionMap compute_map(const Tensor& att, const TokenLayout& lay, const MapSpec& spec) {
    return compute_map(att, nullptr, lay, spec);
}

// A token's name for reports: "prefix0", "prefix1" or "(row,col)" in the grid.
std::string token_label(int token, const TokenLayout& lay);

}  // namespace vitlens
