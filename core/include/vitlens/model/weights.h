// Safetensors reading: the file is memory-mapped and every header field is
// validated before use (header length bounded by the file, offsets inside the
// data section, no overlaps, shape x dtype size == byte length).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "vitlens/model/tensor.h"

namespace vitlens {

enum class DType { F32, F16, BF16, Other };

const char* dtype_name(DType t);

struct TensorInfo {
    std::string name;
    DType dtype = DType::F32;
    std::string dtype_str;         // as written in the header ("F32", "I64", ...)
    std::vector<int64_t> shape;
    uint64_t begin = 0, end = 0;   // byte offsets inside the data section
    const uint8_t* section = nullptr;  // that data section (its shard's, for a sharded checkpoint)
};

// Limits applied while parsing a header; a header over them is refused
// before anything is allocated for it.
struct SafetensorsLimits {
    uint64_t max_header_bytes = 100ull << 20;  // 100 MiB of JSON
    uint64_t max_tensors = 100000;
    int max_rank = 8;
};

class SafeTensors {
public:
    // Maps and validates `path`. Throws ModelError naming the file and problem.
    explicit SafeTensors(const std::string& path, SafetensorsLimits limits = {});
    // Validates an in-memory copy (used by the fuzzer and tests); `bytes` is copied.
    static SafeTensors from_bytes(const std::string& name, const std::vector<uint8_t>& bytes,
                                  SafetensorsLimits limits = {});
    // Every shard a model.safetensors.index.json names (its "weight_map"),
    // mapped and validated, as one set of tensors. Throws ModelError naming
    // the index or the shard: a missing shard, a tensor in another shard than
    // the map says, a tensor in two shards.
    static SafeTensors open_index(const std::string& index_path, SafetensorsLimits limits = {});
    ~SafeTensors();
    SafeTensors(SafeTensors&&) noexcept;
    SafeTensors& operator=(SafeTensors&&) = delete;
    SafeTensors(const SafeTensors&) = delete;

    const std::string& path() const { return path_; }
    bool contains(const std::string& name) const { return index_.count(name) != 0; }
    const TensorInfo& info(const std::string& name) const;  // throws ModelError if missing
    std::vector<std::string> names() const;                // sorted
    size_t size() const { return index_.size(); }
    const std::map<std::string, std::string>& metadata() const { return metadata_; }

    // The tensor converted to f32, with its own shape. Refuses NaN/Inf values
    // and non-float dtypes with a message naming the tensor.
    Tensor to_f32(const std::string& name) const;
    // Same, checking the shape first ("got [..], expected [..]").
    Tensor to_f32(const std::string& name, const std::vector<int64_t>& expected) const;

    // Like to_f32, but an F32 tensor whose bytes are 4-aligned in a mapped
    // file comes back as a read-only view of the mapping (Tensor::borrow, no
    // copy): valid only while this SafeTensors lives. Other dtypes are converted.
    Tensor view_f32(const std::string& name, const std::vector<int64_t>& expected) const;
    // Lets the kernel drop the mapped pages from this process's resident set
    // (views stay valid and are read back from the page cache on next use).
    void release_pages() const;

    // Raw bytes of a tensor (inside the mapping).
    const uint8_t* raw(const TensorInfo& t) const { return t.section + t.begin; }

private:
    SafeTensors() = default;
    void parse(SafetensorsLimits limits);

    std::string path_;
    const uint8_t* base_ = nullptr;  // whole file
    uint64_t file_size_ = 0;
    const uint8_t* data_ = nullptr;  // data section
    uint64_t data_size_ = 0;
    bool mapped_ = false;
    std::vector<uint8_t> owned_;
    std::map<std::string, TensorInfo> index_;
    std::map<std::string, std::string> metadata_;
    std::vector<std::unique_ptr<SafeTensors>> shards_;  // open_index: the mapped shards
};

// bf16 / f16 bit patterns to f32.
float bf16_to_f32(uint16_t v);
float f16_to_f32(uint16_t v);

}  // namespace vitlens
