//! One line of `pvecm` stdout, the section it stands in, and the value
//! rules every line parser shares.

use super::error::ParseError;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Sect {
    Cluster,
    Quorum,
    Votequorum,
    Membership,
}

impl Sect {
    pub(super) fn from_header(line: &str) -> Option<Sect> {
        match line {
            "Cluster information" => Some(Sect::Cluster),
            "Quorum information" => Some(Sect::Quorum),
            "Votequorum information" => Some(Sect::Votequorum),
            "Membership information" => Some(Sect::Membership),
            _ => None,
        }
    }

    pub(super) fn context(self) -> &'static str {
        match self {
            Sect::Cluster => "in the Cluster information section",
            Sect::Quorum => "in the Quorum information section",
            Sect::Votequorum => "in the Votequorum information section",
            Sect::Membership => "in the Membership information section",
        }
    }
}

pub(super) struct Line<'a> {
    pub(super) no: usize,
    pub(super) raw: &'a str,
    /// Without the trailing CR and surrounding whitespace.
    pub(super) text: &'a str,
}

impl Line<'_> {
    pub(super) fn unexpected(&self, context: &str) -> ParseError {
        ParseError::UnexpectedLine {
            line_no: self.no,
            line: self.raw.trim_end_matches('\r').to_string(),
            context: context.to_string(),
        }
    }

    pub(super) fn invalid(&self, field: &'static str) -> ParseError {
        ParseError::InvalidValue {
            line_no: self.no,
            line: self.raw.trim_end_matches('\r').to_string(),
            field,
        }
    }

    /// `Label:   value` → ("Label", "value").
    pub(super) fn label_value(&self) -> Option<(&str, &str)> {
        let (label, value) = self.text.split_once(':')?;
        Some((label.trim_end(), value.trim()))
    }
}

pub(super) fn parse_u32(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A node id as corosync prints it: `0x%08x` with `-H`, else decimal.
pub(super) fn parse_nodeid(text: &str) -> Option<u32> {
    match text.strip_prefix("0x") {
        Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            u32::from_str_radix(hex, 16).ok()
        }
        Some(_) => None,
        None => parse_u32(text),
    }
}

pub(super) fn is_ring_id(text: &str) -> bool {
    let all = |s: &str, f: fn(&u8) -> bool| !s.is_empty() && s.bytes().all(|b| f(&b));
    if let Some((a, b)) = text.split_once('/') {
        return all(a, u8::is_ascii_digit) && all(b, u8::is_ascii_digit);
    }
    if let Some((a, b)) = text.split_once('.') {
        return all(a, u8::is_ascii_hexdigit) && all(b, u8::is_ascii_hexdigit);
    }
    all(text, u8::is_ascii_digit)
}

pub(super) fn set_once<T>(
    slot: &mut Option<T>,
    value: T,
    line: &Line<'_>,
    ctx: &str,
) -> Result<(), ParseError> {
    if slot.is_some() {
        return Err(line.unexpected(&format!("(repeated) {ctx}")));
    }
    *slot = Some(value);
    Ok(())
}
