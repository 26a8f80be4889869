// attention_policy_json.cpp — see attention_policy_json.hpp. A recursive-
// descent parser over exactly the grammar the pattern needs (objects only at
// the top, arrays two deep, numbers, key strings without escapes), so every
// byte it accepts is accounted for and everything else is a located error.
#include "ops/attention/attention_policy_json.hpp"

#include <charconv>
#include <cmath>
#include <string>

#include "core/error.hpp"

namespace engram {

namespace {

class PatternParser {
public:
    PatternParser(const char* text, int64_t bytes) : s_(text), n_(bytes) {}

    std::vector<float> parse(int32_t layers, int32_t kv_heads) {
        int64_t file_layers = -1, file_heads = -1;
        std::vector<std::vector<double>> rows;
        bool have_scores = false;
        skip_ws();
        expect('{', "'{' (a pattern is a JSON object)");
        skip_ws();
        if (peek() == '}') error("the object is empty: it needs \"layers\", \"kv_heads\" and \"scores\"");
        for (;;) {
            skip_ws();
            const int64_t key_at = i_;
            const std::string key = parse_key();
            skip_ws();
            expect(':', "':' after a key");
            skip_ws();
            if (key == "layers" || key == "kv_heads") {
                int64_t& dst = key == "layers" ? file_layers : file_heads;
                if (dst >= 0) error_at(key_at, "key \"" + key + "\" appears twice");
                dst = parse_count(key);
            } else if (key == "scores") {
                if (have_scores) error_at(key_at, "key \"scores\" appears twice");
                rows = parse_rows();
                have_scores = true;
            } else {
                error_at(key_at, "unknown key \"" + key +
                                     "\" (a pattern has only \"layers\", \"kv_heads\" and \"scores\")");
            }
            skip_ws();
            if (peek() == ',') {
                ++i_;
                continue;
            }
            expect('}', "',' or '}' after a value");
            break;
        }
        skip_ws();
        if (i_ != n_) error("text after the pattern's closing '}'");
        if (file_layers < 0) fail_plain("pattern has no \"layers\" key");
        if (file_heads < 0) fail_plain("pattern has no \"kv_heads\" key");
        if (!have_scores) fail_plain("pattern has no \"scores\" key");
        if (file_layers != layers || file_heads != kv_heads)
            fail_plain(format("pattern is for layers = %lld, kv_heads = %lld; the cache has "
                              "layers = %d, kv_heads = %d",
                              (long long)file_layers, (long long)file_heads, layers, kv_heads));
        if (int64_t(rows.size()) != file_layers)
            fail_plain(format("pattern \"scores\" has %lld rows, \"layers\" says %lld",
                              (long long)rows.size(), (long long)file_layers));
        std::vector<float> scores;
        scores.reserve(size_t(file_layers * file_heads));
        for (size_t l = 0; l < rows.size(); ++l) {
            if (int64_t(rows[l].size()) != file_heads)
                fail_plain(format("pattern \"scores\"[%zu] has %zu values, \"kv_heads\" says %lld",
                                  l, rows[l].size(), (long long)file_heads));
            for (size_t h = 0; h < rows[l].size(); ++h) {
                const float f = float(rows[l][h]);
                if (!std::isfinite(f))
                    fail_plain(format("pattern \"scores\"[%zu][%zu] = %g is not a finite f32", l, h,
                                      rows[l][h]));
                scores.push_back(f);
            }
        }
        return scores;
    }

private:
    // Rows are capped so a hostile file cannot make the parser allocate much
    // more than the file itself (each value costs at least one byte of text).
    static constexpr int64_t kMaxCount = int64_t(1) << 24;

    int peek() const { return i_ < n_ ? (unsigned char)s_[i_] : -1; }

