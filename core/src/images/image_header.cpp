// Image headers read the way the decoders behind cv::imdecode read them, so
// the size checked against --max-pixels is the size the decoder will
// allocate. Where a reader here cannot be sure it agrees with its decoder it
// answers false (the image is refused) or the larger size.
#include "vitlens/images/image_io.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <initializer_list>

#include <webp/decode.h>

namespace vitlens {

namespace {

uint32_t be32(const uint8_t* p) { return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3]; }
uint16_t be16(const uint8_t* p) { return uint16_t((p[0] << 8) | p[1]); }
uint32_t le32(const uint8_t* p) { return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24); }
uint16_t le16(const uint8_t* p) { return uint16_t(p[0] | (p[1] << 8)); }

// One reader per format: each returns false when the header is not its
// format or too short, else stores the size the header claims.

// PNG: libpng requires IHDR as the first chunk.
bool size_of_png(const uint8_t* p, size_t n, int64_t* w, int64_t* h) {
    if (n < 24 || !std::equal(p + 12, p + 16, "IHDR")) return false;
    *w = be32(p + 16);
    *h = be32(p + 20);
    return true;
}

// BMP: OpenCV reads 32-bit signed sizes from headers of 36 bytes or more
// (a negative height means top-down rows) and 16-bit unsigned ones from the
// 12-byte OS/2 core header; any other header size is refused.
bool size_of_bmp(const uint8_t* p, size_t n, int64_t* w, int64_t* h) {
    if (n < 26) return false;
    const uint32_t header = le32(p + 14);
    if (header == 12) {
        *w = le16(p + 18);
        *h = le16(p + 20);
        return true;
    }
    if (header < 36 || header > 0x7fffffff) return false;
    *w = std::abs(int64_t(int32_t(le32(p + 18))));
    *h = std::abs(int64_t(int32_t(le32(p + 22))));
    return true;
}

// WebP: OpenCV's decoder claims a file only when libwebp's WebPGetFeatures
// accepts its first 32 bytes (WEBP_HEADER_SIZE in grfmt_webp.cpp), then
// allocates the size that call reports; a file it does not claim goes on to
// the next decoder, GDCM's among them. So the same call on the same bytes
// decides here, and an animation (which OpenCV refuses) has no size.
bool size_of_webp(const uint8_t* p, size_t n, int64_t* w, int64_t* h) {
    constexpr size_t kHeader = 32;
    WebPBitstreamFeatures f;
    if (n < kHeader || WebPGetFeatures(p, kHeader, &f) != VP8_STATUS_OK || f.has_animation) return false;
    *w = f.width;
    *h = f.height;
    return true;
}

// PNM, as OpenCV's PxM reader (ReadNumber in grfmt_pxm.cpp) takes a number:
// whitespace and '#' comments to the end of their line before it, and the
// one byte that ends it is consumed with it ("30000#30000" is two numbers).
bool size_of_pnm(const uint8_t* p, size_t n, int64_t* w, int64_t* h) {
    size_t i = 2;
    int64_t dims[2] = {0, 0};
    for (int64_t& d : dims) {
        while (i < n && !std::isdigit(p[i])) {
            if (p[i] == '#') {
                while (i < n && p[i] != '\n' && p[i] != '\r') ++i;
                ++i;
            } else if (std::isspace(p[i])) {
                ++i;
            } else {
                return false;  // OpenCV refuses it too
            }
        }
        if (i >= n) return false;
        for (; i < n && std::isdigit(p[i]); ++i)  // saturate at 2^32, as large as the other formats can claim
            d = std::min<int64_t>(d * 10 + (p[i] - '0'), int64_t(1) << 32);
        ++i;  // the byte that ended the number
    }
    *w = dims[0];
    *h = dims[1];
    return true;
}

// TIFF: tags 256 (width) and 257 (height) of IFD 0, either byte order. Only
// single SHORT or LONG values are taken; libtiff also accepts other integer
// types, so any other entry for these tags refuses the file, and a repeated
// tag counts with its largest value (libtiff reads one of them).
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
        if ((type != 3 && type != 4) || u32(e + 4) != 1) return false;
        const int64_t v = type == 3 ? int64_t(u16(e + 8)) : int64_t(u32(e + 8));
        int64_t& d = tag == 256 ? tw : th;
        d = std::max(d, v);
    }
    if (tw < 0 || th < 0) return false;
    *w = tw;
    *h = th;
    return true;
}

