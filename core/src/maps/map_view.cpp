#include "vitlens/maps/map_view.h"

#include "vitlens/errors.h"
#include "vitlens/maps/feature_pca.h"

namespace vitlens {

MapView compute_view(const Explained& e, const ModelSpec& model, const MapSpec& spec) {
    MapView v;
    const TokenLayout lay = token_layout(model);
    if (spec.method == MapMethod::Features) {
        if (e.features.tokens.empty())
            throw ArgumentError("the features view needs the final tokens (an ExplainRequest with features)");
        v.colour = true;
        v.channels = feature_pca(e.features.tokens.data(), model.tokens(), model.hidden, lay);
        return v;
    }
    if (map_need(spec) != MapNeed::None && e.attention.empty())
        throw ArgumentError(std::string("the ") + map_method_name(spec.method) +
                            " map needs the attention (an ExplainRequest with MapNeed::Capture)");
    v.heat = compute_map(e.attention, &e.attention_grad, lay, spec);
    return v;
}

cv::Mat render_view(const cv::Mat& rgb, const MapView& v, const Geometry& g, const OverlayStyle& style) {
    return v.colour ? render_rgb_overlay(rgb, v.channels, g, style) : render_overlay(rgb, v.heat, g, style);
}

cv::Mat view_rgba(const MapView& v, const Geometry& g, Colormap c) {
    return v.colour ? pca_rgba(v.channels, g) : heat_rgba(v.heat, g, c);
}

namespace {

void blend_map(AttentionMap& prev, const AttentionMap& next, float smooth) {
    for (size_t i = 0; i < prev.values.size(); ++i) prev.values[i] = smooth * prev.values[i] + (1.f - smooth) * next.values[i];
}

}  // namespace

void blend_views(MapView& prev, MapView next, float smooth) {
    const bool same = !prev.colour && !next.colour && !prev.empty() && prev.heat.values.size() == next.heat.values.size();
    if (!same || smooth <= 0.f) {
        prev = std::move(next);
        return;
    }
    blend_map(prev.heat, next.heat, smooth);
}

}  // namespace vitlens
