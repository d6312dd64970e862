// Runs the real vitlens binary.
#include <gtest/gtest.h>

#include <cctype>

#include <nlohmann/json.hpp>
#include <sstream>
#include <chrono>
#include <filesystem>
#include <opencv2/videoio.hpp>
#include <opencv2/imgcodecs.hpp>

#include "test_support.h"

using namespace vitlens::test;
using json = nlohmann::json;

namespace {

// The fixtures' labels (models/make_fixtures.py).
std::string expected_label(int k) {
    static const char* labels[] = {"apple", "bicycle", "cat", "dog", "elephant", "fish", "guitar"};
    return labels[k];
}

std::vector<json> lines(const std::string& out) {
    std::vector<json> v;
    std::istringstream s(out);
    std::string l;
    while (std::getline(s, l))
        if (!l.empty()) v.push_back(json::parse(l));
    return v;
}

}  // namespace

// classify --format jsonl --logits reproduces the reference logits.
TEST(Cli, ClassifyJsonlReproducesReferenceLogits) {
    for (const std::string& m : fixture_models()) {
        auto r = run_cli({"classify", "--model", fixture(m), "--format", "jsonl", "--logits", "--top-k", "5",
                          fixture("images")});
        ASSERT_EQ(r.code, 0) << m << ": " << r.err;
        auto v = lines(r.out);
        ASSERT_EQ(v.size(), 4u) << r.out;
        for (const json& o : v) {
            std::string img = o["image"];
            std::string base = img.substr(img.rfind('/') + 1);
            auto ref = expected()["models"][m]["images"][base]["logits"].get<std::vector<float>>();
            auto got = o["logits"].get<std::vector<float>>();
            float mx = 0;
            for (float x : ref) mx = std::max(mx, std::fabs(x));
            for (size_t k = 0; k < ref.size(); ++k) EXPECT_NEAR(got[k], ref[k], 1e-4 * mx) << m << " " << base;
            ASSERT_EQ(o["top"].size(), 5u);
            EXPECT_GE(o["top"][0]["prob"].get<float>(), o["top"][1]["prob"].get<float>());
            EXPECT_TRUE(o["top"][0]["label"].is_string());
        }
    }
}

TEST(Cli, CsvHasHeaderAndOneRowPerImage) {
    auto r = run_cli({"classify", "--model", fixture("hf_vit_f32"), "--format", "csv", "--top-k", "2",
                      fixture("images/img0.png"), fixture("images/img1.png")});
    ASSERT_EQ(r.code, 0) << r.err;
    std::istringstream s(r.out);
    std::string header, row;
    std::getline(s, header);
    EXPECT_EQ(header, "image,top1_index,top1_label,top1_prob,top2_index,top2_label,top2_prob");
    int rows = 0;
    while (std::getline(s, row)) ++rows;
    EXPECT_EQ(rows, 2);
}

TEST(Cli, BadImageInFolderIsReportedAndOthersClassified) {
    TempDir d;
    copy_dir(fixture("images"), d / "imgs");
    write_file(d / "imgs/broken.png", "not an image at all");
    auto r = run_cli({"classify", "--model", fixture("hf_vit_f32"), "--format", "jsonl", d / "imgs"});
    EXPECT_EQ(r.code, 2);
    EXPECT_EQ(lines(r.out).size(), 4u);
    EXPECT_NE(r.err.find("broken.png: not a decodable image"), std::string::npos) << r.err;
}

