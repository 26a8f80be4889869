// suite.cpp — see suite.hpp.
#include "suite.hpp"

#include <cmath>
#include <sstream>

namespace engram_suite {

double Case::option(const std::string& name, double fallback) const {
    const auto it = options.find(name);
    return it == options.end() ? fallback : it->second;
}

std::string Case::label() const {
    std::ostringstream s;
    s << op;
    for (const auto& [name, value] : dims) s << " " << name << "=" << value;
    s << " " << dtype_name(dtype) << " seed=" << seed;
    for (const auto& [name, value] : options) s << " " << name << "=" << value;
    return s.str();
}

bool Suite::has_op(const std::string& op) const {
    for (const OpInfo& o : ops())
        if (o.name == op) return true;
    return false;
}

namespace {

std::string index_text(size_t i, int64_t cols) {
    std::ostringstream s;
    if (cols > 0) s << "[" << int64_t(i) / cols << ", " << int64_t(i) % cols << "]";
    else s << "[" << i << "]";
    return s.str();
}

}  // namespace

void Comparison::check(const char* what, const std::vector<float>& got,
                       const std::vector<double>& ref, const std::vector<double>& bound,
                       int64_t cols) {
    if (got.size() != ref.size() || bound.size() != ref.size()) {
        std::ostringstream s;
        s << what << ": size mismatch: got " << got.size() << " entries, reference " << ref.size();
        fail(s.str());
        return;
    }
    int64_t listed = 0;
    for (size_t i = 0; i < got.size(); ++i) {
        const double r = ref[i], g = double(got[i]);
        const double err = std::fabs(g - r);
        const bool same_kind = std::isfinite(g) == std::isfinite(r);
        const bool ok = same_kind && (g == r || err <= bound[i]);
        const double ratio = !same_kind ? INFINITY
                             : g == r   ? 0.0
                             : bound[i] > 0 ? err / bound[i] : INFINITY;
        ++o_.compared;
        if (std::isfinite(err) && err > o_.max_abs_err) o_.max_abs_err = err;
        if (!(ratio <= o_.worst_ratio)) {
            o_.worst_ratio = ratio;
            o_.worst_at = what + index_text(i, cols);
        }
        if (!ok) {
            ++o_.mismatches;
            if (listed++ < 5) {
                std::ostringstream s;
                s.precision(9);
                s << "\n  " << what << index_text(i, cols) << ": got " << g << ", expected " << r
                  << " (|diff| " << err << " > bound " << bound[i] << ")";
                list_ += s.str();
            }
        }
    }
}

void Comparison::fail(const std::string& why) {
    failed_ = true;
    list_ += "\n  " + why;
}

Outcome Comparison::outcome() const {
    Outcome o = o_;
    o.passed = !failed_ && o.mismatches == 0;
    if (!o.passed) {
        std::ostringstream s;
        if (o.mismatches > 0)
            s << o.mismatches << " of " << o.compared << " entries out of tolerance (worst |err|/bound "
              << o.worst_ratio << " at " << o.worst_at << ")";
        else
            s << "failed";
        o.error = s.str() + list_;
    }
    return o;
}

const char* dtype_name(engram_dtype dtype) {
    switch (dtype) {
        case ENGRAM_DTYPE_F32: return "f32";
        case ENGRAM_DTYPE_F16: return "f16";
        case ENGRAM_DTYPE_BF16: return "bf16";
        case ENGRAM_DTYPE_I32: return "i32";
        case ENGRAM_DTYPE_I64: return "i64";
        default: return "unknown";
    }
}

bool parse_dtype(const std::string& name, engram_dtype& out) {
    if (name == "f32" || name == "float32") out = ENGRAM_DTYPE_F32;
    else if (name == "f16" || name == "float16") out = ENGRAM_DTYPE_F16;
    else if (name == "bf16" || name == "bfloat16") out = ENGRAM_DTYPE_BF16;
    else return false;
    return true;
}

}  // namespace engram_suite
