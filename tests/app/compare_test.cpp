// vitlens compare: what int8 changes on the bundled model's ten samples
// (the same top-1; rollout and attribution maps that rank the patches as
// f32's do, rho >= 0.95: 0.998 seen), and its refusals.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "test_support.h"

using namespace vitlens::test;
using json = nlohmann::json;

namespace {

const std::string kSamples = std::string(VITLENS_SOURCE_DIR) + "/assets/samples";

// The per-image records and the summary of `compare --format jsonl`.
std::vector<json> records(const std::string& out, json& summary) {
    std::vector<json> rows;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);) {
        json j = json::parse(line);
        if (j.contains("summary")) summary = j["summary"];
        else rows.push_back(j);
    }
    return rows;
}

void expect_int8_keeps_the_map(const std::string& method) {
    auto r = run_cli({"compare", "--precision", "f32,int8", "--method", method, "--format", "jsonl", kSamples});
    ASSERT_EQ(r.code, 0) << r.err;
    json summary;
    const std::vector<json> rows = records(r.out, summary);
    ASSERT_EQ(rows.size(), 10u) << r.out;
    for (const json& j : rows) {
        const json& f32 = j["precisions"][0];
        const json& q = j["precisions"][1];
        EXPECT_EQ(f32["precision"], "f32");
        EXPECT_EQ(q["precision"], "int8");
        EXPECT_EQ(q["top"][0]["index"], f32["top"][0]["index"]) << j["image"];
        EXPECT_GE(q["map_rho"].get<double>(), 0.95) << j["image"] << " " << method;
        EXPECT_DOUBLE_EQ(f32["map_rho"].get<double>(), 1.0);
        EXPECT_GT(q["max_logit_change"].get<double>(), 0.0) << "int8 changed no logit: did it run?";
    }
    ASSERT_EQ(summary.size(), 2u);
    EXPECT_EQ(summary[1]["same_top1"], 10);
    EXPECT_GE(summary[1]["map_rho_min"].get<double>(), 0.95);
}

}  // namespace

TEST(CompareCommand, Int8RolloutRanksPatchesAsF32OnTheSamples) { expect_int8_keeps_the_map("rollout"); }

TEST(CompareCommand, Int8AttributionRanksPatchesAsF32OnTheSamples) { expect_int8_keeps_the_map("attribution"); }

TEST(CompareCommand, TextShowsEveryPrecisionAndASummary) {
    auto r = run_cli({"compare", "--precision", "int8,f32", kSamples + "/Sneaker.png"});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("reference int8"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("summary over 1 image(s), against int8"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("Sneaker"), std::string::npos) << r.out;
}

TEST(CompareCommand, RefusesBadPrecisionLists) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"f32", "at least two precisions"},
        {"f32,f16", "'f16' is not a precision"},
        {"f32,int8,f32", "'f32' is listed twice"},
    };
    for (const auto& [list, why] : cases) {
        auto r = run_cli({"compare", "--precision", list, kSamples + "/Sneaker.png"});
        EXPECT_EQ(r.code, 1) << list;
        EXPECT_NE(r.err.find(why), std::string::npos) << list << ": " << r.err;
        EXPECT_TRUE(r.out.empty()) << r.out;
    }
    auto r = run_cli({"compare", "--precision", "f32,bf16", "--method", "attribution", kSamples + "/Sneaker.png"});
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("bf16"), std::string::npos) << r.err;
}

TEST(CompareCommand, ABadImageIsReportedAndTheOthersCompared) {
    TempDir d;
    { std::ofstream(d / "broken.png") << "not a png"; }
    auto r = run_cli({"compare", "--precision", "f32,int8", "--format", "jsonl", d / "broken.png",
                      kSamples + "/Bag.png"});
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_NE(r.err.find("broken.png"), std::string::npos) << r.err;
    json summary;
    EXPECT_EQ(records(r.out, summary).size(), 1u) << r.out;
    EXPECT_EQ(summary[0]["images"], 1);
}

TEST(CompareCommand, ABackboneIsAModelErrorAndTooManyStepsAUsageError) {
    auto r = run_cli({"compare", "--model", fixture("hf_dinov2_f32"), "--precision", "f32,int8", kSamples + "/Bag.png"});
    EXPECT_EQ(r.code, 3) << r.err;
    EXPECT_NE(r.err.find("needs a classifier head"), std::string::npos) << r.err;
    r = run_cli({"compare", "--precision", "f32,int8", "--steps", "50", kSamples + "/Bag.png"});  // 49 patches
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_NE(r.err.find("--steps 50 is more than the model's 49 patches"), std::string::npos) << r.err;
}
