// Reading images: the header sniffed for format and size before any decoder
// sees the bytes, then OpenCV's decoder, EXIF orientation, 8-bit RGB.
#pragma once

#include <cstdint>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

namespace vitlens {

// The one default of --max-pixels and of the GUI: 100 megapixels.
inline constexpr int64_t kDefaultMaxPixels = 100'000'000;

struct DecodeOptions {
    int64_t max_pixels = kDefaultMaxPixels;  // refuse larger images before decoding
    std::string limit_name;  // the front end's name of that limit (an option), added to the refusal
};

// Reads an image file into 8-bit RGB (CV_8UC3): EXIF orientation applied,
// gray/alpha/16-bit converted. Throws InputError naming the file.
cv::Mat decode_image(const std::string& path, const DecodeOptions& opt = {});
// Same for an encoded image in memory; `name` is used in messages.
cv::Mat decode_image_bytes(const std::vector<uint8_t>& bytes, const std::string& name, const DecodeOptions& opt = {});
// Converts a BGR/BGRA/gray OpenCV frame (8 or 16 bit) to 8-bit RGB.
cv::Mat to_rgb8(const cv::Mat& any_bgr);

// Image size from the file header (PNG, JPEG, BMP, GIF, WebP, PNM, TIFF), read
// as OpenCV's decoders read it; false if unknown or if the header is one a
// decoder could read differently. Where two sizes are possible, the larger.
bool peek_image_size(const std::vector<uint8_t>& head, int64_t* w, int64_t* h);
// True for the signatures decode_image_bytes hands to OpenCV: PNG, JPEG, BMP,
// WebP, TIFF and PNM.
bool is_known_image_format(const std::vector<uint8_t>& head);

}  // namespace vitlens
