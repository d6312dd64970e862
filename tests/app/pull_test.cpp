// vitlens pull against a fake hub on 127.0.0.1 that serves a fixture repo in
// the hub's URL layout: /ORG/NAME/resolve/REV/FILE, the commit and ETag
// headers, a redirect to a "CDN" for LFS files, Range requests.
#include <gtest/gtest.h>

#include <filesystem>

#include "fake_hub.h"
#include "test_support.h"
#include "vitlens/hub/sha256.h"

using namespace vitlens;
using namespace vitlens::test;
namespace fs = std::filesystem;

namespace {

std::string env(const FakeHub& hub, const TempDir& cache, const std::string& extra = "") {
    return "env -u HF_TOKEN -u HF_TOKEN_PATH -u HF_HUB_OFFLINE HF_HOME='" + cache.path() + "/home' HF_ENDPOINT=" + hub.url() +
           " HF_HUB_CACHE='" + cache.path() + "/hub' " + extra;
}

std::string trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    return s;
}

}  // namespace

// A full pull lays the files out as huggingface_hub does, and the model then
// classifies offline by its id exactly as from its folder.
TEST(Pull, FullPullMakesTheHubCacheLayout) {
    FakeHub hub;
    TempDir cache;
    auto r = run_cli({"pull", "org/vit"}, env(hub, cache));
    ASSERT_EQ(r.code, 0) << r.err;
    const fs::path repo = cache / "hub/models--org--vit";
    EXPECT_EQ(trimmed(r.out), (repo / "snapshots" / kCommit).string());
    EXPECT_EQ(trimmed(read_file((repo / "refs/main").string())), kCommit);
    for (const char* f : {"config.json", "preprocessor_config.json", "model.safetensors"}) {
        const fs::path link = repo / "snapshots" / kCommit / f;
        ASSERT_TRUE(fs::is_symlink(link)) << f;
        EXPECT_EQ(fs::read_symlink(link).string().rfind("../../blobs/", 0), 0u) << f;
        EXPECT_EQ(read_file(link.string()), read_file(fixture(std::string("hf_vit_f32/") + f))) << f;
    }
    const std::string st = read_file(fixture("hf_vit_f32/model.safetensors"));
    EXPECT_TRUE(fs::exists(repo / "blobs" / sha(st)));
    EXPECT_NE(r.err.find("3 files"), std::string::npos) << r.err;
    auto by_id = run_cli({"classify", "--model", "org/vit", "--format", "jsonl", "--logits", fixture("images")},
                         env(hub, cache, "HF_HUB_OFFLINE=1"));
    auto by_dir = run_cli({"classify", "--model", fixture("hf_vit_f32"), "--format", "jsonl", "--logits", fixture("images")});
    ASSERT_EQ(by_id.code, 0) << by_id.err;
    EXPECT_EQ(by_id.out, by_dir.out);
    // a second pull finds everything in place and downloads nothing
    auto again = run_cli({"pull", "org/vit"}, env(hub, cache));
    ASSERT_EQ(again.code, 0) << again.err;
    EXPECT_NE(again.err.find("0.0 MB downloaded"), std::string::npos) << again.err;
}

// A download cut midway fails with a message to run again; the next pull
// asks for the rest with a Range request and checks the whole file.
TEST(Pull, InterruptedDownloadResumes) {
    FakeHub hub;
    TempDir cache;
    hub.set_cdn(FakeHub::Cdn::CutFirst);
    auto r = run_cli({"pull", "org/vit"}, env(hub, cache));
    EXPECT_EQ(r.code, 4) << r.err;
    EXPECT_NE(r.err.find("run the same command again to resume"), std::string::npos) << r.err;
    const std::string st = read_file(fixture("hf_vit_f32/model.safetensors"));
    const fs::path part = cache / ("hub/models--org--vit/blobs/" + sha(st) + ".incomplete");
    ASSERT_TRUE(fs::exists(part));
    EXPECT_EQ(fs::file_size(part), st.size() / 2);
    auto resumed = run_cli({"pull", "org/vit"}, env(hub, cache));
    ASSERT_EQ(resumed.code, 0) << resumed.err;
    bool ranged = false;
    for (const HttpRequest& q : hub.requests())
        ranged |= q.header("range") == "bytes=" + std::to_string(st.size() / 2) + "-";
    EXPECT_TRUE(ranged) << "the second pull did not resume with a Range request";
    EXPECT_FALSE(fs::exists(part));
    EXPECT_EQ(sha256_file(cache / ("hub/models--org--vit/blobs/" + sha(st))), sha(st));
}

// A part file that already holds every byte (the run was stopped while
// checking it) is verified and moved into place without a new request.
TEST(Pull, CompletePartFileIsCheckedNotRefetched) {
    FakeHub hub;
    TempDir cache;
    ASSERT_EQ(run_cli({"pull", "org/vit"}, env(hub, cache)).code, 0);
    const std::string st = read_file(fixture("hf_vit_f32/model.safetensors"));
    const fs::path blobs = cache / "hub/models--org--vit/blobs";
    fs::rename(blobs / sha(st), blobs / (sha(st) + ".incomplete"));
    const size_t before = hub.requests().size();
    auto r = run_cli({"pull", "org/vit"}, env(hub, cache));
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(fs::exists(blobs / sha(st)));
    for (size_t i = before; i < hub.requests().size(); ++i)
        EXPECT_EQ(hub.requests()[i].path.find("/cdn/"), std::string::npos) << "refetched " << hub.requests()[i].path;
}

