#include "vitlens/images/image_io.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <vector>

#include "vitlens/errors.h"
#include "vitlens/images/input_file.h"

namespace vitlens {

namespace {

std::vector<uint8_t> read_all(const std::string& path) {
    if (const std::string why = not_a_regular_file(path); !why.empty() && why != "does not exist")
        throw InputError(path + ": " + why);
    std::ifstream f(path, std::ios::binary);
    if (!f) throw InputError(path + ": cannot open (missing or unreadable)");
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (f.bad()) throw InputError(path + ": read error");
    return bytes;
}

}  // namespace

cv::Mat to_rgb8(const cv::Mat& in) {
    cv::Mat m = in;
    if (m.depth() == CV_16U) m.convertTo(m, CV_8U, 1.0 / 257.0);
    else if (m.depth() == CV_32F) m.convertTo(m, CV_8U, 255.0);
    else if (m.depth() != CV_8U) m.convertTo(m, CV_8U);
    cv::Mat out;
    switch (m.channels()) {
        case 1: cv::cvtColor(m, out, cv::COLOR_GRAY2RGB); break;
        case 3: cv::cvtColor(m, out, cv::COLOR_BGR2RGB); break;
        case 4: cv::cvtColor(m, out, cv::COLOR_BGRA2RGB); break;
        default: throw InputError("unsupported channel count " + std::to_string(m.channels()));
    }
    return out;
}

cv::Mat decode_image_bytes(const std::vector<uint8_t>& bytes, const std::string& name, const DecodeOptions& opt) {
    if (bytes.empty()) throw InputError(name + ": empty file (0 bytes)");
    if (!is_known_image_format(bytes))
        throw InputError(name + ": not a decodable image (unrecognised format; PNG, JPEG, BMP, WebP, TIFF and PNM "
                                "are read)");
    // Decoders allocate the whole image as soon as they have read its header,
    // so the size is checked here first; a file whose size cannot be read never
    // reaches a decoder (fuzz_image found a PPM header claiming 30000x30000).
    int64_t w = 0, h = 0;
    if (!peek_image_size(bytes, &w, &h))
        throw InputError(name + ": not a decodable image (no image size in its " + std::to_string(bytes.size()) +
                         "-byte header)");
    if (w <= 0 || h <= 0) throw InputError(name + ": header claims an empty image (" + std::to_string(w) + "x" + std::to_string(h) + ")");
    // w and h are at most 2^32 each: compare without forming an overflowing product.
    if (w > opt.max_pixels / h)
        throw InputError(name + ": image claims " + std::to_string(w) + "x" + std::to_string(h) + " = " +
                         std::to_string(static_cast<unsigned long long>(w) * static_cast<unsigned long long>(h)) +
                         " pixels, over the limit of " + std::to_string(opt.max_pixels) +
                         (opt.limit_name.empty() ? "" : " (" + opt.limit_name + ")"));
    cv::Mat raw;
    try {
        // IMREAD_COLOR: 8-bit BGR, EXIF orientation applied, gray/alpha/16-bit/CMYK converted.
        raw = cv::imdecode(cv::Mat(1, static_cast<int>(bytes.size()), CV_8U, const_cast<uint8_t*>(bytes.data())),
                           cv::IMREAD_COLOR);
    } catch (const cv::Exception& e) {
        throw InputError(name + ": cannot decode image (" + e.msg + ")");
    }
    if (raw.empty()) throw InputError(name + ": not a decodable image (" + std::to_string(bytes.size()) + " bytes)");
    if (int64_t(raw.cols) * raw.rows > opt.max_pixels)
        throw InputError(name + ": image is " + std::to_string(raw.cols) + "x" + std::to_string(raw.rows) +
                         " pixels, over the limit of " + std::to_string(opt.max_pixels));
    cv::Mat rgb;
    cv::cvtColor(raw, rgb, cv::COLOR_BGR2RGB);
    return rgb;
}

cv::Mat decode_image(const std::string& path, const DecodeOptions& opt) {
    return decode_image_bytes(read_all(path), path, opt);
}

}  // namespace vitlens
