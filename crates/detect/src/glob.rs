//! Wildcard patterns (`*`, `?`) matched without backtracking blow-up.

use secops_rules::Piece;

/// A compiled wildcard pattern. Common shapes (`abc*`, `*abc`, `*abc*`) get direct string tests; others
/// use a linear-time matcher with one backtrack point.
#[derive(Debug, Clone)]
pub struct Glob {
    shape: Shape,
    case_insensitive: bool,
}

#[derive(Debug, Clone)]
enum Shape {
    Prefix(String),
    Suffix(String),
    Contains(String),
    General(Vec<Token>),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Char(char),
    One,
    Any,
}

impl Glob {
    pub fn new(pieces: &[Piece], case_insensitive: bool) -> Self {
        let fold = |s: &str| {
            if case_insensitive {
                s.to_lowercase()
            } else {
                s.to_string()
            }
        };
        let shape = match pieces {
            [Piece::Text(t), Piece::Any] => Shape::Prefix(fold(t)),
            [Piece::Any, Piece::Text(t)] => Shape::Suffix(fold(t)),
            [Piece::Any, Piece::Text(t), Piece::Any] => Shape::Contains(fold(t)),
            _ => Shape::General(
                pieces
                    .iter()
                    .flat_map(|p| match p {
                        Piece::Text(t) => fold(t).chars().map(Token::Char).collect::<Vec<_>>(),
                        Piece::Any => vec![Token::Any],
                        Piece::One => vec![Token::One],
                    })
                    .collect(),
            ),
        };
        Glob {
            shape,
            case_insensitive,
        }
    }

    pub fn matches(&self, text: &str) -> bool {
        let folded;
        let text = if self.case_insensitive {
            folded = text.to_lowercase();
            folded.as_str()
        } else {
            text
        };
        match &self.shape {
            Shape::Prefix(p) => text.starts_with(p.as_str()),
            Shape::Suffix(s) => text.ends_with(s.as_str()),
            Shape::Contains(c) => text.contains(c.as_str()),
            Shape::General(tokens) => general(tokens, text),
        }
    }
}

/// The classic single-star-backtrack algorithm: O(n*m) worst case, no recursion.
fn general(tokens: &[Token], text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    let (mut t, mut c) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while c < chars.len() {
        match tokens.get(t) {
            Some(Token::Any) => {
                star = Some((t, c));
                t += 1;
            }
            Some(Token::One) => {
                t += 1;
                c += 1;
            }
            Some(Token::Char(x)) if *x == chars[c] => {
                t += 1;
                c += 1;
            }
            _ => match star {
                Some((st, sc)) => {
                    t = st + 1;
                    c = sc + 1;
                    star = Some((st, sc + 1));
                }
                None => return false,
            },
        }
    }
    tokens[t.min(tokens.len())..]
        .iter()
        .all(|x| *x == Token::Any)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(pattern: &str, ci: bool) -> Glob {
        crate::matcher::glob_from_text(pattern, ci)
    }

    #[test]
    fn shapes_and_general_patterns() {
        let cases = [
            ("abc*", "abcdef", true),
            ("abc*", "xabc", false),
            ("*.exe", "a.exe", true),
            ("*mimi*", "xmimikatz", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("*", "", true),
            ("a*", "a", true),
            (
                "*a*a*a*a*b",
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                false,
            ),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(
                glob(pattern, false).matches(text),
                expected,
                "{pattern} ~ {text}"
            );
        }
    }

    #[test]
    fn case_insensitive_folds_both_sides() {
        assert!(glob("*\\POWERSHELL.exe", true).matches("C:\\Windows\\powershell.EXE"));
        assert!(!glob("*\\POWERSHELL.exe", false).matches("C:\\Windows\\powershell.EXE"));
    }
}
