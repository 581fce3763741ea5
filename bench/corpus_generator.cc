#include "bench/corpus_generator.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace bench {
namespace {

constexpr size_t kKiB = 1024;
constexpr size_t kMiB = 1024 * kKiB;

// --- random numbers ---

// splitmix64: a fully specified sequence, so a seed means the same bytes
// everywhere (std::uniform_int_distribution and std::shuffle are
// implementation-defined).
class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed) {}

  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n), n > 0 (the modulo bias is far below anything a benchmark notices).
  size_t Below(size_t n) { return static_cast<size_t>(Next() % n); }
  // Uniform in [lo, hi].
  size_t Between(size_t lo, size_t hi) { return lo + Below(hi - lo + 1); }
  bool Percent(size_t p) { return Below(100) < p; }
  // Roughly log-uniform in [lo, hi] (lo > 0): an octave uniformly, then a
  // size uniformly inside it. Integer arithmetic only, for determinism.
  size_t LogUniform(size_t lo, size_t hi) {
    size_t octaves = 0;
    while ((lo << (octaves + 1)) <= hi) ++octaves;
    const size_t octave = Below(octaves + 1);
    const size_t from = lo << octave;
    return Between(from, std::min(hi, from * 2));
  }
  template <typename Items>
  const auto& Pick(const Items& items) {
    return items[Below(items.size())];
  }
  // An index into `weights`, chosen with probability proportional to its weight.
  template <typename Weights>
  size_t Weighted(const Weights& weights) {
    size_t total = 0;
    for (size_t w : weights) total += w;
    size_t r = Below(total);
    for (size_t i = 0; i < weights.size(); ++i) {
      if (r < weights[i]) return i;
      r -= weights[i];
    }
    return weights.size() - 1;
  }
  std::string Bytes(size_t n) {
    std::string out(n, '\0');
    for (size_t i = 0; i < n; i += 8) {
      uint64_t v = Next();
      for (size_t k = i; k < std::min(n, i + 8); ++k, v >>= 8) out[k] = static_cast<char>(v & 0xFF);
    }
    return out;
  }
  std::string Hex(size_t digits) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (size_t i = 0; i < digits; ++i) out += kHex[Below(16)];
    return out;
  }

 private:
  uint64_t state_;
};

// A well-mixed seed for message `index` of the corpus `seed`.
uint64_t MessageSeed(uint64_t seed, int index) {
  Random mix(seed ^ (0xD1B54A32D192ED03ULL * (static_cast<uint64_t>(index) + 1)));
  mix.Next();
  return mix.Next();
}

// --- vocabulary ---

// clang-format off
constexpr auto kWords = std::to_array<std::string_view>({
    "the", "printer", "on", "floor", "three", "is", "not", "working", "again", "since", "this", "morning",
    "and", "I", "tried", "to", "restart", "it", "but", "nothing", "happened", "could", "someone", "please",
    "have", "a", "look", "at", "VPN", "connection", "drops", "every", "few", "minutes", "when", "I'm",
    "working", "from", "home", "with", "laptop", "after", "the", "latest", "update", "my", "password",
    "expired", "can't", "log", "in", "Outlook", "keeps", "asking", "for", "credentials", "shared", "drive",
    "folder", "access", "permissions", "request", "new", "employee", "starting", "Monday", "needs", "account",
    "monitor", "flickering", "docking", "station", "Wi-Fi", "meeting", "room", "projector", "HDMI", "cable",
    "calendar", "invite", "Teams", "call", "audio", "microphone", "headset", "badge", "reader", "door",
    "server", "backup", "failed", "last", "night", "disk", "space", "almost", "full", "ticket", "number",
    "urgent", "deadline", "tomorrow", "thanks", "in", "advance", "we", "you", "they", "should", "would",
    "might", "already", "still", "also", "just", "only", "before", "because", "which", "that", "there",
    "error", "message", "says", "timeout", "certificate", "browser", "Chrome", "Firefox", "cache", "cleared",
    "reinstalled", "driver", "version", "installed", "license", "expired", "renewal", "invoice", "attached",
    "screenshot", "below", "above", "see", "let", "me", "know", "if", "need", "more", "details", "about",
    "issue", "problem", "fixed", "works", "now", "thank", "quick", "reply", "answer", "question", "here",
});

// Latin-1 words (used when the charset has them), windows-1252 extras, and UTF-8 only.
constexpr auto kLatin1Words = std::to_array<std::string_view>({
    "café", "naïve", "résumé", "Müller", "Größe", "señor", "año", "über", "déjà", "façade", "Zürich",
    "São", "Ångström", "crème", "brûlée", "½", "20°C", "©", "Gruß", "réunion", "problème", "accès",
    "mañana", "Straße", "français", "à", "élève", "Æble", "Øresund", "¿qué?",
});
constexpr auto kWindows1252Words = std::to_array<std::string_view>({
    "€42", "“urgent”", "–", "…", "‘quick’", "™", "—", "•", "„Bitte“",
});
constexpr auto kUtf8Words = std::to_array<std::string_view>({
    "Łódź", "Dvořák", "日本語", "✓", "→", "🙂", "Ωmega", "привет", "κόσμε", "naïve—really",
});

constexpr auto kSubjects = std::to_array<std::string_view>({
    "Printer on floor 3 not working", "VPN disconnects every 10 minutes", "Cannot access shared drive",
    "Password reset for new laptop", "Outlook keeps asking for my password", "Wi-Fi in meeting room B",
    "Request: access to the finance folder", "Monitor flickering after update", "Backup failed last night",
    "New employee starting Monday - accounts needed", "Teams audio not working", "Certificate error in browser",
    "Disk almost full on file server", "License renewal for the CAD software", "Badge reader at the back door",
});
constexpr auto kLatin1Subjects = std::to_array<std::string_view>({
    "Problème d'accès au wiki", "Größe der Mailbox überschritten", "Réunion de lundi - salle B",
    "Café machine: réservation", "Zugang für neue Mitarbeiterin (Müller)", "¿Impresora del año pasado?",
});
// clang-format on

struct Person {
  std::string_view name;
  std::string_view address;
};

constexpr auto kPeople = std::to_array<Person>({
    {"Alice Johnson", "alice.johnson@example.org"},
    {"Bob Smith", "bob@corp.example.com"},
    {"Carol Nguyen", "carol.nguyen@example.net"},
    {"David Okafor", "d.okafor@example.com"},
    {"Emma Rossi", "emma.rossi@example.it"},
    {"Frank de Vries", "frank.devries@example.nl"},
    {"José Núñez", "jose.nunez@example.es"},
    {"Jürgen Müller", "j.mueller@example.de"},
    {"Zoë Lefèvre", "zoe.lefevre@example.fr"},
    {"Søren Dahl", "soren@example.dk"},
    {"Łukasz Wójcik", "lukasz.wojcik@example.pl"},
    {"Tomáš Dvořák", "tomas.dvorak@example.cz"},
    {"田中 太郎", "tanaka@example.jp"},
});
constexpr Person kHelpDesk{"Help Desk", "help@example.com"};