// Bytes that do not hash to the hub's object id are deleted and refused.
TEST(Pull, CorruptedFileIsRefused) {
    FakeHub hub;
    TempDir cache;
    hub.set_cdn(FakeHub::Cdn::Corrupt);
    auto r = run_cli({"pull", "org/vit"}, env(hub, cache));
    EXPECT_EQ(r.code, 4) << r.err;
    EXPECT_NE(r.err.find("SHA-256"), std::string::npos) << r.err;
    const fs::path repo = cache / "hub/models--org--vit";
    EXPECT_FALSE(fs::exists(repo / "snapshots" / kCommit / "model.safetensors"));
    for (const auto& e : fs::directory_iterator(repo / "blobs"))
        EXPECT_EQ(e.path().string().find(".incomplete"), std::string::npos) << e.path();
}

// HF_HUB_OFFLINE: no request at all; the cache or a clear refusal.
TEST(Pull, OfflineModeUsesOnlyTheCache) {
    FakeHub hub;
    TempDir cache;
    auto r = run_cli({"pull", "org/vit"}, env(hub, cache, "HF_HUB_OFFLINE=1"));
    EXPECT_EQ(r.code, 3) << r.err;
    EXPECT_NE(r.err.find("HF_HUB_OFFLINE"), std::string::npos) << r.err;
    EXPECT_TRUE(hub.requests().empty());
    ASSERT_EQ(run_cli({"pull", "org/vit"}, env(hub, cache)).code, 0);
    const size_t seen = hub.requests().size();
    auto cached = run_cli({"pull", "org/vit"}, env(hub, cache, "HF_HUB_OFFLINE=1"));
    ASSERT_EQ(cached.code, 0) << cached.err;
    EXPECT_EQ(hub.requests().size(), seen);
    EXPECT_NE(cached.out.find(kCommit), std::string::npos);
}

TEST(Pull, MissingRepoIs404) {
    FakeHub hub;
    TempDir cache;
    auto r = run_cli({"pull", "org/nothing"}, env(hub, cache));
    EXPECT_EQ(r.code, 3) << r.err;
    EXPECT_NE(r.err.find("404: no such model repo"), std::string::npos) << r.err;
    auto rev = run_cli({"pull", "org/vit@v9"}, env(hub, cache));
    EXPECT_EQ(rev.code, 3);
    EXPECT_NE(rev.err.find("no revision 'v9'"), std::string::npos) << rev.err;
}

// 401 without a token says how to give one; HF_TOKEN or the token file opens it.
TEST(Pull, PrivateRepoNeedsAToken) {
    FakeHub hub;
    TempDir cache;
    auto r = run_cli({"pull", "org/private"}, env(hub, cache));
    EXPECT_EQ(r.code, 3) << r.err;
    EXPECT_NE(r.err.find("401"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("HF_TOKEN"), std::string::npos) << r.err;
    auto wrong = run_cli({"pull", "org/private"}, env(hub, cache, "HF_TOKEN=nope"));
    EXPECT_EQ(wrong.code, 3);
    EXPECT_NE(wrong.err.find("was not accepted"), std::string::npos) << wrong.err;
    auto ok = run_cli({"pull", "org/private"}, env(hub, cache, "HF_TOKEN=secret-token"));
    EXPECT_EQ(ok.code, 0) << ok.err;
    fs::create_directories(cache / "home");
    write_file(cache / "home/token", "secret-token\n");
    fs::remove_all(cache / "hub");
    auto file = run_cli({"pull", "org/private"}, env(hub, cache));
    EXPECT_EQ(file.code, 0) << file.err;
}

TEST(Pull, NoNetworkAndPickleOnlyAreExplained) {
    FakeHub hub;
    TempDir cache;
    auto pickle = run_cli({"pull", "org/pickle"}, env(hub, cache));
    EXPECT_EQ(pickle.code, 3);
    EXPECT_NE(pickle.err.find("pickled weights"), std::string::npos) << pickle.err;
    auto down = run_cli({"pull", "org/vit"}, "env -u HF_TOKEN HF_ENDPOINT=http://127.0.0.1:9 HF_HUB_CACHE='" + cache.path() + "/hub'");
    EXPECT_EQ(down.code, 4) << down.err;
    EXPECT_NE(down.err.find("no network"), std::string::npos) << down.err;
    auto bad = run_cli({"pull", "not-an-id"});
    EXPECT_EQ(bad.code, 1);
}

// A sharded checkpoint: the index and both shards are pulled, and the
// model loads from them with the logits of the single file.
TEST(Pull, ShardedCheckpointPullsAndLoads) {
    FakeHub hub;
    TempDir cache;
    auto r = run_cli({"pull", "org/sharded"}, env(hub, cache));
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.err.find("5 files"), std::string::npos) << r.err;
    const fs::path snap = cache / ("hub/models--org--sharded/snapshots/" + kCommit);
    EXPECT_TRUE(fs::exists(snap / "model-00002-of-00002.safetensors"));
    EXPECT_FALSE(fs::exists(snap / "model.safetensors"));
    auto by_id = run_cli({"classify", "--model", "org/sharded", "--format", "jsonl", "--logits", fixture("images")},
                         env(hub, cache, "HF_HUB_OFFLINE=1"));
    auto by_dir = run_cli({"classify", "--model", fixture("hf_vit_f32"), "--format", "jsonl", "--logits", fixture("images")});
    ASSERT_EQ(by_id.code, 0) << by_id.err;
    EXPECT_EQ(by_id.out, by_dir.out);
}

// SHA-256 of the FIPS 180-4 examples.
TEST(Sha256, KnownVectors) {
    EXPECT_EQ(sha(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(sha("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(sha("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    std::string million(1000000, 'a');
    EXPECT_EQ(sha(million), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}
