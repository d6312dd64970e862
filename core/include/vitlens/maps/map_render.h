// Drawing attention maps: colour maps, the map on the original image
// (undoing the model's resize and crop), overlays, galleries.
#pragma once

#include <array>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "vitlens/maps/attention_maps.h"
#include "vitlens/images/preprocess.h"

namespace vitlens {

enum class Colormap { Turbo, Jet, Inferno, Viridis };
Colormap parse_colormap(const std::string& s);  // throws ArgumentError
const char* colormap_name(Colormap c);

// The map upsampled (bicubic) into original-image pixels by undoing resize
// and crop: CV_32F of (orig_h, orig_w), values in [0, 1]; `mask` (CV_8U)
// is 255 where the model saw the image, 0 on the cropped-away border.
cv::Mat map_to_original(const AttentionMap& m, const Geometry& g, cv::Mat* mask = nullptr);

struct OverlayStyle {
    Colormap colormap = Colormap::Turbo;
    float alpha = 0.5f;          // opacity of the heatmap, 0..1
    bool draw_crop_box = true;   // outline what the model saw when it cropped
};

// rgb (CV_8UC3, the original image) with the map blended on: RGB out.
cv::Mat render_overlay(const cv::Mat& rgb, const AttentionMap& m, const Geometry& g, const OverlayStyle& style = {});

// rgb with three maps blended on as its red, green and blue (feature_pca's
// components), stretched over the crop the model saw: RGB out.
cv::Mat render_rgb_overlay(const cv::Mat& rgb, const std::array<AttentionMap, 3>& channels, const Geometry& g,
                           const OverlayStyle& style = {});

// A labelled grid of maps (e.g. gallery()), `cols` per row, each tile
// `tile` pixels square: RGB out. labels[i] is drawn on tile i.
cv::Mat render_tiles(const cv::Mat& rgb, const std::vector<AttentionMap>& maps, const std::vector<std::string>& labels,
                     const Geometry& g, int cols, int tile, const OverlayStyle& style = {});

// m01: CV_32F (H, W) in [0, 1] -> CV_8UC3 (H, W) RGB through the colour map.
cv::Mat colorize(const cv::Mat& m01, Colormap c);

// The coloured map at original-image size as CV_8UC4 RGBA: alpha 255 where
// the model saw the image, 0 on what a center crop cut away.
cv::Mat heat_rgba(const AttentionMap& m, const Geometry& g, Colormap c);

// rgb (CV_8UC3) scaled so its longer side is `longest` pixels (INTER_AREA);
// `g` is updated to the thumbnail's size so maps land on it.
cv::Mat thumbnail(const cv::Mat& rgb, int longest, Geometry& g);

// "L0 H0", "L0 H1", ... for gallery(): layer-major.
std::vector<std::string> gallery_labels(int layers, int heads);

}  // namespace vitlens