constexpr auto kMonths = std::to_array<std::string_view>(
    {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"});
constexpr auto kLongMonths =
    std::to_array<std::string_view>({"January", "February", "March", "April", "May", "June", "July", "August",
                                     "September", "October", "November", "December"});
constexpr auto kDays = std::to_array<std::string_view>({"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"});
constexpr auto kLongDays = std::to_array<std::string_view>(
    {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"});
constexpr auto kZones =
    std::to_array<std::string_view>({"+0000", "+0100", "+0200", "-0500", "-0800", "+0900"});

// --- charsets ---

enum class Charset { kUtf8, kAscii, kLatin1, kWindows1252 };

std::string_view CharsetName(Charset charset) {
  static constexpr auto kNames =
      std::to_array<std::string_view>({"UTF-8", "us-ascii", "iso-8859-1", "windows-1252"});
  return kNames[static_cast<size_t>(charset)];
}

bool IsAscii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// The windows-1252 byte of a code point above Latin-1, or 0.
unsigned char Windows1252Byte(uint32_t cp) {
  static constexpr std::array<std::pair<uint32_t, unsigned char>, 12> kMap{{
      {0x20AC, 0x80},
      {0x201A, 0x82},
      {0x201E, 0x84},
      {0x2026, 0x85},
      {0x2018, 0x91},
      {0x2019, 0x92},
      {0x201C, 0x93},
      {0x201D, 0x94},
      {0x2022, 0x95},
      {0x2013, 0x96},
      {0x2014, 0x97},
      {0x2122, 0x99},
  }};
  for (const auto& [code, byte] : kMap) {
    if (code == cp) return byte;
  }
  return 0;
}

// `utf8` in `charset` (the vocabulary only uses characters the charset has;
// anything else would become '?').
std::string Transcode(std::string_view utf8, Charset charset) {
  if (charset == Charset::kUtf8 || charset == Charset::kAscii) return std::string(utf8);
  std::string out;
  out.reserve(utf8.size());
  for (size_t i = 0; i < utf8.size();) {
    const auto b = static_cast<unsigned char>(utf8[i]);
    uint32_t cp = b;
    size_t n = 1;
    if (b >= 0xF0) {
      n = 4;
      cp = b & 0x07;
    } else if (b >= 0xE0) {
      n = 3;
      cp = b & 0x0F;
    } else if (b >= 0xC0) {
      n = 2;
      cp = b & 0x1F;
    }
    for (size_t k = 1; k < n && i + k < utf8.size(); ++k) {
      cp = (cp << 6) | (static_cast<unsigned char>(utf8[i + k]) & 0x3F);
    }
    i += n;
    if (cp < 0x80 || (cp >= 0xA0 && cp <= 0xFF)) {
      out += static_cast<char>(cp);
    } else if (const unsigned char w = Windows1252Byte(cp); w != 0 && charset == Charset::kWindows1252) {
      out += static_cast<char>(w);
    } else {
      out += '?';
    }
  }
  return out;
}

// --- encodings ---

std::string ToCrlf(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 32);
  size_t pos = 0;
  for (size_t eol = text.find('\n'); eol != std::string_view::npos;
       pos = eol + 1, eol = text.find('\n', pos)) {
    out.append(text.substr(pos, eol - pos));
    out += "\r\n";
  }
  out.append(text.substr(pos));
  return out;
}

// Base64 in lines of 76 characters (RFC 2045), CRLF line ends.
std::string Base64(std::string_view bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve(bytes.size() * 4 / 3 + bytes.size() / 28 + 8);
  size_t column = 0;
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t v = 0;
    for (size_t k = 0; k < 3; ++k) {
      v = (v << 8) | (k < n ? static_cast<unsigned char>(bytes[i + k]) : 0U);
    }
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += n > 1 ? kAlphabet[(v >> 6) & 63] : '=';
    out += n > 2 ? kAlphabet[v & 63] : '=';
    column += 4;
    if (column == 76) {
      out += "\r\n";
      column = 0;
    }
  }
  if (column != 0) out += "\r\n";
  return out;
}

// Quoted-printable (RFC 2045) of text with LF line ends: lines of at most 76
// characters with soft breaks, CRLF hard breaks, trailing blanks encoded.
std::string QuotedPrintable(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  size_t column = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      out += "\r\n";
      column = 0;
      continue;
    }
    const bool at_line_end = i + 1 == text.size() || text[i + 1] == '\n';
    const bool literal = (c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !at_line_end);
    const size_t width = literal ? 1 : 3;
    if (column + width > 75) {
      out += "=\r\n";
      column = 0;
    }
    if (literal) {
      out += static_cast<char>(c);
    } else {
      out += '=';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
    column += width;
  }
  return out;
}

// An RFC 2047 phrase: ASCII as it is, anything else as encoded words (B or Q)
// of at most 75 characters, folded between words.
std::string EncodedWords(std::string_view utf8, Charset charset, Random& rng) {
  if (IsAscii(utf8)) return std::string(utf8);
  const Charset header_charset = charset == Charset::kAscii ? Charset::kUtf8 : charset;
  const bool b_encoding = rng.Percent(50);
  // Cut the text at character boundaries into chunks that fit in one encoded word.
  std::vector<std::string_view> chunks;
  size_t start = 0;
  for (size_t i = 0; i <= utf8.size(); ++i) {
    const bool boundary = i == utf8.size() || (static_cast<unsigned char>(utf8[i]) & 0xC0) != 0x80;
    if (boundary && (i - start >= 18 || i == utf8.size()) && i > start) {
      chunks.push_back(utf8.substr(start, i - start));
      start = i;
    }
  }
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (std::string_view chunk : chunks) {
    const std::string bytes = Transcode(chunk, header_charset);
    if (!out.empty()) out += "\r\n ";
    out += "=?";
    out += CharsetName(header_charset);
    if (b_encoding) {
      std::string encoded = Base64(bytes);
      encoded.resize(encoded.size() - 2);  // no line break inside a word
      out += "?B?" + encoded;
    } else {
      out += "?Q?";
      for (char ch : bytes) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == ' ') {
          out += '_';
        } else if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
                   c == '-') {
          out += static_cast<char>(c);
        } else {
          out += '=';
          out += kHex[c >> 4];
          out += kHex[c & 15];
        }
      }
    }
    out += "?=";
  }
  return out;
}

