// The model the window opens when none was chosen: application policy, so
// it lives in the front end; core only ever takes a path.
#pragma once

#include <QString>

namespace vitlens::gui {

// $VITLENS_MODEL, else the bundled Fashion-MNIST model next to the
// executable (the build tree's assets/models/, else the installed
// share/vitlens/models/). Empty when none is there.
QString default_model();

}  // namespace vitlens::gui
