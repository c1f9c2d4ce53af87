#pragma once
// What the spam filter does to a stored message (spam.action = tag). Pure code.
//
// Only the header section (up to the first empty line, RFC 5322 2.1) is looked at
// and changed; every other byte is kept as it came, so a message that carries no
// X-Shicks-Spam field and is not tagged passes unchanged.
//
//   - Every X-Shicks-Spam field (with its continuation lines) is removed: only
//     Shicks writes that header, so a sender cannot make mail look checked or
//     tagged. This happens in every mode, for clean and for spam mail.
//   - Tagging a message with a keyword:
//       * "X-Shicks-Spam: yes; keyword=QUOTED" is inserted as the first line;
//       * the first Subject field (the one the filter read) gets "[SPAM] " in front
//         of its text, after the blanks and folds that follow the colon -- unless
//         the Subject as a person reads it already starts with "[SPAM]" (ASCII
//         case ignored), so a message is never tagged twice;
//       * a message without a Subject field gets "Subject: [SPAM]" after the
//         X-Shicks-Spam line.
//     Inserted lines end like the message's first line (CRLF, or LF when that
//     line ends in a bare LF).
#include <string>
#include <string_view>

namespace shicks::spam {

inline constexpr std::string_view kSpamHeaderName = "X-Shicks-Spam";
inline constexpr std::string_view kSubjectTag = "[SPAM]";

// `yes; keyword="..."`: the keyword as an RFC 5322 3.2.4 quoted-string ('"' and '\'
// escaped with '\'; CR, LF and other control characters, which a stored keyword
// never holds, become spaces). UTF-8 stays as it is (RFC 6532 3.2).
std::string spam_header_value(std::string_view keyword);

// Does a decoded Subject (decode_subject) start with "[SPAM]" (ASCII case ignored)?
bool has_subject_tag(std::string_view decoded_subject);

// The Subject a person reads in a tagged message, from the decoded Subject it had
// when it came ("" when it had none): "[SPAM] " in front, as append_filtered writes
// it, or unchanged when it already starts with the tag.
std::string tagged_subject(std::string_view decoded_subject);

// Appends `message` to `out`: X-Shicks-Spam fields removed, and tagged with
// `keyword` when it is not null (see above).
void append_filtered(std::string& out, std::string_view message, const std::string* keyword);

}  // namespace shicks::spam
