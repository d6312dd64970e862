// The images of a collection as encoder batches: decoded, preprocessed and
// packed, with bad files reported and counted, and progress on stderr.
// Shared by classify and embed.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "vitlens/images/image_io.h"
#include "vitlens/model/model_config.h"

namespace vitlens::app {

struct BatchOptions {
    int batch = 8;                       // images per call
    int64_t max_pixels = kDefaultMaxPixels;    // refuse larger images (from the header)
    const char* what = "images";         // the progress line's name
};

// Calls run(names, patches, B) for each batch: patches (B, N, C*P*P) for
// `spec`, names the B files. A file that cannot be read is reported on
// stderr ("vitlens: <file>: <problem>") and left out. Returns how many failed.
int for_each_batch(const std::vector<std::string>& files, const ModelSpec& spec, const BatchOptions& o,
                   const std::function<void(const std::vector<std::string>& names, const float* patches, int B)>& run);

}  // namespace vitlens::app
