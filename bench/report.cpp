#include "bench/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace custos::bench {
namespace {

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

Json percentiles_json(const Percentiles& p) {
  return {{"count", p.count},
          {"p50_ms", p.p50_ms},
          {"p90_ms", p.p90_ms},
          {"p99_ms", p.p99_ms},
          {"max_ms", p.max_ms}};
}

std::string latency_line(const char* what, const Percentiles& p) {
  return std::string(what) + "p50 " + fixed(p.p50_ms, 2) + " ms, p90 " + fixed(p.p90_ms, 2) +
         " ms, p99 " + fixed(p.p99_ms, 2) + " ms, max " + fixed(p.max_ms, 2) + " ms (" +
         with_thousands(static_cast<double>(p.count)) + ")";
}

std::string xml_escape(const std::string& s) {
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

// A tick step of 1, 2 or 5 times a power of ten giving about `ticks` ticks.
double nice_step(double max, int ticks) {
  if (max <= 0) return 1;
  double raw = max / ticks;
  double mag = std::pow(10, std::floor(std::log10(raw)));
  double norm = raw / mag;
  return (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
}

std::string tick_label(double v) {
  if (v >= 1000) return with_thousands(v);
  if (v == std::floor(v)) return fixed(v, 0);
  return fixed(v, v < 1 ? 2 : 1);
}

// One panel: axes, grid, labels and one polyline per series.
struct Panel {
  double left, top, width, height;
  double x_max, y_max;
  double x(double v) const { return left + width * v / x_max; }
  double y(double v) const { return top + height - height * std::min(v, y_max) / y_max; }
};

void axes(std::ostringstream& svg, const Panel& p, const std::string& y_label,
          const std::string& x_label) {
  double y_step = nice_step(p.y_max, 5);
  for (double v = 0; v <= p.y_max + 1e-9; v += y_step) {
    svg << "<line x1='" << p.left << "' x2='" << p.left + p.width << "' y1='" << p.y(v) << "' y2='"
        << p.y(v) << "' stroke='#ddd'/>\n";
    svg << "<text x='" << p.left - 6 << "' y='" << p.y(v) + 4
        << "' text-anchor='end' font-size='11'>" << tick_label(v) << "</text>\n";
  }
  double x_step = std::max(1.0, nice_step(p.x_max, 10));
  for (double v = 0; v <= p.x_max + 1e-9; v += x_step) {
    svg << "<line x1='" << p.x(v) << "' x2='" << p.x(v) << "' y1='" << p.top + p.height << "' y2='"
        << p.top + p.height + 4 << "' stroke='#333'/>\n";
    svg << "<text x='" << p.x(v) << "' y='" << p.top + p.height + 16
        << "' text-anchor='middle' font-size='11'>" << tick_label(v) << "</text>\n";
  }
  svg << "<rect x='" << p.left << "' y='" << p.top << "' width='" << p.width << "' height='"
      << p.height << "' fill='none' stroke='#333'/>\n";
  svg << "<text x='" << p.left - 48 << "' y='" << p.top + p.height / 2
      << "' text-anchor='middle' font-size='12' transform='rotate(-90 " << p.left - 48 << " "
      << p.top + p.height / 2 << ")'>" << xml_escape(y_label) << "</text>\n";
  svg << "<text x='" << p.left + p.width / 2 << "' y='" << p.top + p.height + 32
      << "' text-anchor='middle' font-size='12'>" << xml_escape(x_label) << "</text>\n";
}

void polyline(std::ostringstream& svg, const Panel& p,
              const std::vector<std::pair<double, double>>& points, const char* colour) {
  if (points.empty()) return;
  svg << "<polyline fill='none' stroke='" << colour << "' stroke-width='2' points='";
  for (const auto& [x, y] : points) svg << fixed(p.x(x), 1) << "," << fixed(p.y(y), 1) << " ";
  svg << "'/>\n";
  if (points.size() == 1) {
    svg << "<circle cx='" << p.x(points[0].first) << "' cy='" << p.y(points[0].second)
        << "' r='3' fill='" << colour << "'/>\n";
  }
}

void legend(std::ostringstream& svg, double x, double y, const char* colour,
            const std::string& text) {
  svg << "<line x1='" << x << "' x2='" << x + 24 << "' y1='" << y << "' y2='" << y << "' stroke='"
      << colour << "' stroke-width='2'/>\n";
  svg << "<text x='" << x + 30 << "' y='" << y + 4 << "' font-size='12'>" << xml_escape(text)
      << "</text>\n";
}

// Two decimals, or two significant digits below 0.1 so a small ratio is not
// printed as 0.00.
std::string ratio_text(const Report& r) {
  double ratio = r.bound_tx_s > 0 ? r.committed_tx_s / r.bound_tx_s : 0;
  if (ratio >= 0.1 || ratio == 0) return fixed(ratio, 2);
  int decimals = 1 - static_cast<int>(std::floor(std::log10(ratio)));
  return fixed(ratio, std::min(decimals, 8));
}

}  // namespace

std::string with_thousands(double value) {
  std::string s = fixed(std::round(value), 0);
  std::size_t digits_start = s[0] == '-' ? 1 : 0;
  for (int i = static_cast<int>(s.size()) - 3; i > static_cast<int>(digits_start); i -= 3) {
    s.insert(static_cast<std::size_t>(i), ",");
  }
  return s;
}

void print_report(const Report& r, std::ostream& out) {
  out << "\n== custos-bench results ==\n";
  out << "mode:       " << r.config["mode"].get<std::string>() << ", batch " << r.config["batch"]
      << ", concurrency " << r.config["concurrency"] << ", " << fixed(r.duration_s, 0) << " s, "
      << r.nodes << " node(s), gateways " << r.config["gateways"].dump() << "\n";
  out << "verify:     " << with_thousands(r.verifies_per_s)
      << " ECDSA verifies/s on one core; cores " << r.cores << "\n";
  out << "committed:  " << with_thousands(static_cast<double>(r.committed)) << " handovers, "
      << fixed(r.committed_tx_s, 1) << " tx/s\n";
  out << latency_line("latency:    submit-to-commit ", r.commit) << "\n";
  if (r.history.count) {
    out << latency_line("history:    ", r.history) << ", " << fixed(r.history_per_s, 1)
        << " reads/s\n";
  }
  if (r.verify.count) {
    out << latency_line("verify:     ", r.verify) << ", " << fixed(r.verify_per_s, 1)
        << " reads/s\n";
  }
  if (r.tx.count) {
    out << latency_line("tx+proof:   ", r.tx) << ", " << fixed(r.tx_per_s, 1) << " reads/s\n";
    out << "            (" << r.tx_reads["ids"] << " transactions from random blocks of "
        << fixed(r.tx_reads["mean_block_txs"].get<double>(), 0) << " txs on average; ledger of "
        << with_thousands(r.tx_reads["ledger_txs"].get<double>()) << " transactions)\n";
  }
  std::size_t failed = 0;
  for (const auto& [kind, n] : r.failures) failed += n;
  out << "failures:   " << failed << "\n";
  for (const auto& [kind, n] : r.failures) out << "  " << n << "  " << kind << "\n";
  if (r.run.sends_late) {
    out << "note:       " << r.run.sends_late
        << " sends left later than scheduled (the writers could not keep the rate: raise "
           "--concurrency)\n";
  }
  if (r.run.items_retired) {
    out << "note:       " << r.run.items_retired
        << " items retired after a failed handover (their custodian is no longer known)\n";
  }
  if (r.run.exhausted) {
    out << "note:       the pre-signed handovers ran out at " << fixed(r.run.exhausted_at_s, 1)
        << " s; pass a larger --txs\n";
  }
  out << "ratio: " << with_thousands(r.committed_tx_s) << " tx/s / bound "
      << with_thousands(r.bound_tx_s) << " tx/s = " << ratio_text(r) << " (target "
      << fixed(kTargetRatio, 1) << ")\n";
  out << "verify share: " << r.signatures_per_tx << " signatures per handover, verified by "
      << r.nodes << " node(s): " << fixed(100 * verify_share(r), 1)
      << "% of the cores' verify capacity\n";
}

double verify_share(const Report& r) {
  return r.bound_tx_s > 0 ? r.signatures_per_tx * r.committed_tx_s / r.bound_tx_s : 0;
}

Json report_json(const Report& r) {
  Json failures = Json::object();
  for (const auto& [kind, n] : r.failures) failures[kind] = n;
  Json series = Json::array();
  for (const SecondStats& s : r.series) {
    series.push_back({{"second", s.second},
                      {"committed", s.committed},
                      {"p50_ms", s.commit.p50_ms},
                      {"p99_ms", s.commit.p99_ms},
                      {"reads", s.reads},
                      {"failures", s.failures}});
  }
  return {
      {"config", r.config},
      {"machine", r.machine},
      {"workload", r.workload},
      {"verify",
       {{"verifies_per_s_one_core", r.verifies_per_s}, {"cores", r.cores}, {"nodes", r.nodes}}},
      {"bound_tx_s", r.bound_tx_s},
      {"throughput",
       {{"duration_s", r.duration_s},
        {"committed", r.committed},
        {"committed_tx_s", r.committed_tx_s},
        {"ratio", r.bound_tx_s > 0 ? r.committed_tx_s / r.bound_tx_s : 0},
        {"signatures_per_tx", r.signatures_per_tx},
        {"verify_share", verify_share(r)},
        {"target_ratio", kTargetRatio}}},
      {"latency", percentiles_json(r.commit)},
      {"reads",
       {{"history", percentiles_json(r.history)},
        {"history_per_s", r.history_per_s},
        {"verify", percentiles_json(r.verify)},
        {"verify_per_s", r.verify_per_s},
        {"tx_read", percentiles_json(r.tx)},
        {"tx_read_per_s", r.tx_per_s},
        {"tx_reads", r.tx_reads}}},
      {"failures", failures},
      {"notes",
       {{"sends_late", r.run.sends_late},
        {"items_retired", r.run.items_retired},
        {"exhausted", r.run.exhausted},
        {"exhausted_at_s", r.run.exhausted_at_s}}},
      {"series", series},
  };
}

std::string report_svg(const Report& r) {
  const double width = 960, height = 600;
  double x_max = std::max(1.0, r.duration_s);
  double lat_max = 0, tps_max = 0;
  std::vector<std::pair<double, double>> p50, p99, tps;
  for (const SecondStats& s : r.series) {
    double x = s.second + 0.5;  // the middle of the second it describes
    tps.emplace_back(x, static_cast<double>(s.committed));
    tps_max = std::max(tps_max, static_cast<double>(s.committed));
    if (s.committed == 0) continue;
    p50.emplace_back(x, s.commit.p50_ms);
    p99.emplace_back(x, s.commit.p99_ms);
    lat_max = std::max(lat_max, s.commit.p99_ms);
  }
  Panel lat{90, 70, width - 130, 250, x_max, 0};
  lat.y_max = nice_step(lat_max > 0 ? lat_max : 1, 5) *
              std::ceil((lat_max > 0 ? lat_max : 1) / nice_step(lat_max > 0 ? lat_max : 1, 5));
  Panel thr{90, 390, width - 130, 150, x_max, 0};
  double tmax = tps_max > 0 ? tps_max : 1;
  thr.y_max = nice_step(tmax, 4) * std::ceil(tmax / nice_step(tmax, 4));

  std::ostringstream svg;
  svg << "<svg xmlns='http://www.w3.org/2000/svg' width='" << width << "' height='" << height
      << "' viewBox='0 0 " << width << " " << height
      << "' font-family='sans-serif'>\n<rect width='100%' height='100%' fill='white'/>\n";
  std::string title = "custos-bench: " + r.config["mode"].get<std::string>() + ", batch " +
                      r.config["batch"].dump() + ", concurrency " + r.config["concurrency"].dump() +
                      ", " + std::to_string(r.nodes) +
                      " node(s): " + with_thousands(r.committed_tx_s) + " tx/s committed, p99 " +
                      fixed(r.commit.p99_ms, 1) + " ms";
  svg << "<text x='" << width / 2 << "' y='24' text-anchor='middle' font-size='16'>"
      << xml_escape(title) << "</text>\n";
  svg << "<text x='" << width / 2 << "' y='44' text-anchor='middle' font-size='12' fill='#555'>"
      << xml_escape("ratio " + ratio_text(r) + " of the verification bound " +
                    with_thousands(r.bound_tx_s) + " tx/s (target " + fixed(kTargetRatio, 1) + ")")
      << "</text>\n";
  axes(svg, lat, "submit-to-commit latency (ms)", "time since start (s)");
  polyline(svg, lat, p50, "#1f77b4");
  polyline(svg, lat, p99, "#d62728");
  legend(svg, lat.left + 10, lat.top + 14, "#1f77b4", "p50 per second");
  legend(svg, lat.left + 150, lat.top + 14, "#d62728", "p99 per second");
  axes(svg, thr, "committed tx/s", "time since start (s)");
  polyline(svg, thr, tps, "#2ca02c");
  legend(svg, thr.left + 10, thr.top + 14, "#2ca02c", "committed handovers per second");
  svg << "</svg>\n";
  return svg.str();
}

}  // namespace custos::bench
