// The size read from an image header must be the size OpenCV's decoder will
// allocate: each case below is a header that a simpler reader took for a
// small image while the decoder saw a 3000x3000 one (fuzz_image found the
// JPEG one, making OpenCV allocate 2.6 GB past a 4-megapixel limit).
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>
#include <string>
#include <vector>

#include "vitlens/errors.h"
#include "vitlens/images/image_io.h"

using namespace vitlens;

namespace {

std::vector<uint8_t> bytes_of(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }

std::string be16(int v) { return std::string{char(v >> 8), char(v & 255)}; }
std::string le16(int v) { return std::string{char(v & 255), char(v >> 8)}; }
std::string le32(uint32_t v) { return le16(int(v & 0xffff)) + le16(int(v >> 16)); }

// The message decode_image_bytes throws with a limit of one megapixel.
std::string refusal(const std::string& file) {
    DecodeOptions o;
    o.max_pixels = 1'000'000;
    try {
        decode_image_bytes(bytes_of(file), "x", o);
    } catch (const InputError& e) {
        return e.what();
    }
    return "decoded";
}

std::string jpeg_sof(int h, int w) {
    return std::string("\xff\xc0", 2) + be16(17) + "\x08" + be16(h) + be16(w) + std::string("\x03\x01\x11\0\x02\x11\0\x03\x11\0", 10);
}
std::string jpeg_sos() { return std::string("\xff\xda", 2) + be16(12) + std::string("\x03\x01\0\x02\0\x03\0\0\x3f\0", 10); }

}  // namespace

TEST(ImageHeader, JpegFf00IsNotAMarker) {
    // libjpeg skips FF 00 and the bytes after it up to the next FF, so it reads
    // the 3000x3000 frame; a reader taking FF 00 for a marker with a length
    // jumps over that frame, past the scan, to a 16x16 one.
    std::string inner = jpeg_sof(3000, 3000) + jpeg_sos() + std::string(16, '\0');
    std::string f = std::string("\xff\xd8\xff\x00", 4) + be16(int(2 + inner.size())) + inner + jpeg_sof(16, 16) +
                    std::string(32, '\0') + "\xff\xd9";
    EXPECT_NE(refusal(f).find("x: image claims 3000x3000 = 9000000 pixels, over the limit of 1000000"), std::string::npos)
        << refusal(f);
}

TEST(ImageHeader, JpegTakesTheLargestFrameBeforeTheScan) {
    std::string f = std::string("\xff\xd8", 2) + jpeg_sof(16, 16) + jpeg_sof(2000, 3000) + jpeg_sos() + "\xff\xd9";
    int64_t w = 0, h = 0;
    ASSERT_TRUE(peek_image_size(bytes_of(f), &w, &h));
    EXPECT_EQ(w, 3000);
    EXPECT_EQ(h, 2000);
    // No frame before the scan: no size, refused before any decoder.
    std::string g = std::string("\xff\xd8", 2) + jpeg_sos() + jpeg_sof(16, 16);
    EXPECT_FALSE(peek_image_size(bytes_of(g), &w, &h));
}

TEST(ImageHeader, BmpCoreHeaderHasSixteenBitSizes) {
    // OS/2 BITMAPCOREHEADER (12 bytes): 16-bit width and height at 18 and 20.
    std::string f = "BM" + le32(0) + le32(0) + le32(26) + le32(12) + le16(3000) + le16(3000) + le16(1) + le16(24);
    EXPECT_NE(refusal(f).find("image claims 3000x3000"), std::string::npos) << refusal(f);
    // A header size OpenCV does not read has no size here either.
    std::string g = "BM" + le32(0) + le32(0) + le32(26) + le32(20) + le32(3) + le32(3);
    int64_t w = 0, h = 0;
    EXPECT_FALSE(peek_image_size(bytes_of(g), &w, &h));
}

