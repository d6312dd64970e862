// libFuzzer: image decode + preprocess (resize, crop, normalise, patchify).
#include <cstdint>
#include <opencv2/core/utility.hpp>
#include <vector>

#include "vitlens/errors.h"
#include "vitlens/images/preprocess.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // One thread: OpenCV's thread pool would make coverage, and so the
    // inputs a fixed-seed run explores, depend on timing.
    static const bool single_threaded = (cv::setNumThreads(0), true);
    (void)single_threaded;
    std::vector<uint8_t> bytes(data, data + size);
    static const vitlens::ModelSpec spec = [] {
        vitlens::ModelSpec s;
        s.image_h = s.image_w = 32;
        s.patch = 8;
        s.pre.resize = vitlens::Preprocess::Resize::ShortestEdge;
        s.pre.edge = 36;
        s.pre.center_crop = true;
        s.pre.crop_h = s.pre.crop_w = 32;
        s.pre.interp = vitlens::Interp::Bicubic;
        return s;
    }();
    try {
        vitlens::DecodeOptions o;
        o.max_pixels = 4'000'000;  // keep each input cheap
        cv::Mat rgb = vitlens::decode_image_bytes(bytes, "fuzz-image", o);
        vitlens::prepare_image(rgb, spec, nullptr);
    } catch (const vitlens::InputError&) {
    }
    return 0;
}
