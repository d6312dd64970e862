#include "common.h"
namespace vitlens::app {
int cmd_eval(int, char**) { throw UsageError("'eval' is not available in this build yet"); }
}  // namespace vitlens::app
