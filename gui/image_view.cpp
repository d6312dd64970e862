#include "image_view.h"

#include <QMouseEvent>
#include <QPainter>
#include <QWheelEvent>
#include <algorithm>
#include <cmath>

namespace vitlens::gui {

ImageView::ImageView(QWidget* parent) : QWidget(parent) {
    setMinimumSize(320, 240);
    setMouseTracking(false);
    setFocusPolicy(Qt::StrongFocus);
    setAutoFillBackground(true);
    QPalette p = palette();
    p.setColor(QPalette::Window, QColor(40, 40, 44));
    setPalette(p);
}

void ImageView::setImage(const QImage& img, const Geometry& g, int grid_h, int grid_w) {
    bool same_size = !image_.isNull() && img.size() == image_.size();
    image_ = img;
    geo_ = g;
    grid_h_ = grid_h;
    grid_w_ = grid_w;
    heat_ = QImage();
    highlight_.reset();
    live_ = false;
    if (!same_size || fitted_) fit();
    update();
}

void ImageView::setFrame(const QImage& img) {
    bool same_size = !image_.isNull() && img.size() == image_.size();
    image_ = img;
    heat_ = QImage();
    live_ = true;
    highlight_.reset();
    if (!same_size) fit();
    update();
}

void ImageView::setHeat(const QImage& heat) {
    heat_ = heat;
    update();
}

void ImageView::setOverlayVisible(bool on) {
    overlay_ = on;
    update();
}

void ImageView::setOpacity(double a) {
    opacity_ = std::clamp(a, 0.0, 1.0);
    update();
}

void ImageView::setHighlightedPatch(std::optional<std::pair<int, int>> rc) {
    highlight_ = rc;
    update();
}

void ImageView::fit() {
    if (image_.isNull()) return;
    scale_ = std::min(double(width()) / image_.width(), double(height()) / image_.height());
    offset_ = QPointF((width() - image_.width() * scale_) / 2, (height() - image_.height() * scale_) / 2);
    fitted_ = true;
    update();
}

void ImageView::zoomBy(double f) {
    if (image_.isNull()) return;
    QPointF c(width() / 2.0, height() / 2.0);
    QPointF ic = toImage(c);
    scale_ = std::clamp(scale_ * f, 0.05, 64.0);
    offset_ = c - ic * scale_;
    fitted_ = false;
    update();
}

QPointF ImageView::toImage(QPointF w) const { return (w - offset_) / scale_; }
QPointF ImageView::toWidget(QPointF i) const { return i * scale_ + offset_; }

QRectF ImageView::cropRect() const {
    cv::Rect2d b = geo_.crop_in_original();
    return QRectF(b.x, b.y, b.width, b.height);
}

std::optional<std::pair<int, int>> ImageView::patchAt(QPointF w) const {
    if (image_.isNull() || live_ || grid_h_ <= 0) return std::nullopt;
    QPointF p = toImage(w);
    QRectF c = cropRect();
    if (!c.contains(p)) return std::nullopt;
    int col = std::clamp(int((p.x() - c.x()) / c.width() * grid_w_), 0, grid_w_ - 1);
    int row = std::clamp(int((p.y() - c.y()) / c.height() * grid_h_), 0, grid_h_ - 1);
    return std::make_pair(row, col);
}

QRectF ImageView::patchRect(int row, int col) const {
    QRectF c = cropRect();
    double pw = c.width() / grid_w_, ph = c.height() / grid_h_;
    QPointF tl = toWidget(QPointF(c.x() + col * pw, c.y() + row * ph));
    return QRectF(tl, QSizeF(pw * scale_, ph * scale_));
}

void ImageView::paintEvent(QPaintEvent*) {
    QPainter p(this);
    if (image_.isNull()) {
        p.setPen(QColor(170, 170, 170));
        p.drawText(rect(), Qt::AlignCenter, tr("Open an image (Ctrl+O), drop files here, or paste (Ctrl+V)"));
        return;
    }
    p.setRenderHint(QPainter::SmoothPixmapTransform, scale_ < 4.0);
    QRectF target(offset_, QSizeF(image_.width() * scale_, image_.height() * scale_));
    p.drawImage(target, image_);
    if (live_) return;
    if (overlay_ && !heat_.isNull()) {
        p.setRenderHint(QPainter::SmoothPixmapTransform, true);
        p.setOpacity(opacity_);
        p.drawImage(target, heat_);
        p.setOpacity(1.0);
    }
    bool cropped = geo_.crop_w != geo_.resized_w || geo_.crop_h != geo_.resized_h || geo_.crop_x || geo_.crop_y;
    if (cropped) {
        QRectF c = cropRect();
        p.setPen(QPen(QColor(255, 255, 255, 200), 1.5, Qt::DashLine));
        p.drawRect(QRectF(toWidget(c.topLeft()), toWidget(c.bottomRight())));
    }
    if (highlight_) {
        p.setPen(QPen(QColor(255, 255, 255), 2.5));
        p.drawRect(patchRect(highlight_->first, highlight_->second));
        p.setPen(QPen(QColor(0, 0, 0), 1));
        p.drawRect(patchRect(highlight_->first, highlight_->second).adjusted(-2, -2, 2, 2));
    }
}

void ImageView::resizeEvent(QResizeEvent*) {
    if (fitted_) fit();
}

void ImageView::wheelEvent(QWheelEvent* e) {
    if (image_.isNull()) return;
    double f = std::pow(1.0015, e->angleDelta().y());
    QPointF at = e->position();
    QPointF ia = toImage(at);
    scale_ = std::clamp(scale_ * f, 0.05, 64.0);
    offset_ = at - ia * scale_;
    fitted_ = false;
    update();
}

void ImageView::mousePressEvent(QMouseEvent* e) {
    if (e->button() != Qt::LeftButton) return;
    press_pos_ = e->position();
    press_offset_ = offset_;
    dragging_ = false;
}

void ImageView::mouseMoveEvent(QMouseEvent* e) {
    if (!(e->buttons() & Qt::LeftButton)) return;
    QPointF d = e->position() - press_pos_;
    if (!dragging_ && std::hypot(d.x(), d.y()) > 4) dragging_ = true;
    if (dragging_) {
        offset_ = press_offset_ + d;
        fitted_ = false;
        update();
    }
}

void ImageView::mouseReleaseEvent(QMouseEvent* e) {
    if (e->button() != Qt::LeftButton) return;
    if (!dragging_) {
        if (auto rc = patchAt(e->position())) emit patchClicked(rc->first, rc->second);
    }
    dragging_ = false;
}

void ImageView::mouseDoubleClickEvent(QMouseEvent*) { fit(); }

}  // namespace vitlens::gui
