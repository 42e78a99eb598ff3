// What a training or evaluation run leaves behind: metrics.json (for programs) and
// report.html (for people: learning curves and the row-normalised confusion matrix as
// inline SVG, accuracy per group), plus the plain-text tables printed on the terminal.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "graft/io/atomic_file.hpp"
#include "graft/train/history.hpp"
#include "graft/train/json.hpp"
#include "graft/train/metrics.hpp"

namespace graft {
namespace train {

struct Report {
  std::string title = "graft";
  std::vector<std::string> classes;
  Confusion confusion;                 // the final evaluation
  std::string evaluated_on;            // e.g. "test split (1936 UTKFace images)"
  std::vector<EpochRecord> epochs;     // empty for a plain evaluation
  GroupAccuracy groups;
  std::vector<std::pair<std::string, std::string>> info;  // run facts, shown in order
};

namespace report_detail {
inline std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}
inline std::string html_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else if (c == '"') o += "&quot;";
    else o += c;
  }
  return o;
}
}  // namespace report_detail

// "epoch  train  val  loss  seconds" with epoch 0 shown as "Rand" (the case study's name
// for the untrained point).
inline std::string learning_curve_table(const std::vector<EpochRecord>& epochs) {
  using report_detail::fmt;
  std::string s = "epoch   stage       train_acc  val_acc  loss      seconds\n";
  for (const auto& r : epochs) {
    char line[160];
    std::snprintf(line, sizeof line, "%-7s %-11s %9.4f %8.4f %9.4f %8.1f\n",
                  r.epoch == 0 ? "Rand" : std::to_string(r.epoch).c_str(), r.stage.c_str(),
                  r.train_accuracy, r.val_accuracy, r.loss, r.seconds);
    s += line;
  }
  return s;
}

inline std::string confusion_table(const Confusion& c, const std::vector<std::string>& classes) {
  std::string s = "true \\ predicted";
  for (const auto& n : classes) {
    char col[32];
    std::snprintf(col, sizeof col, "  %8s", n.substr(0, 8).c_str());
    s += col;
  }
  s += "\n";
  for (int i = 0; i < c.classes(); ++i) {
    char head[32];
    std::snprintf(head, sizeof head, "%-16s", classes[size_t(i)].substr(0, 16).c_str());
    s += head;
    for (int j = 0; j < c.classes(); ++j) s += report_detail::fmt("  %8.0f", double(c.at(i, j)));
    s += report_detail::fmt("   (%.1f %% right)\n", 100.0 * c.rate(i, i));
  }
  s += report_detail::fmt("accuracy %.4f", c.accuracy()) + " on " + std::to_string(c.count()) + " images\n";
  return s;
}

inline std::string group_table(const GroupAccuracy& g) {
  std::string s;
  for (const auto& grp : g.counts()) {
    s += grp.first + ":\n";
    for (const auto& v : grp.second) {
      char line[128];
      std::snprintf(line, sizeof line, "  %-14s %6lld images  accuracy %.4f\n", v.first.c_str(),
                    static_cast<long long>(v.second.first),
                    v.second.first ? double(v.second.second) / double(v.second.first) : 0.0);
      s += line;
    }
  }
  return s;
}

