#include "vitlens/model/weights.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "test_support.h"
#include "vitlens/errors.h"

using namespace vitlens;
using namespace vitlens::test;

namespace {

std::vector<uint8_t> bytes_of(const std::string& s) { return {s.begin(), s.end()}; }

// Expects ModelError whose message contains `what`.
void expect_error(const std::string& file_bytes, const std::string& what) {
    try {
        SafeTensors::from_bytes("bad.safetensors", bytes_of(file_bytes));
        FAIL() << "no error; expected one containing '" << what << "'";
    } catch (const ModelError& e) {
        EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("bad.safetensors"), std::string::npos) << e.what();
    }
}

}  // namespace

TEST(Weights, ReadsEveryFloatDtype) {
    for (std::string dt : {"F32", "F16", "BF16"}) {
        std::string f = make_safetensors({{"w", dt, {2, 3}, {1.f, -2.f, 0.5f, 3.f, 0.f, -0.25f}}});
        auto st = SafeTensors::from_bytes("t", bytes_of(f));
        Tensor t = st.to_f32("w");
        ASSERT_EQ(t.shape(), (std::vector<int64_t>{2, 3})) << dt;
        EXPECT_FLOAT_EQ(t[1], -2.f) << dt;
        EXPECT_FLOAT_EQ(t[5], -0.25f) << dt;
        EXPECT_EQ(st.info("w").dtype_str, dt);
    }
}

TEST(Weights, F16Subnormals) {
    EXPECT_FLOAT_EQ(f16_to_f32(0x0001), std::ldexp(1.f, -24));
    EXPECT_FLOAT_EQ(f16_to_f32(0x3c00), 1.f);
    EXPECT_FLOAT_EQ(f16_to_f32(0xc000), -2.f);
    EXPECT_TRUE(std::isinf(f16_to_f32(0x7c00)));
}

TEST(Weights, ShapeMismatchNamesBothShapes) {
    std::string f = make_safetensors({{"blocks.3.attn.qkv.weight", "F32", {2, 2}, {1, 2, 3, 4}}});
    auto st = SafeTensors::from_bytes("m.safetensors", bytes_of(f));
    try {
        st.to_f32("blocks.3.attn.qkv.weight", {4, 1});
        FAIL();
    } catch (const ModelError& e) {
        EXPECT_STREQ(e.what(), "m.safetensors: tensor 'blocks.3.attn.qkv.weight' has shape [2, 2], expected [4, 1]");
    }
}

TEST(Weights, MissingTensor) {
    auto st = SafeTensors::from_bytes("m", bytes_of(make_safetensors({{"a", "F32", {1}, {1}}})));
    EXPECT_THROW(st.to_f32("b"), ModelError);
    EXPECT_TRUE(st.contains("a"));
    EXPECT_FALSE(st.contains("b"));
}

TEST(Weights, RefusesNonFiniteWithTensorName) {
    float nan = std::numeric_limits<float>::quiet_NaN();
    auto st = SafeTensors::from_bytes("m", bytes_of(make_safetensors({{"head.weight", "F32", {2}, {1, nan}}})));
    try {
        st.to_f32("head.weight");
        FAIL();
    } catch (const ModelError& e) {
        EXPECT_NE(std::string(e.what()).find("'head.weight' holds a non-finite value"), std::string::npos) << e.what();
    }
}

TEST(Weights, MalformedFiles) {
    std::string good = make_safetensors({{"a", "F32", {2}, {1, 2}}, {"b", "F32", {1}, {3}}});
    expect_error("", "too short");
    expect_error(good.substr(0, 6), "too short");
    expect_error(good.substr(0, 20), "header length");                     // truncated inside the header
    expect_error(good.substr(0, good.size() - 2), "run past the data section");  // truncated in the data
    std::string huge(8, '\0');
    huge[7] = 0x7f;  // header length ~ 9e18
    expect_error(huge + "{}", "header length");
    expect_error(make_safetensors_raw("not json", ""), "not valid JSON");
    expect_error(make_safetensors_raw("[1,2]", ""), "not a JSON object");
    expect_error(make_safetensors_raw(R"({"a":{"dtype":"Q7","shape":[1],"data_offsets":[0,4]}})", std::string(4, '\0')),
                 "unknown dtype 'Q7'");
    expect_error(make_safetensors_raw(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", std::string(4, '\0')),
                 "needs 8 bytes, but data_offsets span 4");
    expect_error(make_safetensors_raw(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                      R"("b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}})",
                                      std::string(8, '\0')),
                 "overlap");
    expect_error(make_safetensors_raw(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", std::string(4, '\0')),
                 "reversed");
    expect_error(make_safetensors_raw(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", std::string(4, '\0')),
                 "non-integer or negative");
    expect_error(make_safetensors_raw(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})",
                                      std::string(4, '\0')),
                 "more than the file");
    expect_error(make_safetensors_raw(R"({"a":{"shape":[1],"data_offsets":[0,4]}})", std::string(4, '\0')), "'dtype'");
}

