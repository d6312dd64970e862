// Large collections with the real binary: embed's arrays against the PyTorch
// reference, --shard splitting a folder across processes (and Slurm /
// Kubernetes indices), --resume continuing an interrupted run, and the
// multi-label threshold.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "test_support.h"
#include "vitlens/images/array_files.h"
#include "vitlens/model/weights.h"

using namespace vitlens;
using namespace vitlens::test;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> v;
    std::istringstream s(text);
    for (std::string l; std::getline(s, l);)
        if (!l.empty()) v.push_back(l);
    return v;
}

// 12 images: the four fixture images, three copies each under other names.
std::string make_folder(const TempDir& t) {
    const std::string dir = t / "photos";
    fs::create_directories(dir + "/sub");
    int i = 0;
    for (const char* n : {"img0.png", "img1.png", "img2.png", "wide.png"})
        for (const char* where : {"/a", "/sub/b", "/c"})
            fs::copy_file(fixture(std::string("images/") + n), dir + where + std::to_string(i++) + ".png");
    return dir;
}

const json& families() {
    static const json j = json::parse(read_file(fixture("families.json")));
    return j;
}

void expect_rows_close(const Tensor& got, int64_t row, const std::vector<float>& want, const std::string& what) {
    const int64_t per = got.numel() / got.dim(0);
    ASSERT_EQ(size_t(per), want.size()) << what;
    float scale = 0;
    for (float v : want) scale = std::max(scale, std::fabs(v));
    for (int64_t k = 0; k < per; ++k) EXPECT_NEAR(got[row * per + k], want[size_t(k)], 1e-4f * scale) << what << " " << k;
}

}  // namespace

// embed writes the class token, the head's input and the patch tokens of
// each image as PyTorch computes them, in .npy and in safetensors alike.
TEST(Cli, EmbedArraysMatchTheReference) {
    TempDir t;
    const std::string model = fixture("hf_dinov2_cls_f32");
    auto r = run_cli({"embed", "--model", model, "--features", "cls,pooled,patch", "-o", t / "e.npy", fixture("images")});
    ASSERT_EQ(r.code, 0) << r.err;
    const auto index = split_lines(read_file(t / "e.jsonl"));
    ASSERT_EQ(index.size(), 4u);
    Tensor cls = read_npy(t / "e.cls.npy"), pooled = read_npy(t / "e.pooled.npy"), patch = read_npy(t / "e.patch.npy");
    EXPECT_EQ(cls.shape(), (std::vector<int64_t>{4, 48}));
    EXPECT_EQ(pooled.shape(), (std::vector<int64_t>{4, 96}));
    EXPECT_EQ(patch.shape(), (std::vector<int64_t>{4, 16, 48}));
    int checked = 0;
    for (const std::string& line : index) {
        const json j = json::parse(line);
        const std::string img = fs::path(j["image"].get<std::string>()).filename();
        const int64_t row = j["row"];
        EXPECT_EQ(j["top"].size(), 5u);
        if (!families()["hf_dinov2_cls_f32"]["images"].contains(img)) continue;
        const auto& want = families()["hf_dinov2_cls_f32"]["images"][img];
        auto tokens = want["tokens"].get<std::vector<float>>();
        expect_rows_close(cls, row, std::vector<float>(tokens.begin(), tokens.begin() + 48), img + " cls");
        expect_rows_close(patch, row, std::vector<float>(tokens.begin() + 48, tokens.end()), img + " patch");
        expect_rows_close(pooled, row, want["pooled"].get<std::vector<float>>(), img + " pooled");
        ++checked;
    }
    EXPECT_EQ(checked, 3);
    r = run_cli({"embed", "--model", model, "--features", "pooled", "-o", t / "e.safetensors", fixture("images")});
    ASSERT_EQ(r.code, 0) << r.err;
    SafeTensors st(t / "e.safetensors");
    Tensor p2 = st.to_f32("pooled");
    ASSERT_EQ(p2.shape(), pooled.shape());
    for (int64_t i = 0; i < p2.numel(); ++i) ASSERT_EQ(p2[i], pooled[i]) << i;
    EXPECT_EQ(json::parse(st.metadata().at("images")).size(), 4u);
}

