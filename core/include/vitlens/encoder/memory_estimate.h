// What a run's buffers take, from the same formula the encoder checks before
// it allocates them: a run that cannot fit is refused up front with the
// figures, never half-way with std::bad_alloc (or the kernel's OOM killer).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "vitlens/errors.h"
#include "vitlens/model/model_config.h"

namespace vitlens {

enum class Precision;

// Which map buffers a pass keeps besides the forward's own.
enum class MapNeed {
    None,       // classify, embed: the forward's buffers only
    Capture,    // rollout / attention / query maps: every layer's attention (L, B, H, T, T)
    Gradients,  // attribution: the capture, its gradient, the block inputs and the backward scratch
};

struct MemoryEstimate {
    uint64_t weights = 0;      // the f32 weights (and a bf16 or int8 copy)
    uint64_t activations = 0;  // the forward's buffers for one batch, attention scores included
    uint64_t attention = 0;    // of which the (B, H, T, T) score buffers
    uint64_t maps = 0;         // capture, gradients and backward buffers
    uint64_t total() const { return weights + activations + maps; }
};

// ModelSpec at its current input size (tokens() T, hidden D, heads H, layers L,
// mlp), `batch` B images a pass.
MemoryEstimate estimate_memory(const ModelSpec& s, int batch, Precision p, MapNeed need);

// Bytes this process may still use: $VITLENS_MEMORY_BYTES when set (tests,
// containers), else MemAvailable of /proc/meminfo plus what the process
// already holds (its resident set), else the physical memory; never more
// than a cgroup v2 memory.max leaves.
uint64_t available_memory();

// A run the machine cannot hold. Its message states the figures (the
// estimate in GB, what is available, the token count and batch); front ends
// add the option or menu that lowers them.
class MemoryError : public ArgumentError {
public:
    using ArgumentError::ArgumentError;
};

// Throws MemoryError when estimate_memory(...).total() exceeds available_memory().
void require_memory(const ModelSpec& s, int batch, Precision p, MapNeed need);

std::string gigabytes(uint64_t bytes);  // "67.7 GB", or "12 MB" under a gigabyte

}  // namespace vitlens
