// The bad-input corpus (tests/bad_inputs/cases.json): every case gets its
// expected exit code and message, and nothing crashes.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "test_support.h"

using namespace vitlens::test;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {
const std::string kCorpus = std::string(VITLENS_SOURCE_DIR) + "/tests/bad_inputs";
}

TEST(BadInputs, EveryCaseHasItsExitCodeAndMessage) {
    json cases = json::parse(read_file(kCorpus + "/cases.json"));
    ASSERT_GE(cases.size(), 30u);
    for (const json& c : cases) {
        auto r = run_cli(c["args"].get<std::vector<std::string>>(), "cd '" + kCorpus + "' &&");
        EXPECT_EQ(r.code, c["code"].get<int>()) << c["name"] << ": " << r.err;
        std::string msg = c["message"];
        if (!msg.empty()) {
            EXPECT_NE(r.err.find(msg), std::string::npos) << c["name"] << ": " << r.err;
        }
        if (c["code"] == 0) {
            EXPECT_NE(r.out.find("%"), std::string::npos) << c["name"] << ": " << r.out;
        }
        EXPECT_EQ(r.err.find("internal error"), std::string::npos) << c["name"] << ": " << r.err;
    }
}

// A folder with an unreadable entry and a non-UTF-8 file name: the rest is
// processed, the bad one reported, and JSON Lines stay valid UTF-8.
TEST(BadInputs, FolderWithUnreadableAndNonUtf8Names) {
    TempDir d;
    fs::create_directories(d / "f");
    fs::copy_file(fixture("images/img0.png"), d / "f/a.png");
    fs::copy_file(fixture("images/img1.png"), d / "f/caf\xe9.png");  // Latin-1 byte: not UTF-8
    fs::create_symlink(d / "gone.png", d / "f/broken.png");          // dangling: cannot be opened
    auto r = run_cli({"classify", "--model", fixture("hf_vit_f32"), "--format", "jsonl", d / "f"});
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_NE(r.err.find("broken.png"), std::string::npos) << r.err;
    std::istringstream s(r.out);
    std::string line;
    int n = 0;
    while (std::getline(s, line)) {
        json o = json::parse(line);  // throws on invalid UTF-8
        EXPECT_TRUE(o["top"].is_array());
        ++n;
    }
    EXPECT_EQ(n, 2);
}
