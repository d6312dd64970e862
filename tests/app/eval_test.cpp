// vitlens eval and the bundled default model, through the real binary.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <sstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "test_support.h"

using namespace vitlens::test;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

const std::string kBundled = std::string(VITLENS_SOURCE_DIR) + "/assets/models/vit-fashion-mnist";
const std::string kData = "/usr/share/datasets/fashion-mnist";

std::string be32(uint32_t v) {
    return {char(v >> 24), char((v >> 16) & 0xff), char((v >> 8) & 0xff), char(v & 0xff)};
}

// Top-1 index of each fixture image under the hf_vit_f32 model.
std::map<std::string, int> fixture_top1() {
    std::map<std::string, int> out;
    for (auto& [img, v] : expected()["models"]["hf_vit_f32"]["images"].items()) {
        auto l = v["logits"].get<std::vector<float>>();
        out[img] = int(std::max_element(l.begin(), l.end()) - l.begin());
    }
    return out;
}

// Rows of two `eval --predictions` files (header skipped) that name the same
// class; `rows` gets how many rows were compared.
int same_predictions(const std::string& a_csv, const std::string& b_csv, int& rows) {
    std::istringstream a(read_file(a_csv)), b(read_file(b_csv));
    std::string la, lb;
    int n = 0, same = 0;
    while (std::getline(a, la) && std::getline(b, lb)) {
        if (n++ == 0) continue;
        same += la.substr(0, la.rfind(',')) == lb.substr(0, lb.rfind(','));
    }
    rows = n - 1;
    return same;
}

}  // namespace

// IDX images made here from the fixture images (gray, 32x32). Each is
// labelled with the model's own top-1 on those pixels, except the last,
// which gets a wrong label: top-1 must be exactly 75%.
TEST(Eval, IdxKnownLabelsKnownAccuracy) {
    TempDir d;
    std::string pixels;
    std::vector<std::string> args = {"classify", "--model", fixture("hf_vit_f32"), "--format", "jsonl", "--top-k", "1"};
    int n = 0;
    for (const char* img : {"img0.png", "img1.png", "img2.png", "wide.png"}) {
        cv::Mat g = cv::imread(fixture(std::string("images/") + img), cv::IMREAD_GRAYSCALE), r;
        cv::resize(g, r, cv::Size(32, 32), 0, 0, cv::INTER_AREA);
        pixels.append(reinterpret_cast<const char*>(r.data), 32 * 32);
        std::string png = d / ("g" + std::to_string(n++) + ".png");
        cv::imwrite(png, r);
        args.push_back(png);
    }
    auto c = run_cli(args);
    ASSERT_EQ(c.code, 0) << c.err;
    std::string labels;
    std::istringstream s(c.out);
    std::string line;
    while (std::getline(s, line)) {
        int y = json::parse(line)["top"][0]["index"];
        labels.push_back(char(labels.size() == 3 ? (y + 1) % 7 : y));
    }
    ASSERT_EQ(labels.size(), 4u);
    write_file(d / "img.idx", std::string("\0\0\x08\x03", 4) + be32(n) + be32(32) + be32(32) + pixels);
    write_file(d / "lab.idx", std::string("\0\0\x08\x01", 4) + be32(n) + labels);
    auto r = run_cli({"eval", "--model", fixture("hf_vit_f32"), "--idx", d / "img.idx", d / "lab.idx", "--format", "json",
                      "--confusion", d / "cm.png"});
    ASSERT_EQ(r.code, 0) << r.err;
    json j = json::parse(r.out);
    EXPECT_EQ(j["images"], 4);
    EXPECT_DOUBLE_EQ(j["top1"].get<double>(), 75.0);
    EXPECT_GE(j["top5"].get<double>(), 75.0);
    EXPECT_EQ(j["confusion"].size(), 7u);
    EXPECT_FALSE(cv::imread(d / "cm.png").empty());
    // gzipped IDX reads the same
    ASSERT_EQ(std::system(("gzip -k " + d / "img.idx").c_str()), 0);
    auto rz = run_cli({"eval", "--model", fixture("hf_vit_f32"), "--idx", d / "img.idx.gz", d / "lab.idx", "--format", "json"});
    ASSERT_EQ(rz.code, 0) << rz.err;
    EXPECT_DOUBLE_EQ(json::parse(rz.out)["top1"].get<double>(), 75.0);
}

