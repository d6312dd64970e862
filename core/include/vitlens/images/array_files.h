// Feature arrays on disk: NumPy .npy files that grow row by row (so a long
// run can be interrupted and resumed), and safetensors files written whole.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "vitlens/model/tensor.h"

namespace vitlens {

// A little-endian float32 .npy of shape (rows, row_shape...), C order. The
// header has a fixed size (128 bytes), rewritten after every append, so the
// file on disk is always a valid array of the rows written so far.
class NpyAppender {
public:
    // Creates `path`, or with `resume` opens it, checks its dtype and row
    // shape, and drops a partly written last row. An existing file that is
    // not resumed is replaced only by close(): until then the new rows grow
    // in a temporary beside it. Throws OutputError naming the file and the
    // problem.
    NpyAppender(std::string path, std::vector<int64_t> row_shape, bool resume);
    ~NpyAppender();
    NpyAppender(const NpyAppender&) = delete;
    NpyAppender& operator=(const NpyAppender&) = delete;

    // rows x prod(row_shape) floats.
    void append(const float* data, int64_t rows);
    // Keeps the first `rows` rows (resume: agree with an index).
    void truncate(int64_t rows);
    int64_t rows() const { return rows_; }
    const std::string& path() const { return path_; }
    // Closes the file (checked) and renames a replacement into place.
    void close();

private:
    void open(bool resume);
    void write_header();

    std::string path_, tmp_, final_;
    std::vector<int64_t> row_shape_;
    int64_t row_floats_ = 1, rows_ = 0;
    std::FILE* f_ = nullptr;
};

// Reads a float32 .npy written by NpyAppender or NumPy (C order, '<f4').
// Throws InputError naming the file.
Tensor read_npy(const std::string& path);

// Writes F32 tensors and string metadata as safetensors, atomically (a
// temporary beside `path`, renamed when complete). Throws OutputError.
void write_safetensors(const std::string& path, const std::map<std::string, const Tensor*>& tensors,
                       const std::map<std::string, std::string>& metadata);

}  // namespace vitlens
