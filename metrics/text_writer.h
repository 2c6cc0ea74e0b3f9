// Writes the Prometheus text exposition format (version 0.0.4): a family's
// HELP and TYPE lines, then its samples, label values escaped. Each family
// is written once, its samples together, as the format requires.
#ifndef VMIGD_METRICS_TEXT_WRITER_H_
#define VMIGD_METRICS_TEXT_WRITER_H_

#include <string>
#include <utility>
#include <vector>

namespace vmig::metrics {

enum class Type { kCounter, kGauge, kHistogram };

// What the endpoint's responses carry as Content-Type.
inline constexpr char kContentType[] =
    "text/plain; version=0.0.4; charset=utf-8";

class TextWriter {
 public:
  using LabelPairs = std::vector<std::pair<std::string, std::string>>;

  void Family(const std::string& name, Type type, const std::string& help);
  // `name` is the family's, or with a histogram's _bucket/_sum/_count.
  void Sample(const std::string& name, const LabelPairs& labels, double value);
  const std::string& text() const { return out_; }

 private:
  std::string out_;
};

// A label value as the format quotes it (backslash, quote, newline).
std::string EscapeLabelValue(const std::string& v);
// A sample value: integers without a fraction, +Inf/-Inf/NaN spelled out.
std::string FormatValue(double v);

}  // namespace vmig::metrics

#endif  // VMIGD_METRICS_TEXT_WRITER_H_
