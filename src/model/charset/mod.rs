//! MySQL and MariaDB character sets → Rust (UTF-8) text, decoded exactly as the server itself
//! converts them (`CONVERT(c USING utf8mb4)`), for the binlog and the initial load alike.
//!
//! - UTF-8 (`utf8mb3`, `utf8mb4`): checked, not copied.
//! - Single-byte sets (`latin1` … `tis620`, 25 of them): a 256-entry table per set, taken from
//!   the servers by `tests/e2e/charsets.rs` (MariaDB 10.11, 11.8 and MySQL 9.7 agree byte for byte).
//!   `encoding_rs` implements the WHATWG encodings, which differ from MySQL's tables for several
//!   of these (`latin5` is ISO 8859-9, not windows-1254) and lack others (`keybcs2`, `armscii8`,
//!   `geostd8`, `dec8`, `hp8`, `swe7`, `cp850`, `cp852`, `macce`, `macroman`, `tis620`), and no
//!   maintained crate covers them all; 25 generated tables are less code than any of those.
//! - Multi-byte CJK sets: `encoding_rs` (the WHATWG decoders) plus generated exception runs
//!   wherever MySQL's table differs from WHATWG's (`sjis` 0x815F is `\`, not `＼`; `big5` has
//!   no HKSCS; `gb2312` is only EUC-CN; user-defined areas map to private use), found by
//!   sweeping every 1-, 2- and 3-byte sequence (and gb18030's BMP 4-byte range) on the servers.
//! - `ucs2`, `utf16`, `utf16le`, `utf32`: written here; they are a few lines each
//!   (`encoding_rs` decodes UTF-16 but not UTF-32, and UCS-2 has no surrogate pairs).
//!
//! **Bytes that are not a character of their set** (a server that stored them without checking,
//! an unmapped code, a lone surrogate) become U+FFFD, the Unicode replacement character, one per
//! bad sequence; the caller logs the table, column, key and binlog position. The sync does not
//! stop on them: MySQL itself shows such bytes as `?` and keeps going.

mod tables;

use std::borrow::Cow;

use anyhow::{bail, Result};
use encoding_rs::Encoding;

/// A column's character set: how its bytes become text. Cheap to copy (static tables).
#[derive(Clone, Copy)]
pub struct Charset {
    name: &'static str,
    how: How,
}

#[derive(Clone, Copy)]
enum How {
    Utf8,
    /// `ascii`: the table keeps bytes 0x00–0x7F as they are (all sets but swe7), so ASCII
    /// text needs no table lookups.
    SingleByte {
        table: &'static SingleByte,
        ascii: bool,
    },
    Multi(&'static MultiByte),
    /// `ucs2` (no surrogate pairs), `utf16` (big endian), `utf16le`.
    Utf16 {
        big_endian: bool,
        pairs: bool,
    },
    Utf32,
}

/// A single-byte set: the code point of each byte; `NOT_A_CHAR` where the set has none.
pub struct SingleByte {
    pub name: &'static str,
    pub map: [u16; 256],
}

/// U+FFFF is a noncharacter: no set maps a byte to it, so it marks "no character".
pub const NOT_A_CHAR: u16 = 0xFFFF;

/// In [`MultiByte::runs`]: the sequence is no character.
pub const BAD: u32 = 0;
/// In [`MultiByte::runs`]: the first byte is no character, the rest is read again.
pub const BAD_LEAD: u32 = 1;

/// What an exception run says of one sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exception {
    Char(char),
    Bad,
    BadLead,
}

/// How a multi-byte set splits its bytes into sequences, before any table is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Lead byte 0x81–0xFE, then one byte 0x40–0xFE (big5, gbk, gb2312, euckr).
    DoubleByte,
    /// Shift_JIS: 0xA1–0xDF stand alone (half-width katakana), other high bytes lead a pair.
    ShiftJis,
    /// EUC-JP: 0x8F leads a three-byte sequence (JIS X 0212), other high bytes a pair.
    EucJp,
    /// GB18030: a lead byte and 0x30–0x39 start a four-byte sequence, else a pair.
    Gb18030,
}

