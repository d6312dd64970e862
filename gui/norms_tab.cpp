#include "norms_tab.h"

#include <QColor>
#include <QStringList>
#include <QTreeWidgetItem>

#include "vitlens/maps/attention_maps.h"
#include "vitlens/maps/map_spec.h"

namespace vitlens::gui {

NormsTab::NormsTab(QWidget* parent) : QTreeWidget(parent) {
    setObjectName("normsTree");
    setHeaderLabels({tr("Layer"), tr("Median"), tr("Max"), tr("Outlier tokens (> 3x median)")});
}

void NormsTab::showNorms(const ImageResult& r) {
    clear();
    for (size_t l = 0; l < r.norms.size(); ++l) {
        QStringList toks;
        for (int t : r.norms[l].outliers)
            toks << QString::fromStdString(token_label(t, TokenLayout{r.n_prefix, 0, r.grid_w}));
        auto* it = new QTreeWidgetItem({QString::number(l), QString::number(r.norms[l].median, 'f', 2),
                                        QString::number(r.norms[l].max, 'f', 2), toks.isEmpty() ? "-" : toks.join(" ")});
        if (!toks.isEmpty()) it->setForeground(3, QColor(220, 90, 40));
        addTopLevelItem(it);
    }
}

}  // namespace vitlens::gui
