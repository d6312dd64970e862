#include "vitlens/images/preprocess.h"

#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include "test_support.h"
#include "vitlens/model/checkpoint.h"
#include "vitlens/errors.h"
#include "vitlens/model/weights.h"

using namespace vitlens;
using namespace vitlens::test;

namespace {

ModelSpec spec_of(const std::string& name) {
    SafeTensors st(fixture(name + "/model.safetensors"));
    return read_model_spec(fixture(name), st);
}

// A JPEG with an EXIF APP1 segment saying orientation = `o`.
std::string jpeg_with_orientation(const cv::Mat& bgr, int o) {
    std::vector<uchar> buf;
    cv::imencode(".jpg", bgr, buf);
    const unsigned char tiff[] = {'I', 'I', 0x2a, 0, 8, 0, 0, 0,  // little-endian TIFF, IFD at 8
                                  1, 0,                            // 1 entry
                                  0x12, 0x01, 3, 0, 1, 0, 0, 0, static_cast<unsigned char>(o), 0, 0, 0,
                                  0, 0, 0, 0};  // no next IFD
    std::string app1 = "Exif";
    app1 += std::string(2, '\0');
    app1.append(reinterpret_cast<const char*>(tiff), sizeof tiff);
    size_t len = app1.size() + 2;
    std::string seg = {char(0xFF), char(0xE1), char(len >> 8), char(len & 0xff)};
    std::string jpg(buf.begin(), buf.end());
    return jpg.substr(0, 2) + seg + app1 + jpg.substr(2);
}

}  // namespace

// The model input of wide.png (50x41) matches PIL / torchvision for each
// fixture's preprocessing: bilinear resize, bicubic resize + crop, timm's
// shortest-edge resize + center crop.
TEST(Preprocess, MatchesPillowPipelines) {
    cv::Mat rgb = decode_image(fixture("images/wide.png"));
    ASSERT_EQ(rgb.cols, 50);
    for (const std::string name : {"hf_vit_f32", "hf_deit_f32", "timm_f32"}) {
        ModelSpec s = spec_of(name);
        Geometry g;
        Tensor t = prepare_image(rgb, s, &g);
        const auto& want = expected()["models"][name]["images"]["wide.png"]["input_first_values"];
        for (size_t i = 0; i < want.size(); ++i)
            EXPECT_NEAR(t[int64_t(i)], want[i].get<float>(), 1e-4) << name << " value " << i;
    }
}

TEST(Preprocess, GeometryOfShortestEdgeAndCrop) {
    Preprocess p;
    p.resize = Preprocess::Resize::ShortestEdge;
    p.edge = 36;
    p.center_crop = true;
    p.crop_h = p.crop_w = 32;
    p.crop_round_half_even = true;
    Geometry g;
    cv::Mat img(41, 50, CV_8UC3, cv::Scalar(1, 2, 3));
    cv::Mat out = resize_and_crop(img, p, &g);
    EXPECT_EQ(out.size(), cv::Size(32, 32));
    EXPECT_EQ(g.resized_w, 43);  // int(36 * 50 / 41)
    EXPECT_EQ(g.resized_h, 36);
    EXPECT_EQ(g.crop_x, 6);  // round(11 / 2) = 6 (half to even: 5.5 -> 6)
    EXPECT_EQ(g.crop_y, 2);
    cv::Rect2d box = g.crop_in_original();
    EXPECT_NEAR(box.width, 32 * 50.0 / 43, 1e-9);
}

TEST(Preprocess, PatchifyOrderIsChannelMajorRasterPatches) {
    ModelSpec s;
    s.image_h = 4;
    s.image_w = 6;
    s.patch = 2;
    s.pre.rescale = 1.f;
    s.pre.mean = {0, 0, 0};
    s.pre.std = {1, 1, 1};
    cv::Mat img(4, 6, CV_8UC3);
    for (int y = 0; y < 4; ++y)
        for (int x = 0; x < 6; ++x) img.at<cv::Vec3b>(y, x) = cv::Vec3b(uchar(y * 10 + x), uchar(100 + y), uchar(200 + x));
    std::vector<float> out(6 * 12);
    patchify(img, s, out.data());
    // patch (row 1, col 2) = index 5; its channel 0, y=1, x=0 is pixel (3, 4)
    EXPECT_FLOAT_EQ(out[5 * 12 + 0 * 4 + 1 * 2 + 0], 34.f);
    EXPECT_FLOAT_EQ(out[5 * 12 + 1 * 4 + 0], 102.f);   // G of (2, 4)
    EXPECT_FLOAT_EQ(out[5 * 12 + 2 * 4 + 3], 205.f);  // B of (3, 5)
}