/// A multi-byte set: `encoding_rs`'s decoder, except inside `runs`.
pub struct MultiByte {
    pub name: &'static str,
    pub base: &'static Encoding,
    pub shape: Shape,
    /// Sorted, disjoint `(first sequence, count, first code point)`: the `count` sequences from
    /// `first` (bytes read big-endian as a number) decode to consecutive code points from
    /// `first code point`; [`BAD`] marks sequences that are no character, [`BAD_LEAD`] those
    /// whose first byte is none and whose next bytes MySQL reads again on their own.
    pub runs: &'static [(u32, u16, u32)],
}

impl Charset {
    pub const UTF8: Charset = Charset {
        name: "utf8mb4",
        how: How::Utf8,
    };

    /// The decoder of a MySQL character set name (`information_schema` spelling).
    pub fn for_mysql(name: &str) -> Result<Charset> {
        let utf16 = |big_endian, pairs| How::Utf16 { big_endian, pairs };
        let (name, how) = match name {
            "utf8mb4" | "utf8" => ("utf8mb4", How::Utf8),
            "utf8mb3" => ("utf8mb3", How::Utf8),
            "ucs2" => ("ucs2", utf16(true, false)),
            "utf16" => ("utf16", utf16(true, true)),
            "utf16le" => ("utf16le", utf16(false, true)),
            "utf32" => ("utf32", How::Utf32),
            other => {
                if let Some(t) = tables::SINGLE_BYTE.iter().find(|t| t.name == other) {
                    let ascii = (0..0x80).all(|b| t.map[b] == b as u16);
                    (t.name, How::SingleByte { table: t, ascii })
                } else if let Some(t) = tables::MULTI_BYTE.iter().find(|t| t.name == other) {
                    (t.name, How::Multi(t))
                } else {
                    bail!(
                        "character set {other} is not known to this version; convert the column \
                         to utf8mb4, or report it with the output of SHOW CHARACTER SET"
                    )
                }
            }
        };
        Ok(Charset { name, how })
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn is_utf8(&self) -> bool {
        matches!(self.how, How::Utf8)
    }

    /// The text of `b`, and whether any bytes were not a character (each such sequence is
    /// U+FFFD in the text).
    pub fn decode<'a>(&self, b: &'a [u8]) -> (Cow<'a, str>, bool) {
        match self.how {
            How::Utf8 => match std::str::from_utf8(b) {
                Ok(s) => (Cow::Borrowed(s), false),
                Err(_) => (String::from_utf8_lossy(b), true),
            },
            How::SingleByte { ascii: true, .. } if b.is_ascii() => {
                (Cow::Borrowed(std::str::from_utf8(b).unwrap()), false)
            }
            How::SingleByte { table, .. } => single_byte(table, b),
            How::Multi(t) => multi_byte(t, b),
            How::Utf16 { big_endian, pairs } => utf16(b, big_endian, pairs),
            How::Utf32 => utf32(b),
        }
    }
}

impl std::fmt::Debug for Charset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

fn single_byte<'a>(t: &SingleByte, b: &'a [u8]) -> (Cow<'a, str>, bool) {
    let mut bad = false;
    let text = b
        .iter()
        .map(|&x| match t.map[x as usize] {
            NOT_A_CHAR => {
                bad = true;
                '\u{FFFD}'
            }
            // Every entry is a BMP character: the generator takes only characters the server
            // names (a surrogate is not one) below U+FFFF.
            c => char::from_u32(c as u32).unwrap_or('\u{FFFD}'),
        })
        .collect::<String>();
    (Cow::Owned(text), bad)
}

impl MultiByte {
    /// The length of the sequence at the start of `b` (non-empty), by shape alone.
    fn sequence_len(&self, b: &[u8]) -> usize {
        let lead = b[0];
        if lead < 0x80 {
            return 1;
        }
        match self.shape {
            Shape::ShiftJis if (0xA1..=0xDF).contains(&lead) => 1,
            Shape::EucJp if lead == 0x8F => 3,
            Shape::Gb18030 if b.get(1).is_some_and(|x| x.is_ascii_digit()) => 4,
            _ => 2,
        }
    }

