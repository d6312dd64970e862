#include "vitlens/frontend/batches.h"

#include <algorithm>

#include "vitlens/errors.h"
#include "vitlens/images/preprocess.h"

namespace vitlens::frontend {

int for_each_batch(size_t count, const std::function<cv::Mat(size_t)>& load, const ModelSpec& spec, int batch,
                   const std::function<void(const std::vector<size_t>&, const float*, int)>& run,
                   const BatchHooks& hooks) {
    batch = std::max(1, batch);
    const int64_t per = int64_t(spec.patches()) * spec.patch_dim();
    Tensor buf({int64_t(batch), per});
    std::vector<size_t> items;
    size_t done = 0;
    int failed = 0;
    auto flush = [&] {
        if (items.empty()) return;
        run(items, buf.data(), int(items.size()));
        done += items.size();
        items.clear();
        if (hooks.progress) hooks.progress(done);
    };
    for (size_t i = 0; i < count; ++i) {
        if (hooks.cancelled && hooks.cancelled()) break;
        try {
            Tensor t = prepare_image(load(i), spec, nullptr);
            std::copy(t.data(), t.data() + per, buf.data() + int64_t(items.size()) * per);
            items.push_back(i);
        } catch (const InputError& e) {
            if (hooks.failed) hooks.failed(i, e.what());
            ++failed;
            ++done;
            continue;
        }
        if (int(items.size()) == batch) flush();
    }
    flush();
    return failed;
}

}  // namespace vitlens::frontend