// A filename parameter: plain when ASCII, RFC 2231 (filename*=utf-8''...) otherwise.
std::string FilenameParameter(std::string_view key, std::string_view utf8) {
  if (IsAscii(utf8)) return std::string(key) + "=\"" + std::string(utf8) + "\"";
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out = std::string(key) + "*=utf-8''";
  for (char ch : utf8) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' || c == '-') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 16);
  for (char c : text) {
    const std::string_view entity = c == '&'   ? "&amp;"
                                    : c == '<' ? "&lt;"
                                    : c == '>' ? "&gt;"
                                    : c == '"' ? "&quot;"
                                               : "";
    if (entity.empty()) {
      out += c;
    } else {
      out += entity;
    }
  }
  return out;
}

// --- dates ---

struct Moment {
  int64_t seconds = 0;  // since 1970, local time of the writer
  std::string_view zone;
};

struct Civil {
  int year;
  unsigned month;  // 1..12
  unsigned day;
  unsigned weekday;  // 0 = Sunday
  int hour, minute, second;
};

Civil ToCivil(int64_t seconds) {
  const auto days = std::chrono::sys_days(std::chrono::days(seconds / 86400));
  const std::chrono::year_month_day ymd(days);
  const int64_t rest = seconds % 86400;
  return Civil{static_cast<int>(ymd.year()),     static_cast<unsigned>(ymd.month()),
               static_cast<unsigned>(ymd.day()), std::chrono::weekday(days).c_encoding(),
               static_cast<int>(rest / 3600),    static_cast<int>(rest / 60 % 60),
               static_cast<int>(rest % 60)};
}

std::string TwoDigits(int n) { return (n < 10 ? "0" : "") + std::to_string(n); }

// "Tue, 05 Mar 2024 10:12:33 +0100"
std::string Rfc5322Date(const Moment& m) {
  const Civil c = ToCivil(m.seconds);
  return std::string(kDays[c.weekday]) + ", " + TwoDigits(static_cast<int>(c.day)) + " " +
         std::string(kMonths[c.month - 1]) + " " + std::to_string(c.year) + " " + TwoDigits(c.hour) + ":" +
         TwoDigits(c.minute) + ":" + TwoDigits(c.second) + " " + std::string(m.zone);
}

// --- MIME entities ---

struct Entity {
  std::string header;  // header fields, each ending in CRLF
  std::string body;    // CRLF line ends
  size_t Size() const { return header.size() + 2 + body.size(); }
};

std::string Render(const Entity& e) { return e.header + "\r\n" + e.body; }

// --- the writer of one message ---

enum class HtmlStyle { kGmail, kOutlook, kNewsletter };

struct Turn {
  Person author;
  Moment when;
  std::string message_id;
  std::vector<std::string> paragraphs;  // UTF-8, unwrapped
  std::string log;                      // pasted log lines ("" when none)
  std::string signature;                // lines after "-- ", "" when none
};

class Writer {
 public:
  explicit Writer(const MessagePlan& plan) : plan_(plan), rng_(plan.seed) {
    charset_ = static_cast<Charset>(rng_.Weighted(std::array<size_t, 4>{55, 15, 15, 15}));
    now_ = Moment{1704067200 + static_cast<int64_t>(rng_.Below(365 * 86400)), rng_.Pick(kZones)};
    sender_ = PickPerson();
    subject_ = charset_ != Charset::kAscii && rng_.Percent(25) ? std::string(rng_.Pick(kLatin1Subjects))
                                                               : std::string(rng_.Pick(kSubjects));
  }

  std::string Write() {
    const bool reply = plan_.kind == MailKind::kTopPostedReply || plan_.kind == MailKind::kInlineReply;
    std::vector<Turn> thread;
    if (reply) thread = History();
    std::string header = MessageHeader(thread);
    const size_t wanted = plan_.target_size > header.size() + 200 ? plan_.target_size - header.size() : 200;
    // The content is made to a budget from estimates (encodings, quoting,
    // markup); when it misses by more than 8%, it is made again with the
    // budget corrected by the miss (the best of eight tries is kept).
    size_t budget = wanted;
    Entity best;
    for (int attempt = 0; attempt < 8; ++attempt) {
      Entity content = Content(budget, thread);
      const size_t size = content.Size();
      const auto miss = [wanted](size_t n) { return n > wanted ? n - wanted : wanted - n; };
      if (attempt == 0 || miss(size) < miss(best.Size())) best = std::move(content);
      if (miss(best.Size()) * 100 <= wanted * 8) break;
      budget = std::max<size_t>(100, budget * wanted / std::max<size_t>(size, 1));
    }
    return header + Render(best);
  }

 private:
  Entity Content(size_t budget, const std::vector<Turn>& thread) {
    switch (plan_.kind) {
      case MailKind::kQuestion:
        return Question(budget);
      case MailKind::kTopPostedReply:
        return TopPostedReply(budget, thread);
      case MailKind::kInlineReply:
        return InlineReply(budget, thread);
      case MailKind::kHtmlWithAttachments:
        return HtmlWithAttachments(budget);
    }
    return Question(budget);
  }

  // --- people, ids, headers ---

  // Whether the person's name can be written in the message's charset.
  bool Fits(const Person& p) const {
    if (IsAscii(p.name) || charset_ == Charset::kUtf8) return true;
    return charset_ != Charset::kAscii && Transcode(p.name, Charset::kLatin1).find('?') == std::string::npos;
  }

  Person PickPerson() {
    for (;;) {
      const Person& p = rng_.Pick(kPeople);
      if (Fits(p)) return p;
    }
  }

  std::string Domain(const Person& p) const { return std::string(p.address.substr(p.address.find('@') + 1)); }

  std::string MessageId(const Person& p) {
    if (rng_.Percent(40)) return "<CA+" + rng_.Hex(40) + "@mail.gmail.com>";
    return "<" + rng_.Hex(16) + "." + rng_.Hex(8) + "@" + Domain(p) + ">";
  }

  std::string Mailbox(const Person& p) {
    return EncodedWords(p.name, charset_, rng_) + " <" + std::string(p.address) + ">";
  }

