//! Case-insensitive text tests without allocating for ASCII text (the common case); other text is
//! lowercased first. Needles are stored lowercased.

use std::borrow::Cow;

use secops_rules::Piece;

/// The haystack to compare with lowercased needles: ASCII text as it is (compared ignoring ASCII case),
/// other text lowercased.
pub fn fold(text: &str) -> (Cow<'_, str>, bool) {
    if text.is_ascii() {
        (Cow::Borrowed(text), true)
    } else {
        (Cow::Owned(text.to_lowercase()), false)
    }
}

pub fn eq(hay: &str, needle: &str, ascii: bool) -> bool {
    if ascii {
        hay.eq_ignore_ascii_case(needle)
    } else {
        hay == needle
    }
}

pub fn starts(hay: &str, needle: &str, ascii: bool) -> bool {
    hay.len() >= needle.len()
        && hay.is_char_boundary(needle.len())
        && eq(&hay[..needle.len()], needle, ascii)
}

pub fn ends(hay: &str, needle: &str, ascii: bool) -> bool {
    hay.len() >= needle.len()
        && hay.is_char_boundary(hay.len() - needle.len())
        && eq(&hay[hay.len() - needle.len()..], needle, ascii)
}

/// Position of the first case-insensitive occurrence of `needle` (lowercase) in `hay` at or after byte
/// `from`, and its end.
pub fn find(hay: &str, needle: &str, ascii: bool, from: usize) -> Option<(usize, usize)> {
    let rest = hay.get(from..)?;
    if needle.is_empty() {
        return Some((from, from));
    }
    if !ascii {
        return rest
            .find(needle)
            .map(|i| (from + i, from + i + needle.len()));
    }
    let bytes = rest.as_bytes();
    let n = needle.as_bytes();
    let first = n[0];
    let (lower, upper) = (first.to_ascii_lowercase(), first.to_ascii_uppercase());
    let mut start = 0;
    while start + n.len() <= bytes.len() {
        let offset = memchr::memchr2(lower, upper, &bytes[start..=bytes.len() - n.len()])?;
        let at = start + offset;
        if bytes[at..at + n.len()].eq_ignore_ascii_case(n) {
            return Some((from + at, from + at + n.len()));
        }
        start = at + 1;
    }
    None
}

pub fn contains(hay: &str, needle: &str, ascii: bool) -> bool {
    find(hay, needle, ascii, 0).is_some()
}

/// Whole-text match of wildcard pieces (`Text` lowercased unless `cased`).
pub fn glob(pieces: &[Piece], hay: &str, ascii: bool, cased: bool) -> bool {
    glob_at(pieces, hay, ascii && !cased, cased)
}

fn glob_at(pieces: &[Piece], hay: &str, ascii: bool, cased: bool) -> bool {
    let Some((first, rest)) = pieces.split_first() else {
        return hay.is_empty();
    };
    match first {
        Piece::Text(text) => {
            let ok = if cased {
                hay.starts_with(text.as_str())
            } else {
                starts(hay, text, ascii)
            };
            ok && glob_at(rest, &hay[text.len()..], ascii, cased)
        }
        Piece::One => {
            let mut chars = hay.chars();
            chars.next().is_some() && glob_at(rest, chars.as_str(), ascii, cased)
        }
        Piece::Any => {
            let Some(next) = rest.first() else {
                return true;
            };
            match next {
                // Jump to each occurrence of the next literal instead of trying every position.
                Piece::Text(text) => {
                    let mut from = 0;
                    loop {
                        let found = if cased {
                            hay.get(from..)
                                .and_then(|r| r.find(text.as_str()))
                                .map(|i| from + i)
                        } else {
                            find(hay, text, ascii, from).map(|(s, _)| s)
                        };
                        let Some(at) = found else {
                            return false;
                        };
                        if glob_at(rest, &hay[at..], ascii, cased) {
                            return true;
                        }
                        from = at + hay[at..].chars().next().map_or(1, char::len_utf8);
                    }
                }
                _ => hay
                    .char_indices()
                    .map(|(i, _)| i)
                    .chain(std::iter::once(hay.len()))
                    .any(|i| glob_at(rest, &hay[i..], ascii, cased)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secops_rules::sigma::value::parse_pattern;

    fn lower(pieces: Vec<Piece>) -> Vec<Piece> {
        pieces
            .into_iter()
            .map(|p| match p {
                Piece::Text(t) => Piece::Text(t.to_lowercase()),
                other => other,
            })
            .collect()
    }

    fn m(pattern: &str, hay: &str) -> bool {
        let (h, ascii) = fold(hay);
        glob(&lower(parse_pattern(pattern)), &h, ascii, false)
    }

    #[test]
    fn wildcards_and_case() {
        assert!(m("*\\cmd.exe", "C:\\Windows\\System32\\CMD.EXE"));
        assert!(m("a?c", "ABC"));
        assert!(!m("a?c", "ac"));
        assert!(m("*x*y*", "..x..x..y"));
        assert!(!m("*x*y", "..y..x"));
        assert!(m("ÄB*", "äbc"));
        assert!(m("", ""));
        assert!(!m("", "a"));
    }

    #[test]
    fn find_is_case_insensitive_for_ascii() {
        assert_eq!(find("xxABCabc", "abc", true, 0), Some((2, 5)));
        assert_eq!(find("xxABCabc", "abc", true, 3), Some((5, 8)));
        assert_eq!(find("ab", "abc", true, 0), None);
    }
}