bool is_jpeg_sof(uint8_t m) { return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC; }

// JPEG: the markers as libjpeg finds them (next_marker in jdmarker.c): bytes
// before an FF are skipped, so are FF fill bytes, and FF 00 is not a marker.
// Every start-of-frame before the first start-of-scan counts and the largest
// size wins (libjpeg refuses a second one, so this only errs on the safe side).
bool size_of_jpeg(const uint8_t* p, size_t n, int64_t* w, int64_t* h) {
    int64_t bw = -1, bh = -1;
    size_t i = 2;
    while (i < n) {
        if (p[i++] != 0xFF) continue;
        while (i < n && p[i] == 0xFF) ++i;
        if (i >= n) break;
        const uint8_t m = p[i++];
        if (m == 0x00 || m == 0x01 || m == 0xD8 || (m >= 0xD0 && m <= 0xD7)) continue;  // no length follows
        if (m == 0xD9 || m == 0xDA) break;  // end of image, start of scan: the header is over
        if (n - i < 2) return false;
        const size_t len = be16(p + i);
        if (len < 2) return false;
        if (is_jpeg_sof(m)) {
            if (n - i < 7) return false;
            bh = std::max<int64_t>(bh, be16(p + i + 3));
            bw = std::max<int64_t>(bw, be16(p + i + 5));
        }
        i += len;
    }
    if (bw < 0) return false;
    *w = bw;
    *h = bh;
    return true;
}

}  // namespace

bool peek_image_size(const std::vector<uint8_t>& b, int64_t* w, int64_t* h) {
    const size_t n = b.size();
    const uint8_t* p = b.data();
    if (n >= 8 && p[0] == 0x89 && p[1] == 'P' && p[2] == 'N' && p[3] == 'G') return size_of_png(p, n, w, h);
    if (n >= 2 && p[0] == 'B' && p[1] == 'M') return size_of_bmp(p, n, w, h);
    if (n >= 10 && p[0] == 'G' && p[1] == 'I' && p[2] == 'F') {
        *w = le16(p + 6);
        *h = le16(p + 8);
        return true;
    }
    if (n >= 16 && std::equal(p, p + 4, "RIFF") && std::equal(p + 8, p + 12, "WEBP")) return size_of_webp(p, n, w, h);
    if (n >= 3 && p[0] == 'P' && p[1] >= '1' && p[1] <= '6') return size_of_pnm(p, n, w, h);
    if (n >= 8 && ((p[0] == 'I' && p[1] == 'I') || (p[0] == 'M' && p[1] == 'M'))) return size_of_tiff(p, n, w, h);
    if (n >= 4 && p[0] == 0xFF && p[1] == 0xD8) return size_of_jpeg(p, n, w, h);
    return false;
}

// Only these formats reach OpenCV's decoders, and only with the exact
// signature their own decoder claims. imdecode otherwise offers the bytes to
// every decoder it was built with, in turn, and GDCM (the DICOM reader)
// aborts on an assert for malformed input: fuzz_image found two such files,
// one starting FF D8 00 (not quite JPEG), one with a JPEG 2000 codestream
// magic (OpenCV asks GDCM before its JPEG 2000 decoder).
bool is_known_image_format(const std::vector<uint8_t>& b) {
    auto starts = [&](std::initializer_list<uint8_t> sig, size_t at = 0) {
        if (b.size() < at + sig.size()) return false;
        return std::equal(sig.begin(), sig.end(), b.begin() + static_cast<std::ptrdiff_t>(at));
    };
    bool pnm = b.size() > 3 && b[0] == 'P' && b[1] >= '1' && b[1] <= '6' && std::isspace(b[2]);
    return starts({0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A}) || starts({0xFF, 0xD8, 0xFF}) || starts({'B', 'M'}) ||
           (starts({'R', 'I', 'F', 'F'}) && starts({'W', 'E', 'B', 'P'}, 8)) || starts({'I', 'I', 0x2A, 0x00}) ||
           starts({'M', 'M', 0x00, 0x2A}) || pnm;
}

}  // namespace vitlens