  std::string MessageHeader(const std::vector<Turn>& thread) {
    const Person& from = sender_;
    const std::string date = Rfc5322Date(now_);
    std::string h;
    h += "Return-Path: <" + std::string(from.address) + ">\r\n";
    h += "Delivered-To: help@example.com\r\n";
    const bool rich = plan_.target_size >= 3 * kKiB;
    if (rich) {
      h += "Received: from mail-" + rng_.Hex(6) + "." + Domain(from) + " (mail-" + rng_.Hex(6) + "." +
           Domain(from) + " [203.0.113." + std::to_string(rng_.Between(1, 254)) +
           "])\r\n\tby mx.example.com (Postfix) with ESMTPS id " + rng_.Hex(10) +
           "\r\n\tfor <help@example.com>; " + date + "\r\n";
      h += "Received: by mail-" + rng_.Hex(6) + "." + Domain(from) + " with SMTP id " + rng_.Hex(12) +
           ";\r\n        " + date + "\r\n";
      std::string signature = Base64(rng_.Bytes(256));
      std::string folded;
      for (size_t i = 0; i < signature.size(); ++i) {
        if (signature[i] == '\r' || signature[i] == '\n') continue;
        if (folded.size() % 70 == 69) folded += "\r\n         ";
        folded += signature[i];
      }
      std::string body_hash = Base64(rng_.Bytes(32));
      body_hash.resize(body_hash.size() - 2);
      h += "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=" + Domain(from) +
           "; s=20230601; t=" + std::to_string(now_.seconds) +
           "; x=" + std::to_string(now_.seconds + 604800) +
           "; darn=example.com;\r\n        "
           "h=to:subject:message-id:date:from:mime-version:from:to:cc:subject\r\n"
           "         :date:message-id:reply-to;\r\n        bh=" +
           body_hash + ";\r\n        b=" + folded + "\r\n";
      h += "Authentication-Results: mx.example.com;\r\n\tdkim=pass header.d=" + Domain(from) +
           " header.s=20230601 header.b=" + rng_.Hex(8) + ";\r\n\tspf=pass (mx.example.com: domain of " +
           std::string(from.address) +
           " designates 203.0.113.7 as permitted sender) smtp.mailfrom=" + std::string(from.address) +
           ";\r\n\tdmarc=pass (p=NONE sp=NONE dis=NONE) header.from=" + Domain(from) + "\r\n";
    }
    h += "MIME-Version: 1.0\r\n";
    h += "From: " + Mailbox(from) + "\r\n";
    h += "To: " + Mailbox(kHelpDesk) + "\r\n";
    if (rng_.Percent(25)) {
      const Person cc = PickPerson();
      h += "Cc: " + Mailbox(cc) + "\r\n";
    }
    std::string subject = subject_;
    if (!thread.empty()) subject = (rng_.Percent(30) ? "RE: " : "Re: ") + subject;
    h += "Subject: " + EncodedWords(subject, charset_, rng_) + "\r\n";
    h += "Date: " + date + "\r\n";
    h += "Message-ID: " + MessageId(from) + "\r\n";
    if (!thread.empty()) {
      h += "In-Reply-To: " + thread.front().message_id + "\r\n";
      h += "References:";
      for (auto it = thread.rbegin(); it != thread.rend(); ++it) h += "\r\n " + it->message_id;
      h += "\r\n";
    }
    if (rng_.Percent(50)) {
      h += "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.8.0\r\n";
    } else {
      h += "X-Mailer: Microsoft Outlook 16.0\r\n";
    }
    if (rich)
      h += "X-Spam-Status: No, score=-0.1 required=5.0 tests=DKIM_SIGNED,DKIM_VALID autolearn=ham\r\n";
    return h;
  }

  // --- text ---

  std::string_view Word() {
    if (charset_ != Charset::kAscii && rng_.Percent(4)) {
      if (charset_ == Charset::kUtf8 && rng_.Percent(30)) return rng_.Pick(kUtf8Words);
      if (charset_ != Charset::kLatin1 && rng_.Percent(40)) return rng_.Pick(kWindows1252Words);
      return rng_.Pick(kLatin1Words);
    }
    return rng_.Pick(kWords);
  }

  std::string Sentence() {
    std::string s;
    const size_t words = rng_.Between(5, 16);
    for (size_t i = 0; i < words; ++i) {
      if (i > 0) s += rng_.Percent(8) ? ", " : " ";
      s += Word();
    }
    if (s[0] >= 'a' && s[0] <= 'z') s[0] = static_cast<char>(s[0] - 'a' + 'A');
    static constexpr auto kEnds = std::to_array<std::string_view>({".", ".", ".", ".", "?", "!"});
    s += rng_.Pick(kEnds);
    return s;
  }

  std::string Paragraph() {
    std::string p;
    const size_t sentences = rng_.Between(1, 5);
    for (size_t i = 0; i < sentences; ++i) {
      if (i > 0) p += ' ';
      p += Sentence();
    }
    return p;
  }

  std::vector<std::string> Paragraphs(size_t min_count, size_t bytes) {
    std::vector<std::string> out;
    size_t size = 0;
    while (out.size() < min_count || size < bytes) {
      out.push_back(Paragraph());
      size += out.back().size() + 2;
    }
    return out;
  }

  std::string LogLines(size_t bytes) {
    static constexpr auto kLevels = std::to_array<std::string_view>({"INFO", "WARN", "ERROR", "DEBUG"});
    static constexpr auto kLoggers = std::to_array<std::string_view>(
        {"c.e.sync.MailboxSync", "o.a.http.impl.conn.Wire", "c.e.vpn.Tunnel", "c.e.print.Spooler"});
    static constexpr auto kEvents = std::to_array<std::string_view>(
        {"Connection reset by peer", "Handshake failed: certificate has expired", "Retrying in 30 s",
         "Job 4711 queued", "Read timed out after 60000 ms", "Authentication succeeded"});
    std::string out;
    Civil c = ToCivil(now_.seconds - 7200);
    while (out.size() < bytes) {
      c.second = (c.second + static_cast<int>(rng_.Below(7))) % 60;
      out += "    " + std::to_string(c.year) + "-" + TwoDigits(static_cast<int>(c.month)) + "-" +
             TwoDigits(static_cast<int>(c.day)) + " " + TwoDigits(c.hour) + ":" + TwoDigits(c.minute) + ":" +
             TwoDigits(c.second) + "," + std::to_string(rng_.Between(100, 999)) + " " +
             std::string(rng_.Pick(kLevels)) + " [pool-" + std::to_string(rng_.Between(1, 9)) + "-thread-" +
             std::to_string(rng_.Between(1, 32)) + "] " + std::string(rng_.Pick(kLoggers)) + " - " +
             std::string(rng_.Pick(kEvents)) + " (attempt=" + std::to_string(rng_.Between(1, 5)) + ")\n";
    }
    return out;
  }

  // Greedy wrapping at 72 columns; format=flowed lines keep a trailing space at soft breaks.
  static std::string Wrap(std::string_view paragraph, bool flowed) {
    std::string out;
    size_t column = 0;
    size_t pos = 0;
    while (pos < paragraph.size()) {
      size_t end = paragraph.find(' ', pos);
      if (end == std::string_view::npos) end = paragraph.size();
      const std::string_view word = paragraph.substr(pos, end - pos);
      if (column > 0 && column + 1 + word.size() > 72) {
        out += flowed ? " \n" : "\n";
        column = 0;
      } else if (column > 0) {
        out += ' ';
        ++column;
      }
      out += word;
      column += word.size();
      pos = end + 1;
    }
    return out;
  }

