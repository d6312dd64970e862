#include "explain_tab.h"

#include <QCheckBox>
#include <QComboBox>
#include <QEvent>
#include <QFileInfo>
#include <QFormLayout>
#include <QGridLayout>
#include <QGroupBox>
#include <QLabel>
#include <QProgressBar>
#include <QSettings>
#include <QSignalBlocker>
#include <QSlider>
#include <QSpinBox>
#include <QVBoxLayout>
#include <algorithm>

#include "vitlens/maps/attention_maps.h"
#include "vitlens/maps/map_render.h"
#include "vitlens/maps/map_spec.h"

namespace vitlens::gui {

ExplainTab::ExplainTab(ImageView* view, QWidget* parent) : QWidget(parent), view_(view) {
    auto* ev = new QVBoxLayout(this);
    image_label_ = new QLabel(tr("No image"));
    image_label_->setWordWrap(true);
    ev->addWidget(image_label_);
    ev->addWidget(buildPredictionsBox());
    ev->addWidget(buildAttentionControls());
    ev->addStretch(1);
}

QWidget* ExplainTab::buildPredictionsBox() {
    auto* preds = new QGroupBox(tr("Top 5"));
    auto* pl = new QGridLayout(preds);
    for (int i = 0; i < 5; ++i) {
        auto* l = new QLabel("");
        l->setObjectName(QString("topLabel%1").arg(i));
        auto* b = new QProgressBar;
        b->setObjectName(QString("topBar%1").arg(i));
        b->setRange(0, 1000);
        b->setValue(0);
        b->setFormat("");
        b->setTextVisible(true);
        b->setMaximumHeight(16);
        pl->addWidget(l, i, 0);
        pl->addWidget(b, i, 1);
        top_labels_.push_back(l);
        top_bars_.push_back(b);
        for (QWidget* w : {static_cast<QWidget*>(l), static_cast<QWidget*>(b)}) {
            w->installEventFilter(this);
            w->setCursor(Qt::PointingHandCursor);
            w->setToolTip(tr("Click: why this class? (attribution map)"));
        }
    }
    pl->setColumnStretch(1, 1);

    return preds;
}

QWidget* ExplainTab::buildAttentionControls() {
    auto* ctrl = new QGroupBox(tr("Attention"));
    auto* f = new QFormLayout(ctrl);
    method_ = new QComboBox;
    method_->setObjectName("methodCombo");
    for (const auto& name : map_method_names()) method_->addItem(QString::fromStdString(name));
    method_->setToolTip(tr("rollout: attention flow through all layers; attention: one layer's class-token row;\n"
                           "query: where the clicked patch looks; attribution: why the class of the selected\n"
                           "top-5 row (click a row), attention weighted by the gradient of its logit"));
    layer_ = new QSpinBox;
    layer_->setObjectName("layerSpin");
    layer_->setRange(0, 0);
    head_ = new QComboBox;
    head_->setObjectName("headCombo");
    fusion_ = new QComboBox;
    fusion_->setObjectName("fusionCombo");
    fusion_->addItems({"mean", "max", "min"});
    discard_ = new QSlider(Qt::Horizontal);
    discard_->setObjectName("discardSlider");
    discard_->setRange(0, 95);
    discard_->setToolTip(tr("Rollout: zero the lowest fraction of each layer's attention"));
    colormap_ = new QComboBox;
    colormap_->setObjectName("colormapCombo");
    colormap_->addItems({"turbo", "jet", "inferno", "viridis"});
    opacity_ = new QSlider(Qt::Horizontal);
    opacity_->setObjectName("opacitySlider");
    opacity_->setRange(0, 100);
    overlay_ = new QCheckBox(tr("Show overlay (O)"));
    overlay_->setObjectName("overlayCheck");
    overlay_->setChecked(true);
    clip_ = new QCheckBox(tr("Clip outlier tokens (99th percentile)"));
    pca_ = new QCheckBox(tr("Patch features (PCA) (F)"));
    pca_->setObjectName("pcaCheck");
    pca_->setToolTip(tr("The first three principal components of the last layer's patch tokens as red, green and\n"
                        "blue: patches the model represents alike share a colour (the DINOv2 feature view)"));
    query_label_ = new QLabel(tr("Click a patch to see where it looks."));
    query_label_->setObjectName("mapCaption");
    query_label_->setWordWrap(true);
    f->addRow(tr("Method"), method_);
    f->addRow(tr("Layer"), layer_);
    f->addRow(tr("Head"), head_);
    f->addRow(tr("Head fusion"), fusion_);
    f->addRow(tr("Discard ratio"), discard_);
    f->addRow(tr("Colour map"), colormap_);
    f->addRow(tr("Opacity"), opacity_);
    f->addRow(overlay_);
    f->addRow(clip_);
    f->addRow(pca_);
    f->addRow(query_label_);
    connectAttentionControls();
    return ctrl;
}

// Every control of the attention box redraws the map; colours and opacity are remembered.
void ExplainTab::connectAttentionControls() {
    connect(pca_, &QCheckBox::toggled, this, &ExplainTab::updateMap);
    for (auto* c : {method_, head_, fusion_, colormap_})
        connect(c, &QComboBox::currentIndexChanged, this, &ExplainTab::updateMap);
    connect(layer_, &QSpinBox::valueChanged, this, &ExplainTab::updateMap);
    connect(discard_, &QSlider::valueChanged, this, &ExplainTab::updateMap);
    connect(clip_, &QCheckBox::toggled, this, &ExplainTab::updateMap);
    connect(colormap_, &QComboBox::currentTextChanged, this, [this](const QString& c) {
        QSettings().setValue("colormap", c);
        if (has_image_) emit requestGallery(c);
    });
    connect(opacity_, &QSlider::valueChanged, this, [this](int v) {
        view_->setOpacity(v / 100.0);
        QSettings().setValue("opacity", v);
    });
    connect(overlay_, &QCheckBox::toggled, view_, &ImageView::setOverlayVisible);
}

void ExplainTab::restoreSettings(const QSettings& s) {
    colormap_->setCurrentText(s.value("colormap", "turbo").toString());
    opacity_->setValue(s.value("opacity", 50).toInt());
}

std::optional<std::pair<int, int>> ExplainTab::setModel(const ModelInfo& info) {
    grid_h_ = info.grid_h;
    grid_w_ = info.grid_w;
    QSignalBlocker b1(layer_), b2(head_);
    layer_->setRange(0, std::max(0, info.layers - 1));
    layer_->setValue(info.layers - 1);
    head_->clear();
    head_->addItem(tr("all heads (fused)"));
    for (int h = 0; h < info.heads; ++h) head_->addItem(tr("head %1").arg(h));
    std::optional<std::pair<int, int>> dropped;
    if (query_ && (query_->first >= info.grid_h || query_->second >= info.grid_w)) {
        dropped = query_;
        query_.reset();
    }
    return dropped;
}

void ExplainTab::showPredictions(const ImageResult& r) {
    has_image_ = true;
    image_label_->setText(QString("<b>%1</b><br>%2x%3").arg(QFileInfo(r.source).fileName().toHtmlEscaped()).arg(r.image.width()).arg(r.image.height()));
    top_indices_.clear();
    for (const TopEntry& t : r.top) top_indices_.push_back(t.index);
    explained_row_.reset();
    for (size_t i = 0; i < top_labels_.size(); ++i) {
        if (i < r.top.size()) {
            top_labels_[i]->setText(QString::fromStdString(r.top[i].label));
            top_bars_[i]->setValue(static_cast<int>(r.top[i].prob * 1000));
            top_bars_[i]->setFormat(QString("%1%").arg(100.0 * r.top[i].prob, 0, 'f', 1));
        } else {
            top_labels_[i]->setText("");
            top_bars_[i]->setValue(0);
            top_bars_[i]->setFormat("");
        }
    }
    if (currentMethod() == MapMethod::Query && !query_) query_ = std::make_pair(grid_h_ / 2, grid_w_ / 2);
}

void ExplainTab::showClassifying(const QString& path) { image_label_->setText(tr("Classifying %1 ...").arg(path)); }

void ExplainTab::showNoImage() { image_label_->setText(tr("No image")); }

void ExplainTab::preset(const QString& method, std::optional<std::pair<int, int>> query) {
    if (query) {
        query_ = query;
        method_->setCurrentText("query");
    } else if (!method.isEmpty()) {
        method_->setCurrentText(method);
    }
}

void ExplainTab::showHead(int layer, int head) {
    QSignalBlocker b1(method_), b2(layer_), b3(head_);
    method_->setCurrentText("attention");
    layer_->setValue(layer);
    head_->setCurrentIndex(1 + head);
    updateMap();
}

void ExplainTab::setMethod(const QString& name) { method_->setCurrentText(name); }

void ExplainTab::toggleOverlay() { overlay_->toggle(); }

void ExplainTab::toggleFeatures() { pca_->toggle(); }

bool ExplainTab::showsFeatures() const { return pca_->isChecked(); }

QString ExplainTab::colormap() const { return colormap_->currentText(); }

MapMethod ExplainTab::currentMethod() const { return parse_map_method(method_->currentText().toStdString()); }

MapParams ExplainTab::currentParams() const {
    MapParams p;
    p.spec.method = currentMethod();
    p.spec.fusion = parse_fusion(fusion_->currentText().toStdString());
    p.spec.layer = layer_->value();
    p.spec.head = head_->currentIndex() - 1;
    p.spec.discard = discard_->value() / 100.f;
    p.spec.clip_percentile = clip_->isChecked() ? 99.f : 0.f;
    if (query_) {
        p.spec.query_row = query_->first;
        p.spec.query_col = query_->second;
    }
    if (p.spec.method == MapMethod::Attribution && explained_row_ && size_t(*explained_row_) < top_indices_.size())
        p.spec.target_class = top_indices_[size_t(*explained_row_)];
    p.colormap = parse_colormap(colormap_->currentText().toStdString());
    return p;
}

// What the map shows, in words, under the controls.
QString ExplainTab::mapCaption() const {
    const MapMethod m = currentMethod();
    if (m == MapMethod::Query && query_)
        return tr("Patch (row %1, col %2): where it looks in layer %3.").arg(query_->first).arg(query_->second).arg(layer_->value());
    if (m == MapMethod::Attribution && !top_indices_.empty()) {
        const int row = explained_row_.value_or(0);
        return tr("Why %1 (class %2): attention weighted by the gradient of its logit. Click another top-5 row "
                  "to explain that class.")
            .arg(top_labels_[size_t(row)]->text(), QString::number(top_indices_[size_t(row)]));
    }
    return tr("Click a patch to see where it looks.");
}

void ExplainTab::highlightRow(std::optional<int> row) {
    for (size_t i = 0; i < top_labels_.size(); ++i)
        top_labels_[i]->setStyleSheet(row && int(i) == *row ? "font-weight: bold; background: palette(highlight); "
                                                              "color: palette(highlighted-text);"
                                                            : "");
}

bool ExplainTab::eventFilter(QObject* watched, QEvent* e) {
    if (e->type() == QEvent::MouseButtonRelease)
        for (size_t i = 0; i < top_labels_.size(); ++i)
            if (watched == top_labels_[i] || watched == top_bars_[i]) {
                selectClassRow(int(i));
                return true;
            }
    return QWidget::eventFilter(watched, e);
}

void ExplainTab::selectClassRow(int row) {
    if (!has_image_ || live_ || size_t(row) >= top_indices_.size()) return;
    explained_row_ = row;
    if (currentMethod() != MapMethod::Attribution) {
        QSignalBlocker b(method_);
        method_->setCurrentText("attribution");
    }
    updateMap();
}

void ExplainTab::selectPatch(int row, int col) {
    query_ = std::make_pair(row, col);
    if (currentMethod() != MapMethod::Query) {
        QSignalBlocker b(method_);
        method_->setCurrentText("query");
    }
    updateMap();
}

void ExplainTab::updateMap() {
    if (!has_image_ || live_) return;
    const MapMethod m = currentMethod();
    layer_->setEnabled(m == MapMethod::Attention || m == MapMethod::Query);
    head_->setEnabled(m == MapMethod::Attention || m == MapMethod::Query);
    discard_->setEnabled(m == MapMethod::Rollout);
    fusion_->setEnabled(m != MapMethod::Attribution);
    if (m == MapMethod::Query && !query_) query_ = std::make_pair(grid_h_ / 2, grid_w_ / 2);
    view_->setHighlightedPatch(m == MapMethod::Query ? query_ : std::nullopt);
    if (pca_->isChecked()) {
        query_label_->setText(tr("Patch features: the first three principal components of the last layer's patch "
                                 "tokens as red, green and blue; alike patches share a colour."));
        highlightRow(std::nullopt);
        MapParams p;
        p.spec.method = MapMethod::Features;
        emit requestMap(p);
        return;
    }
    query_label_->setText(mapCaption());
    highlightRow(m == MapMethod::Attribution && !top_indices_.empty() ? std::optional<int>(explained_row_.value_or(0))
                                                                       : std::nullopt);
    emit requestMap(currentParams());
}

}  // namespace vitlens::gui
