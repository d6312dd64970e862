// The program against a bad day and a hostile user: a full disk (a small
// tmpfs, as root), links, FIFOs and devices as targets, a hub that lies, a
// shared cache with planted links, inputs that are not files, sizes that
// cannot fit. Each ends in a clear message and the right exit code, with
// nothing outside the named output (or the cache) changed.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "fake_hub.h"
#include "test_support.h"
#include "vitlens/images/output_file.h"

using namespace vitlens;
using namespace vitlens::test;
namespace fs = std::filesystem;

namespace {

std::string hub_env(const FakeHub& hub, const std::string& cache, const std::string& extra = "") {
    return "env -u HF_TOKEN -u HF_TOKEN_PATH -u HF_HUB_OFFLINE HF_HOME='" + cache + "/home' HF_ENDPOINT=" + hub.url() +
           " HF_HUB_CACHE='" + cache + "' " + extra;
}

std::string samples() { return std::string(VITLENS_SOURCE_DIR) + "/assets/samples"; }
std::string sample(const std::string& name) { return samples() + "/" + name + ".png"; }
std::string bin() { return VITLENS_BIN; }

// Every PNG under `dir` decodes whole: no empty or cut file is left.
void expect_only_whole_pngs(const std::string& dir) {
    for (const auto& e : fs::recursive_directory_iterator(dir))
        if (e.path().extension() == ".png") EXPECT_TRUE(output_decodes(e.path().string())) << e.path();
}

std::string model_sha() { return sha(read_file(fixture("hf_vit_f32/model.safetensors"))); }

}  // namespace

// --- full disk ---------------------------------------------------------

TEST(FullDisk, ExplainStopsWithExit5AndLeavesNoEmptyOverlay) {
    SmallDisk disk(96);
    if (!disk.ok()) GTEST_SKIP() << disk.why();
    auto r = run_cli({"explain", "--scale", "8", "--out", disk / "o", samples()});
    EXPECT_EQ(r.code, 5) << r.err;
    EXPECT_NE(r.err.find("No space left on device"), std::string::npos) << r.err;
    expect_only_whole_pngs(disk / "o");
    for (const auto& e : fs::directory_iterator(disk / "o"))
        EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << "temporary left: " << e.path();
}

TEST(FullDisk, OverwriteKeepsTheGoodOverlayAndResumeRedoesACutOne) {
    SmallDisk disk(256);
    if (!disk.ok()) GTEST_SKIP() << disk.why();
    ASSERT_EQ(run_cli({"explain", "--scale", "8", "--out", disk / "o", sample("Bag"), sample("Coat")}).code, 0);
    const std::string good = read_file(disk / "o/Bag.rollout.png");
    disk.fill();
    auto r = run_cli({"explain", "--scale", "8", "--overwrite", "--out", disk / "o", sample("Bag")});
    EXPECT_EQ(r.code, 5) << r.err;
    EXPECT_NE(r.err.find("left as it was"), std::string::npos) << r.err;
    EXPECT_EQ(read_file(disk / "o/Bag.rollout.png"), good);
    fs::remove(disk / ".filler");
    write_file(disk / "o/Coat.rollout.png", "");  // an empty overlay, as an unchecked writer left them
    auto resumed = run_cli({"explain", "--scale", "8", "--resume", "--out", disk / "o", sample("Bag"), sample("Coat")});
    ASSERT_EQ(resumed.code, 0) << resumed.err;
    EXPECT_NE(resumed.err.find("1 of 2 overlays already in"), std::string::npos) << resumed.err;
    EXPECT_TRUE(output_decodes(disk / "o/Coat.rollout.png"));
}