  std::string Signature(const Person& p) {
    static constexpr auto kDepartments =
        std::to_array<std::string_view>({"Finance", "Sales", "Operations", "Legal"});
    if (!rng_.Percent(60)) return "";
    return std::string(p.name) + "\nIT Coordinator, " + std::string(rng_.Pick(kDepartments)) +
           "\nPhone +41 44 " + std::to_string(rng_.Between(100, 999)) + " " +
           std::to_string(rng_.Between(10, 99)) + " " + std::to_string(rng_.Between(10, 99));
  }

  // The plain text of a turn (LF line ends).
  static std::string TurnText(const Turn& t, bool flowed) {
    std::string out = "Hi,\n\n";
    for (const std::string& p : t.paragraphs) out += Wrap(p, flowed) + "\n\n";
    if (!t.log.empty()) out += "Here is what the log says:\n\n" + t.log + "\n";
    out += "Thanks,\n" + std::string(t.author.name.substr(0, t.author.name.find(' '))) + "\n";
    if (!t.signature.empty()) out += "\n-- \n" + t.signature + "\n";
    return out;
  }

  Turn NewTurn(const Person& author, const Moment& when, size_t bytes) {
    Turn t;
    t.author = author;
    t.when = when;
    t.message_id = MessageId(author);
    const bool with_log = bytes > 8 * kKiB && rng_.Percent(60);
    t.paragraphs = Paragraphs(1, with_log ? bytes / 4 : bytes);
    if (with_log) t.log = LogLines(bytes * 3 / 4);
    t.signature = Signature(author);
    return t;
  }

  // The earlier messages of the thread, newest first (their sizes are set later).
  std::vector<Turn> History() {
    std::vector<Turn> turns;
    const size_t count = rng_.Between(1, 6);
    Moment when = now_;
    for (size_t i = 0; i < count; ++i) {
      when.seconds -= static_cast<int64_t>(rng_.Between(600, 3 * 86400));
      Turn t;
      t.author = i % 2 == 0 ? PickPerson() : sender_;
      t.when = when;
      t.message_id = MessageId(t.author);
      turns.push_back(std::move(t));
    }
    return turns;
  }

  // Fills the turns of `thread` so that the quoted history takes about `bytes`.
  void FillHistory(std::vector<Turn>& thread, size_t bytes) {
    constexpr size_t kTurnOverhead = 150;  // greeting, sign-off, attribution
    const size_t each = bytes / thread.size();
    for (Turn& t : thread) {
      const Turn filled = NewTurn(t.author, t.when, each > kTurnOverhead + 100 ? each - kTurnOverhead : 100);
      t.paragraphs = filled.paragraphs;
      t.log = filled.log;
      t.signature = filled.signature;
    }
  }

  // RFC 3676 space-stuffing: a line starting with a space, ">" or "From " gets one more space.
  static std::string SpaceStuffed(std::string_view text) {
    std::string out;
    out.reserve(text.size() + text.size() / 16);
    size_t pos = 0;
    while (pos < text.size()) {
      size_t eol = text.find('\n', pos);
      eol = eol == std::string_view::npos ? text.size() : eol + 1;
      const std::string_view line = text.substr(pos, eol - pos);
      if (line.starts_with(' ') || line.starts_with('>') || line.starts_with("From ")) out += ' ';
      out += line;
      pos = eol;
    }
    return out;
  }

  static std::string Quote(std::string_view text) {
    std::string out;
    size_t pos = 0;
    while (pos < text.size()) {
      size_t eol = text.find('\n', pos);
      if (eol == std::string_view::npos) eol = text.size();
      const std::string_view line = text.substr(pos, eol - pos);
      out += line.empty() ? ">" : line.front() == '>' ? ">" : "> ";
      out += line;
      out += '\n';
      pos = eol + 1;
    }
    return out;
  }

  // "On … wrote:" in the style of one of the common clients.
  std::string Attribution(const Turn& t) {
    const Civil c = ToCivil(t.when.seconds);
    const std::string name(t.author.name);
    const std::string address(t.author.address);
    const std::string time = TwoDigits(c.hour) + ":" + TwoDigits(c.minute);
    switch (rng_.Below(charset_ == Charset::kAscii ? 3 : 5)) {
      case 0: {  // Gmail, wrapped when long
        std::string line = "On " + std::string(kDays[c.weekday]) + ", " + std::string(kMonths[c.month - 1]) +
                           " " + std::to_string(c.day) + ", " + std::to_string(c.year) + " at " + time + " " +
                           name + " <" + address + "> wrote:";
        if (line.size() > 76) line.replace(line.rfind(" <") + 2, 0, "\n");
        return line;
      }
      case 1:  // Thunderbird
        return "On " + TwoDigits(static_cast<int>(c.day)) + "/" + TwoDigits(static_cast<int>(c.month)) + "/" +
               std::to_string(c.year) + " " + time + ", " + name + " wrote:";
      case 2:  // Apple Mail
        return "On " + std::to_string(c.day) + " " + std::string(kMonths[c.month - 1]) + " " +
               std::to_string(c.year) + ", at " + time + ", " + name + " <" + address + "> wrote:";
      case 3:  // French
        return "Le " + TwoDigits(static_cast<int>(c.day)) + "/" + TwoDigits(static_cast<int>(c.month)) + "/" +
               std::to_string(c.year) + " à " + time + ", " + name + " <" + address + "> a écrit :";
      default:  // German
        return "Am " + TwoDigits(static_cast<int>(c.day)) + "." + TwoDigits(static_cast<int>(c.month)) + "." +
               std::to_string(c.year) + " um " + time + " schrieb " + name + " <" + address + ">:";
    }
  }

  // Outlook's header block before the (unquoted) earlier message.
  std::string OutlookBlock(const Turn& t, bool original_message_line) {
    const Civil c = ToCivil(t.when.seconds);
    const std::string sent = std::string(kLongDays[c.weekday]) + ", " +
                             std::string(kLongMonths[c.month - 1]) + " " + std::to_string(c.day) + ", " +
                             std::to_string(c.year) + " " +
                             std::to_string(c.hour % 12 == 0 ? 12 : c.hour % 12) + ":" + TwoDigits(c.minute) +
                             (c.hour < 12 ? " AM" : " PM");
    return std::string(original_message_line ? "-----Original Message-----\n"
                                             : "________________________________\n") +
           "From: " + std::string(t.author.name) + " <" + std::string(t.author.address) + ">\nSent: " + sent +
           "\nTo: Help Desk <help@example.com>\nSubject: RE: " + subject_ + "\n\n";
  }

  // --- MIME parts ---

  std::string Boundary() {
    switch (rng_.Below(3)) {
      case 0:
        return "000000000000" + rng_.Hex(12);
      case 1:
        return "_000_" + rng_.Hex(32) + "_";
      default:
        return "Apple-Mail=_" + rng_.Hex(8) + "-" + rng_.Hex(4) + "-" + rng_.Hex(4) + "-" + rng_.Hex(12);
    }
  }

