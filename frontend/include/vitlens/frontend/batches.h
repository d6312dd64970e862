// The decode-and-batch loop of every front end that classifies or embeds a
// collection (classify, embed, eval, the GUI's folder tab): images decoded
// and prepared one by one, packed into encoder batches, bad ones reported
// through a hook and left out.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "vitlens/model/model_config.h"

namespace vitlens::frontend {

struct BatchHooks {
    std::function<void(size_t item, const std::string& problem)> failed;  // an InputError's message
    std::function<void(size_t done)> progress;  // items done (run or failed), after each batch
    std::function<bool()> cancelled;            // checked before each item: true stops the loop
};

// Items 0..count-1: load(i) gives item i's 8-bit RGB image (and throws
// InputError when it cannot); each is prepared for `spec` and packed, up to
// `batch` at a time, into run(items, patches, B) with patches (B, N, C*P*P)
// and items the B item numbers. Returns how many items failed.
int for_each_batch(size_t count, const std::function<cv::Mat(size_t)>& load, const ModelSpec& spec, int batch,
                   const std::function<void(const std::vector<size_t>& items, const float* patches, int B)>& run,
                   const BatchHooks& hooks = {});

}  // namespace vitlens::frontend
