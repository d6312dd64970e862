// The image with its heatmap overlay: fits the window, zooms with the
// wheel (or +/-), pans by dragging, and reports clicks as patch positions.
#pragma once

#include <QImage>
#include <QPointF>
#include <QWidget>
#include <optional>

#include "vitlens/images/preprocess.h"

namespace vitlens::gui {

class ImageView : public QWidget {
    Q_OBJECT
public:
    explicit ImageView(QWidget* parent = nullptr);

    void setImage(const QImage& img, const Geometry& g, int grid_h, int grid_w);
    void setFrame(const QImage& img);  // live: a frame with everything drawn in
    void setHeat(const QImage& heat);  // ARGB at the image's size
    void setOverlayVisible(bool on);
    void setOpacity(double a);
    void setHighlightedPatch(std::optional<std::pair<int, int>> rc);
    void fit();
    void zoomBy(double factor);
    bool hasImage() const { return !image_.isNull(); }
    const QImage& image() const { return image_; }
    const QImage& heat() const { return heat_; }
    std::optional<std::pair<int, int>> highlightedPatch() const { return highlight_; }
    // Patch (row, col) under a widget position, if it is inside what the model saw.
    std::optional<std::pair<int, int>> patchAt(QPointF widget_pos) const;
    // Where patch (row, col) lies in widget coordinates.
    QRectF patchRect(int row, int col) const;

signals:
    void patchClicked(int row, int col);

protected:
    void paintEvent(QPaintEvent*) override;
    void resizeEvent(QResizeEvent*) override;
    void wheelEvent(QWheelEvent*) override;
    void mousePressEvent(QMouseEvent*) override;
    void mouseMoveEvent(QMouseEvent*) override;
    void mouseReleaseEvent(QMouseEvent*) override;
    void mouseDoubleClickEvent(QMouseEvent*) override;

private:
    QPointF toImage(QPointF w) const;
    QPointF toWidget(QPointF i) const;
    QRectF cropRect() const;  // in image pixels

    QImage image_, heat_;
    Geometry geo_;
    int grid_h_ = 0, grid_w_ = 0;
    bool overlay_ = true, fitted_ = true, live_ = false;
    double opacity_ = 0.5, scale_ = 1.0;
    QPointF offset_;
    QPointF press_pos_, press_offset_;
    bool dragging_ = false;
    std::optional<std::pair<int, int>> highlight_;
};

}  // namespace vitlens::gui
