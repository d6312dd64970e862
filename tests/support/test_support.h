// Helpers shared by the test suites: fixture paths, expected outputs,
// running the CLI, building safetensors files in memory.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace vitlens::test {

std::string fixture(const std::string& rel);  // VITLENS_FIXTURES/rel
const nlohmann::json& expected();             // fixtures/expected.json
std::vector<std::string> fixture_models();    // hf_vit_f32, ...

struct RunResult {
    int code = -1;
    std::string out, err;
};
// Runs build/bin/vitlens with `args` (shell-quoted here), capturing output.
RunResult run_cli(const std::vector<std::string>& args, const std::string& env = "");

// A temporary directory removed at destruction.
class TempDir {
public:
    TempDir();
    ~TempDir();
    const std::string& path() const { return path_; }
    std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

private:
    std::string path_;
};

void write_file(const std::string& path, const std::string& bytes);
std::string read_file(const std::string& path);

// Serialises tensors (F32 data given as floats) into safetensors bytes;
// `header_override`, if not empty, replaces the JSON header verbatim.
struct StTensor {
    std::string name, dtype = "F32";
    std::vector<int64_t> shape;
    std::vector<float> values;  // converted to dtype when F16/BF16
};
std::string make_safetensors(const std::vector<StTensor>& tensors, const std::string& header_override = "");
std::string make_safetensors_raw(const std::string& header, const std::string& data);

// A TCP server on 127.0.0.1 (a free port) that accepts connections and
// never answers: a URL source that never opens.
class SilentServer {
public:
    SilentServer();
    ~SilentServer();
    const std::string& url() const { return url_; }  // http://127.0.0.1:PORT/stream.mjpg

private:
    int fd_ = -1;
    std::string url_;
};

// A tmpfs of `kib` KiB mounted on a fresh folder, unmounted at destruction:
// a full disk on demand. Mounting needs root (CI runs as root); elsewhere
// ok() is false and why() says so, for the test to skip with that reason.
class SmallDisk {
public:
    explicit SmallDisk(int kib);
    ~SmallDisk();
    bool ok() const { return ok_; }
    const std::string& why() const { return why_; }
    std::string operator/(const std::string& rel) const { return dir_.path() + "/" + rel; }
    const std::string& path() const { return dir_.path(); }
    void fill();  // takes every free byte

private:
    TempDir dir_;
    bool ok_ = false;
    std::string why_;
};

// Runs a shell command line; returns its exit status (128 + signal).
int run_shell(const std::string& cmd);

// Copies a fixture model directory to `dst` (to edit it in a test).
void copy_dir(const std::string& src, const std::string& dst);

}  // namespace vitlens::test
