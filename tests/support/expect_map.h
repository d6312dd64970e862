// A map against a reference list of values, cell by cell, within 1e-4.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "vitlens/maps/attention_maps.h"

namespace vitlens::test {

inline void expect_map(const AttentionMap& m, const nlohmann::json& want, const std::string& what) {
    auto v = want.get<std::vector<float>>();
    ASSERT_EQ(v.size(), m.values.size()) << what;
    for (size_t i = 0; i < v.size(); ++i) EXPECT_NEAR(m.values[i], v[i], 1e-4) << what << " cell " << i;
}

}  // namespace vitlens::test
