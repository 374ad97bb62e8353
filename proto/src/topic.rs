//! Topic names and subscription patterns: grammar, validation and NATS-style matching.
//!
//! A topic is 1..=128 bytes of dot-separated, non-empty tokens of `[A-Za-z0-9_-]`,
//! e.g. `ticks.AAPL` or `bars.1m.AAPL`. A pattern may also use the wildcard tokens
//! `*` (exactly one token) and `>` (one or more tokens; only as the last token).

use std::fmt;

/// Longest topic or pattern, in bytes.
pub const MAX_TOPIC_BYTES: usize = 128;

/// Why a topic or pattern was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    #[error("topic is empty")]
    Empty,
    #[error("topic is {0} bytes long; the limit is {MAX_TOPIC_BYTES}")]
    TooLong(usize),
    #[error("topic has an empty token (leading, trailing or double dot)")]
    EmptyToken,
    #[error("invalid character {0:?}; tokens use A-Z a-z 0-9 _ -")]
    BadChar(char),
    #[error("wildcard in a topic; wildcards are only allowed in subscription patterns")]
    WildcardInTopic,
    #[error("wildcard inside a token; `*` and `>` must be whole tokens")]
    WildcardInsideToken,
    #[error("`>` must be the last token")]
    TailNotLast,
}

/// What a topic carries, read from its name: the one parser of topic names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicKind<'a> {
    /// `ticks.SYM`: trades and status of one symbol.
    Ticks { symbol: &'a str },
    /// `bars.1s.SYM`, `bars.1m.SYM`, ...: bars of one interval of one symbol.
    Bars {
        interval: crate::BarInterval,
        symbol: &'a str,
    },
    /// `book.SYM`: the order book of one symbol (`book`, `book_update`).
    Book { symbol: &'a str },
    /// Anything else (a publisher's own topics, or a `bars.` topic of no known interval).
    Other,
}

impl<'a> TopicKind<'a> {
    /// Reads the kind from a topic name (assumed valid: see [`validate_topic`]).
    pub fn of(topic: &'a str) -> Self {
        let mut parts = topic.splitn(3, '.');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("ticks"), Some(symbol), None) => Self::Ticks { symbol },
            (Some("book"), Some(symbol), None) => Self::Book { symbol },
            (Some("bars"), Some(token), Some(symbol)) if !symbol.contains('.') => {
                match crate::BarInterval::from_token(token) {
                    Some(interval) => Self::Bars { interval, symbol },
                    None => Self::Other,
                }
            }
            _ => Self::Other,
        }
    }

    /// The symbol of a ticks, bars or book topic.
    pub fn symbol(self) -> Option<&'a str> {
        match self {
            Self::Ticks { symbol } | Self::Bars { symbol, .. } | Self::Book { symbol } => {
                Some(symbol)
            }
            Self::Other => None,
        }
    }
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

fn check_length(s: &str) -> Result<(), TopicError> {
    match s.len() {
        0 => Err(TopicError::Empty),
        n if n > MAX_TOPIC_BYTES => Err(TopicError::TooLong(n)),
        _ => Ok(()),
    }
}

fn check_literal_token(token: &str) -> Result<(), TopicError> {
    if token.is_empty() {
        return Err(TopicError::EmptyToken);
    }
    match token
        .chars()
        .find(|&c| !(c.is_ascii() && is_token_byte(c as u8)))
    {
        None => Ok(()),
        Some('*' | '>') => Err(TopicError::WildcardInsideToken),
        Some(c) => Err(TopicError::BadChar(c)),
    }
}

/// Checks that `topic` is a concrete topic name (no wildcards).
pub fn validate_topic(topic: &str) -> Result<(), TopicError> {
    check_length(topic)?;
    for token in topic.split('.') {
        if token == "*" || token == ">" {
            return Err(TopicError::WildcardInTopic);
        }
        check_literal_token(token)?;
    }
    Ok(())
}

/// One token of a parsed [`Pattern`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Token {
    Literal(String),
    /// `*`: exactly one token.
    One,
    /// `>`: one or more tokens; always last.
    Tail,
}

