// Model ids in a Hugging Face cache laid out as huggingface_hub lays it out:
// refs/<branch> holds a commit, snapshots/<commit>/ links into blobs/.
#include "vitlens/hub/hub_cache.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "test_support.h"
#include "vitlens/errors.h"

using namespace vitlens;
using namespace vitlens::test;
namespace fs = std::filesystem;

namespace {

const std::string kCommit = "0123456789abcdef0123456789abcdef01234567";

// models--ORG--NAME with the fixture's files as blobs, snapshot links and refs/main.
fs::path make_cache(const fs::path& cache, const std::string& org, const std::string& name, const std::string& fixture_dir) {
    const fs::path repo = cache / ("models--" + org + "--" + name);
    fs::create_directories(repo / "blobs");
    fs::create_directories(repo / "snapshots" / kCommit);
    fs::create_directories(repo / "refs");
    int i = 0;
    for (const auto& e : fs::directory_iterator(fixture_dir)) {
        const std::string blob = "blob" + std::to_string(i++);
        fs::copy_file(e.path(), repo / "blobs" / blob);
        fs::create_symlink("../../blobs/" + blob, repo / "snapshots" / kCommit / e.path().filename());
    }
    std::ofstream(repo / "refs" / "main") << kCommit;  // no newline, as huggingface_hub writes it
    return repo;
}

std::string error_of(const ModelId& id, const std::string& cache) {
    try {
        resolve_cached_model(id, cache);
    } catch (const ModelError& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST(HubCache, ParsesIdsAndRefusesPaths) {
    auto id = parse_model_id("google/vit-base-patch16-224");
    ASSERT_TRUE(id);
    EXPECT_EQ(id->org, "google");
    EXPECT_EQ(id->name, "vit-base-patch16-224");
    EXPECT_EQ(id->revision, "main");
    auto rev = parse_model_id("facebook/dinov2-small@v1.0");
    ASSERT_TRUE(rev);
    EXPECT_EQ(rev->revision, "v1.0");
    EXPECT_EQ(rev->str(), "facebook/dinov2-small@v1.0");
    for (const char* bad : {"model", "/abs/path", "./rel/dir", "a/b/c", "a--b/c", "a/b@", "a/b@../x", "-a/b", "a/b.",
                            "a b/c", ""})
        EXPECT_FALSE(parse_model_id(bad)) << bad;
}

TEST(HubCache, FindsTheSnapshotOfARefOrACommit) {
    TempDir d;
    make_cache(d / "hub", "org", "tiny-vit", fixture("hf_vit_f32"));
    const std::string snap = resolve_cached_model(*parse_model_id("org/tiny-vit"), d / "hub");
    EXPECT_EQ(snap, d / ("hub/models--org--tiny-vit/snapshots/" + kCommit));
    EXPECT_TRUE(fs::exists(fs::path(snap) / "model.safetensors"));
    EXPECT_EQ(resolve_cached_model(*parse_model_id("org/tiny-vit@" + kCommit), d / "hub"), snap);

    EXPECT_NE(error_of(*parse_model_id("org/other"), d / "hub")
                  .find("org/other: not in the Hugging Face cache " + d / "hub" + " (no models--org--other); download it"),
              std::string::npos);
    EXPECT_NE(error_of(*parse_model_id("org/tiny-vit@dev"), d / "hub").find("revision 'dev' is not in the cache"),
              std::string::npos);
    const std::string missing = "f" + kCommit.substr(1);
    EXPECT_NE(error_of(*parse_model_id("org/tiny-vit@" + missing), d / "hub").find("snapshot " + missing + " is not in the cache"),
              std::string::npos);
}

TEST(HubCache, CacheFolderFollowsTheEnvironment) {
    const char* saved[3] = {std::getenv("HF_HUB_CACHE"), std::getenv("HF_HOME"), std::getenv("HOME")};
    std::string keep[3];
    for (int i = 0; i < 3; ++i) keep[i] = saved[i] ? saved[i] : "";
    ::unsetenv("HF_HUB_CACHE");
    ::unsetenv("HF_HOME");
    ::setenv("HOME", "/home/u", 1);
    EXPECT_EQ(hub_cache_dir(), "/home/u/.cache/huggingface/hub");
    ::setenv("HF_HOME", "/data/hf", 1);
    EXPECT_EQ(hub_cache_dir(), "/data/hf/hub");
    ::setenv("HF_HUB_CACHE", "/fast/hub", 1);
    EXPECT_EQ(hub_cache_dir(), "/fast/hub");
    const char* names[3] = {"HF_HUB_CACHE", "HF_HOME", "HOME"};
    for (int i = 0; i < 3; ++i) {
        if (saved[i]) ::setenv(names[i], keep[i].c_str(), 1);
        else ::unsetenv(names[i]);
    }
}
