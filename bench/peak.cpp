// oneDNN f32 matmul probe: GFLOP/s of a ViT-B MLP-sized product right now,
// printed as one JSON line (the machine's current peak, beside each round).
//   peak THREADS SECONDS
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <dnnl.hpp>
#include <vector>

int main(int argc, char** argv) {
    int threads = argc > 1 ? std::atoi(argv[1]) : 1;
    double secs = argc > 2 ? std::atof(argv[2]) : 1.0;
    omp_set_num_threads(threads);
    using namespace dnnl;
    using tag = memory::format_tag;
    using dt = memory::data_type;
    const int64_t M = 197 * 8, K = 768, N = 3072;
    engine eng(engine::kind::cpu, 0);
    stream s(eng);
    memory::desc a({M, K}, dt::f32, tag::ab), w({K, N}, dt::f32, tag::any), c({M, N}, dt::f32, tag::ab);
    matmul::primitive_desc pd(matmul::desc(a, w, c), eng);
    memory am(a, eng), wm(pd.weights_desc(), eng), cm(c, eng);
    std::fill_n(static_cast<float*>(am.get_data_handle()), M * K, 0.5f);
    matmul mm(pd);
    std::vector<double> t;
    auto start = std::chrono::steady_clock::now();
    while (t.size() < 5 || std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < secs) {
        auto a0 = std::chrono::steady_clock::now();
        mm.execute(s, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, cm}});
        s.wait();
        t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - a0).count());
    }
    std::sort(t.begin(), t.end());
    std::printf("{\"engine\": \"probe\", \"threads\": %d, \"gflops\": %.1f}\n", threads, 2.0 * M * K * N / t[t.size() / 2] / 1e9);
}