// ImageFolder with folder names in other case; one image placed under a wrong class.
TEST(Eval, ImageFolderKnownAccuracy) {
    TempDir d;
    auto top = fixture_top1();
    const std::vector<std::string> labels = {"apple", "bicycle", "cat", "dog", "elephant", "fish", "guitar"};
    int i = 0;
    for (auto& [img, y] : top) {
        std::string cls = labels[i == 0 ? (y + 3) % 7 : y];
        cls[0] = char(std::toupper(cls[0]));
        fs::create_directories(d / ("root/" + cls));
        fs::copy_file(fixture("images/" + img), d / ("root/" + cls + "/" + img));
        ++i;
    }
    auto r = run_cli({"eval", "--model", fixture("hf_vit_f32"), "--folder", d / "root", "--format", "json",
                      "--predictions", d / "pred.csv"});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_DOUBLE_EQ(json::parse(r.out)["top1"].get<double>(), 75.0);
    // --predictions: a header and one row per image; exactly one row disagrees.
    std::istringstream csv(read_file(d / "pred.csv"));
    std::string line;
    std::getline(csv, line);
    EXPECT_EQ(line, "index,image,label,predicted,probability");
    int rows = 0, wrong = 0;
    while (std::getline(csv, line)) {
        ++rows;
        std::vector<std::string> f;
        std::istringstream ls(line);
        for (std::string x; std::getline(ls, x, ',');) f.push_back(x);
        ASSERT_EQ(f.size(), 5u) << line;
        EXPECT_NE(f[1].find("/root/"), std::string::npos) << line;
        wrong += f[2] != f[3];
    }
    EXPECT_EQ(rows, 4);
    EXPECT_EQ(wrong, 1);
    auto again = run_cli({"eval", "--model", fixture("hf_vit_f32"), "--folder", d / "root", "--predictions", d / "pred.csv"});
    EXPECT_EQ(again.code, 5) << again.err;  // exists: needs --overwrite

    fs::create_directories(d / "root/Zebra");
    auto bad = run_cli({"eval", "--model", fixture("hf_vit_f32"), "--folder", d / "root"});
    EXPECT_EQ(bad.code, 2);
    EXPECT_NE(bad.err.find("'Zebra' matches none of the model's 7 labels (apple, bicycle, cat, dog, elephant, fish, guitar)"),
              std::string::npos)
        << bad.err;
}

TEST(BundledModel, ClassifiesEverySampleCorrectly) {
    std::string samples = std::string(VITLENS_SOURCE_DIR) + "/assets/samples";
    auto r = run_cli({"classify", "--format", "jsonl", "--top-k", "1", samples});  // default model
    ASSERT_EQ(r.code, 0) << r.err;
    std::istringstream s(r.out);
    std::string line;
    int n = 0;
    while (std::getline(s, line)) {
        json o = json::parse(line);
        std::string stem = fs::path(o["image"].get<std::string>()).stem().string();
        std::string label = o["top"][0]["label"];
        for (char& c : label)
            if (c == '/' || c == ' ') c = '_';
        EXPECT_EQ(label, stem) << o.dump();
        ++n;
    }
    EXPECT_EQ(n, 10);
}

TEST(BundledModel, DefaultModelIsFoundAndReported) {
    auto r = run_cli({"info"});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("vit-fashion-mnist (build tree)"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("7x7 grid"), std::string::npos) << r.out;
    auto e = run_cli({"info"}, "VITLENS_MODEL=" + fixture("timm_f32"));
    ASSERT_EQ(e.code, 0) << e.err;
    EXPECT_NE(e.out.find("($VITLENS_MODEL)"), std::string::npos) << e.out;
}

// eval --faithfulness: one table row per method, in the order asked, and
// --predictions rows whose means are the table's.
TEST(Eval, FaithfulnessTableAndRowsAgree) {
    TempDir d;
    fs::create_directories(d / "root/Cat");
    for (const char* img : {"img0.png", "img1.png", "img2.png", "wide.png"})
        fs::copy_file(fixture(std::string("images/") + img), d / ("root/Cat/" + std::string(img)));
    auto r = run_cli({"eval", "--model", fixture("hf_deit_f32"), "--folder", d / "root", "--format", "json",
                      "--faithfulness", "attribution,random,rollout", "--faith-steps", "8", "--predictions",
                      d / "faith.csv"});
    ASSERT_EQ(r.code, 0) << r.err;
    json j = json::parse(r.out);
    EXPECT_EQ(j["steps"], 8);
    ASSERT_EQ(j["faithfulness"].size(), 3u);
    std::map<std::string, std::pair<double, double>> sums;
    std::istringstream csv(read_file(d / "faith.csv"));
    std::string line;
    std::getline(csv, line);
    EXPECT_EQ(line, "index,image,label,predicted,probability,method,deletion_auc,insertion_auc");
    int rows = 0;
    while (std::getline(csv, line)) {
        std::vector<std::string> f;
        std::istringstream ls(line);
        for (std::string x; std::getline(ls, x, ',');) f.push_back(x);
        ASSERT_EQ(f.size(), 8u) << line;
        sums[f[5]].first += std::stod(f[6]);
        sums[f[5]].second += std::stod(f[7]);
        ++rows;
    }
    EXPECT_EQ(rows, 12);
    const std::vector<std::string> order = {"attribution", "random", "rollout"};
    for (size_t i = 0; i < 3; ++i) {
        const json& m = j["faithfulness"][i];
        EXPECT_EQ(m["method"], order[i]);
        EXPECT_EQ(m["images"], 4);
        EXPECT_NEAR(m["deletion_auc"].get<double>(), sums[order[i]].first / 4, 1e-5) << order[i];
        EXPECT_NEAR(m["insertion_auc"].get<double>(), sums[order[i]].second / 4, 1e-5) << order[i];
        EXPECT_GT(m["deletion_auc"].get<double>(), 0.0);
        EXPECT_LT(m["insertion_auc"].get<double>(), 1.0);
    }
    auto bad = run_cli({"eval", "--model", fixture("hf_deit_f32"), "--folder", d / "root", "--faithfulness",
                        "rollout,gradcam"});
    EXPECT_EQ(bad.code, 1);
    EXPECT_NE(bad.err.find("'gradcam' is not a method (rollout, attention, attribution, random)"), std::string::npos)
        << bad.err;
    auto steps = run_cli({"eval", "--model", fixture("hf_deit_f32"), "--folder", d / "root", "--faithfulness",
                          "random", "--faith-steps", "17"});
    EXPECT_EQ(steps.code, 1);
    EXPECT_NE(steps.err.find("--faith-steps 17 is more than the model's 16 patches"), std::string::npos) << steps.err;
}

