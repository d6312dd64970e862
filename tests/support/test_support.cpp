#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include "test_support.h"

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace vitlens::test {

namespace fs = std::filesystem;

std::string fixture(const std::string& rel) { return std::string(VITLENS_FIXTURES) + "/" + rel; }

const nlohmann::json& expected() {
    static const nlohmann::json j = nlohmann::json::parse(read_file(fixture("expected.json")));
    return j;
}

std::vector<std::string> fixture_models() {
    std::vector<std::string> out;
    for (auto& [k, v] : expected()["models"].items()) out.push_back(k);
    return out;
}

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::runtime_error("cannot read " + path);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

void write_file(const std::string& path, const std::string& bytes) {
    std::ofstream f(path, std::ios::binary);
    f << bytes;
    if (!f) throw std::runtime_error("cannot write " + path);
}

static std::string quote(const std::string& s) {
    std::string o = "'";
    for (char c : s) {
        if (c == '\'') o += "'\\''";
        else o += c;
    }
    return o + "'";
}

RunResult run_cli(const std::vector<std::string>& args, const std::string& env) {
    TempDir t;
    std::string cmd = env + " " + quote(VITLENS_BIN);
    for (const auto& a : args) cmd += " " + quote(a);
    cmd += " >" + quote(t / "out") + " 2>" + quote(t / "err") + " </dev/null";
    int st = std::system(cmd.c_str());
    RunResult r;
    r.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    r.out = read_file(t / "out");
    r.err = read_file(t / "err");
    return r;
}

SmallDisk::SmallDisk(int kib) {
    const std::string cmd = "mount -t tmpfs -o size=" + std::to_string(kib) + "k vitlens-test '" + dir_.path() + "' 2>/dev/null";
    ok_ = ::geteuid() == 0 && std::system(cmd.c_str()) == 0;
    if (!ok_) why_ = "SKIPPED: a full disk needs a small tmpfs, and mounting one needs root (CI runs as root)";
}

SmallDisk::~SmallDisk() {
    if (ok_) std::system(("umount -l '" + dir_.path() + "'").c_str());
}

void SmallDisk::fill() {
    std::system(("dd if=/dev/zero of='" + dir_.path() + "/.filler' bs=4k 2>/dev/null").c_str());
}

int run_shell(const std::string& cmd) {
    const int st = std::system(cmd.c_str());
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

TempDir::TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "vitlens-test-XXXXXX").string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!::mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed");
    path_ = buf.data();
}

TempDir::~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
}

static uint16_t f32_to_bf16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    u += 0x7fff + ((u >> 16) & 1);
    return uint16_t(u >> 16);
}

static uint16_t f32_to_f16(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000, mant = x & 0x7fffff;
    int exp = int((x >> 23) & 0xff) - 127 + 15;
    if (exp <= 0) return uint16_t(sign);
    if (exp >= 31) return uint16_t(sign | 0x7c00);
    return uint16_t(sign | (exp << 10) | (mant >> 13));
}

std::string make_safetensors_raw(const std::string& header, const std::string& data) {
    std::string out(8, '\0');
    uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) out[i] = char((n >> (8 * i)) & 0xff);
    return out + header + data;
}

std::string make_safetensors(const std::vector<StTensor>& tensors, const std::string& header_override) {
    nlohmann::json h = nlohmann::json::object();
    std::string data;
    for (const auto& t : tensors) {
        size_t begin = data.size();
        for (float v : t.values) {
            if (t.dtype == "F32") data.append(reinterpret_cast<const char*>(&v), 4);
            else {
                uint16_t b = t.dtype == "BF16" ? f32_to_bf16(v) : f32_to_f16(v);
                data.append(reinterpret_cast<const char*>(&b), 2);
            }
        }
        h[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {begin, data.size()}}};
    }
    if (!header_override.empty()) return make_safetensors_raw(header_override, data);
    std::string header = h.dump();
    header.append((8 - header.size() % 8) % 8, ' ');  // as the reference writer pads: 8-aligned data
    return make_safetensors_raw(header, data);
}

void copy_dir(const std::string& src, const std::string& dst) {
    fs::create_directories(dst);
    fs::copy(src, dst, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
}

SilentServer::SilentServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 4) != 0)
        throw std::runtime_error("SilentServer: cannot listen on 127.0.0.1");
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    url_ = "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/stream.mjpg";
}

SilentServer::~SilentServer() {
    if (fd_ >= 0) ::close(fd_);
}

}  // namespace vitlens::test