TEST(ImageHeader, PnmNumberEndsWithTheByteAfterIt) {
    // OpenCV's PxM reader consumes the byte that ends a number, '#' included,
    // so "3000#3000" is a width and a height to it, not a width and a comment.
    std::string f = "P6 3000#3000\n1 255\n" + std::string(9, '\0');
    EXPECT_NE(refusal(f).find("image claims 3000x3000"), std::string::npos) << refusal(f);
    EXPECT_NE(refusal("P6 3000 x 255\n").find("no image size"), std::string::npos) << refusal("P6 3000 x 255\n");
}

TEST(ImageHeader, TiffSizeOfAnotherTypeIsRefused) {
    // Width as SSHORT (type 8) 3000, then again as SHORT 1: libtiff reads an
    // SSHORT width, so no size is trusted.
    std::string f("II\x2a\0\x08\0\0\0\x03\0", 10);
    f += le16(256) + le16(8) + le32(1) + le16(3000) + le16(0);
    f += le16(256) + le16(3) + le32(1) + le16(1) + le16(0);
    f += le16(257) + le16(3) + le32(1) + le16(1) + le16(0);
    EXPECT_NE(refusal(f).find("no image size"), std::string::npos) << refusal(f);
    // A repeated SHORT width counts with its largest value.
    std::string g("II\x2a\0\x08\0\0\0\x03\0", 10);
    g += le16(256) + le16(3) + le32(1) + le16(1) + le16(0);
    g += le16(256) + le16(3) + le32(1) + le16(3000) + le16(0);
    g += le16(257) + le16(4) + le32(1) + le32(3000);
    EXPECT_NE(refusal(g).find("image claims 3000x3000"), std::string::npos) << refusal(g);
}

// A WebP header that libwebp refuses (VP8X chunk size 9, not 10) is not
// claimed by OpenCV's WebP decoder, so imdecode would offer it to the next
// decoders (GDCM reads "DICM" at offset 128): it has no size here.
TEST(ImageHeader, WebpThatLibwebpRefusesHasNoSize) {
    std::string f = "RIFF" + le32(200) + "WEBPVP8X" + le32(9) + le32(0) + std::string("\0\0\0\0\0\0", 6);
    f += std::string(128 - f.size(), '\0') + "DICM" + std::string(64, '\0');
    int64_t w = 0, h = 0;
    EXPECT_FALSE(peek_image_size(bytes_of(f), &w, &h));
    EXPECT_NE(refusal(f).find("no image size"), std::string::npos) << refusal(f);
    std::string g = f;
    g.replace(16, 4, le32(10));  // the same with a valid chunk size: a 1x1 canvas, claimed
    EXPECT_TRUE(peek_image_size(bytes_of(g), &w, &h));
}

TEST(ImageHeader, PngWithoutIhdrFirstHasNoSize) {
    std::string f = "\x89PNG\r\n\x1a\n" + std::string("\0\0\0\x0dtEXt", 8) + std::string(13, '\x10');
    int64_t w = 0, h = 0;
    EXPECT_FALSE(peek_image_size(bytes_of(f), &w, &h));
}

TEST(ImageHeader, EncodedImagesReadTheirOwnSize) {
    cv::Mat bgr(5, 7, CV_8UC3, cv::Scalar(10, 20, 30));
    for (const char* ext : {".png", ".jpg", ".bmp", ".webp", ".tiff", ".ppm", ".pgm"}) {
        std::vector<uint8_t> buf;
        cv::Mat src = std::string(ext) == ".pgm" ? cv::Mat(5, 7, CV_8UC1, cv::Scalar(40)) : bgr;
        ASSERT_TRUE(cv::imencode(ext, src, buf)) << ext;
        EXPECT_TRUE(is_known_image_format(buf)) << ext;
        int64_t w = 0, h = 0;
        ASSERT_TRUE(peek_image_size(buf, &w, &h)) << ext;
        EXPECT_EQ(w, 7) << ext;
        EXPECT_EQ(h, 5) << ext;
        EXPECT_EQ(decode_image_bytes(buf, ext).size(), cv::Size(7, 5)) << ext;
    }
}