TEST(Weights, MmapFromFile) {
    TempDir d;
    write_file(d / "w.safetensors", make_safetensors({{"x", "BF16", {3}, {1, 2, 3}}}));
    SafeTensors st(d / "w.safetensors");
    EXPECT_EQ(st.size(), 1u);
    EXPECT_FLOAT_EQ(st.to_f32("x")[2], 3.f);
    EXPECT_THROW(SafeTensors(d / "missing.safetensors"), ModelError);
}

// The loader reads F32 weights in place: a view of the mapping, never a copy,
// refused on NaN/Inf like a copy, and still readable after its pages are let go.
TEST(Weights, F32ViewsBorrowTheMapping) {
    TempDir d;
    write_file(d / "w.safetensors", make_safetensors({{"f", "F32", {2, 2}, {1, 2, 3, 4}},
                                                      {"h", "F16", {2}, {5, 6}},
                                                      {"bad", "F32", {3}, {0, std::nanf(""), 1}}}));
    SafeTensors st(d / "w.safetensors");
    Tensor v = st.view_f32("f", {2, 2});
    EXPECT_TRUE(v.borrowed());
    st.release_pages();
    EXPECT_EQ(v[3], 4.f);
    Tensor copy = v;  // copies own their data
    EXPECT_FALSE(copy.borrowed());
    EXPECT_EQ(copy[0], 1.f);
    Tensor h = st.view_f32("h", {2});  // other dtypes are converted
    EXPECT_FALSE(h.borrowed());
    EXPECT_EQ(h[1], 6.f);
    try {
        st.view_f32("bad", {3});
        FAIL() << "NaN accepted";
    } catch (const ModelError& e) {
        EXPECT_NE(std::string(e.what()).find("tensor 'bad' holds a non-finite value (nan) at element 1"), std::string::npos)
            << e.what();
    }
    EXPECT_THROW(st.view_f32("f", {4}), ModelError);
}

// A sharded checkpoint opens as one set of tensors; an index that points at
// a missing shard, or at the wrong one, is refused naming the index.
TEST(Safetensors, ShardedIndexOpensAsOneAndChecksTheMap) {
    TempDir t;
    write_file(t / "a.safetensors", make_safetensors({{"x", "F32", {2}, {1, 2}}}));
    write_file(t / "b.safetensors", make_safetensors({{"y", "F32", {1}, {3}}}));
    write_file(t / "index.json", R"({"weight_map": {"x": "a.safetensors", "y": "b.safetensors"}})");
    SafeTensors st = SafeTensors::open_index(t / "index.json");
    EXPECT_EQ(st.size(), 2u);
    EXPECT_EQ(st.to_f32("y")[0], 3.f);
    EXPECT_EQ(st.view_f32("x", {2})[1], 2.f);
    write_file(t / "wrong.json", R"({"weight_map": {"x": "b.safetensors", "y": "b.safetensors"}})");
    try {
        SafeTensors::open_index(t / "wrong.json");
        FAIL() << "a map that puts x in b was accepted";
    } catch (const ModelError& e) {
        EXPECT_NE(std::string(e.what()).find("does not hold it"), std::string::npos) << e.what();
    }
    write_file(t / "missing.json", R"({"weight_map": {"x": "c.safetensors"}})");
    EXPECT_THROW(SafeTensors::open_index(t / "missing.json"), ModelError);
}

// A shape whose byte count wraps 64 bits (2^62 floats x 4 bytes = 0 mod 2^64)
// once passed with data_offsets [0, 0], and to_f32 then wrote past a 0-byte
// buffer (ASan: heap-buffer-overflow). Checked multiplication refuses it.
TEST(Weights, AByteCountThatWrapsIsRefused) {
    expect_error(make_safetensors_raw(R"({"t":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}})", ""),
                 "more than the file");
    expect_error(make_safetensors_raw(R"({"t":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", ""),
                 "more than the file");
    expect_error(make_safetensors_raw(R"({"t":{"dtype":"F16","shape":[9223372036854775807],"data_offsets":[0,0]}})", ""),
                 "more than the file");
    EXPECT_THROW(Tensor({int64_t(1) << 40, int64_t(1) << 40}), std::bad_alloc);
    EXPECT_THROW(Tensor({int64_t(1) << 62}), std::bad_alloc);
}
