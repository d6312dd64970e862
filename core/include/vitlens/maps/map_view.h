// What a front end shows for one explained image: one heat map, or for
// MapMethod::Features three colour channels. The CLI, the GUI and the
// stream engine make it here from Classifier::explain's result and draw it
// here; none of them dispatches on the method.
#pragma once

#include <array>
#include <opencv2/core.hpp>

#include "vitlens/encoder/classifier.h"
#include "vitlens/maps/map_render.h"
#include "vitlens/maps/map_spec.h"

namespace vitlens {

struct MapView {
    bool colour = false;                 // true: `channels` (Features), false: `heat`
    AttentionMap heat;                   // (grid_h, grid_w), max 1
    std::array<AttentionMap, 3> channels;  // each (grid_h, grid_w) in [0, 1]: red, green, blue
    bool empty() const { return colour ? channels[0].values.empty() : heat.values.empty(); }
};

// The view `spec` asks for from `e`, which must hold what
// explain_request(spec) asked for (ArgumentError otherwise, naming it).
MapView compute_view(const Explained& e, const ModelSpec& model, const MapSpec& spec);

// rgb (CV_8UC3, the original image) with the view blended on: RGB out.
cv::Mat render_view(const cv::Mat& rgb, const MapView& v, const Geometry& g, const OverlayStyle& style = {});

// The view at original-image size as CV_8UC4 RGBA (heat_rgba, pca_rgba).
cv::Mat view_rgba(const MapView& v, const Geometry& g, Colormap c);

// A stream's heat-map EMA: prev = smooth * prev + (1 - smooth) * next when
// both are heat maps of one size; else (features too) prev = next.
void blend_views(MapView& prev, MapView next, float smooth);

}  // namespace vitlens
