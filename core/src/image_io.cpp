#include "vitlens/image_io.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <vector>

#include "vitlens/errors.h"

namespace vitlens {

namespace {

uint32_t be32(const uint8_t* p) { return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3]; }
uint16_t be16(const uint8_t* p) { return uint16_t((p[0] << 8) | p[1]); }
uint32_t le32(const uint8_t* p) { return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24); }
uint16_t le16(const uint8_t* p) { return uint16_t(p[0] | (p[1] << 8)); }

std::vector<uint8_t> read_all(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw InputError(path + ": cannot open (missing or unreadable)");
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (f.bad()) throw InputError(path + ": read error");
    return bytes;
}

// One reader per format: each returns false when the header is not its
// format or too short, else stores the size the header claims.
bool size_of_webp(const uint8_t* p, size_t n, int64_t* w, int64_t* h) {
    if (std::equal(p + 12, p + 16, "VP8X")) {
        *w = 1 + (p[24] | (p[25] << 8) | (p[26] << 16));
        *h = 1 + (p[27] | (p[28] << 8) | (p[29] << 16));
        return true;
    }
    if (std::equal(p + 12, p + 16, "VP8 ")) {
        *w = le16(p + 26) & 0x3fff;
        *h = le16(p + 28) & 0x3fff;
        return true;
    }
    if (std::equal(p + 12, p + 16, "VP8L") && n >= 25) {
        uint32_t v = le32(p + 21);
        *w = 1 + (v & 0x3fff);
        *h = 1 + ((v >> 14) & 0x3fff);
        return true;
    }
    return false;
}

// PNM: ASCII width and height after the magic, with whitespace and '#' comments.
bool size_of_pnm(const uint8_t* p, size_t n, int64_t* w, int64_t* h) {
    size_t i = 2;
    int64_t dims[2] = {0, 0};
    for (int64_t& d : dims) {
        for (;;) {  // whitespace and '#' comments up to the end of their line
            while (i < n && std::isspace(p[i])) ++i;
            if (i < n && p[i] == '#') {
                while (i < n && p[i] != '\n' && p[i] != '\r') ++i;
                continue;
            }
            break;
        }
        if (i >= n || !std::isdigit(p[i])) return false;
        for (; i < n && std::isdigit(p[i]); ++i)  // saturate at 2^32, as large as the other formats can claim
            d = std::min<int64_t>(d * 10 + (p[i] - '0'), int64_t(1) << 32);
    }
    *w = dims[0];
    *h = dims[1];
    return true;
}

// TIFF: tags 256 (width) and 257 (height) of IFD 0, SHORT or LONG, either byte order.
bool size_of_tiff(const uint8_t* p, size_t n, int64_t* w, int64_t* h) {
    const bool le = p[0] == 'I';
    auto u16 = [&](size_t at) -> uint32_t { return le ? le16(p + at) : be16(p + at); };
    auto u32 = [&](size_t at) -> uint32_t { return le ? le32(p + at) : be32(p + at); };
    if (u16(2) != 42) return false;
    const size_t ifd = u32(4);
    if (ifd > n || n - ifd < 2) return false;
    const size_t count = u16(ifd);
    int64_t tw = -1, th = -1;
    for (size_t k = 0; k < count; ++k) {
        const size_t e = ifd + 2 + 12 * k;
        if (e > n || n - e < 12) break;
        const uint32_t tag = u16(e), type = u16(e + 2);
        if (tag != 256 && tag != 257) continue;
        int64_t v = type == 3 ? int64_t(u16(e + 8)) : type == 4 ? int64_t(u32(e + 8)) : -1;
        int64_t& d = tag == 256 ? tw : th;
        d = std::max(d, v);  // a repeated tag counts with its largest value
    }
    if (tw < 0 || th < 0) return false;
    *w = tw;
    *h = th;
    return true;
}