TEST(FullDisk, StreamVideoIsNotMovedIntoPlaceCut) {
    SmallDisk disk(64);
    if (!disk.ok()) GTEST_SKIP() << disk.why();
    TempDir t;
    // the issue's case: a 640x480 recording cut at 64 KiB (an AVI without its index still seeks "fine")
    ASSERT_EQ(run_shell("'" + std::string(VITLENS_MAKE_VIDEO) + "' '" + (t / "in.avi") + "' --frames 300 --size 640x480 '" +
                        sample("Bag") + "' >/dev/null"), 0);
    auto r = run_cli({"stream", "--source", t / "in.avi", "--no-pace", "--out", disk / "s.avi"});
    EXPECT_EQ(r.code, 5) << r.err;
    EXPECT_NE(r.err.find("could not be written whole"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(disk / "s.avi"));
    EXPECT_TRUE(fs::is_empty(disk.path()));
}

TEST(FullDisk, PullIsAnOutputErrorAndKeepsThePartForResume) {
    SmallDisk disk(128);  // the fixture's weights are larger
    if (!disk.ok()) GTEST_SKIP() << disk.why();
    FakeHub hub;
    auto r = run_cli({"pull", "org/vit"}, hub_env(hub, disk.path()));
    EXPECT_EQ(r.code, 5) << r.err;
    EXPECT_NE(r.err.find("No space left on device"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(disk / ("models--org--vit/blobs/" + model_sha())));
    EXPECT_TRUE(fs::exists(disk / ("models--org--vit/blobs/" + model_sha() + ".incomplete")));
}

// --- targets that are not regular files --------------------------------

TEST(Targets, ALinkIsFollowedAndStaysALink) {
    TempDir t;
    ASSERT_EQ(run_shell("'" + std::string(VITLENS_MAKE_VIDEO) + "' '" + (t / "in.avi") + "' --frames 5 --size 64x64 >/dev/null"), 0);
    write_file(t / "real.jsonl", "old\n");
    fs::create_symlink(t / "real.jsonl", t / "link.jsonl");
    auto r = run_cli({"stream", "--source", t / "in.avi", "--jsonl", t / "link.jsonl", "--overwrite"});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(fs::is_symlink(t / "link.jsonl"));
    EXPECT_NE(read_file(t / "real.jsonl").find("\"frame\": 4"), std::string::npos);
    // a link to the process's stdout: written through, the link kept
    fs::create_symlink("/proc/self/fd/1", t / "out.jsonl");
    auto s = run_cli({"stream", "--source", t / "in.avi", "--jsonl", t / "out.jsonl", "--overwrite"});
    ASSERT_EQ(s.code, 0) << s.err;
    EXPECT_TRUE(fs::is_symlink(t / "out.jsonl"));
    EXPECT_NE(s.out.find("{\"frame\": 0"), std::string::npos) << s.out;
    // an overlay through a link to a file: the file is replaced, the link stays
    write_file(t / "real.png", "x");
    fs::create_symlink(t / "real.png", t / "ov.png");
    write_image_atomic(t / "ov.png", cv::Mat(4, 4, CV_8UC3, cv::Scalar(1, 2, 3)));
    EXPECT_TRUE(fs::is_symlink(t / "ov.png"));
    EXPECT_TRUE(output_decodes(t / "real.png"));
}

TEST(Targets, AFifoIsWrittenStraightThroughAndStaysAFifo) {
    TempDir t;
    ASSERT_EQ(run_shell("'" + std::string(VITLENS_MAKE_VIDEO) + "' '" + (t / "in.avi") + "' --frames 5 --size 64x64 >/dev/null"), 0);
    ASSERT_EQ(::mkfifo((t / "f.jsonl").c_str(), 0600), 0);
    std::string got;
    std::thread reader([&] {  // open blocks until the writer comes
        try {
            got = read_file(t / "f.jsonl");
        } catch (...) {
        }
    });
    auto r = run_cli({"stream", "--source", t / "in.avi", "--jsonl", t / "f.jsonl"});
    const int release = ::open((t / "f.jsonl").c_str(), O_WRONLY | O_NONBLOCK);  // a reader still waiting ends now
    if (release >= 0) ::close(release);
    reader.join();
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_NE(got.find("\"frame\": 4"), std::string::npos) << got;
    struct stat st {};
    ASSERT_EQ(::lstat((t / "f.jsonl").c_str(), &st), 0);
    EXPECT_TRUE(S_ISFIFO(st.st_mode));
    // a video needs a seekable regular file: refused before anything runs
    ASSERT_EQ(::mkfifo((t / "v.avi").c_str(), 0600), 0);
    auto fifo_video = run_cli({"stream", "--source", t / "in.avi", "--out", t / "v.avi"});
    EXPECT_EQ(fifo_video.code, 5) << fifo_video.err;
    EXPECT_NE(fifo_video.err.find("not a regular file"), std::string::npos) << fifo_video.err;
}

TEST(Targets, ADeviceStaysADeviceAndADirectoryIsRefused) {
    TempDir t;
    ASSERT_EQ(run_shell("'" + std::string(VITLENS_MAKE_VIDEO) + "' '" + (t / "in.avi") + "' --frames 3 --size 64x64 >/dev/null"), 0);
    auto full = run_cli({"stream", "--source", t / "in.avi", "--jsonl", "/dev/full", "--overwrite"});
    EXPECT_EQ(full.code, 5) << full.err;
    EXPECT_NE(full.err.find("/dev/full: cannot write (No space left on device)"), std::string::npos) << full.err;
    struct stat st {};
    ASSERT_EQ(::stat("/dev/full", &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode));
    auto dir = run_cli({"stream", "--source", t / "in.avi", "--jsonl", t.path()});
    EXPECT_EQ(dir.code, 5) << dir.err;
    EXPECT_NE(dir.err.find("is a directory"), std::string::npos) << dir.err;
}

TEST(Targets, StdoutThatCannotBeWrittenIsExit5) {
    FakeHub hub;
    TempDir cache;
    ASSERT_EQ(run_cli({"pull", "org/vit"}, hub_env(hub, cache.path())).code, 0);
    const std::string q = "'" + bin() + "' ";
    for (const std::string& cmd : {q + "info", q + "explain " + sample("Bag"), q + "classify " + sample("Bag"),
                                   hub_env(hub, cache.path()) + " " + q + "pull org/vit", q + "--help"})
        EXPECT_EQ(run_shell(cmd + " >/dev/full 2>/dev/null"), 5) << cmd;
}

// --- a hub that lies -----------------------------------------------------

TEST(HostileHub, AnIndexThatNamesItselfEndsAtOnce) {
    FakeHub hub;
    TempDir cache;
    auto files = FakeHub::sharded({});
    files["config.json"] = {read_file(fixture("hf_vit_f32/config.json"))};
    files["model.safetensors.index.json"] = {R"({"weight_map": {"a": "model.safetensors.index.json"}})"};
    hub.add_repo("org/loop", files);
    const auto t0 = std::chrono::steady_clock::now();
    auto r = run_cli({"pull", "org/loop"}, hub_env(hub, cache.path()));
    EXPECT_EQ(r.code, 3) << r.err;
    EXPECT_NE(r.err.find("as a shard of weights"), std::string::npos) << r.err;
    EXPECT_LT(hub.requests().size(), 10u);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(20));
}

TEST(HostileHub, UnsafeShardNamesAreRefused) {
    for (const std::string name : {"./././model-1.safetensors", "a/../../x.safetensors", "a//b.safetensors", "/etc/x"}) {
        FakeHub hub;
        TempDir cache;
        std::map<std::string, FakeHub::File> files;
        files["config.json"] = {read_file(fixture("hf_vit_f32/config.json"))};
        files["model.safetensors.index.json"] = {nlohmann::json{{"weight_map", {{"a", name}}}}.dump()};
        hub.add_repo("org/dots", files);
        auto r = run_cli({"pull", "org/dots"}, hub_env(hub, cache.path()));
        EXPECT_EQ(r.code, 3) << name << ": " << r.err;
        EXPECT_NE(r.err.find("unsafe file"), std::string::npos) << r.err;
        EXPECT_FALSE(fs::exists(cache / "models--org--dots/snapshots/" + kCommit + "/model-1.safetensors"));
    }
}

TEST(HostileHub, EtagsThatAreNotTokensAreRefused) {
    for (const std::string etag : {"\".\"", "\"..\"", "\"a/b\"", "\"\""}) {
        FakeHub hub;
        TempDir cache;
        hub.set_tamper([&](const HttpRequest&, HttpResponse& res) {
            for (auto& [k, v] : res.headers)
                if (k == "ETag") v = etag;
        });
        auto r = run_cli({"pull", "org/vit"}, hub_env(hub, cache.path()));
        EXPECT_EQ(r.code, 4) << etag << ": " << r.err;
        EXPECT_NE(r.err.find("no usable ETag"), std::string::npos) << r.err;
        EXPECT_FALSE(fs::exists(cache / "models--org--vit/blobs")) << etag;
    }
}

TEST(HostileHub, FileNamesArePercentEncoded) {
    FakeHub hub;
    TempDir cache;
    auto files = FakeHub::sharded(std::map<std::string, FakeHub::File>{{"config.json", {read_file(fixture("hf_vit_f32/config.json"))}}});
    nlohmann::json index = nlohmann::json::parse(files["model.safetensors.index.json"].body);
    std::map<std::string, FakeHub::File> renamed = {{"config.json", files["config.json"]}};
    for (auto& [tensor, file] : index["weight_map"].items()) {
        const std::string old = file.get<std::string>(), now = "shard #" + old.substr(6, 5) + "?.safetensors";
        renamed[now] = files[old];
        file = now;
    }
    renamed["model.safetensors.index.json"] = {index.dump()};
    hub.add_repo("org/spaces", renamed);
    auto r = run_cli({"pull", "org/spaces"}, hub_env(hub, cache.path()));
    ASSERT_EQ(r.code, 0) << r.err;
    bool encoded = false;
    for (const HttpRequest& q : hub.requests()) encoded |= q.path.find("shard%20%2300001%3F.safetensors") != std::string::npos;
    EXPECT_TRUE(encoded);
    auto c = run_cli({"classify", "--model", "org/spaces", fixture("images")}, hub_env(hub, cache.path(), "HF_HUB_OFFLINE=1"));
    EXPECT_EQ(c.code, 0) << c.err;
}

TEST(HostileHub, RevisionsAreCheckedAsGitRefs) {
    FakeHub hub;
    TempDir cache;
    for (const std::string rev : {"main/", "a..b", "x.lock", ".hidden", "a//b", "a b", "a:b"}) {
        auto r = run_cli({"pull", "org/vit@" + rev}, hub_env(hub, cache.path()));
        EXPECT_EQ(r.code, 1) << rev << ": " << r.err;
    }
    EXPECT_TRUE(hub.requests().empty());
    EXPECT_FALSE(fs::exists(cache / "models--org--vit"));
}

TEST(HostileHub, ABodyLargerThanAnnouncedIsStopped) {
    FakeHub hub;
    TempDir cache;
    hub.set_tamper([](const HttpRequest& q, HttpResponse& res) {
        if (q.method == "GET" && q.path.find("config.json") != std::string::npos) res.body += std::string(8 << 20, 'x');
    });
    auto r = run_cli({"pull", "org/vit"}, hub_env(hub, cache.path()));
    EXPECT_EQ(r.code, 4) << r.err;
    EXPECT_NE(r.err.find("more than the"), std::string::npos) << r.err;
    uint64_t bytes = 0;
    for (const auto& e : fs::recursive_directory_iterator(cache.path()))
        if (e.is_regular_file()) bytes += e.file_size();
    EXPECT_LT(bytes, 1u << 20);  // stopped at the announced size, not after 8 MB
}

TEST(HostileHub, ATrickleTimesOut) {
    FakeHub hub;
    TempDir cache;
    hub.set_tamper([](const HttpRequest& q, HttpResponse& res) {
        if (q.method == "GET" && q.path.rfind("/cdn/", 0) == 0) res.trickle_bytes_per_s = 4;
    });
    const auto t0 = std::chrono::steady_clock::now();
    auto r = run_cli({"pull", "org/vit"}, hub_env(hub, cache.path(), "HF_HUB_DOWNLOAD_TIMEOUT=2"));
    EXPECT_EQ(r.code, 4) << r.err;
    EXPECT_NE(r.err.find("stalled"), std::string::npos) << r.err;
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(15));
    auto bad = run_cli({"pull", "org/vit"}, hub_env(hub, cache.path(), "HF_HUB_DOWNLOAD_TIMEOUT=soon"));
    EXPECT_EQ(bad.code, 1) << bad.err;
}

