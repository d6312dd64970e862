// libFuzzer: the safetensors reader on arbitrary bytes.
#include <cstdint>
#include <vector>

#include "vitlens/errors.h"
#include "vitlens/model/weights.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::vector<uint8_t> bytes(data, data + size);
    try {
        auto st = vitlens::SafeTensors::from_bytes("fuzz.safetensors", bytes);
        for (const auto& n : st.names()) {
            try {
                st.to_f32(n);
            } catch (const vitlens::ModelError&) {
            }
        }
    } catch (const vitlens::ModelError&) {
    }
    return 0;
}