// JPEG: walk the markers to a start-of-frame.
bool size_of_jpeg(const uint8_t* p, size_t n, int64_t* w, int64_t* h) {
    size_t i = 2;
    while (i + 9 < n) {
        if (p[i] != 0xFF) { ++i; continue; }
        uint8_t m = p[i + 1];
        if (m == 0xFF) { ++i; continue; }
        if (m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) { i += 2; continue; }
        uint16_t len = be16(p + i + 2);
        bool sof = (m >= 0xC0 && m <= 0xCF) && m != 0xC4 && m != 0xC8 && m != 0xCC;
        if (sof) {
            *h = be16(p + i + 5);
            *w = be16(p + i + 7);
            return true;
        }
        if (len < 2) return false;
        i += 2 + len;
    }
    return false;
}

}  // namespace

bool peek_image_size(const std::vector<uint8_t>& b, int64_t* w, int64_t* h) {
    const size_t n = b.size();
    const uint8_t* p = b.data();
    if (n >= 24 && p[0] == 0x89 && p[1] == 'P' && p[2] == 'N' && p[3] == 'G') {
        *w = be32(p + 16);
        *h = be32(p + 20);
        return true;
    }
    if (n >= 26 && p[0] == 'B' && p[1] == 'M') {
        *w = std::abs(int64_t(int32_t(le32(p + 18))));  // negative height = top-down rows
        *h = std::abs(int64_t(int32_t(le32(p + 22))));
        return true;
    }
    if (n >= 10 && p[0] == 'G' && p[1] == 'I' && p[2] == 'F') {
        *w = le16(p + 6);
        *h = le16(p + 8);
        return true;
    }
    if (n >= 30 && std::equal(p, p + 4, "RIFF") && std::equal(p + 8, p + 12, "WEBP")) return size_of_webp(p, n, w, h);
    if (n >= 3 && p[0] == 'P' && p[1] >= '1' && p[1] <= '6') return size_of_pnm(p, n, w, h);
    if (n >= 8 && ((p[0] == 'I' && p[1] == 'I') || (p[0] == 'M' && p[1] == 'M'))) return size_of_tiff(p, n, w, h);
    if (n >= 4 && p[0] == 0xFF && p[1] == 0xD8) return size_of_jpeg(p, n, w, h);
    return false;
}

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

namespace {

// Only these formats reach OpenCV's decoders, and only with the exact
// signature their own decoder claims. imdecode otherwise offers the bytes to
// every decoder it was built with, in turn, and GDCM (the DICOM reader)
// aborts on an assert for malformed input: fuzz_image found two such files,
// one starting FF D8 00 (not quite JPEG), one with a JPEG 2000 codestream
// magic (OpenCV asks GDCM before its JPEG 2000 decoder).
bool known_image_format(const std::vector<uint8_t>& b) {
    auto starts = [&](std::initializer_list<uint8_t> sig, size_t at = 0) {
        if (b.size() < at + sig.size()) return false;
        return std::equal(sig.begin(), sig.end(), b.begin() + static_cast<std::ptrdiff_t>(at));
    };
    bool pnm = b.size() > 3 && b[0] == 'P' && b[1] >= '1' && b[1] <= '6' && std::isspace(b[2]);
    return starts({0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A}) || starts({0xFF, 0xD8, 0xFF}) || starts({'B', 'M'}) ||
           (starts({'R', 'I', 'F', 'F'}) && starts({'W', 'E', 'B', 'P'}, 8)) || starts({'I', 'I', 0x2A, 0x00}) ||
           starts({'M', 'M', 0x00, 0x2A}) || pnm;
}

}  // namespace

cv::Mat decode_image_bytes(const std::vector<uint8_t>& bytes, const std::string& name, const DecodeOptions& opt) {
    if (bytes.empty()) throw InputError(name + ": empty file (0 bytes)");
    if (!known_image_format(bytes))
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
                         " pixels, over the limit of " + std::to_string(opt.max_pixels) + " (--max-pixels)");
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
