#include "vitlens/model/tensor.h"

#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>

namespace vitlens {

namespace {
int64_t count(const std::vector<int64_t>& shape) {
    int64_t n = 1;
    for (int64_t d : shape) {
        if (d < 0) throw std::invalid_argument("Tensor: negative dimension in " + shape_str(shape));
        if (__builtin_mul_overflow(n, d, &n)) throw std::bad_alloc();  // more elements than 63 bits count
    }
    return n;
}

float* allocate(int64_t n, bool zero = true) {
    if (n == 0) return nullptr;
    size_t bytes = 0;
    if (__builtin_mul_overflow(static_cast<size_t>(n), sizeof(float), &bytes) || bytes > SIZE_MAX - 63)
        throw std::bad_alloc();
    bytes = (bytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, bytes);
    if (!p) throw std::bad_alloc();
    if (zero) std::memset(p, 0, bytes);
    return static_cast<float*>(p);
}
}  // namespace

void Tensor::Free::operator()(float* p) const {
    if (!borrowed) std::free(p);
}

Tensor::Tensor(std::vector<int64_t> shape)
    : shape_(std::move(shape)), numel_(count(shape_)), data_(allocate(numel_)) {}

Tensor::Tensor(std::vector<int64_t> shape, bool zero)
    : shape_(std::move(shape)), numel_(count(shape_)), data_(allocate(numel_, zero)) {}

Tensor Tensor::uninitialized(std::vector<int64_t> shape) { return Tensor(std::move(shape), false); }

Tensor Tensor::borrow(const float* data, std::vector<int64_t> shape) {
    Tensor t;
    t.numel_ = count(shape);
    t.shape_ = std::move(shape);
    t.data_ = std::unique_ptr<float, Free>(const_cast<float*>(data), Free{true});
    return t;
}

Tensor::Tensor(const Tensor& other)
    : shape_(other.shape_), numel_(other.numel_), data_(allocate(other.numel_, false)) {
    if (numel_) std::memcpy(data_.get(), other.data_.get(), numel_ * sizeof(float));
}

Tensor& Tensor::operator=(const Tensor& other) {
    if (this != &other) *this = Tensor(other);
    return *this;
}

void Tensor::reshape(std::vector<int64_t> shape) {
    if (count(shape) != numel_)
        throw std::invalid_argument("Tensor::reshape: " + shape_str(shape_) + " -> " + shape_str(shape));
    shape_ = std::move(shape);
}

std::string shape_str(const std::vector<int64_t>& shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) {
        if (i) s += ", ";
        s += std::to_string(shape[i]);
    }
    return s + "]";
}

}  // namespace vitlens