inline std::string metrics_json(const Report& r) {
  using json::num;
  using json::str;
  std::string s = "{\n  \"title\": " + str(r.title) + ",\n  \"classes\": [";
  for (size_t i = 0; i < r.classes.size(); ++i) s += (i ? ", " : "") + str(r.classes[i]);
  s += "],\n  \"evaluated_on\": " + str(r.evaluated_on);
  s += ",\n  \"count\": " + std::to_string(r.confusion.count());
  s += ",\n  \"accuracy\": " + num(r.confusion.accuracy()) + ",\n  \"confusion\": [";
  for (int i = 0; i < r.confusion.classes(); ++i) {
    s += i ? ", [" : "[";
    for (int j = 0; j < r.confusion.classes(); ++j) s += (j ? ", " : "") + std::to_string(r.confusion.at(i, j));
    s += "]";
  }
  s += "],\n  \"epochs\": [";
  for (size_t i = 0; i < r.epochs.size(); ++i) {
    const auto& e = r.epochs[i];
    s += (i ? ",\n    " : "\n    ") + std::string("{\"epoch\": ") + std::to_string(e.epoch) +
         ", \"stage\": " + str(e.stage) + ", \"train_accuracy\": " + num(e.train_accuracy) +
         ", \"val_accuracy\": " + num(e.val_accuracy) + ", \"loss\": " + num(e.loss) +
         ", \"val_loss\": " + num(e.val_loss) + ", \"seconds\": " + num(e.seconds) +
         ", \"cached_batches\": " + std::to_string(e.cached_batches) + "}";
  }
  s += r.epochs.empty() ? "]" : "\n  ]";
  s += ",\n  \"groups\": {";
  bool first_group = true;
  for (const auto& grp : r.groups.counts()) {
    s += (first_group ? "\n    " : ",\n    ") + str(grp.first) + ": {";
    first_group = false;
    bool first = true;
    for (const auto& v : grp.second) {
      s += (first ? "" : ", ") + str(v.first) + ": {\"count\": " + std::to_string(v.second.first) +
           ", \"correct\": " + std::to_string(v.second.second) + ", \"accuracy\": " +
           num(v.second.first ? double(v.second.second) / double(v.second.first) : 0.0) + "}";
      first = false;
    }
    s += "}";
  }
  s += first_group ? "}" : "\n  }";
  s += ",\n  \"info\": {";
  for (size_t i = 0; i < r.info.size(); ++i)
    s += (i ? ", " : "") + str(r.info[i].first) + ": " + str(r.info[i].second);
  s += "}\n}\n";
  return s;
}

// A line chart of series over epochs, as inline SVG.
inline std::string svg_lines(const std::string& title, const std::vector<EpochRecord>& epochs,
                             const std::vector<std::pair<std::string, double EpochRecord::*>>& series,
                             bool unit_range) {
  using report_detail::fmt;
  const double W = 500, H = 300, L = 56, R = 16, T = 34, B = 42;
  double lo = unit_range ? 0.0 : 1e300, hi = unit_range ? 1.0 : -1e300;
  if (!unit_range)
    for (const auto& e : epochs)
      for (const auto& s : series)
        if (std::isfinite(e.*(s.second))) lo = std::min(lo, e.*(s.second)), hi = std::max(hi, e.*(s.second));
  if (!(hi > lo)) hi = lo + 1;
  const int last = epochs.empty() ? 1 : std::max(1, epochs.back().epoch);
  auto X = [&](double e) { return L + (W - L - R) * e / last; };
  auto Y = [&](double v) { return T + (H - T - B) * (1 - (v - lo) / (hi - lo)); };
  const char* colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd"};
  std::string s = "<svg xmlns='http://www.w3.org/2000/svg' width='" + fmt("%.0f", W) + "' height='" +
                  fmt("%.0f", H) + "' font-family='sans-serif' font-size='12'>";
  s += "<text x='" + fmt("%.0f", W / 2) + "' y='18' text-anchor='middle' font-size='14'>" +
       report_detail::html_escape(title) + "</text>";
  s += "<rect x='" + fmt("%.0f", L) + "' y='" + fmt("%.0f", T) + "' width='" + fmt("%.0f", W - L - R) +
       "' height='" + fmt("%.0f", H - T - B) + "' fill='none' stroke='#888'/>";
  for (int k = 0; k <= 4; ++k) {
    const double v = lo + (hi - lo) * k / 4;
    s += "<line x1='" + fmt("%.1f", L) + "' x2='" + fmt("%.1f", W - R) + "' y1='" + fmt("%.1f", Y(v)) +
         "' y2='" + fmt("%.1f", Y(v)) + "' stroke='#eee'/>";
    s += "<text x='" + fmt("%.1f", L - 6) + "' y='" + fmt("%.1f", Y(v) + 4) + "' text-anchor='end'>" +
         fmt(unit_range ? "%.2f" : "%.3g", v) + "</text>";
  }
  // Every epoch is labelled up to 15 of them; beyond, every 2nd, 5th, 10th ... so labels never overlap.
  int every = 1;
  for (int step : {2, 5, 10, 20, 50, 100, 200, 500, 1000})
    if (last > 15 && last / every > 12) every = step;
  for (const auto& e : epochs)
    if (e.epoch % every == 0)
      s += "<text x='" + fmt("%.1f", X(e.epoch)) + "' y='" + fmt("%.1f", H - B + 16) + "' text-anchor='middle'>" +
           (e.epoch == 0 ? std::string("Rand") : std::to_string(e.epoch)) + "</text>";
  s += "<text x='" + fmt("%.0f", (L + W - R) / 2) + "' y='" + fmt("%.0f", H - 6) + "' text-anchor='middle'>epoch</text>";
  for (size_t k = 0; k < series.size(); ++k) {
    std::string pts;
    for (const auto& e : epochs)
      if (std::isfinite(e.*(series[k].second)))
        pts += fmt("%.1f", X(e.epoch)) + "," + fmt("%.1f", Y(e.*(series[k].second))) + " ";
    s += "<polyline fill='none' stroke-width='2' stroke='" + std::string(colors[k % 4]) + "' points='" + pts + "'/>";
    for (const auto& e : epochs)
      if (std::isfinite(e.*(series[k].second)))
        s += "<circle r='3' fill='" + std::string(colors[k % 4]) + "' cx='" + fmt("%.1f", X(e.epoch)) + "' cy='" +
             fmt("%.1f", Y(e.*(series[k].second))) + "'/>";
    s += "<rect x='" + fmt("%.0f", L + 10 + 130 * k) + "' y='" + fmt("%.0f", T + 8) + "' width='12' height='3' fill='" +
         colors[k % 4] + "'/><text x='" + fmt("%.0f", L + 26 + 130 * k) + "' y='" + fmt("%.0f", T + 13) + "'>" +
         report_detail::html_escape(series[k].first) + "</text>";
  }
  return s + "</svg>";
}