  Entity Multipart(std::string_view subtype, const std::vector<Entity>& parts, std::string_view extra = "") {
    const std::string boundary = Boundary();
    Entity e;
    e.header = "Content-Type: multipart/" + std::string(subtype) + ";" + std::string(extra) +
               "\r\n\tboundary=\"" + boundary + "\"\r\n";
    if (rng_.Percent(30)) e.body = "This is a multi-part message in MIME format.\r\n";
    for (const Entity& part : parts) e.body += "\r\n--" + boundary + "\r\n" + Render(part);
    e.body += "\r\n--" + boundary + "--\r\n";
    return e;
  }

  // A text/plain or text/html part of `utf8` (LF line ends) in the message's charset.
  Entity TextPart(std::string_view subtype, std::string_view utf8, bool flowed = false) {
    const std::string bytes = Transcode(utf8, charset_);
    Entity e;
    e.header = "Content-Type: text/" + std::string(subtype) + "; charset=\"" +
               std::string(CharsetName(charset_)) + "\"" + (flowed ? "; format=flowed" : "") + "\r\n";
    const bool html = subtype == "html";
    if (charset_ == Charset::kAscii && !html) {
      e.header += "Content-Transfer-Encoding: 7bit\r\n";
      e.body = ToCrlf(bytes);
    } else if (html && rng_.Percent(25)) {
      e.header += "Content-Transfer-Encoding: base64\r\n";
      e.body = Base64(bytes);
    } else if (html || rng_.Percent(60)) {
      e.header += "Content-Transfer-Encoding: quoted-printable\r\n";
      e.body = QuotedPrintable(bytes);
    } else {
      e.header += "Content-Transfer-Encoding: 8bit\r\n";
      e.body = ToCrlf(bytes);
    }
    return e;
  }

  // A file of `raw_size` random bytes behind the magic number of its type.
  Entity Attachment(size_t raw_size, bool inline_image = false) {
    struct Kind {
      std::string_view type, magic, extension;
    };
    static constexpr auto kKinds = std::to_array<Kind>({
        {"application/pdf", "%PDF-1.7\n%\xE2\xE3\xCF\xD3\n", "pdf"},
        {"image/png", "\x89PNG\r\n\x1A\n", "png"},
        {"image/jpeg", "\xFF\xD8\xFF\xE0", "jpg"},
        {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "PK\x03\x04", "xlsx"},
    });
    const Kind& kind = inline_image ? kKinds[1 + rng_.Below(2)]
                                    : kKinds[rng_.Weighted(std::array<size_t, 4>{45, 25, 20, 10})];
    static constexpr auto kStems =
        std::to_array<std::string_view>({"invoice-2024-03", "screenshot", "IMG_4032", "error-report",
                                         "Résumé – Zoë", "Übersicht Größe", "floor-plan", "quote_request"});
    const std::string filename = std::string(rng_.Pick(kStems)) + "." + std::string(kind.extension);
    std::string bytes =
        std::string(kind.magic) + rng_.Bytes(raw_size > kind.magic.size() ? raw_size - kind.magic.size() : 0);
    Entity e;
    e.header = "Content-Type: " + std::string(kind.type) + "; " +
               (rng_.Percent(50) || IsAscii(filename)
                    ? "name=\"" + EncodedWords(filename, Charset::kUtf8, rng_) + "\""
                    : FilenameParameter("name", filename)) +
               "\r\n";
    if (inline_image) {
      e.header += "Content-Disposition: inline; " + FilenameParameter("filename", filename) + "\r\n";
      e.header += "Content-ID: <image001.png@" + rng_.Hex(8) + "." + rng_.Hex(8) + ">\r\n";
    } else {
      e.header += "Content-Disposition: attachment; " + FilenameParameter("filename", filename) +
                  "; size=" + std::to_string(bytes.size()) + "\r\n";
    }
    e.header += "Content-Transfer-Encoding: base64\r\n";
    e.body = Base64(bytes);
    return e;
  }

  // The raw size of a file whose base64 part takes about `encoded` bytes.
  static size_t RawSizeFor(size_t encoded) { return encoded * 57 / 78; }

  // --- HTML ---

  static std::string HtmlHead(HtmlStyle style, Charset charset) {
    const std::string meta = "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=" +
                             std::string(CharsetName(charset)) + "\">\n";
    switch (style) {
      case HtmlStyle::kGmail:
        return "<div dir=\"ltr\">";
      case HtmlStyle::kOutlook:
        return "<html xmlns:v=\"urn:schemas-microsoft-com:vml\" "
               "xmlns:o=\"urn:schemas-microsoft-com:office:office\" "
               "xmlns:w=\"urn:schemas-microsoft-com:office:word\" "
               "xmlns:m=\"http://schemas.microsoft.com/office/"
               "2004/12/omml\" xmlns=\"http://www.w3.org/TR/REC-html40\">\n<head>\n" +
               meta +
               "<meta name=\"Generator\" content=\"Microsoft Word 15 (filtered medium)\">\n<style><!--\n"
               "/* Font Definitions */\n@font-face\n\t{font-family:\"Cambria Math\";\n\tpanose-1:2 4 5 3 5 4 "
               "6 3 2 4;}\n"
               "@font-face\n\t{font-family:Calibri;\n\tpanose-1:2 15 5 2 2 2 4 3 2 4;}\n"
               "/* Style Definitions */\np.MsoNormal, li.MsoNormal, div.MsoNormal\n\t{margin:0cm;\n\t"
               "font-size:11.0pt;\n\tfont-family:\"Calibri\",sans-serif;\n\tmso-fareast-language:EN-US;}\n"
               "a:link, "
               "span.MsoHyperlink\n\t{mso-style-priority:99;\n\tcolor:#0563C1;\n\ttext-decoration:underline;}"
               "\n"
               "span.EmailStyle17\n\t{mso-style-type:personal-compose;\n\tfont-family:\"Calibri\",sans-serif;"
               "\n\t"
               "color:windowtext;}\n.MsoChpDefault\n\t{mso-style-type:export-only;\n\tfont-family:"
               "\"Calibri\","
               "sans-serif;\n\tmso-fareast-language:EN-US;}\n@page WordSection1\n\t{size:612.0pt 792.0pt;\n\t"
               "margin:72.0pt 72.0pt 72.0pt 72.0pt;}\ndiv.WordSection1\n\t{page:WordSection1;}\n--></style>"
               "<!--[if gte mso 9]><xml>\n<o:shapedefaults v:ext=\"edit\" spidmax=\"1026\" "
               "/>\n</xml><![endif]-->\n"
               "</head>\n<body lang=\"EN-US\" link=\"#0563C1\" vlink=\"#954F72\" "
               "style=\"word-wrap:break-word\">\n"
               "<div class=\"WordSection1\">\n";
      case HtmlStyle::kNewsletter:
        return "<!DOCTYPE html>\n<html><head>\n" + meta +
               "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<style "
               "type=\"text/css\">\n"
               "body{margin:0;padding:0}table{border-collapse:collapse}img{border:0;display:block}\n"
               "@media only screen and "
               "(max-width:600px){.container{width:100%!important}.col{display:block!important;"
               "width:100%!important}}\n</style></head>\n<body "
               "style=\"margin:0;padding:0;background:#f4f4f4\">\n"
               "<div style=\"display:none;max-height:0;overflow:hidden\">Your monthly IT update is "
               "here</div>\n"
               "<table role=\"presentation\" class=\"container\" width=\"600\" align=\"center\" "
               "cellpadding=\"0\" "
               "cellspacing=\"0\" style=\"background:#ffffff\">\n<tr><td style=\"padding:24px\"><img "
               "src=\"https://news.example.com/logo.png\" width=\"120\" height=\"40\" alt=\"Example "
               "IT\"></td></tr>\n";
    }
    return "";
  }

