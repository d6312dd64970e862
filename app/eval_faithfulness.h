// vitlens eval --faithfulness: deletion and insertion AUCs per map method
// over a labelled set (core/faithfulness.h does the curves).
#pragma once

#include <string>
#include <vector>

#include "eval_set.h"
#include "vitlens/encoder/classifier.h"

namespace vitlens::app {

// "rollout,attention,attribution,random" -> the list, checked (ArgumentError
// names the bad entry and the choices; no duplicates).
std::vector<std::string> parse_faithfulness_methods(const std::string& list);

struct FaithfulnessOptions {
    std::vector<std::string> methods;
    int steps = 0;  // 0: one per patch, at most 50
    int batch = 64;
    std::string format = "text";  // or "json"
    std::string predictions;      // per image and method rows, CSV; "" = none
};

// Runs every method on every image of `set`, prints the table, writes the
// rows. Returns the number of images that failed to load.
int run_faithfulness(Classifier& clf, const EvalSet& set, const FaithfulnessOptions& o);

}  // namespace vitlens::app