    /// Where `seq` falls in an exception run: `Some(None)` not a character, `Some(Some(c))`.
    fn exception(&self, seq: u32) -> Option<Exception> {
        let i = self.runs.partition_point(|r| r.0 <= seq);
        let (first, count, code) = *self.runs.get(i.checked_sub(1)?)?;
        if seq >= first + count as u32 {
            return None;
        }
        Some(match code {
            BAD => Exception::Bad,
            BAD_LEAD => Exception::BadLead,
            c => char::from_u32(c + (seq - first)).map_or(Exception::Bad, Exception::Char),
        })
    }
}

fn multi_byte<'a>(t: &MultiByte, b: &'a [u8]) -> (Cow<'a, str>, bool) {
    if b.is_ascii() {
        // Every set here keeps ASCII as it is.
        return (Cow::Borrowed(std::str::from_utf8(b).unwrap()), false);
    }
    let mut out = String::with_capacity(b.len() * 3 / 2);
    let mut bad = false;
    // `plain` starts the bytes that `encoding_rs` decodes as they are.
    let (mut i, mut plain) = (0, 0);
    let flush = |out: &mut String, bytes: &[u8], bad: &mut bool| {
        let (text, errors) = t.base.decode_without_bom_handling(bytes);
        *bad |= errors;
        out.push_str(&text);
    };
    while i < b.len() {
        // A high byte on its own that MySQL reads differently from encoding_rs (gbk's 0x80 is
        // no character for MySQL, the euro sign for WHATWG) is a sequence of one.
        let n = if b[i] >= 0x80 && t.exception(b[i] as u32).is_some() {
            1
        } else {
            t.sequence_len(&b[i..])
        };
        if n == 1 && b[i] < 0x80 {
            i += 1;
            continue;
        }
        let complete = i + n <= b.len();
        let seq = b[i..(i + n).min(b.len())]
            .iter()
            .fold(0u32, |acc, &x| (acc << 8) | x as u32);
        let exception = if complete {
            t.exception(seq)
        } else {
            Some(Exception::Bad)
        };
        let Some(e) = exception else {
            i += n;
            continue;
        };
        flush(&mut out, &b[plain..i], &mut bad);
        match e {
            Exception::Char(c) => out.push(c),
            Exception::Bad | Exception::BadLead => {
                out.push('\u{FFFD}');
                bad = true;
            }
        }
        i = if e == Exception::BadLead {
            i + 1
        } else {
            (i + n).min(b.len())
        };
        plain = i;
    }
    flush(&mut out, &b[plain..], &mut bad);
    (Cow::Owned(out), bad)
}

fn utf16(b: &[u8], big_endian: bool, pairs: bool) -> (Cow<'static, str>, bool) {
    let units = b.chunks(2).map(|u| match (u, big_endian) {
        ([hi, lo], true) | ([lo, hi], false) => Ok(u16::from_be_bytes([*hi, *lo])),
        _ => Err(()),
    });
    let mut out = String::with_capacity(b.len());
    let mut bad = false;
    let mut pending: Option<u16> = None;
    for u in units {
        let Ok(u) = u else {
            bad = true;
            out.push('\u{FFFD}');
            continue;
        };
        if let Some(hi) = pending.take() {
            if (0xDC00..0xE000).contains(&u) {
                let c = 0x10000 + (((hi as u32) - 0xD800) << 10) + (u as u32 - 0xDC00);
                out.push(char::from_u32(c).unwrap_or('\u{FFFD}'));
                continue;
            }
            bad = true;
            out.push('\u{FFFD}');
        }
        if pairs && (0xD800..0xDC00).contains(&u) {
            pending = Some(u);
            continue;
        }
        match char::from_u32(u as u32) {
            Some(c) => out.push(c),
            None => {
                bad = true;
                out.push('\u{FFFD}');
            }
        }
    }
    if pending.is_some() {
        bad = true;
        out.push('\u{FFFD}');
    }
    (Cow::Owned(out), bad)
}

