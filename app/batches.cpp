#include "batches.h"

#include <iostream>

#include "common.h"
#include "vitlens/errors.h"
#include "vitlens/image_io.h"
#include "vitlens/preprocess.h"

namespace vitlens::app {

int for_each_batch(const std::vector<std::string>& files, const ModelSpec& spec, const BatchOptions& o,
                   const std::function<void(const std::vector<std::string>&, const float*, int)>& run) {
    DecodeOptions dopt;
    dopt.max_pixels = o.max_pixels;
    const int64_t per = int64_t(spec.patches()) * spec.patch_dim();
    Tensor buf({int64_t(o.batch), per});
    std::vector<std::string> names;
    Progress progress(o.what, files.size());
    const bool show = files.size() > 50;
    size_t done = 0;
    int failed = 0;
    auto flush = [&] {
        if (names.empty()) return;
        run(names, buf.data(), int(names.size()));
        done += names.size();
        names.clear();
        if (show) progress.update(done);
    };
    for (const std::string& f : files) {
        try {
            Tensor t = prepare_image(decode_image(f, dopt), spec, nullptr);
            std::copy(t.data(), t.data() + per, buf.data() + int64_t(names.size()) * per);
            names.push_back(f);
        } catch (const InputError& e) {
            std::cerr << "vitlens: " << e.what() << "\n";
            ++failed;
            ++done;
            continue;
        }
        if (int(names.size()) == o.batch) flush();
    }
    flush();
    if (show) progress.finish();
    return failed;
}

}  // namespace vitlens::app