TEST(Cli, ErrorsHaveExitCodesAndName) {
    auto r = run_cli({"classify", "--model", fixture("hf_vit_f32"), "/nonexistent/x.png"});
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("/nonexistent/x.png: no such file"), std::string::npos) << r.err;

    r = run_cli({"classify", "--model", "/nonexistent-model", fixture("images/img0.png")});
    EXPECT_EQ(r.code, 3);
    EXPECT_NE(r.err.find("/nonexistent-model: not a model directory"), std::string::npos) << r.err;

    TempDir d;
    copy_dir(fixture("timm_f32"), d / "m");
    std::remove((d / "m/model.safetensors").c_str());
    r = run_cli({"info", "--model", d / "m"});
    EXPECT_EQ(r.code, 3);
    EXPECT_NE(r.err.find("model.safetensors: missing"), std::string::npos) << r.err;

    copy_dir(fixture("hf_vit_f32"), d / "u");
    write_file(d / "u/config.json", R"({"architectures": ["SwinForImageClassification"]})");
    r = run_cli({"info", "--model", d / "u"});
    EXPECT_EQ(r.code, 3);
    EXPECT_NE(r.err.find("architecture 'SwinForImageClassification' is not supported"), std::string::npos) << r.err;

    // a tensor of the wrong shape: the 48-wide config over a checkpoint claiming 64
    copy_dir(fixture("hf_vit_f32"), d / "s");
    std::string cfg = read_file(d / "s/config.json");
    cfg.replace(cfg.find("\"intermediate_size\": 96"), 23, "\"intermediate_size\": 64");
    write_file(d / "s/config.json", cfg);
    r = run_cli({"info", "--model", d / "s"});
    EXPECT_EQ(r.code, 3);
    EXPECT_NE(r.err.find("'vit.encoder.layer.0.intermediate.dense.weight' has shape [96, 48], expected [64, 48]"),
              std::string::npos)
        << r.err;

    copy_dir(fixture("hf_vit_f32"), d / "t");
    std::string st = read_file(d / "t/model.safetensors");
    write_file(d / "t/model.safetensors", st.substr(0, st.size() / 2));
    r = run_cli({"info", "--model", d / "t"});
    EXPECT_EQ(r.code, 3);
    EXPECT_NE(r.err.find("model.safetensors"), std::string::npos) << r.err;

    copy_dir(fixture("hf_vit_f32"), d / "c");
    std::remove((d / "c/config.json").c_str());
    r = run_cli({"info", "--model", d / "c"});
    EXPECT_EQ(r.code, 3);
    EXPECT_NE(r.err.find("config.json: missing"), std::string::npos) << r.err;

    // a tensor missing from the checkpoint: drop the last layer's fc2 bias from the header
    copy_dir(fixture("hf_vit_f32"), d / "x");
    {
        std::string st = read_file(d / "x/model.safetensors");
        uint64_t n = 0;
        for (int i = 7; i >= 0; --i) n = (n << 8) | uint8_t(st[i]);
        json h = json::parse(st.substr(8, n));
        h.erase("vit.encoder.layer.1.output.dense.bias");
        write_file(d / "x/model.safetensors", make_safetensors_raw(h.dump(), st.substr(8 + n)));
    }
    r = run_cli({"classify", "--model", d / "x", fixture("images/img0.png")});
    EXPECT_EQ(r.code, 3);
    EXPECT_NE(r.err.find("tensor 'vit.encoder.layer.1.output.dense.bias' is missing"), std::string::npos) << r.err;

    r = run_cli({"classify", "--format", "xml", fixture("images/img0.png")});
    EXPECT_EQ(r.code, 1);
    r = run_cli({"classify", "--no-such-flag"});
    EXPECT_EQ(r.code, 1);
    r = run_cli({"frobnicate"});
    EXPECT_EQ(r.code, 1);
}

// --model ORG/NAME finds the model in the Hugging Face cache named by
// $HF_HUB_CACHE (refs/main -> snapshots/<commit>), with the same answers as
// the folder itself; an id that is not cached says where it looked.
TEST(Cli, ModelIdFromTheHubCache) {
    TempDir d;
    const std::string commit = "89abcdef0123456789abcdef0123456789abcdef";
    const std::string repo = d / "hub/models--acme--tiny-vit";
    std::filesystem::create_directories(repo + "/refs");
    std::filesystem::create_directories(repo + "/snapshots");
    std::filesystem::copy(fixture("timm_f32"), repo + "/snapshots/" + commit);
    write_file(repo + "/refs/main", commit);
    const std::string env = "HF_HUB_CACHE='" + d / "hub" + "'";
    auto by_id = run_cli({"classify", "--model", "acme/tiny-vit", "--format", "jsonl", fixture("images/img0.png")}, env);
    auto by_dir = run_cli({"classify", "--model", fixture("timm_f32"), "--format", "jsonl", fixture("images/img0.png")});
    ASSERT_EQ(by_id.code, 0) << by_id.err;
    EXPECT_EQ(lines(by_id.out)[0]["top"], lines(by_dir.out)[0]["top"]);
    auto missing = run_cli({"info", "--model", "acme/other@v2"}, env);
    EXPECT_EQ(missing.code, 3);
    EXPECT_NE(missing.err.find("acme/other@v2: not in the Hugging Face cache " + d / "hub"), std::string::npos)
        << missing.err;
}