  static std::string HtmlTail(HtmlStyle style) {
    static constexpr auto kTails = std::to_array<std::string_view>({
        "</div>\n",                    // Gmail
        "</div>\n</body>\n</html>\n",  // Outlook
        "<tr><td style=\"padding:24px;font-size:11px;color:#999999\">You receive this because you are "
        "subscribed. <a href=\"https://news.example.com/unsubscribe?u=42\">Unsubscribe</a></td></tr>\n"
        "</table>\n</body></html>\n",  // newsletter
    });
    return std::string(kTails[static_cast<size_t>(style)]);
  }

  std::string HtmlParagraph(HtmlStyle style, std::string_view text) {
    const std::string escaped = HtmlEscape(text);
    switch (style) {
      case HtmlStyle::kGmail:
        return "<div>" + escaped + "</div><div><br></div>";
      case HtmlStyle::kOutlook:
        return "<p class=\"MsoNormal\"><span "
               "style=\"font-size:11.0pt;font-family:&quot;Calibri&quot;,sans-serif\">" +
               escaped + "<o:p></o:p></span></p>\n<p class=\"MsoNormal\"><o:p>&nbsp;</o:p></p>\n";
      case HtmlStyle::kNewsletter:
        if (rng_.Percent(20)) {
          return "<tr><td class=\"col\" style=\"padding:0 24px\"><ul "
                 "style=\"margin:0;padding-left:18px\"><li>" +
                 escaped + "</li><li><b>Tip:</b> restart before calling us</li></ul></td></tr>\n";
        }
        return "<tr><td class=\"col\" style=\"padding:12px 24px;font-family:Arial,Helvetica,sans-serif;"
               "font-size:15px;line-height:22px;color:#333333\">" +
               escaped + " <a href=\"https://news.example.com/track?u=" + rng_.Hex(12) +
               "&amp;id=" + rng_.Hex(6) + "\" style=\"color:#1a73e8\">Read more</a></td></tr>\n";
    }
    return "";
  }

  // The HTML of a turn and (for Gmail and Outlook) of the quoted turns after it.
  std::string ThreadHtml(HtmlStyle style, const std::vector<Turn>& turns, size_t from) {
    const Turn& t = turns[from];
    std::string out;
    for (const std::string& p : t.paragraphs) out += HtmlParagraph(style, p);
    if (!t.log.empty()) out += "<pre>" + HtmlEscape(t.log) + "</pre>\n";
    if (!t.signature.empty()) out += "<div>-- <br>" + HtmlEscape(t.signature) + "</div>\n";
    if (from + 1 == turns.size()) return out;
    const Turn& quoted = turns[from + 1];
    if (style == HtmlStyle::kOutlook) {
      out +=
          "<div id=\"appendonsend\"></div><hr style=\"display:inline-block;width:98%\" tabindex=\"-1\">"
          "<div id=\"divRplyFwdMsg\" dir=\"ltr\"><font face=\"Calibri, sans-serif\" style=\"font-size:11pt\" "
          "color=\"#000000\"><b>From:</b> " +
          HtmlEscape(std::string(quoted.author.name)) + " &lt;" + std::string(quoted.author.address) +
          "&gt;<br><b>Sent:</b> " + Rfc5322Date(quoted.when) +
          "<br><b>To:</b> Help Desk &lt;help@example.com&gt;<br><b>Subject:</b> " + HtmlEscape(subject_) +
          "</font><div>&nbsp;</div></div>\n" + ThreadHtml(style, turns, from + 1);
      return out;
    }
    out +=
        "<br><div class=\"gmail_quote\"><div dir=\"ltr\" class=\"gmail_attr\">" +
        HtmlEscape(Attribution(quoted)) +
        "<br></div><blockquote class=\"gmail_quote\" style=\"margin:0px 0px 0px 0.8ex;border-left:1px solid "
        "rgb(204,204,204);padding-left:1ex\">" +
        ThreadHtml(style, turns, from + 1) + "</blockquote></div>\n";
    return out;
  }

  // --- the four kinds ---

  Entity Question(size_t budget) {
    Turn t = NewTurn(sender_, now_, budget * 95 / 100);
    const bool flowed = charset_ != Charset::kAscii && rng_.Percent(30);
    const std::string text = TurnText(t, flowed);
    return TextPart("plain", flowed ? SpaceStuffed(text) : text, flowed);
  }

  Entity TopPostedReply(size_t budget, std::vector<Turn> history) {  // a copy: filled here
    Turn reply = NewTurn(sender_, now_, std::min<size_t>(budget / 5, rng_.Between(150, 1500)));
    if (rng_.Percent(10)) reply.signature = "Sent from my iPhone";
    const bool alternative = rng_.Percent(40);
    const bool outlook = !alternative && rng_.Percent(35);
    // The text and HTML alternatives each carry the whole history.
    const size_t reply_size = TurnText(reply, false).size();
    const size_t history_budget = budget > reply_size ? budget - reply_size : 100;
    history.resize(std::min(history.size(), 1 + budget / 3000));  // short mail, short thread
    FillHistory(history, alternative ? history_budget * 2 / 5 : history_budget * 9 / 10);

    std::vector<Turn> turns;
    turns.push_back(std::move(reply));
    for (Turn& t : history) turns.push_back(std::move(t));
    // From the oldest message up: each one above the attribution and its quoted predecessor.
    std::string text = TurnText(turns.back(), false);
    for (size_t i = turns.size() - 1; i-- > 0;) {
      const std::string older = std::move(text);
      text = TurnText(turns[i], false) + "\n";
      if (outlook) {
        text += OutlookBlock(turns[i + 1], rng_.Percent(40)) + older;
      } else {
        text += Attribution(turns[i + 1]) + "\n" + Quote(older);
      }
    }
    if (!alternative) return TextPart("plain", text);
    const HtmlStyle style = rng_.Percent(70) ? HtmlStyle::kGmail : HtmlStyle::kOutlook;
    const std::string html = HtmlHead(style, charset_) + ThreadHtml(style, turns, 0) + HtmlTail(style);
    return Multipart("alternative", {TextPart("plain", text), TextPart("html", html)});
  }

