// Labelled image sets for evaluation: IDX files (the MNIST format, gzipped
// or not) and ImageFolder trees (one subfolder per class).
#pragma once

#include <cstdint>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

namespace vitlens {

// IDX images (N, rows, cols) uint8 + labels (N). Throws InputError naming
// the file (bad magic, truncated, count mismatch).
struct IdxSet {
    int count = 0, rows = 0, cols = 0;
    std::vector<uint8_t> pixels;  // count * rows * cols
    std::vector<int> labels;      // count
    // Image i as 8-bit RGB (gray replicated).
    cv::Mat rgb(int i) const;
};
IdxSet read_idx(const std::string& images_path, const std::string& labels_path);

// Reads a whole file, gunzipping it when it starts with the gzip magic.
std::vector<uint8_t> read_maybe_gzip(const std::string& path);

// ImageFolder: <root>/<class>/<image>; class folder names are matched to
// `labels` case-insensitively (an unmatched folder throws InputError that
// lists the model's labels).
struct FolderItem {
    std::string path;
    int label = 0;
};
std::vector<FolderItem> scan_image_folder(const std::string& root, const std::vector<std::string>& labels);

// True for file names with a common image extension.
bool has_image_extension(const std::string& path);

}  // namespace vitlens
