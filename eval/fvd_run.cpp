#include "eval/fvd_run.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/error.h"

namespace longvid::eval {

FeatureStats accumulate_stats(ClipInput& input, const std::vector<ClipRef>& refs, int64_t length, int64_t stride,
                              const FeatureFn& features, bool keep_features, int64_t batch,
                              const ProgressFn& progress) {
  if (batch < 1) fail("batch size must be >= 1, got {}", batch);
  FeatureStats stats;
  std::vector<at::Tensor> pending;
  int64_t done = 0;
  auto flush = [&] {
    if (pending.empty()) return;
    at::Tensor clips = at::stack(pending);  // uint8 [B, T, H, W, 3]
    at::Tensor f = features(clips);
    if (f.dim() != 2 || f.size(0) != clips.size(0))
      fail("the detector returned features of shape {} for {} clips", c10::str(f.sizes()), clips.size(0));
    if (stats.dim() == 0) stats = FeatureStats(f.size(1), keep_features);
    stats.add(f);
    done += clips.size(0);
    pending.clear();
    if (progress) progress(done, static_cast<int64_t>(refs.size()));
  };
  for (const auto& r : refs) {
    at::Tensor c = input.read(r.item, r.offset, length, stride);
    if (!pending.empty() && pending.front().sizes() != c.sizes()) flush();
    pending.push_back(std::move(c));
    if (static_cast<int64_t>(pending.size()) >= batch) flush();
  }
  flush();
  if (stats.dim() == 0) fail("no clips to compute statistics from");
  return stats;
}

FeatureStats accumulate_stats(ClipInput& input, const std::vector<ClipRef>& refs, int64_t length, int64_t stride,
                              VideoDetector& detector, bool keep_features, int64_t batch,
                              const ProgressFn& progress) {
  return accumulate_stats(
      input, refs, length, stride, [&](const at::Tensor& c) { return detector.features(c); }, keep_features, batch,
      progress);
}

namespace {
std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '&': o += "&amp;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}
// "Nice" tick step (1, 2, 5 × 10^k) for about n ticks over [lo, hi].
double nice_step(double lo, double hi, int n) {
  const double raw = (hi - lo) / std::max(n, 1);
  if (!(raw > 0)) return 1.0;
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * p) return m * p;
  return 10 * p;
}
std::string num(double v) {
  std::ostringstream s;
  s.precision(6);
  s << v;
  return s.str();
}
}  // namespace

std::string svg_line_plot(const std::vector<double>& x, const std::vector<double>& y, const std::string& title,
                          const std::string& x_label, const std::string& y_label) {
  if (x.size() != y.size() || x.empty()) fail("plot needs as many x as y values (and at least one)");
  const double W = 720, H = 420, L = 80, R = 20, T = 40, B = 60;
  double x0 = *std::min_element(x.begin(), x.end()), x1 = *std::max_element(x.begin(), x.end());
  double y0 = std::min(0.0, *std::min_element(y.begin(), y.end())), y1 = *std::max_element(y.begin(), y.end());
  if (x1 == x0) x1 = x0 + 1;
  if (y1 == y0) y1 = y0 + 1;
  const double ys = nice_step(y0, y1, 6), xs = nice_step(x0, x1, 8);
  y1 = std::ceil(y1 / ys) * ys;
  y0 = std::floor(y0 / ys) * ys;
  auto px = [&](double v) { return L + (v - x0) / (x1 - x0) * (W - L - R); };
  auto py = [&](double v) { return H - B - (v - y0) / (y1 - y0) * (H - T - B); };
  std::ostringstream s;
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H << "\" viewBox=\"0 0 " << W
    << " " << H << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  s << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  s << "<text x=\"" << W / 2 << "\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">" << esc(title) << "</text>\n";
  for (double v = y0; v <= y1 + ys * 1e-9; v += ys) {
    s << "<line x1=\"" << L << "\" x2=\"" << W - R << "\" y1=\"" << py(v) << "\" y2=\"" << py(v)
      << "\" stroke=\"#ddd\"/>\n";
    s << "<text x=\"" << L - 6 << "\" y=\"" << py(v) + 4 << "\" text-anchor=\"end\">" << num(v) << "</text>\n";
  }
  for (double v = std::ceil(x0 / xs) * xs; v <= x1 + xs * 1e-9; v += xs) {
    s << "<line x1=\"" << px(v) << "\" x2=\"" << px(v) << "\" y1=\"" << H - B << "\" y2=\"" << H - B + 5
      << "\" stroke=\"black\"/>\n";
    s << "<text x=\"" << px(v) << "\" y=\"" << H - B + 18 << "\" text-anchor=\"middle\">" << num(v) << "</text>\n";
  }
  s << "<line x1=\"" << L << "\" x2=\"" << W - R << "\" y1=\"" << H - B << "\" y2=\"" << H - B
    << "\" stroke=\"black\"/>\n";
  s << "<line x1=\"" << L << "\" x2=\"" << L << "\" y1=\"" << T << "\" y2=\"" << H - B << "\" stroke=\"black\"/>\n";
  s << "<text x=\"" << (L + W - R) / 2 << "\" y=\"" << H - 16 << "\" text-anchor=\"middle\">" << esc(x_label)
    << "</text>\n";
  s << "<text transform=\"translate(18," << (T + H - B) / 2 << ") rotate(-90)\" text-anchor=\"middle\">"
    << esc(y_label) << "</text>\n";
  s << "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" points=\"";
  for (size_t i = 0; i < x.size(); ++i) s << (i ? " " : "") << px(x[i]) << "," << py(y[i]);
  s << "\"/>\n";
  for (size_t i = 0; i < x.size(); ++i)
    s << "<circle cx=\"" << px(x[i]) << "\" cy=\"" << py(y[i]) << "\" r=\"3\" fill=\"#1f77b4\"><title>" << num(x[i])
      << ": " << num(y[i]) << "</title></circle>\n";
  s << "</svg>\n";
  return s.str();
}

}  // namespace longvid::eval
