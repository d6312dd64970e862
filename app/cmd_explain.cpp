#include "common.h"
namespace vitlens::app {
int cmd_explain(int, char**) { throw UsageError("'explain' is not available in this build yet"); }
}  // namespace vitlens::app