// On the bundled model the attribution map is more faithful than a random
// ranking, by both measures, over the first 100 test images.
TEST(BundledModel, AttributionBeatsRandomOnFaithfulness) {
    if (!fs::exists(kData + "/t10k-images-idx3-ubyte.gz"))
        GTEST_SKIP() << "Debian package dataset-fashion-mnist is not installed (" << kData << " missing)";
    auto r = run_cli({"eval", "--idx", kData + "/t10k-images-idx3-ubyte.gz", kData + "/t10k-labels-idx1-ubyte.gz",
                      "--limit", "100", "--format", "json", "--faithfulness", "attribution,random"});
    ASSERT_EQ(r.code, 0) << r.err;
    json j = json::parse(r.out);
    const json& attr = j["faithfulness"][0];
    const json& rnd = j["faithfulness"][1];
    EXPECT_LT(attr["deletion_auc"].get<double>(), rnd["deletion_auc"].get<double>()) << r.out;
    EXPECT_GT(attr["insertion_auc"].get<double>(), rnd["insertion_auc"].get<double>()) << r.out;
}

TEST(BundledModel, FiveHundredTestImagesAtLeast88Percent) {
    if (!fs::exists(kData + "/t10k-images-idx3-ubyte.gz"))
        GTEST_SKIP() << "Debian package dataset-fashion-mnist is not installed (" << kData << " missing)";
    auto r = run_cli({"eval", "--idx", kData + "/t10k-images-idx3-ubyte.gz", kData + "/t10k-labels-idx1-ubyte.gz",
                      "--limit", "500", "--format", "json"});
    ASSERT_EQ(r.code, 0) << r.err;
    json j = json::parse(r.out);
    EXPECT_EQ(j["images"], 500);
    EXPECT_GE(j["top1"].get<double>(), 88.0);
}

// bf16 and f32 name the same class for at least 99% of the first 500 test
// images (the whole test set: 9991/10000, bench/compare_peers.sh).
TEST(BundledModel, Bf16AgreesWithF32OnTop1) {
    if (!fs::exists(kData + "/t10k-images-idx3-ubyte.gz"))
        GTEST_SKIP() << "Debian package dataset-fashion-mnist is not installed (" << kData << " missing)";
    TempDir d;
    for (const char* p : {"f32", "bf16"}) {
        auto r = run_cli({"eval", "--idx", kData + "/t10k-images-idx3-ubyte.gz", kData + "/t10k-labels-idx1-ubyte.gz",
                          "--limit", "500", "--precision", p, "--predictions", d / (std::string(p) + ".csv")});
        ASSERT_EQ(r.code, 0) << r.err;
        if (r.err.find("running in f32") != std::string::npos) GTEST_SKIP() << "no bf16 on this CPU: " << r.err;
    }
    int n = 0;
    const int same = same_predictions(d / "f32.csv", d / "bf16.csv", n);
    EXPECT_EQ(n, 500);
    EXPECT_GE(same, 495) << same << " of 500 agree";
}

// int8 against f32 on the first 1,000 test images: top-1 within 0.5 points,
// the same class for at least 99% (all 10,000: 90.90% vs 90.90%, 99.88% agree).
TEST(BundledModel, Int8AgreesWithF32OnTop1) {
    if (!fs::exists(kData + "/t10k-images-idx3-ubyte.gz"))
        GTEST_SKIP() << "Debian package dataset-fashion-mnist is not installed (" << kData << " missing)";
    TempDir d;
    std::map<std::string, double> top1;
    for (const char* p : {"f32", "int8"}) {
        auto r = run_cli({"eval", "--idx", kData + "/t10k-images-idx3-ubyte.gz", kData + "/t10k-labels-idx1-ubyte.gz",
                          "--limit", "1000", "--format", "json", "--precision", p, "--predictions",
                          d / (std::string(p) + ".csv")});
        ASSERT_EQ(r.code, 0) << r.err;
        top1[p] = json::parse(r.out)["top1"].get<double>();
    }
    EXPECT_NEAR(top1["int8"], top1["f32"], 0.5);
    int n = 0;
    const int same = same_predictions(d / "f32.csv", d / "int8.csv", n);
    EXPECT_EQ(n, 1000);
    EXPECT_GE(same, 990) << same << " of 1000 agree";
}