// Same images, same classes, logits within 1e-4: what two
// runs that batch the images differently agree on (oneDNN's GEMM kernels
// depend on the number of rows, so the last bits follow the batch).
static void expect_same_records(std::vector<std::string> got, std::vector<std::string> want) {
    ASSERT_EQ(got.size(), want.size());
    std::sort(got.begin(), got.end());
    std::sort(want.begin(), want.end());
    for (size_t i = 0; i < got.size(); ++i) {
        const json a = json::parse(got[i]), b = json::parse(want[i]);
        ASSERT_EQ(a["image"], b["image"]);
        for (size_t k = 0; k < b["top"].size(); ++k) EXPECT_EQ(a["top"][k]["index"], b["top"][k]["index"]) << a["image"];
        auto la = a["logits"].get<std::vector<float>>(), lb = b["logits"].get<std::vector<float>>();
        for (size_t k = 0; k < lb.size(); ++k) EXPECT_NEAR(la[k], lb[k], 1e-4f) << a["image"] << " logit " << k;
    }
}

// Four shards as four processes give exactly the unsharded output (merged by
// sorting on the path; byte for byte when each image is its own batch, as
// the batches are then the same), and Slurm and Kubernetes indices pick the
// same shards.
TEST(Cli, FourShardsGiveTheUnshardedOutput) {
    TempDir t;
    const std::string dir = make_folder(t), model = fixture("timm_f32");
    auto batched = run_cli({"classify", "--model", model, "--format", "jsonl", "--logits", dir});
    ASSERT_EQ(batched.code, 0) << batched.err;
    auto whole = run_cli({"classify", "--model", model, "--format", "jsonl", "--logits", "-b", "1", dir});
    ASSERT_EQ(whole.code, 0) << whole.err;
    const auto want = split_lines(whole.out);
    ASSERT_EQ(want.size(), 12u);
    std::vector<std::string> merged;
    for (int i = 0; i < 4; ++i) {
        const std::string out = t / ("part" + std::to_string(i) + ".jsonl");
        auto r = run_cli({"classify", "--model", model, "--format", "jsonl", "--logits", "-b", "1", "--shard",
                          std::to_string(i) + "/4", "-o", out, dir});
        ASSERT_EQ(r.code, 0) << r.err;
        auto part = split_lines(read_file(out));
        merged.insert(merged.end(), part.begin(), part.end());
        auto slurm = run_cli({"classify", "--model", model, "--format", "jsonl", "--logits", "-b", "1", "--shard", "auto", dir},
                             "SLURM_ARRAY_TASK_ID=" + std::to_string(i + 3) + " SLURM_ARRAY_TASK_MIN=3 SLURM_ARRAY_TASK_COUNT=4");
        ASSERT_EQ(slurm.code, 0) << slurm.err;
        EXPECT_EQ(split_lines(slurm.out), part) << "Slurm task " << i;
        auto k8s = run_cli({"classify", "--model", model, "--format", "jsonl", "--logits", "-b", "1", "--shard", "auto/4", dir},
                           "JOB_COMPLETION_INDEX=" + std::to_string(i));
        ASSERT_EQ(k8s.code, 0) << k8s.err;
        EXPECT_EQ(split_lines(k8s.out), part) << "Kubernetes index " << i;
    }
    std::sort(merged.begin(), merged.end());
    EXPECT_EQ(merged, want);
    expect_same_records(merged, split_lines(batched.out));
    auto none = run_cli({"classify", "--model", model, "--shard", "auto", dir}, "env -u SLURM_ARRAY_TASK_ID -u JOB_COMPLETION_INDEX");
    EXPECT_EQ(none.code, 1);
    EXPECT_NE(none.err.find("SLURM_ARRAY_TASK_ID"), std::string::npos) << none.err;
    auto bad = run_cli({"classify", "--model", model, "--shard", "4/4", dir});
    EXPECT_EQ(bad.code, 1);
    EXPECT_NE(bad.err.find("outside 0..3"), std::string::npos) << bad.err;
}