/// A validated subscription pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pattern {
    text: String,
    tokens: Vec<Token>,
}

impl Pattern {
    /// Parses and validates a pattern (a topic is also a valid pattern).
    pub fn parse(text: &str) -> Result<Self, TopicError> {
        check_length(text)?;
        let count = text.split('.').count();
        let mut tokens = Vec::with_capacity(count);
        for (i, token) in text.split('.').enumerate() {
            tokens.push(match token {
                "*" => Token::One,
                ">" if i + 1 == count => Token::Tail,
                ">" => return Err(TopicError::TailNotLast),
                literal => {
                    check_literal_token(literal)?;
                    Token::Literal(literal.to_owned())
                }
            });
        }
        Ok(Self {
            text: text.to_owned(),
            tokens,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parsed tokens.
    pub fn tokens(&self) -> &[Token] {
        &self.tokens
    }

    /// True when the pattern has no wildcard, i.e. names exactly one topic.
    pub fn is_exact(&self) -> bool {
        self.tokens.iter().all(|t| matches!(t, Token::Literal(_)))
    }

    /// True when every topic `other` matches is also matched by `self` (pattern
    /// containment), e.g. `ticks.*` covers `ticks.AAPL`, `>` covers everything, and
    /// `ticks.AAPL` does not cover `ticks.*`. Used to check a subscription against the
    /// patterns a token allows.
    pub fn covers(&self, other: &Pattern) -> bool {
        let mut theirs = other.tokens.iter();
        for mine in &self.tokens {
            match (mine, theirs.next()) {
                (Token::Tail, Some(_)) => return true,
                (Token::One, Some(Token::Literal(_) | Token::One)) => {}
                (Token::Literal(a), Some(Token::Literal(b))) if a == b => {}
                _ => return false,
            }
        }
        theirs.next().is_none()
    }

    /// True when `topic` (assumed valid) matches this pattern.
    pub fn matches(&self, topic: &str) -> bool {
        let mut parts = topic.split('.');
        for token in &self.tokens {
            match (token, parts.next()) {
                (Token::Tail, Some(_)) => return true,
                (Token::One, Some(_)) => {}
                (Token::Literal(lit), Some(part)) if lit == part => {}
                _ => return false,
            }
        }
        parts.next().is_none()
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for Pattern {
    type Err = TopicError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Pattern {
        Pattern::parse(s).unwrap()
    }

    #[test]
    fn topics_follow_the_grammar() {
        assert_eq!(validate_topic("ticks.AAPL"), Ok(()));
        assert_eq!(validate_topic("bars.1m.BRK-B"), Ok(()));
        assert_eq!(validate_topic("a_b"), Ok(()));
        assert_eq!(validate_topic(""), Err(TopicError::Empty));
        assert_eq!(validate_topic(".a"), Err(TopicError::EmptyToken));
        assert_eq!(validate_topic("a."), Err(TopicError::EmptyToken));
        assert_eq!(validate_topic("a..b"), Err(TopicError::EmptyToken));
        assert_eq!(validate_topic("a b"), Err(TopicError::BadChar(' ')));
        assert_eq!(validate_topic("tické"), Err(TopicError::BadChar('é')));
        assert_eq!(validate_topic("a.*"), Err(TopicError::WildcardInTopic));
        assert_eq!(validate_topic("a.>"), Err(TopicError::WildcardInTopic));
        assert_eq!(validate_topic("a.b*"), Err(TopicError::WildcardInsideToken));
    }

    #[test]
    fn length_limit_is_128_bytes() {
        let ok = "a".repeat(MAX_TOPIC_BYTES);
        assert_eq!(validate_topic(&ok), Ok(()));
        let long = "a".repeat(MAX_TOPIC_BYTES + 1);
        assert_eq!(validate_topic(&long), Err(TopicError::TooLong(129)));
        assert_eq!(Pattern::parse(&long), Err(TopicError::TooLong(129)));
    }

    #[test]
    fn pattern_grammar() {
        assert!(p("ticks.*").tokens().contains(&Token::One));
        assert_eq!(Pattern::parse("a.>.b"), Err(TopicError::TailNotLast));
        assert_eq!(Pattern::parse("a*.b"), Err(TopicError::WildcardInsideToken));
        assert_eq!(Pattern::parse("a.b>"), Err(TopicError::WildcardInsideToken));
        assert_eq!(Pattern::parse("a..*"), Err(TopicError::EmptyToken));
        assert_eq!(Pattern::parse("*."), Err(TopicError::EmptyToken));
        assert!(p(">").matches("a"));
        assert!(p("ticks.AAPL").is_exact());
        assert!(!p("ticks.*").is_exact());
    }

    #[test]
    fn star_matches_exactly_one_token() {
        let pat = p("ticks.*");
        assert!(pat.matches("ticks.AAPL"));
        assert!(!pat.matches("ticks"));
        assert!(!pat.matches("ticks.AAPL.x"));
        assert!(!pat.matches("bars.AAPL"));
        assert!(p("*.AAPL").matches("ticks.AAPL"));
        assert!(p("bars.*.AAPL").matches("bars.1m.AAPL"));
        assert!(!p("bars.*.AAPL").matches("bars.1m.MSFT"));
    }

    #[test]
    fn tail_matches_one_or_more_tokens() {
        let pat = p("bars.>");
        assert!(pat.matches("bars.1m"));
        assert!(pat.matches("bars.1m.AAPL"));
        assert!(!pat.matches("bars"));
        assert!(!pat.matches("ticks.AAPL"));
        assert!(p("*.>").matches("a.b.c"));
        assert!(!p("*.>").matches("a"));
    }

    #[test]
    fn containment_of_patterns() {
        assert!(p(">").covers(&p("ticks.*")));
        assert!(p(">").covers(&p("a")));
        assert!(p("ticks.>").covers(&p("ticks.*")));
        assert!(p("ticks.>").covers(&p("ticks.a.>")));
        assert!(!p("ticks.>").covers(&p("ticks")));
        assert!(!p("ticks.>").covers(&p(">")));
        assert!(p("ticks.*").covers(&p("ticks.AAPL")));
        assert!(p("ticks.*").covers(&p("ticks.*")));
        assert!(!p("ticks.*").covers(&p("ticks.>")));
        assert!(!p("ticks.*").covers(&p("ticks.a.b")));
        assert!(!p("ticks.AAPL").covers(&p("ticks.*")));
        assert!(p("ticks.AAPL").covers(&p("ticks.AAPL")));
        assert!(!p("ticks.AAPL").covers(&p("ticks.MSFT")));
        assert!(p("*.AAPL").covers(&p("bars.AAPL")));
        assert!(!p("*.AAPL").covers(&p("*.*")));
    }

    #[test]
    fn literal_patterns_match_only_themselves() {
        let pat = p("ticks.AAPL");
        assert!(pat.matches("ticks.AAPL"));
        assert!(!pat.matches("ticks.AAP"));
        assert!(!pat.matches("ticks.AAPLX"));
        assert!(!pat.matches("ticks.AAPL.x"));
        assert!(!pat.matches("ticks"));
    }

    #[test]
    fn topic_kinds_are_read_from_names() {
        use crate::BarInterval;
        assert_eq!(
            TopicKind::of("ticks.AAPL"),
            TopicKind::Ticks { symbol: "AAPL" }
        );
        assert_eq!(
            TopicKind::of("bars.1m.AAPL"),
            TopicKind::Bars {
                interval: BarInterval::M1,
                symbol: "AAPL"
            }
        );
        assert_eq!(TopicKind::of("bars.7m.AAPL"), TopicKind::Other);
        assert_eq!(TopicKind::of("bars.1m.A.B"), TopicKind::Other);
        assert_eq!(TopicKind::of("ticks.A.B"), TopicKind::Other);
        assert_eq!(TopicKind::of("news.AAPL"), TopicKind::Other);
        assert_eq!(TopicKind::of("bars.1s.X").symbol(), Some("X"));
    }
}
