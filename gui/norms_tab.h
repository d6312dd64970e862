// The Token norms tab: per layer, the median and largest token norm and the
// outlier tokens (over 3x the median) of the current image.
#pragma once

#include <QTreeWidget>

#include "worker.h"

namespace vitlens::gui {

class NormsTab : public QTreeWidget {
    Q_OBJECT
public:
    explicit NormsTab(QWidget* parent = nullptr);
    // One row per layer of `r`, outlier tokens highlighted.
    void showNorms(const ImageResult& r);
};

}  // namespace vitlens::gui