TEST(Preprocess, DecodesGrayAlpha16BitAndExif) {
    TempDir d;
    cv::Mat gray(5, 7, CV_8U, cv::Scalar(77));
    cv::imwrite(d / "g.png", gray);
    cv::Mat rgb = decode_image(d / "g.png");
    EXPECT_EQ(rgb.type(), CV_8UC3);
    EXPECT_EQ(rgb.at<cv::Vec3b>(2, 3), cv::Vec3b(77, 77, 77));

    cv::Mat bgra(4, 4, CV_8UC4, cv::Scalar(10, 20, 30, 128));
    cv::imwrite(d / "a.png", bgra);
    EXPECT_EQ(decode_image(d / "a.png").at<cv::Vec3b>(0, 0), cv::Vec3b(30, 20, 10));  // RGB

    cv::Mat deep(3, 3, CV_16UC3, cv::Scalar(65535, 0, 32896));
    cv::imwrite(d / "d.png", deep);
    cv::Vec3b px = decode_image(d / "d.png").at<cv::Vec3b>(1, 1);
    EXPECT_EQ(px[0], 128);
    EXPECT_EQ(px[2], 255);

    cv::Mat wide(20, 40, CV_8UC3, cv::Scalar(0, 0, 255));
    wide(cv::Rect(0, 0, 10, 20)).setTo(cv::Scalar(255, 0, 0));  // blue band on the left
    write_file(d / "r.jpg", jpeg_with_orientation(wide, 6));      // rotate 90 degrees clockwise
    cv::Mat r = decode_image(d / "r.jpg");
    EXPECT_EQ(r.cols, 20);
    EXPECT_EQ(r.rows, 40);
    EXPECT_GT(r.at<cv::Vec3b>(2, 10)[2], 200);  // left band is now on top: blue in RGB
}

