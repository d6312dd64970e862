#include "batches.h"

#include <iostream>

#include "console.h"
#include "vitlens/frontend/batches.h"
#include "vitlens/images/image_io.h"

namespace vitlens::app {

int for_each_batch(const std::vector<std::string>& files, const ModelSpec& spec, const BatchOptions& o,
                   const std::function<void(const std::vector<std::string>&, const float*, int)>& run) {
    DecodeOptions dopt;
    dopt.limit_name = "--max-pixels";
    dopt.max_pixels = o.max_pixels;
    Progress progress(o.what, files.size());
    const bool show = files.size() > 50;
    frontend::BatchHooks hooks;
    hooks.failed = [](size_t, const std::string& problem) { std::cerr << "vitlens: " << problem << "\n"; };
    if (show) hooks.progress = [&](size_t done) { progress.update(done); };
    std::vector<std::string> names;
    const int failed = frontend::for_each_batch(
        files.size(), [&](size_t i) { return decode_image(files[i], dopt); }, spec, o.batch,
        [&](const std::vector<size_t>& items, const float* patches, int B) {
            names.clear();
            for (size_t i : items) names.push_back(files[i]);
            run(names, patches, B);
        },
        hooks);
    if (show) progress.finish();
    return failed;
}

}  // namespace vitlens::app
