// The labelled images of `vitlens eval`: an IDX pair or an ImageFolder tree.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "vitlens/images/datasets.h"
#include "vitlens/errors.h"
#include "vitlens/images/image_io.h"
#include "vitlens/model/model_config.h"

namespace vitlens::app {

// The labelled images: an IDX pair or an ImageFolder tree, cut to --limit.
class EvalSet {
public:
    // idx: {} or {IMAGES, LABELS}; folder: "" or an ImageFolder root; limit 0 = all.
    EvalSet(const std::vector<std::string>& idx, const std::string& folder, int limit, const ModelSpec& s)
        : from_idx_(!idx.empty()) {
        if (from_idx_) {
            set_ = read_idx(idx[0], idx[1]);
            n_ = set_.count;
            for (int i = 0; i < set_.count; ++i)
                if (set_.labels[i] >= s.num_classes)
                    throw InputError(idx[1] + ": label " + std::to_string(set_.labels[i]) + " at index " +
                                     std::to_string(i) + " is outside the model's " + std::to_string(s.num_classes) +
                                     " classes");
        } else {
            items_ = scan_image_folder(folder, s.labels);
            n_ = items_.size();
        }
        if (limit > 0) n_ = std::min(n_, size_t(limit));
        if (n_ == 0) throw InputError("no images to evaluate");
    }
    size_t size() const { return n_; }
    cv::Mat image(size_t i) const { return from_idx_ ? set_.rgb(static_cast<int>(i)) : decode_image(items_[i].path); }
    int label(size_t i) const { return from_idx_ ? set_.labels[i] : items_[i].label; }
    std::string name(size_t i) const { return from_idx_ ? "idx:" + std::to_string(i) : items_[i].path; }

private:
    bool from_idx_;
    IdxSet set_;
    std::vector<FolderItem> items_;
    size_t n_ = 0;
};

}  // namespace vitlens::app