fn utf32(b: &[u8]) -> (Cow<'static, str>, bool) {
    let mut bad = false;
    let text = b
        .chunks(4)
        .map(|u| {
            let c = <[u8; 4]>::try_from(u)
                .ok()
                .and_then(|u| char::from_u32(u32::from_be_bytes(u)));
            bad |= c.is_none();
            c.unwrap_or('\u{FFFD}')
        })
        .collect::<String>();
    (Cow::Owned(text), bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(cs: &str, b: &[u8]) -> (String, bool) {
        let (t, bad) = Charset::for_mysql(cs).unwrap().decode(b);
        (t.into_owned(), bad)
    }

    #[test]
    fn every_set_the_servers_list_is_known() {
        for cs in [
            "armscii8", "ascii", "big5", "cp1250", "cp1251", "cp1256", "cp1257", "cp850", "cp852",
            "cp866", "cp932", "dec8", "eucjpms", "euckr", "gb18030", "gb2312", "gbk", "geostd8",
            "greek", "hebrew", "hp8", "keybcs2", "koi8r", "koi8u", "latin1", "latin2", "latin5",
            "latin7", "macce", "macroman", "sjis", "swe7", "tis620", "ucs2", "ujis", "utf16",
            "utf16le", "utf32", "utf8mb3", "utf8mb4",
        ] {
            assert_eq!(Charset::for_mysql(cs).unwrap().name(), cs);
        }
        assert!(Charset::for_mysql("klingon").is_err());
    }

    #[test]
    fn mysql_tables_not_whatwg_ones() {
        // latin5 is ISO 8859-9: 0x80 is a C1 control, not windows-1254's euro sign.
        assert_eq!(text("latin5", b"\x80\xd0"), ("\u{80}Ğ".into(), false));
        // swe7 puts Swedish letters where ASCII has brackets.
        assert_eq!(text("swe7", b"[]"), ("ÄÅ".into(), false));
        // ASCII stays ASCII in the others, on the fast path too.
        assert_eq!(
            text("latin1", b"plain [ascii]"),
            ("plain [ascii]".into(), false)
        );
        // sjis 0x815F is the backslash; cp932 (Windows) makes it the full-width one.
        assert_eq!(text("sjis", b"\x81\x5f").0, "\\");
        assert_eq!(text("cp932", b"\x81\x5f").0, "＼");
        assert!(text("gbk", "中文".as_bytes()).1); // UTF-8 bytes are not GBK text
                                                   // A lone 0x80 is no character in MySQL's gbk and sjis (WHATWG: € and U+0080), and the
                                                   // sequences after it are read as MySQL reads them.
        assert_eq!(text("gbk", b"\x80\xd6\xd0"), ("\u{FFFD}中".into(), true));
        assert_eq!(text("sjis", b"\x80\x81\x5f"), ("\u{FFFD}\\".into(), true));
        // Big5-HKSCS reads 0x8862 as two characters; MySQL's big5 has no such character and
        // reads the 'b' again on its own.
        assert_eq!(text("big5", b"\x88\x62"), ("\u{FFFD}b".into(), true));
        assert_eq!(text("gbk", b"\xd6\xd0\xce\xc4"), ("中文".into(), false));
    }

    #[test]
    fn wide_sets() {
        assert_eq!(text("utf32", b"\x00\x01\xf6\x00"), ("😀".into(), false));
        assert_eq!(text("utf16", b"\xd8\x3d\xde\x00"), ("😀".into(), false));
        assert_eq!(text("utf16le", b"\x3d\xd8\x00\xde"), ("😀".into(), false));
        assert_eq!(text("ucs2", b"\x00\xe9"), ("é".into(), false));
        // A lone surrogate, a truncated unit, a code point past U+10FFFF: replaced, reported.
        assert_eq!(text("ucs2", b"\xd8\x00"), ("\u{FFFD}".into(), true));
        assert_eq!(
            text("utf16", b"\xd8\x3d\x00\x41"),
            ("\u{FFFD}A".into(), true)
        );
        assert_eq!(
            text("utf32", b"\x00\x11\x00\x00"),
            ("\u{FFFD}".into(), true)
        );
        assert_eq!(text("utf16", b"\x00"), ("\u{FFFD}".into(), true));
    }

    #[test]
    fn bad_bytes_become_the_replacement_character() {
        assert_eq!(text("utf8mb4", b"a\xffb"), ("a\u{FFFD}b".into(), true));
        // cp1250 has no character at 0x81.
        assert_eq!(text("cp1250", b"a\x81"), ("a\u{FFFD}".into(), true));
        // A lead byte at the end of the value.
        assert_eq!(text("gbk", b"a\xd6"), ("a\u{FFFD}".into(), true));
    }
}