// The confusion matrix, each row normalised to the fraction of that true class, as SVG.
inline std::string svg_confusion(const Confusion& c, const std::vector<std::string>& classes) {
  using report_detail::fmt;
  const int k = c.classes();
  const double cell = k <= 3 ? 90 : std::max(28.0, 270.0 / k), L = 110, T = 60;
  const double W = L + cell * k + 20, H = T + cell * k + 20;
  std::string s = "<svg xmlns='http://www.w3.org/2000/svg' width='" + fmt("%.0f", W) + "' height='" +
                  fmt("%.0f", H) + "' font-family='sans-serif' font-size='12'>";
  s += "<text x='" + fmt("%.0f", L + cell * k / 2) + "' y='16' text-anchor='middle' font-size='14'>predicted</text>";
  s += "<text x='14' y='" + fmt("%.0f", T + cell * k / 2) + "' transform='rotate(-90 14 " +
       fmt("%.0f", T + cell * k / 2) + ")' text-anchor='middle' font-size='14'>true</text>";
  for (int j = 0; j < k; ++j)
    s += "<text x='" + fmt("%.1f", L + cell * (j + 0.5)) + "' y='" + fmt("%.0f", T - 8) + "' text-anchor='middle'>" +
         report_detail::html_escape(classes[size_t(j)]) + "</text>";
  for (int i = 0; i < k; ++i) {
    s += "<text x='" + fmt("%.0f", L - 8) + "' y='" + fmt("%.1f", T + cell * (i + 0.5) + 4) + "' text-anchor='end'>" +
         report_detail::html_escape(classes[size_t(i)]) + "</text>";
    for (int j = 0; j < k; ++j) {
      const double r = c.rate(i, j);
      const int shade = int(255 - 200 * r);
      s += "<rect x='" + fmt("%.1f", L + cell * j) + "' y='" + fmt("%.1f", T + cell * i) + "' width='" +
           fmt("%.1f", cell) + "' height='" + fmt("%.1f", cell) + "' stroke='#fff' fill='rgb(" +
           std::to_string(shade) + "," + std::to_string(shade) + ",255)'/>";
      s += "<text x='" + fmt("%.1f", L + cell * (j + 0.5)) + "' y='" + fmt("%.1f", T + cell * (i + 0.5) + 4) +
           "' text-anchor='middle' fill='" + (r > 0.6 ? "#fff" : "#000") + "'>" + fmt("%.2f", r) + "</text>";
    }
  }
  return s + "</svg>";
}