// An interrupted run (a torn last line, arrays ahead of the index) is
// continued by --resume into exactly the output of an uninterrupted one.
TEST(Cli, ResumeContinuesAnInterruptedRun) {
    TempDir t;
    const std::string dir = make_folder(t), model = fixture("hf_vit_f32");
    // -b 1: each image its own batch in both runs, so the bytes can be compared
    auto full = run_cli({"classify", "--model", model, "--format", "csv", "-b", "1", "-o", t / "full.csv", dir});
    ASSERT_EQ(full.code, 0) << full.err;
    const std::string text = read_file(t / "full.csv");
    const auto rows = split_lines(text);
    ASSERT_EQ(rows.size(), 13u);  // header + 12
    write_file(t / "cut.csv", rows[0] + "\n" + rows[1] + "\n" + rows[2] + "\n" + rows[3].substr(0, 10));
    auto again = run_cli({"classify", "--model", model, "--format", "csv", "-o", t / "cut.csv", dir});
    EXPECT_EQ(again.code, 5) << "an existing output is kept without --resume";
    auto resumed = run_cli({"classify", "--model", model, "--format", "csv", "-b", "1", "-o", t / "cut.csv", "--resume", dir});
    ASSERT_EQ(resumed.code, 0) << resumed.err;
    EXPECT_NE(resumed.err.find("2 of 12 images already"), std::string::npos) << resumed.err;
    auto got = split_lines(read_file(t / "cut.csv"));
    std::sort(got.begin() + 1, got.end());
    auto want = rows;
    std::sort(want.begin() + 1, want.end());
    EXPECT_EQ(got, want);

    auto e = run_cli({"embed", "--model", model, "--features", "cls,patch", "-b", "1", "-o", t / "full.npy", dir});
    ASSERT_EQ(e.code, 0) << e.err;
    auto e2 = run_cli({"embed", "--model", model, "--features", "cls,patch", "-b", "1", "-o", t / "part.npy", dir});
    ASSERT_EQ(e2.code, 0) << e2.err;
    const auto index = split_lines(read_file(t / "part.jsonl"));
    write_file(t / "part.jsonl", index[0] + "\n" + index[1] + "\n" + index[2] + "\n{\"row\": 3, \"ima");
    fs::resize_file(t / "part.cls.npy", 128 + 5 * 48 * 4 + 7);  // 5 rows and a torn one: ahead of the index
    auto e3 = run_cli({"embed", "--model", model, "--features", "cls,patch", "-b", "1", "--resume", "-o", t / "part.npy", dir});
    ASSERT_EQ(e3.code, 0) << e3.err;
    for (const char* f : {"cls", "patch"}) {
        Tensor a = read_npy(t / (std::string("full.") + f + ".npy")), b = read_npy(t / (std::string("part.") + f + ".npy"));
        ASSERT_EQ(a.shape(), b.shape()) << f;
        for (int64_t i = 0; i < a.numel(); ++i) ASSERT_EQ(a[i], b[i]) << f << " " << i;
    }
    EXPECT_EQ(split_lines(read_file(t / "part.jsonl")), split_lines(read_file(t / "full.jsonl")));
}

// A multi-label model lists every class at or above --threshold.
TEST(Cli, MultiLabelThresholdListsEveryClassAbove) {
    for (float th : {0.3f, 0.9f}) {
        auto r = run_cli({"classify", "--model", fixture("hf_vit_multilabel_f32"), "--format", "jsonl", "--top-k", "7",
                          "--threshold", std::to_string(th), fixture("images")});
        ASSERT_EQ(r.code, 0) << r.err;
        for (const std::string& line : split_lines(r.out)) {
            const json j = json::parse(line);
            size_t above = 0;
            for (const json& e : j["top"]) above += e["prob"].get<float>() >= th;
            EXPECT_EQ(j["labels"].size(), above) << line;
        }
    }
    auto single = run_cli({"classify", "--model", fixture("hf_vit_f32"), "--threshold", "0.5", fixture("images")});
    EXPECT_EQ(single.code, 1);
    EXPECT_NE(single.err.find("multi-label"), std::string::npos) << single.err;
}

