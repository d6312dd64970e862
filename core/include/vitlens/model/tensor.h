// A small owning float buffer with a shape (row-major), 64-byte aligned.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace vitlens {

class Tensor {
public:
    Tensor() = default;
    explicit Tensor(std::vector<int64_t> shape);  // zero-filled
    // Same, contents left uninitialised (for buffers about to be overwritten).
    static Tensor uninitialized(std::vector<int64_t> shape);
    // A read-only view of `numel(shape)` floats owned by someone else (a
    // mapped checkpoint): never written through, valid while they live.
    // Copies of a view own their data.
    static Tensor borrow(const float* data, std::vector<int64_t> shape);
    bool borrowed() const { return data_.get_deleter().borrowed; }

    Tensor(const Tensor& other);
    Tensor& operator=(const Tensor& other);
    Tensor(Tensor&&) noexcept = default;
    Tensor& operator=(Tensor&&) noexcept = default;

    const std::vector<int64_t>& shape() const { return shape_; }
    int64_t dim(size_t i) const { return shape_.at(i); }
    size_t ndim() const { return shape_.size(); }
    int64_t numel() const { return numel_; }
    bool empty() const { return numel_ == 0; }

    float* data() { return data_.get(); }
    const float* data() const { return data_.get(); }
    float& operator[](int64_t i) { return data_.get()[i]; }
    float operator[](int64_t i) const { return data_.get()[i]; }

    // Same data, new shape with the same element count.
    void reshape(std::vector<int64_t> shape);

private:
    Tensor(std::vector<int64_t> shape, bool zero);
    struct Free {
        bool borrowed;  // no initialiser: unique_ptr value-initialises its deleter to false
        void operator()(float* p) const;
    };
    std::vector<int64_t> shape_;
    int64_t numel_ = 0;
    std::unique_ptr<float, Free> data_;
};

// "[2304, 768]"
std::string shape_str(const std::vector<int64_t>& shape);

}  // namespace vitlens
