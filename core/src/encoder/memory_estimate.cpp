#include "vitlens/encoder/memory_estimate.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "vitlens/encoder/encoder.h"

namespace vitlens {

namespace {

// Bytes as double (no wrap at any size), saturated into uint64_t.
uint64_t bytes_of(double floats, double width = 4) {
    const double b = floats * width;
    return b >= 1.8e19 ? UINT64_MAX : uint64_t(b);
}

uint64_t meminfo_kb(const char* key) {
    std::ifstream f("/proc/meminfo");
    std::string k;
    uint64_t v = 0;
    std::string unit;
    while (f >> k >> v >> unit)
        if (k == key) return v * 1024;
    return 0;
}

uint64_t resident_bytes() {
    std::ifstream f("/proc/self/statm");
    uint64_t size = 0, resident = 0;
    f >> size >> resident;
    return resident * uint64_t(::sysconf(_SC_PAGESIZE));
}

// What the cgroup (v2) still allows, plus what the process holds; UINT64_MAX when unlimited.
uint64_t cgroup_room() {
    std::ifstream mx("/sys/fs/cgroup/memory.max"), cur("/sys/fs/cgroup/memory.current");
    uint64_t limit = 0, used = 0;
    if (!(mx >> limit) || !(cur >> used)) return UINT64_MAX;  // "max", or no cgroup v2
    return (limit > used ? limit - used : 0) + resident_bytes();
}

}  // namespace

MemoryEstimate estimate_memory(const ModelSpec& s, int batch, Precision p, MapNeed need) {
    const double B = batch, T = double(s.tokens()), D = s.hidden, H = s.heads, L = s.layers, F = s.mlp,
                 N = double(s.patches()), M = B * T;
    const bool bf16 = p == Precision::BF16;
    MemoryEstimate e;
    // f32 weights while loading plus the copy the primitives read (bf16: 2 bytes, int8: 1).
    e.weights = bytes_of(double(s.parameters()), bf16 ? 6 : p == Precision::Int8 ? 5 : 4);
    const double scores = B * H * T * T;  // f32 scores; bf16 adds their bf16 probabilities
    e.attention = bytes_of(scores, bf16 ? 6 : 4);
    const bool int8 = p == Precision::Int8;
    // x, h, qkv, ctx, the MLP's middle (int8: u8 with a scale per row), patch embedding
    const double rows = M * (2 * D + 3 * D + D + (int8 ? 0 : F)) + B * N * D;
    e.activations = e.attention + bytes_of(rows, bf16 ? 3 : 4);
    if (int8) {  // the quantised middle, and one row tile's input, scales, s32 sums and f32 values (int8.h)
        const double R = std::min(M, 128.0) /* Int8Linear::kTileRows */, widest = std::max(3 * D, F);
        e.activations += bytes_of(M * F + 4 * M + R * (F + 4) + R * 8 * widest, 1);
    }
    if (need != MapNeed::None) e.maps = bytes_of(L * scores + L * M);  // attention (L, B, H, T, T), norms (L, B, T)
    if (need == MapNeed::Gradients)  // the gradient of the attention, block inputs and QKV, the backward scratch
        e.maps = bytes_of(2 * L * scores + L * M + L * M * 5 * D + M * (6 * D + 2 * F) + scores);
    return e;
}

uint64_t available_memory() {
    if (const char* v = std::getenv("VITLENS_MEMORY_BYTES"); v && *v) return std::strtoull(v, nullptr, 10);
    uint64_t avail = meminfo_kb("MemAvailable:");
    avail = avail ? avail + resident_bytes() : uint64_t(::sysconf(_SC_PHYS_PAGES)) * uint64_t(::sysconf(_SC_PAGESIZE));
    return std::min(avail, cgroup_room());
}

std::string gigabytes(uint64_t bytes) {
    char b[32];
    if (bytes < 1'000'000'000) std::snprintf(b, sizeof b, "%.0f MB", double(bytes) / 1e6);
    else std::snprintf(b, sizeof b, "%.1f GB", double(bytes) / 1e9);
    return b;
}

void require_memory(const ModelSpec& s, int batch, Precision p, MapNeed need) {
    const MemoryEstimate e = estimate_memory(s, batch, p, need);
    const uint64_t have = available_memory();
    if (e.total() <= have) return;
    const char* what = need == MapNeed::None ? "" : need == MapNeed::Capture ? " with every layer's attention kept"
                                                                              : " with the attribution's gradients";
    throw MemoryError(s.dir + ": at " + std::to_string(s.image_w) + "x" + std::to_string(s.image_h) + " (" +
                      std::to_string(s.tokens()) + " tokens), batch " + std::to_string(batch) + what +
                      ", this run needs an estimated " + gigabytes(e.total()) + " (attention scores " +
                      gigabytes(e.attention) + ", maps " + gigabytes(e.maps) + ", weights " + gigabytes(e.weights) +
                      ") and " + gigabytes(have) + " is available");
}

}  // namespace vitlens