TEST(HostileHub, CredentialsInTheEndpointAreNeverPrinted) {
    TempDir cache;
    auto r = run_cli({"pull", "org/vit"}, "env -u HF_TOKEN HF_HUB_CACHE='" + cache.path() +
                                              "' HF_ENDPOINT=http://alice:s3cret@127.0.0.1:9");
    EXPECT_EQ(r.code, 4) << r.err;
    EXPECT_EQ(r.err.find("s3cret"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("***@127.0.0.1:9"), std::string::npos) << r.err;
}

// --- a shared cache with planted links ----------------------------------

TEST(PlantedCache, APartFileLinkIsNeverAppendedTo) {
    FakeHub hub;
    TempDir cache, outside;
    write_file(outside / "victim", "precious\n");
    fs::create_directories(cache / "models--org--vit/blobs");
    fs::create_symlink(outside / "victim", cache / ("models--org--vit/blobs/" + model_sha() + ".incomplete"));
    auto r = run_cli({"pull", "org/vit"}, hub_env(hub, cache.path()));
    EXPECT_EQ(r.code, 5) << r.err;
    EXPECT_NE(r.err.find("symbolic link"), std::string::npos) << r.err;
    EXPECT_EQ(read_file(outside / "victim"), "precious\n");
}

TEST(PlantedCache, ASnapshotLinkOutsideTheCacheIsRefused) {
    FakeHub hub;
    TempDir cache, outside;
    write_file(outside / "config.json", "my own file\n");
    fs::create_directories(cache / "models--org--vit/snapshots");
    fs::create_directory_symlink(outside.path(), cache / ("models--org--vit/snapshots/" + kCommit));
    auto r = run_cli({"pull", "org/vit"}, hub_env(hub, cache.path()));
    EXPECT_EQ(r.code, 5) << r.err;
    EXPECT_NE(r.err.find("outside the cache root"), std::string::npos) << r.err;
    EXPECT_EQ(read_file(outside / "config.json"), "my own file\n");
    EXPECT_FALSE(fs::is_symlink(outside / "config.json"));
    fs::create_directories(cache / "models--org--vit/refs");
    write_file(cache / "models--org--vit/refs/main", kCommit);
    auto load = run_cli({"classify", "--model", "org/vit", fixture("images")}, hub_env(hub, cache.path(), "HF_HUB_OFFLINE=1"));
    EXPECT_EQ(load.code, 3) << load.err;
    EXPECT_NE(load.err.find("outside the cache root"), std::string::npos) << load.err;
    // a file link of the snapshot that leads out of the cache is refused too, and so is a ref that does
    fs::remove(cache / ("models--org--vit/snapshots/" + kCommit));
    fs::create_directories(cache / ("models--org--vit/snapshots/" + kCommit));
    fs::create_symlink(outside / "config.json", cache / ("models--org--vit/snapshots/" + kCommit + "/config.json"));
    auto file = run_cli({"classify", "--model", "org/vit", fixture("images")}, hub_env(hub, cache.path(), "HF_HUB_OFFLINE=1"));
    EXPECT_EQ(file.code, 3) << file.err;
    EXPECT_NE(file.err.find("outside the cache root"), std::string::npos) << file.err;
    write_file(outside / "ref", kCommit);
    fs::remove(cache / "models--org--vit/refs/main");
    fs::create_symlink(outside / "ref", cache / "models--org--vit/refs/main");
    auto ref = run_cli({"classify", "--model", "org/vit", fixture("images")}, hub_env(hub, cache.path(), "HF_HUB_OFFLINE=1"));
    EXPECT_EQ(ref.code, 3) << ref.err;
    EXPECT_NE(ref.err.find("outside the cache root"), std::string::npos) << ref.err;
}

TEST(PlantedCache, ABlobThatIsALinkIsRefused) {
    FakeHub hub;
    TempDir cache, outside;
    write_file(outside / "evil.safetensors", "not weights");
    fs::create_directories(cache / "models--org--vit/blobs");
    fs::create_symlink(outside / "evil.safetensors", cache / ("models--org--vit/blobs/" + model_sha()));
    auto r = run_cli({"pull", "org/vit"}, hub_env(hub, cache.path()));
    EXPECT_EQ(r.code, 5) << r.err;
    EXPECT_NE(r.err.find("not a regular file"), std::string::npos) << r.err;
    EXPECT_EQ(read_file(outside / "evil.safetensors"), "not weights");
}

// --- inputs that are not files ------------------------------------------

TEST(Inputs, FifosAsModelFilesAreRefusedWithoutBlocking) {
    for (const std::string f : {"config.json", "model.safetensors", "preprocessor_config.json"}) {
        TempDir t;
        copy_dir(fixture("hf_vit_f32"), t / "m");
        fs::remove(t / ("m/" + f));
        ASSERT_EQ(::mkfifo((t / ("m/" + f)).c_str(), 0600), 0);
        auto r = run_cli({"classify", "--model", t / "m", fixture("images")}, "timeout 60");
        EXPECT_EQ(r.code, 3) << f << ": " << r.err;
        EXPECT_NE(r.err.find("is a FIFO, not a regular file"), std::string::npos) << r.err;
    }
}

TEST(Inputs, ResumeFilesAndImagesThatAreNotFilesAreRefused) {
    auto zero = run_cli({"classify", "--format", "jsonl", "--resume", "-o", "/dev/zero", sample("Bag")}, "timeout 60");
    EXPECT_EQ(zero.code, 1) << zero.err;
    EXPECT_NE(zero.err.find("character device"), std::string::npos) << zero.err;
    TempDir t;
    ASSERT_EQ(::mkfifo((t / "x.png").c_str(), 0600), 0);
    auto img = run_cli({"classify", t / "x.png"}, "timeout 60");
    EXPECT_EQ(img.code, 2) << img.err;
    EXPECT_NE(img.err.find("FIFO"), std::string::npos) << img.err;
}

TEST(Inputs, EmbedResumeWithoutItsIndexChangesNothing) {
    TempDir t;
    ASSERT_EQ(run_cli({"embed", "-o", t / "f.npy", samples()}).code, 0);
    const std::string before = read_file(t / "f.cls.npy");
    fs::remove(t / "f.jsonl");
    auto r = run_cli({"embed", "--resume", "-o", t / "f.npy", samples()});
    EXPECT_EQ(r.code, 5) << r.err;
    EXPECT_NE(r.err.find("f.jsonl, which does not exist"), std::string::npos) << r.err;
    EXPECT_EQ(read_file(t / "f.cls.npy"), before);
}

TEST(Inputs, ASizeThatCannotFitIsRefusedWithTheEstimate) {
    TempDir t;  // a 16 GB machine, whatever this one has; the old output is kept
    write_file(t / "r.jsonl", "{\"image\": \"old\"}\n");
    auto r = run_cli({"classify", "--input-size", "1020x1020", "--overwrite", "--format", "jsonl", "-o", t / "r.jsonl",
                      sample("Bag")}, "VITLENS_MEMORY_BYTES=16000000000");
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_EQ(read_file(t / "r.jsonl"), "{\"image\": \"old\"}\n");
    EXPECT_NE(r.err.find("65026 tokens"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(" GB"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("--input-size"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("internal error"), std::string::npos) << r.err;
    auto m = run_cli({"explain", "--input-size", "256", sample("Bag")}, "VITLENS_MEMORY_BYTES=100000000");
    EXPECT_EQ(m.code, 1) << m.err;
    EXPECT_NE(m.err.find("every layer's attention"), std::string::npos) << m.err;
}

// --- two inputs, one name; records that resume -----------------------------

TEST(Outputs, InputsOfOneNameInTwoFoldersGetTwoOverlays) {
    TempDir t;
    fs::create_directories(t / "a");
    fs::create_directories(t / "b");
    fs::copy_file(sample("Bag"), t / "a/x.png");
    fs::copy_file(sample("Coat"), t / "b/x.png");
    auto r = run_cli({"explain", "--out", t / "o", t / "a/x.png", t / "b/x.png"});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(output_decodes(t / "o/a/x.rollout.png"));
    EXPECT_TRUE(output_decodes(t / "o/b/x.rollout.png"));
    auto folder = run_cli({"explain", "--out", t / "p", t.path()});
    ASSERT_EQ(folder.code, 0) << folder.err;
    EXPECT_TRUE(fs::exists(t / "p/a/x.rollout.png"));
    auto resumed = run_cli({"explain", "--resume", "--out", t / "o", t / "a/x.png", t / "b/x.png"});
    ASSERT_EQ(resumed.code, 0) << resumed.err;
    EXPECT_NE(resumed.err.find("2 of 2 overlays already"), std::string::npos) << resumed.err;
    fs::copy_file(sample("Bag"), t / "a/y.png");
    fs::copy_file(sample("Bag"), t / "a/y.jpg");
    auto clash = run_cli({"explain", "--out", t / "q", t / "a/y.png", t / "a/y.jpg"});
    EXPECT_EQ(clash.code, 2) << clash.err;
    EXPECT_NE(clash.err.find("belong to"), std::string::npos) << clash.err;
    auto clash_resumed = run_cli({"explain", "--resume", "--out", t / "q", t / "a/y.png", t / "a/y.jpg"});
    EXPECT_EQ(clash_resumed.code, 2) << clash_resumed.err;  // still an error, never "done"
    EXPECT_NE(clash_resumed.err.find("belong to"), std::string::npos) << clash_resumed.err;
}

TEST(Outputs, ResumeDropsInvalidRecordsAndKeepsNamesWithNewlines) {
    TempDir t;
    fs::create_directories(t / "in");
    fs::copy_file(sample("Bag"), t / "in/a.png");
    fs::copy_file(sample("Coat"), t / "in/b\nc.png");
    fs::copy_file(sample("Dress"), t / "in/d.png");
    ASSERT_EQ(run_cli({"classify", "--format", "csv", "-o", t / "r.csv", t / "in"}).code, 0);
    for (int i = 0; i < 2; ++i) {
        auto r = run_cli({"classify", "--format", "csv", "--resume", "-o", t / "r.csv", t / "in"});
        ASSERT_EQ(r.code, 0) << r.err;
        EXPECT_NE(r.err.find("3 of 3 images already"), std::string::npos) << r.err;
    }
    ASSERT_EQ(run_cli({"classify", "--format", "jsonl", "-o", t / "r.jsonl", t / "in"}).code, 0);
    std::string text = read_file(t / "r.jsonl");
    const size_t first = text.find('\n') + 1;
    write_file(t / "r.jsonl", text.substr(0, first) + "not a record\n" + text.substr(first));
    auto r = run_cli({"classify", "--format", "jsonl", "--resume", "-o", t / "r.jsonl", t / "in"});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.err.find("is not a jsonl record"), std::string::npos) << r.err;
    const std::string after = read_file(t / "r.jsonl");
    EXPECT_EQ(after.find("not a record"), std::string::npos);
    EXPECT_EQ(std::count(after.begin(), after.end(), '\n'), 3) << after;
}

TEST(Outputs, ACutVideoInputIsReported) {
    TempDir t;
    ASSERT_EQ(run_shell("'" + std::string(VITLENS_MAKE_VIDEO) + "' '" + (t / "in.avi") + "' --frames 60 --size 320x240 >/dev/null"), 0);
    const std::string whole = read_file(t / "in.avi");
    write_file(t / "cut.avi", whole.substr(0, whole.size() / 2));
    auto r = run_cli({"stream", "--source", t / "cut.avi"});
    EXPECT_EQ(r.code, 4) << r.err;
    EXPECT_NE(r.err.find("of the 60 frames its container lists"), std::string::npos) << r.err;
}

TEST(Outputs, ProgressLinesAreNotRepeated) {
    TempDir t;  // progress is shown from 51 inputs on
    fs::create_directories(t / "in");
    for (int i = 0; i < 60; ++i) fs::create_symlink(sample("Bag"), t / ("in/x" + std::to_string(i) + ".png"));
    auto r = run_cli({"classify", "-o", t / "r.jsonl", "--format", "jsonl", "-b", "1", t / "in"});
    ASSERT_EQ(r.code, 0) << r.err;
    size_t n = 0;
    for (size_t p = r.err.find("60/60"); p != std::string::npos; p = r.err.find("60/60", p + 1)) ++n;
    EXPECT_EQ(n, 1u) << r.err;
}

TEST(Targets, AReaderThatLeftIsAnOutputErrorNotASilentDeath) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    ::close(fds[0]);  // nobody will ever read: every write is EPIPE (SIGPIPE is ignored)
    TempDir t;
    const int rc = run_shell("'" + bin() + "' classify '" + samples() + "' 1>&" + std::to_string(fds[1]) + " 2>'" +
                             (t / "err") + "'");
    ::close(fds[1]);
    EXPECT_EQ(rc, 5) << read_file(t / "err");
    EXPECT_NE(read_file(t / "err").find("Broken pipe"), std::string::npos) << read_file(t / "err");
}

TEST(HostileHub, AFileWithNoAnnouncedSizeIsRefused) {
    FakeHub hub;
    TempDir cache;
    hub.set_tamper([](const HttpRequest& q, HttpResponse& res) {
        if (q.method == "HEAD") std::erase_if(res.headers, [](const auto& h) { return h.first == "X-Linked-Size"; });
    });
    auto r = run_cli({"pull", "org/vit"}, hub_env(hub, cache.path()));
    EXPECT_EQ(r.code, 4) << r.err;
    EXPECT_NE(r.err.find("announced no size for model.safetensors"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(cache / ("models--org--vit/blobs/" + model_sha())));
}