  Entity InlineReply(size_t budget, const std::vector<Turn>& history) {
    const Turn& quoted = history.front();
    std::string text = Attribution(quoted) + "\n";
    while (text.size() < budget * 9 / 10) {
      text += Quote(Wrap(Paragraph(), false)) + "\n";
      if (rng_.Percent(20)) text += Quote(LogLines(rng_.Between(200, 1200))) + "\n";
      text += Wrap(Paragraph(), false) + "\n\n";
    }
    if (const std::string sig = Signature(sender_); !sig.empty()) text += "-- \n" + sig + "\n";
    return TextPart("plain", text, false);
  }

  Entity HtmlWithAttachments(size_t budget) {
    const bool big = plan_.size_class == SizeClass::kLarge || plan_.size_class == SizeClass::kHuge;
    // Small mail: half of it plain HTML mail, half with a small file; big mail: mostly files.
    size_t file_budget = 0;
    if (big) {
      file_budget = budget - std::min(budget / 2, rng_.Between(8 * kKiB, 40 * kKiB));
    } else if (rng_.Percent(50)) {
      file_budget = budget * rng_.Between(30, 70) / 100;
    }
    const size_t text_budget = budget - file_budget;
    const HtmlStyle style = static_cast<HtmlStyle>(rng_.Weighted(std::array<size_t, 3>{40, 35, 25}));
    const bool html_only = rng_.Percent(15);
    std::string html = HtmlHead(style, charset_);
    std::string text;
    for (int paragraphs = 0;
         paragraphs < 2 || html.size() * 105 / 100 + (html_only ? 0 : text.size()) < text_budget;
         ++paragraphs) {
      const std::string p = Paragraph();
      html += HtmlParagraph(style, p);
      text += Wrap(p, false) + "\n\n";
    }
    html += HtmlTail(style);
    Entity body_part;
    const bool related = file_budget > 0 && rng_.Percent(20);
    if (related) {
      const size_t image = std::min(file_budget / 2, RawSizeFor(rng_.Between(2 * kKiB, 40 * kKiB)));
      file_budget -= std::min(file_budget, image * 78 / 57);
      html.insert(html.size() - HtmlTail(style).size(), "<img src=\"cid:image001.png\" width=\"200\">\n");
      body_part = Multipart("related", {TextPart("html", html), Attachment(image, /*inline_image=*/true)},
                            " type=\"text/html\";");
    } else {
      body_part = TextPart("html", html);
    }
    if (!html_only) body_part = Multipart("alternative", {TextPart("plain", text), body_part});
    if (file_budget < 600) return body_part;

    std::vector<Entity> parts{std::move(body_part)};
    const size_t files = std::min<size_t>(rng_.Between(1, 3), file_budget / 600);
    for (size_t i = 0; i < files; ++i) {
      const size_t share = i + 1 == files ? file_budget : file_budget * rng_.Between(20, 60) / 100;
      file_budget -= share;
      parts.push_back(Attachment(RawSizeFor(share > 400 ? share - 400 : share)));
    }
    return Multipart("mixed", parts);
  }

  const MessagePlan& plan_;
  Random rng_;
  Charset charset_ = Charset::kUtf8;
  Moment now_;
  Person sender_;
  std::string subject_;
};

}  // namespace

std::string_view MailKindName(MailKind kind) {
  static constexpr auto kNames = std::to_array<std::string_view>(
      {"question", "top_posted_reply", "inline_reply", "html_with_attachments"});
  return kNames[static_cast<size_t>(kind)];
}

std::string_view SizeClassName(SizeClass size_class) {
  static constexpr auto kNames = std::to_array<std::string_view>({"small", "medium", "large", "huge"});
  return kNames[static_cast<size_t>(size_class)];
}

std::vector<MessagePlan> PlanCorpus(uint64_t seed, int count) {
  const size_t n = static_cast<size_t>(std::max(count, 1));
  // The fixed size distribution (see the header), then shuffled into mailbox order.
  const size_t huge = std::max<size_t>(1, n / 200);
  const size_t large = std::min(n - huge, n * 8 / 100);
  const size_t medium = std::min(n - huge - large, n * 20 / 100);
  std::vector<SizeClass> classes(n, SizeClass::kSmall);
  std::fill_n(classes.begin(), huge, SizeClass::kHuge);
  std::fill_n(classes.begin() + static_cast<std::ptrdiff_t>(huge), large, SizeClass::kLarge);
  std::fill_n(classes.begin() + static_cast<std::ptrdiff_t>(huge + large), medium, SizeClass::kMedium);
  Random rng(seed);
  for (size_t i = n - 1; i > 0; --i) std::swap(classes[i], classes[rng.Below(i + 1)]);  // Fisher-Yates

  // Which kinds of mail come in which sizes: question, top-posted, inline, HTML with attachments.
  static constexpr std::array<std::array<size_t, 4>, 4> kKindWeights{{
      {35, 30, 15, 20},  // small
      {15, 35, 10, 40},  // medium
      {5, 15, 0, 80},    // large
      {0, 0, 0, 100},    // huge
  }};
  std::vector<MessagePlan> plans;
  plans.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    MessagePlan plan;
    plan.index = static_cast<int>(i);
    plan.seed = MessageSeed(seed, plan.index);
    plan.size_class = classes[i];
    Random own(plan.seed ^ 0x5851F42D4C957F2DULL);
    plan.kind = static_cast<MailKind>(own.Weighted(kKindWeights[static_cast<size_t>(plan.size_class)]));
    switch (plan.size_class) {
      case SizeClass::kSmall:
        plan.target_size = own.LogUniform(1 * kKiB, 16 * kKiB);
        break;
      case SizeClass::kMedium:
        plan.target_size = own.LogUniform(16 * kKiB, 100 * kKiB);
        break;
      case SizeClass::kLarge:
        plan.target_size = own.LogUniform(100 * kKiB, 1 * kMiB);
        break;
      case SizeClass::kHuge:
        plan.target_size = 5 * kMiB;
        break;
    }
    plans.push_back(plan);
  }
  return plans;
}

std::string GenerateMessage(const MessagePlan& plan) { return Writer(plan).Write(); }

std::vector<CorpusMessage> GenerateCorpus(uint64_t seed, int count) {
  std::vector<CorpusMessage> corpus;
  for (const MessagePlan& plan : PlanCorpus(seed, count)) corpus.push_back({plan, GenerateMessage(plan)});
  return corpus;
}

}  // namespace bench
