// The drill's HTML page: one self-contained file (no script, no network),
// an SVG timeline of every scenario, phase and step, the checks, and the
// recovery time beside etcdctl's.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "lab/drill.h"

namespace cpr::lab {
namespace {

using Json = nlohmann::ordered_json;

std::string Esc(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

struct Row {
  std::string label;
  double start, seconds;
  bool step, ok;
};

// One scenario's timeline: a bar per phase, a thinner one per step under it.
std::string Timeline(const Json& s) {
  std::vector<Row> rows;
  double end = 0;
  for (const auto& p : s["phases"]) {
    rows.push_back({p["name"], p["start"], p["seconds"], false, p["ok"]});
    for (const auto& st : p["steps"])
      rows.push_back(
          {(st["host"].get<std::string>().empty() ? "" : st["host"].get<std::string>() + " ") +
               st["name"].get<std::string>(),
           st["start"], st["seconds"], true, st["state"] != "failed"});
    end = std::max(end, p["start"].get<double>() + p["seconds"].get<double>());
  }
  if (rows.empty()) return "";
  const double t0 = rows.front().start;
  const double span = std::max(end - t0, 0.001);
  const int label_w = 330, bar_w = 560, row_h = 20;
  const int height = static_cast<int>(rows.size()) * row_h + 30;
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"timeline\" width=\"{}\" height=\"{}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n",
      label_w + bar_w + 80, height);
  // a tick every second (or every tenth of the span)
  const double tick = span > 20 ? std::ceil(span / 10) : (span > 2 ? 1.0 : 0.1);
  for (double t = 0; t <= span + 1e-9; t += tick) {
    const double x = label_w + t / span * bar_w;
    svg += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"0\" x2=\"{0:.1f}\" y2=\"{1}\" stroke=\"#ddd\"/>"
        "<text x=\"{0:.1f}\" y=\"{2}\" fill=\"#666\" text-anchor=\"middle\">{3:.1f}s</text>\n",
        x, height - 18, height - 4, t);
  }
  for (size_t i = 0; i < rows.size(); i++) {
    const Row& r = rows[i];
    const double y = static_cast<double>(i) * row_h + 4;
    const double x = label_w + (r.start - t0) / span * bar_w;
    const double w = std::max(r.seconds / span * bar_w, 1.5);
    const char* color = !r.ok ? "#d9534f" : (r.step ? "#5bc0de" : "#337ab7");
    svg += fmt::format(
        "<text x=\"{}\" y=\"{:.1f}\"{}>{}</text>"
        "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{}\" fill=\"{}\" rx=\"2\">"
        "<title>{} {:.3f}s</title></rect>"
        "<text x=\"{:.1f}\" y=\"{:.1f}\" fill=\"#333\">{:.2f}s</text>\n",
        r.step ? 24 : 4, y + 13, r.step ? " fill=\"#555\"" : " font-weight=\"bold\"",
        Esc(r.label.substr(0, 48)), x, y + (r.step ? 4 : 1), w, r.step ? 10 : 16, color,
        Esc(r.label), r.seconds, x + w + 4, y + 13, r.seconds);
  }
  return svg + "</svg>\n";
}

}  // namespace

std::string DrillReportHtml(const std::string& report_json) {
  const Json doc = Json::parse(report_json);
  std::string html =
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>CPR disaster drill</title>\n"
      "<style>body{font-family:sans-serif;margin:24px;color:#222}h1{font-size:22px}"
      "h2{font-size:18px;margin-top:28px}table{border-collapse:collapse;margin:8px 0}"
      "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left}"
      ".ok{color:#2a7a2a;font-weight:bold}.bad{color:#c9302c;font-weight:bold}"
      ".rto{font-size:16px;margin:10px 0}</style></head><body>\n";
  html += fmt::format(
      "<h1>CPR disaster drill: <span class=\"{}\">{}</span></h1>\n<p>{} MB of Kubernetes-like "
      "objects per scenario, real etcd 3.4 on a lab of master hosts (127.0.0.0/8), {:.1f}s in "
      "all.</p>\n",
      doc["ok"].get<bool>() ? "ok" : "bad", doc["ok"].get<bool>() ? "PASSED" : "FAILED",
      doc["mb"].get<int>(), doc["seconds"].get<double>());
  for (const auto& s : doc["scenarios"]) {
    html += fmt::format("<h2>{}: {} — <span class=\"{}\">{}</span></h2>\n", Esc(s["name"]),
                        Esc(s["title"]), s["ok"].get<bool>() ? "ok" : "bad",
                        s["ok"].get<bool>() ? "passed" : "failed");
    if (s.contains("rto_seconds") && s["rto_seconds"].get<double>() >= 0) {
      html += fmt::format(
          "<p class=\"rto\">Recovery (kill &rarr; serving a linearizable read): "
          "<b>{:.2f}s</b>",
          s["rto_seconds"].get<double>());
      if (s.contains("baseline")) {
        std::string b;
        for (const auto& x : s["baseline"]["seconds"])
          b += (b.empty() ? "" : ", ") + fmt::format("{:.2f}s", x.get<double>());
        html += fmt::format("; the etcdctl-scripted baseline on the same backup ({}): {}",
                            Esc(s["baseline"]["what"]), b);
      }
      html += "</p>\n";
    }
    if (s.contains("certificates_recovered_seconds") &&
        s["certificates_recovered_seconds"].get<double>() >= 0)
      html += fmt::format(
          "<p class=\"rto\">Certificate recovery (certs check &rarr; every kubelet holds a new "
          "certificate): <b>{:.2f}s</b></p>\n",
          s["certificates_recovered_seconds"].get<double>());
    html += Timeline(s);
    html += "<table><tr><th>phase / step</th><th>start</th><th>seconds</th><th>result</th></tr>\n";
    for (const auto& p : s["phases"]) {
      html += fmt::format(
          "<tr><td><b>{}</b><br><small>{}</small></td><td>{:.2f}</td><td>{:.2f}</td>"
          "<td class=\"{}\">{}</td></tr>\n",
          Esc(p["name"]), Esc(p["detail"]), p["start"].get<double>(), p["seconds"].get<double>(),
          p["ok"].get<bool>() ? "ok" : "bad", p["ok"].get<bool>() ? "ok" : "failed");
      for (const auto& st : p["steps"])
        html += fmt::format(
            "<tr><td>&nbsp;&nbsp;{}{}</td><td>{:.2f}</td><td>{:.2f}</td><td>{}</td></tr>\n",
            st["host"].get<std::string>().empty() ? "" : Esc(st["host"]) + " ", Esc(st["name"]),
            st["start"].get<double>(), st["seconds"].get<double>(), Esc(st["state"]));
    }
    html += "</table>\n<table><tr><th>check</th><th>result</th><th>detail</th></tr>\n";
    for (const auto& c : s["checks"])
      html += fmt::format("<tr><td>{}</td><td class=\"{}\">{}</td><td>{}</td></tr>\n",
                          Esc(c["name"]), c["ok"].get<bool>() ? "ok" : "bad",
                          c["ok"].get<bool>() ? "ok" : "FAILED", Esc(c["detail"]));
    html += "</table>\n";
  }
  return html + "</body></html>\n";
}

}  // namespace cpr::lab