    void skip_ws() {
        while (i_ < n_ && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
    }

    [[noreturn]] void fail_plain(const std::string& msg) const { fail(ENGRAM_ERR_INVALID_ARGUMENT, msg); }

    [[noreturn]] void error_at(int64_t at, const std::string& msg) const {
        int64_t line = 1, col = 1;
        for (int64_t j = 0; j < at && j < n_; ++j) {
            if (s_[j] == '\n') {
                ++line;
                col = 1;
            } else {
                ++col;
            }
        }
        fail(ENGRAM_ERR_INVALID_ARGUMENT,
             format("pattern is not valid: line %lld, column %lld: %s", (long long)line,
                    (long long)col, msg.c_str()));
    }
    [[noreturn]] void error(const std::string& msg) const { error_at(i_, msg); }

    void expect(char c, const char* what) {
        if (peek() != (unsigned char)c) {
            if (i_ >= n_) error(std::string("the text ends where ") + what + " was expected");
            error(std::string("expected ") + what);
        }
        ++i_;
    }

    std::string parse_key() {
        expect('"', "a key string");
        std::string key;
        while (i_ < n_ && s_[i_] != '"') {
            const unsigned char c = (unsigned char)s_[i_];
            if (c == '\\') error("escapes are not supported in keys");
            if (c < 0x20) error("control character in a key");
            if (key.size() >= 32) error("key longer than 32 characters");
            key.push_back(char(c));
            ++i_;
        }
        expect('"', "'\"' closing the key");
        return key;
    }

    // A JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
    double parse_number() {
        const int64_t start = i_;
        auto digits = [&] {
            const int64_t d0 = i_;
            while (i_ < n_ && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
            return i_ - d0;
        };
        if (peek() == '-') ++i_;
        if (peek() == '0') {
            ++i_;
        } else if (digits() == 0) {
            error_at(start, "expected a number");
        }
        if (peek() == '.') {
            ++i_;
            if (digits() == 0) error("expected digits after '.'");
        }
        if (peek() == 'e' || peek() == 'E') {
            ++i_;
            if (peek() == '+' || peek() == '-') ++i_;
            if (digits() == 0) error("expected digits in the exponent");
        }
        double value = 0.0;
        const auto r = std::from_chars(s_ + start, s_ + i_, value);
        // Out of double range: from_chars reports it; the value is not finite.
        if (r.ec == std::errc::result_out_of_range) value = HUGE_VAL;
        else if (r.ec != std::errc() || r.ptr != s_ + i_) error_at(start, "malformed number");
        return value;
    }

    int64_t parse_count(const std::string& key) {
        const int64_t at = i_;
        const double v = parse_number();
        if (!(v >= 1.0 && v <= double(kMaxCount)) || v != std::floor(v))
            error_at(at, "\"" + key + "\" must be an integer in [1, 2^24]");
        return int64_t(v);
    }

    std::vector<std::vector<double>> parse_rows() {
        std::vector<std::vector<double>> rows;
        int64_t total = 0;
        expect('[', "'[' starting \"scores\" (an array of rows)");
        skip_ws();
        if (peek() == ']') {
            ++i_;
            return rows;
        }
        for (;;) {
            skip_ws();
            expect('[', "'[' starting a row of \"scores\"");
            rows.emplace_back();
            skip_ws();
            if (peek() == ']') {
                ++i_;
            } else {
                for (;;) {
                    skip_ws();
                    if (++total > kMaxCount) error("more than 2^24 scores");
                    rows.back().push_back(parse_number());
                    skip_ws();
                    if (peek() == ',') {
                        ++i_;
                        continue;
                    }
                    expect(']', "',' or ']' in a row of \"scores\"");
                    break;
                }
            }
            skip_ws();
            if (peek() == ',') {
                ++i_;
                continue;
            }
            expect(']', "',' or ']' after a row of \"scores\"");
            break;
        }
        return rows;
    }

    const char* s_;
    int64_t n_;
    int64_t i_ = 0;
};

}  // namespace

std::vector<float> attention_parse_pattern(const char* text, int64_t bytes, int32_t layers,
                                           int32_t kv_heads) {
    return PatternParser(text, bytes).parse(layers, kv_heads);
}

}  // namespace engram