TEST(Cli, HelpAndVersionAndInfo) {
    auto r = run_cli({"--help"});
    EXPECT_EQ(r.code, 0);
    EXPECT_NE(r.out.find("Exit codes"), std::string::npos);
    for (std::string c : {"classify", "info", "explain", "eval", "stream", "bench", "compare", "embed", "pull"}) {
        r = run_cli({c, "--help"});
        EXPECT_EQ(r.code, 0) << c;
        EXPECT_NE(r.out.find("Usage: vitlens " + c), std::string::npos) << c << r.out;
    }
    r = run_cli({"--version"});
    EXPECT_EQ(r.code, 0);
    r = run_cli({"info", "--model", fixture("hf_deit_bf16")});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("DeiTForImageClassificationWithTeacher"), std::string::npos);
    EXPECT_NE(r.out.find("18 tokens (2 prefix)"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("GFLOP"), std::string::npos);
}

TEST(Cli, StreamWritesPlayableVideoAndJsonl) {
    TempDir d;
    std::string v = d / "in.mp4";
    ASSERT_EQ(std::system((std::string(VITLENS_MAKE_VIDEO) + " " + v + " --frames 30 --size 320x240 >/dev/null").c_str()), 0);
    auto r = run_cli({"stream", "--model", fixture("hf_vit_f32"), "--source", v, "--explain", "rollout", "--out",
                      d / "annotated.mp4", "--jsonl", d / "frames.jsonl"});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("frames:      30 read"), std::string::npos) << r.out;
    cv::VideoCapture cap(d / "annotated.mp4");
    ASSERT_TRUE(cap.isOpened());
    EXPECT_EQ(cap.get(cv::CAP_PROP_FRAME_WIDTH), 320);
    EXPECT_EQ(cap.get(cv::CAP_PROP_FRAME_HEIGHT), 240);
    cv::Mat f;
    EXPECT_TRUE(cap.read(f));
    auto js = lines(read_file(d / "frames.jsonl"));
    ASSERT_FALSE(js.empty());
    int64_t last = -1;
    for (auto& o : js) {
        EXPECT_GT(o["frame"].get<int64_t>(), last);
        last = o["frame"];
        EXPECT_TRUE(o.contains("latency_ms"));
        EXPECT_TRUE(o.contains("t_ms"));
    }
    // nothing half-written is left behind
    int files = 0;
    for (auto& e : std::filesystem::directory_iterator(d.path())) files += e.path().filename().string()[0] == '.';
    EXPECT_EQ(files, 0);
}

// stream --explain attribution: every frame explained for its top-1 class,
// the backward pass its own row in the stage table (and only then).
TEST(Cli, StreamAttributionHasABackwardStage) {
    TempDir d;
    std::string v = d / "in.avi";
    ASSERT_EQ(std::system((std::string(VITLENS_MAKE_VIDEO) + " " + v + " --frames 12 --size 32x32 --hold 100 " +
                           fixture("images/img1.png") + " >/dev/null").c_str()),
              0);
    auto r = run_cli({"stream", "--model", fixture("hf_vit_f32"), "--source", v, "--explain", "attribution",
                      "--no-pace", "--jsonl", d / "frames.jsonl"});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("frames:      12 read, 12 processed"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("             backward"), std::string::npos) << r.out;
    EXPECT_EQ(lines(read_file(d / "frames.jsonl")).size(), 12u);
    auto plain = run_cli({"stream", "--model", fixture("hf_vit_f32"), "--source", v, "--explain", "rollout", "--no-pace"});
    EXPECT_EQ(plain.out.find("backward"), std::string::npos) << plain.out;
}

TEST(Cli, StreamMissingCameraExitsWithSourceError) {
    auto t0 = std::chrono::steady_clock::now();
    auto r = run_cli({"stream", "--model", fixture("hf_vit_f32"), "--source", "57"});
    EXPECT_EQ(r.code, 4);
    EXPECT_NE(r.err.find("/dev/video57 does not exist"), std::string::npos) << r.err;
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 5.0);
}

// explain --method rollout --format jsonl reproduces the reference rollout.
TEST(Cli, ExplainRolloutJsonlMatchesReference) {
    for (const std::string m : {"hf_vit_f32", "hf_deit_f32", "timm_f32", "timm_bf16"}) {
        auto r = run_cli({"explain", "--model", fixture(m), "--method", "rollout", "--format", "jsonl", fixture("images")});
        ASSERT_EQ(r.code, 0) << m << ": " << r.err;
        auto v = lines(r.out);
        ASSERT_EQ(v.size(), 4u);
        for (const json& o : v) {
            std::string img = o["image"];
            std::string base = img.substr(img.rfind('/') + 1);
            auto want = expected()["models"][m]["images"][base]["rollout"]["mean"].get<std::vector<float>>();
            auto got = o["map"].get<std::vector<float>>();
            ASSERT_EQ(got.size(), want.size());
            EXPECT_EQ(o["grid"], json::array({4, 4}));
            EXPECT_EQ(o["method"], "rollout");
            EXPECT_TRUE(o["overlay"].is_null());
            for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-4) << m << " " << base << " " << i;
        }
    }
}

