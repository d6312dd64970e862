#include "common.h"
namespace vitlens::app {
int cmd_bench(int, char**) { throw UsageError("'bench' is not available in this build yet"); }
}  // namespace vitlens::app
