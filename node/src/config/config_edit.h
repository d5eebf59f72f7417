// Editing one setting of a config file in place, keeping everything else a
// person wrote there (comments, blank lines, order) as it was.
#pragma once

#include <string>
#include <string_view>

namespace posta::node {

// `text` with the line `key = ...` of table [`table`] replaced by `key =
// "<value>"` (a TOML basic string). A key absent from the table is added
// after the table's last line; a text without the table gets it at its
// end. Lines that are comments, or in other tables, are never touched. The
// caller parses the result to confirm it says what was meant.
std::string SetConfigString(std::string_view text, std::string_view table,
                            std::string_view key, std::string_view value);

}  // namespace posta::node