TEST(Preprocess, BadImagesNameTheFile) {
    TempDir d;
    write_file(d / "empty.png", "");
    write_file(d / "text.png", "hello, not an image");
    auto msg = [](const std::string& p) {
        try {
            decode_image(p);
        } catch (const InputError& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    EXPECT_EQ(msg(d / "empty.png"), d / "empty.png" + ": empty file (0 bytes)");
    EXPECT_NE(msg(d / "text.png").find("not a decodable image"), std::string::npos);
    EXPECT_NE(msg(d / "none.png").find("cannot open"), std::string::npos);
    // A PNG header claiming 100k x 100k pixels is refused before decoding.
    std::string png = "\x89PNG\r\n\x1a\n";
    png += std::string("\0\0\0\x0dIHDR", 8);
    png += std::string("\x00\x01\x86\xa0\x00\x01\x86\xa0\x08\x02\x00\x00\x00", 13);
    write_file(d / "huge.png", png);
    EXPECT_NE(msg(d / "huge.png").find("100000x100000"), std::string::npos) << msg(d / "huge.png");
    // A file that OpenCV would hand to its DICOM reader, which aborts on it
    // (found by fuzz_image): unknown formats never reach a decoder.
    EXPECT_NE(msg(std::string(VITLENS_SOURCE_DIR) + "/tests/fuzz/corpus/image/gdcm_assert_not_a_jpeg")
                  .find("not a decodable image (unrecognised format"),
              std::string::npos);
    // Dimensions near 2^32 (found by fuzz_image): no overflow, a clear refusal.
    std::string png2 = png;
    png2.replace(16, 8, std::string("\xe3\xe3\xe3\xe3\xe3\xe3\xe3\xe3", 8));
    write_file(d / "huge2.png", png2);
    EXPECT_NE(msg(d / "huge2.png").find("3823363043x3823363043 = 14618104958578219849 pixels, over the limit"),
              std::string::npos)
        << msg(d / "huge2.png");
    // PNM and TIFF headers are read too (fuzz_image found a PPM claiming
    // 30000x30000 that made OpenCV allocate 2.7 GB before reading any pixel).
    write_file(d / "huge.ppm", std::string("P6\n# comment\n30000 30000\n255\n") + std::string(3, '\0'));
    EXPECT_NE(msg(d / "huge.ppm").find("image claims 30000x30000 = 900000000 pixels, over the limit of 100000000"),
              std::string::npos)
        << msg(d / "huge.ppm");
    write_file(d / "huge9.pgm", "P5 99999999999999999999 2 255 ");
    EXPECT_NE(msg(d / "huge9.pgm").find("image claims 4294967296x2"), std::string::npos) << msg(d / "huge9.pgm");
    // Little-endian TIFF, IFD at 8 with two entries: width 70000 (LONG), height 60000 (SHORT).
    std::string tif("II\x2a\0\x08\0\0\0\x02\0", 10);
    tif += std::string("\x00\x01\x04\0\x01\0\0\0\x70\x11\x01\0", 12);
    tif += std::string("\x01\x01\x03\0\x01\0\0\0\x60\xea\0\0", 12);
    write_file(d / "huge.tif", tif);
    EXPECT_NE(msg(d / "huge.tif").find("image claims 70000x60000"), std::string::npos) << msg(d / "huge.tif");
    write_file(d / "nosize.tif", std::string("MM\0\x2a\0\0\0\x08\0\0", 10));
    EXPECT_NE(msg(d / "nosize.tif").find("not a decodable image (no image size in its 10-byte header)"), std::string::npos)
        << msg(d / "nosize.tif");
    write_file(d / "nosof.jpg", std::string("\xff\xd8\xff\xe0\0\x04\0\0\xff\xd9", 10));
    EXPECT_NE(msg(d / "nosof.jpg").find("no image size"), std::string::npos) << msg(d / "nosof.jpg");
}

TEST(Preprocess, PillowResizeKeepsConstantImagesConstant) {
    cv::Mat c(37, 53, CV_8UC3, cv::Scalar(90, 140, 200));
    for (Interp i : {Interp::Bilinear, Interp::Bicubic, Interp::Lanczos, Interp::Box, Interp::Hamming, Interp::Nearest}) {
        cv::Mat r = resize_pil(c, 20, 11, i);
        EXPECT_EQ(r.size(), cv::Size(20, 11));
        EXPECT_EQ(r.at<cv::Vec3b>(5, 7), cv::Vec3b(90, 140, 200)) << interp_name(i);
        cv::Mat u = resize_pil(c, 80, 70, i);
        EXPECT_EQ(u.at<cv::Vec3b>(69, 79), cv::Vec3b(90, 140, 200)) << interp_name(i);
    }
}

// timm crop_mode=border: keep-ratio resize to fit floor(size / crop_pct),
// pad with the mean colour (round(255 * mean)), center crop. Reference:
// models/make_preprocess_fixtures.py, written from timm's transforms.
TEST(Preprocess, TimmBorderPadsWithTheMeanColour) {
    const auto ref = nlohmann::json::parse(read_file(fixture("preprocess_timm_border.json")));
    nlohmann::json cfg = nlohmann::json::parse(read_file(fixture("timm_f32/config.json")));
    SafeTensors st(fixture("timm_f32/model.safetensors"));
    int padded = 0;
    for (const auto& c : ref["cases"]) {
        auto& pc = cfg["pretrained_cfg"];
        pc["crop_mode"] = "border";
        pc["crop_pct"] = c["crop_pct"];
        pc["mean"] = c["mean"];
        pc["std"] = c["std"];
        ModelSpec s = parse_model_config(cfg.dump(), "config.json", &st);
        ASSERT_TRUE(s.pre.pad_to_crop);
        for (int ch = 0; ch < 3; ++ch) EXPECT_EQ(int(s.pre.pad_fill[ch]), c["info"]["fill"][ch].get<int>());
        cv::Mat rgb = decode_image(fixture("images/" + c["image"].get<std::string>()));
        Geometry g;
        cv::Mat out = resize_and_crop(rgb, s.pre, &g);
        ASSERT_EQ(out.size(), cv::Size(32, 32));
        EXPECT_EQ(g.resized_w, c["info"]["resized"][0].get<int>());
        EXPECT_EQ(g.resized_h, c["info"]["resized"][1].get<int>());
        const auto& want = c["values"];
        ASSERT_EQ(want.size(), size_t(3 * 32 * 32));
        float worst = 0;
        for (int ch = 0; ch < 3; ++ch)
            for (int y = 0; y < 32; ++y)
                for (int x = 0; x < 32; ++x) {
                    float v = (out.at<cv::Vec3b>(y, x)[ch] / 255.f - s.pre.mean[ch]) / s.pre.std[ch];
                    worst = std::max(worst, std::abs(v - want[(ch * 32 + y) * 32 + x].get<float>()));
                }
        EXPECT_LT(worst, 1e-4) << c["image"] << " crop_pct " << c["crop_pct"];
        for (int p : c["info"]["pad_ltrb"]) padded += p;
    }
    EXPECT_GT(padded, 0);  // the cases do exercise the padding
}
