// The Explain tab: the image's name, its top-5 predictions (click a row:
// why this class?) and the attention controls. It decides which map the
// view shows and asks for it (requestMap).
#pragma once

#include <QWidget>
#include <optional>
#include <utility>
#include <vector>

#include "image_view.h"
#include "worker.h"

class QCheckBox;
class QComboBox;
class QLabel;
class QProgressBar;
class QSettings;
class QSlider;
class QSpinBox;

namespace vitlens::gui {

class ExplainTab : public QWidget {
    Q_OBJECT
public:
    // `view` shows the maps: the tab sets its opacity, overlay and highlighted patch.
    explicit ExplainTab(ImageView* view, QWidget* parent = nullptr);

    // The colour map and opacity last chosen ("colormap", "opacity").
    void restoreSettings(const QSettings& s);
    // A new model: its layers and heads in the controls. Returns the query
    // patch it dropped because it lies outside the new model's grid.
    std::optional<std::pair<int, int>> setModel(const ModelInfo& info);
    // A new image: its name and top 5 (the top-1 explained); updateMap() then asks for its map.
    void showPredictions(const ImageResult& r);
    void showClassifying(const QString& path);  // "Classifying PATH ..." until the result comes
    void showNoImage();                         // the name says "No image" (the last map stays)
    // While live runs, the controls ask for no maps.
    void setLive(bool on) { live_ = on; }
    // Screenshot mode: start with `method`, or with the query map of patch `query`.
    void preset(const QString& method, std::optional<std::pair<int, int>> query);
    // The gallery: the attention map of one layer and head.
    void showHead(int layer, int head);
    // The View menu's keys.
    void setMethod(const QString& name);
    void toggleOverlay();
    void toggleFeatures();
    bool showsFeatures() const;  // "Patch features (PCA)" is checked
    QString colormap() const;

public slots:
    // Asks for the map the controls describe (or the patch features).
    void updateMap();
    // Explains the class of top-5 row `row` (attribution map, row highlighted).
    void selectClassRow(int row);
    // The query map of patch (row, col).
    void selectPatch(int row, int col);

signals:
    void requestMap(const vitlens::gui::MapParams& p);  // MapMethod::Features for the patch features
    void requestGallery(const QString& colormap);

protected:
    bool eventFilter(QObject* watched, QEvent* e) override;  // clicks on the top-5 rows

private:
    QWidget* buildPredictionsBox();
    QWidget* buildAttentionControls();
    void connectAttentionControls();
    void highlightRow(std::optional<int> row);
    QString mapCaption() const;
    MapParams currentParams() const;
    MapMethod currentMethod() const;

    ImageView* view_ = nullptr;
    QLabel* image_label_ = nullptr;
    std::vector<QLabel*> top_labels_;
    std::vector<QProgressBar*> top_bars_;
    std::vector<int> top_indices_;       // the class of each top-5 row, for the current image
    std::optional<int> explained_row_;   // attribution: the top-5 row explained (none: the top-1)
    QComboBox* method_ = nullptr;
    QSpinBox* layer_ = nullptr;
    QComboBox* head_ = nullptr;
    QComboBox* fusion_ = nullptr;
    QSlider* discard_ = nullptr;
    QComboBox* colormap_ = nullptr;
    QSlider* opacity_ = nullptr;
    QCheckBox* overlay_ = nullptr;
    QCheckBox* clip_ = nullptr;
    QCheckBox* pca_ = nullptr;  // show the patch features (PCA) instead of a map
    QLabel* query_label_ = nullptr;

    int grid_h_ = 0, grid_w_ = 0;  // the model's patch grid
    bool has_image_ = false;
    bool live_ = false;
    std::optional<std::pair<int, int>> query_;
};

}  // namespace vitlens::gui
