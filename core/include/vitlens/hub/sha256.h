// SHA-256 (FIPS 180-4), to check downloaded files against the hub's LFS
// object ids.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace vitlens {

class Sha256 {
public:
    Sha256();
    void update(const void* data, size_t n);
    std::string hex();  // finishes: 64 lowercase hex digits

private:
    void block(const uint8_t* p);
    uint32_t h_[8];
    uint8_t buf_[64];
    size_t used_ = 0;
    uint64_t bits_ = 0;
};

// The SHA-256 of a file, in hex; throws InputError when it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace vitlens