// explain --method attribution: the reference map of the top-1 class by
// default and of the class --class names (index or label), with "class" in
// each JSON line; --class changes the map.
TEST(Cli, ExplainAttributionFollowsTheClass) {
    for (const std::string m : {"hf_vit_f32", "hf_deit_f32", "timm_bf16"}) {
        for (const std::string which : {"top", "other"}) {
            const auto& ref = expected()["models"][m]["images"]["img1.png"]["attribution"];
            const int cls = ref[which + "_class"].get<int>();
            std::vector<std::string> args = {"explain", "--model", fixture(m), "--method", "attribution", "--format",
                                             "jsonl", fixture("images/img1.png")};
            if (which == "other") {  // by label, in another case, for one model; by index for the others
                std::string label = expected_label(cls);
                for (char& c : label) c = char(std::toupper(static_cast<unsigned char>(c)));
                args.insert(args.begin() + 5, {"--class", m == "hf_vit_f32" ? label : std::to_string(cls)});
            }
            auto r = run_cli(args);
            ASSERT_EQ(r.code, 0) << m << ": " << r.err;
            auto v = lines(r.out);
            ASSERT_EQ(v.size(), 1u);
            EXPECT_EQ(v[0]["method"], "attribution");
            EXPECT_EQ(v[0]["class"]["index"], cls) << m << " " << which;
            EXPECT_EQ(v[0]["class"]["label"], expected_label(cls)) << m;
            auto want = ref["map_" + which].get<std::vector<float>>();
            auto got = v[0]["map"].get<std::vector<float>>();
            ASSERT_EQ(got.size(), want.size());
            for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-4) << m << " " << which << " " << i;
        }
    }
    auto bad = run_cli({"explain", "--model", fixture("hf_vit_f32"), "--method", "attribution", "--class", "9",
                        fixture("images/img1.png")});
    EXPECT_EQ(bad.code, 1);
    EXPECT_NE(bad.err.find("class 9 is out of range: the model has 7 classes (0..6)"), std::string::npos) << bad.err;
    auto lone = run_cli({"explain", "--model", fixture("hf_vit_f32"), "--class", "2", fixture("images/img1.png")});
    EXPECT_EQ(lone.code, 1);
    EXPECT_NE(lone.err.find("--class goes with --method attribution"), std::string::npos) << lone.err;
}

TEST(Cli, ExplainWritesOverlaysAndGallery) {
    TempDir d;
    auto r = run_cli({"explain", "--model", fixture("hf_deit_f32"), "--method", "query", "--query", "1,2", "--out",
                      d / "maps", "--gallery", "--format", "jsonl", fixture("images/wide.png")});
    ASSERT_EQ(r.code, 0) << r.err;
    auto o = lines(r.out).at(0);
    EXPECT_EQ(o["overlay"], d / "maps/wide.query.png");
    cv::Mat ov = cv::imread(d / "maps/wide.query.png");
    EXPECT_EQ(ov.size(), cv::Size(50, 41));  // the original image's size
    cv::Mat g = cv::imread(d / "maps/wide.gallery.png");
    EXPECT_FALSE(g.empty());
    // a second run into the now non-empty folder refuses to overwrite without --overwrite
    auto again = run_cli({"explain", "--model", fixture("hf_deit_f32"), "--method", "query", "--query", "1,2", "--out",
                          d / "maps", fixture("images/wide.png")});
    EXPECT_EQ(again.code, 5) << again.err;
    EXPECT_NE(again.err.find("wide.query.png: already exists; pass --overwrite"), std::string::npos) << again.err;
    // with --overwrite it goes through; nothing half-written remains
    auto ok = run_cli({"explain", "--model", fixture("hf_deit_f32"), "--method", "query", "--query", "1,2", "--overwrite",
                       "--out", d / "maps", fixture("images/wide.png")});
    EXPECT_EQ(ok.code, 0) << ok.err;
    for (auto& e : std::filesystem::directory_iterator(d / "maps")) EXPECT_NE(e.path().filename().string()[0], '.');
    auto bad = run_cli({"explain", "--model", fixture("hf_deit_f32"), "--method", "query", "--query", "9,9", fixture("images/wide.png")});
    EXPECT_EQ(bad.code, 1);
    EXPECT_NE(bad.err.find("outside the 4x4 patch grid"), std::string::npos) << bad.err;
}