inline std::string report_html(const Report& r) {
  using report_detail::fmt;
  using report_detail::html_escape;
  std::string s = "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>" + html_escape(r.title) +
                  "</title><style>body{font-family:sans-serif;margin:24px;max-width:1100px}"
                  "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
                  "th{background:#f3f3f3}td.l,th.l{text-align:left}.row{display:flex;flex-wrap:wrap;gap:16px}</style>"
                  "</head><body>\n<h1>" + html_escape(r.title) + "</h1>\n";
  s += "<p><b>Accuracy " + fmt("%.4f", r.confusion.accuracy()) + "</b> on " + html_escape(r.evaluated_on) + " (" +
       std::to_string(r.confusion.count()) + " images).</p>\n";
  if (!r.info.empty()) {
    s += "<table>";
    for (const auto& kv : r.info) s += "<tr><th class='l'>" + html_escape(kv.first) + "</th><td class='l'>" + html_escape(kv.second) + "</td></tr>";
    s += "</table>\n";
  }
  if (!r.epochs.empty()) {
    s += "<h2>Learning curves</h2>\n<div class='row'>" +
         svg_lines("accuracy", r.epochs, {{"train", &EpochRecord::train_accuracy}, {"validation", &EpochRecord::val_accuracy}}, true) +
         svg_lines("loss", r.epochs, {{"training loss", &EpochRecord::loss}, {"validation loss", &EpochRecord::val_loss}}, false) +
         "</div>\n<table><tr><th>epoch</th><th class='l'>stage</th><th>train accuracy</th><th>validation accuracy</th><th>loss</th><th>seconds</th></tr>";
    for (const auto& e : r.epochs)
      s += "<tr><td>" + (e.epoch == 0 ? std::string("Rand") : std::to_string(e.epoch)) + "</td><td class='l'>" +
           html_escape(e.stage) + "</td><td>" + fmt("%.4f", e.train_accuracy) + "</td><td>" + fmt("%.4f", e.val_accuracy) +
           "</td><td>" + fmt("%.4f", e.loss) + "</td><td>" + fmt("%.1f", e.seconds) + "</td></tr>";
    s += "</table>\n";
  }
  s += "<h2>Confusion matrix</h2><p>Rows: true class; columns: predicted; each row sums to 1.</p>\n" +
       svg_confusion(r.confusion, r.classes) + "\n";
  if (!r.groups.counts().empty()) {
    s += "<h2>Accuracy per group</h2>\n<div class='row'>";
    for (const auto& grp : r.groups.counts()) {
      s += "<table><tr><th class='l'>" + html_escape(grp.first) + "</th><th>images</th><th>accuracy</th></tr>";
      for (const auto& v : grp.second)
        s += "<tr><td class='l'>" + html_escape(v.first) + "</td><td>" + std::to_string(v.second.first) + "</td><td>" +
             fmt("%.4f", v.second.first ? double(v.second.second) / double(v.second.first) : 0.0) + "</td></tr>";
      s += "</table>";
    }
    s += "</div>\n";
  }
  return s + "</body></html>\n";
}

inline void write_text_file(const std::string& path, const std::string& text) {
  io::AtomicFile f(path);
  f.write(text);
  f.commit();
}

inline void write_report(const std::string& dir, const Report& r) {
  write_text_file(dir + "/metrics.json", metrics_json(r));
  write_text_file(dir + "/report.html", report_html(r));
}

}  // namespace train
}  // namespace graft