// A backbone: classify points to embed; explain still draws the maps.
TEST(Cli, BackboneClassifyPointsToEmbed) {
    auto r = run_cli({"classify", "--model", fixture("timm_reg4_f32"), fixture("images/img0.png")});
    EXPECT_EQ(r.code, 3);
    EXPECT_NE(r.err.find("vitlens embed"), std::string::npos) << r.err;
    auto e = run_cli({"explain", "--model", fixture("timm_reg4_f32"), "--norms", fixture("images/img0.png")});
    ASSERT_EQ(e.code, 0) << e.err;
    EXPECT_NE(e.out.find("no classifier head"), std::string::npos) << e.out;
    EXPECT_NE(e.out.find("registers: reg0 "), std::string::npos) << e.out;
    auto ev = run_cli({"eval", "--model", fixture("timm_reg4_f32"), "--folder", fixture("images")});
    EXPECT_EQ(ev.code, 3);
    EXPECT_NE(ev.err.find("no classifier head"), std::string::npos) << ev.err;
    auto a = run_cli({"explain", "--model", fixture("timm_reg4_f32"), "--method", "attribution", fixture("images/img0.png")});
    EXPECT_EQ(a.code, 1);
    EXPECT_NE(a.err.find("no classifier head"), std::string::npos) << a.err;
}

// explain --resume redraws only the overlays that are missing from --out
// (which mirrors the input folder: photos/sub/b7.png -> maps/sub/b7.rollout.png).
TEST(Cli, ExplainResumeDrawsOnlyMissingOverlays) {
    TempDir t;
    const std::string dir = make_folder(t), model = fixture("hf_vit_f32"), out = t / "maps";
    auto r = run_cli({"explain", "--model", model, "--out", out, dir});
    ASSERT_EQ(r.code, 0) << r.err;
    const std::string kept = out + "/a0.rollout.png";
    const auto stamp = fs::last_write_time(kept);
    fs::remove(out + "/c5.rollout.png");
    fs::remove(out + "/sub/b7.rollout.png");
    auto again = run_cli({"explain", "--model", model, "--out", out, dir});
    EXPECT_EQ(again.code, 5) << "existing overlays are kept without --resume or --overwrite";
    auto resumed = run_cli({"explain", "--model", model, "--out", out, "--resume", "--format", "jsonl", dir});
    ASSERT_EQ(resumed.code, 0) << resumed.err;
    EXPECT_NE(resumed.err.find("10 of 12 overlays already"), std::string::npos) << resumed.err;
    EXPECT_EQ(split_lines(resumed.out).size(), 2u);
    EXPECT_TRUE(fs::exists(out + "/c5.rollout.png"));
    EXPECT_TRUE(fs::exists(out + "/sub/b7.rollout.png"));
    EXPECT_EQ(fs::last_write_time(kept), stamp);
    auto shard = run_cli({"explain", "--model", model, "--shard", "1/3", "--format", "jsonl", dir});
    ASSERT_EQ(shard.code, 0) << shard.err;
    EXPECT_LT(split_lines(shard.out).size(), 12u);
}

// A live stream of a backbone, coloured by its patch features: every frame
// processed, no classes, the overlay drawn.
TEST(Cli, StreamFeaturesOfABackbone) {
    TempDir t;
    auto r = run_cli({"stream", "--model", fixture("timm_reg4_f32"), "--source", fixture("images"), "--no-pace",
                      "--explain", "features", "--jsonl", t / "f.jsonl", "--out", t / "f.avi"});
    ASSERT_EQ(r.code, 0) << r.err;
    const auto frames = split_lines(read_file(t / "f.jsonl"));
    ASSERT_EQ(frames.size(), 4u);
    for (const std::string& l : frames) EXPECT_TRUE(json::parse(l)["top"].empty()) << l;
    EXPECT_GT(fs::file_size(t / "f.avi"), 1000u);
}

// A name that is not UTF-8 is written with U+FFFD in jsonl; --resume still
// finds it, and a file listed twice is one image.
TEST(Cli, ResumeFindsNamesThatAreNotUtf8) {
    TempDir t;
    fs::create_directories(t / "in");
    const std::string latin1 = t / "in/caf\xe9.png";
    fs::copy_file(fixture("images/img0.png"), latin1);
    const std::string model = fixture("hf_vit_f32");
    auto r = run_cli({"classify", "--model", model, "--format", "jsonl", "-o", t / "o.jsonl", t / "in", latin1});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(split_lines(read_file(t / "o.jsonl")).size(), 1u);
    auto again = run_cli({"classify", "--model", model, "--format", "jsonl", "-o", t / "o.jsonl", "--resume", t / "in"});
    ASSERT_EQ(again.code, 0) << again.err;
    EXPECT_NE(again.err.find("1 of 1 images already"), std::string::npos) << again.err;
    EXPECT_EQ(split_lines(read_file(t / "o.jsonl")).size(), 1u);
}
