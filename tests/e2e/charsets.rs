//! The character-set decoders (`src/model/charset/`) against the source server itself: every byte of
//! every single-byte set, every one-, two- and three-byte sequence of every multi-byte set
//! (and gb18030's BMP four-byte range), every UCS-2 / UTF-16 unit, is converted by the server
//! (`CONVERT(… USING utf32)`) and by our decoder, and they must agree: the same character, or
//! "not a character" on both sides (our U+FFFD, reported).
//!
//! The same sweep writes `src/model/charset/tables.rs` (ignored test `write_charset_tables`),
//! first on MySQL 9.7 (the only server with gb18030), then on MariaDB 10.11, whose answers for
//! bytes that are no character say how many bytes the server reads (MySQL answers NULL); a set
//! the second server lacks keeps the first one's block:
//! `MGS_WRITE_CHARSET_TABLES=$PWD/src/model/charset/tables.rs MGS_MYSQL_PORT=<MySQL 9.7>
//! MGS_FLAVOR=mysql cargo test --test e2e -- --ignored charsets::`, then the same with the MariaDB
//! 10.11 port and `MGS_FLAVOR=mariadb`.

use crate::support::*;
use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use mysql_gp_sync::model::charset::{Charset, Shape, BAD, BAD_LEAD, NOT_A_CHAR};

/// Every character set the server lists, with its longest sequence in bytes.
async fn server_charsets(my: &mut Conn) -> Vec<(String, u32)> {
    my.query(
        "SELECT CHARACTER_SET_NAME, MAXLEN FROM information_schema.CHARACTER_SETS \
         WHERE CHARACTER_SET_NAME <> 'binary' ORDER BY 1",
    )
    .await
    .expect("SHOW CHARACTER SET")
}

/// The base decoder and shape of each multi-byte set (what `tables.rs` records).
fn multi_byte_base(cs: &str) -> Option<(&'static encoding_rs::Encoding, Shape)> {
    use encoding_rs::*;
    Some(match cs {
        "big5" => (BIG5, Shape::DoubleByte),
        "euckr" => (EUC_KR, Shape::DoubleByte),
        "gbk" | "gb2312" => (GBK, Shape::DoubleByte),
        "sjis" | "cp932" => (SHIFT_JIS, Shape::ShiftJis),
        "ujis" | "eucjpms" => (EUC_JP, Shape::EucJp),
        "gb18030" => (GB18030, Shape::Gb18030),
        _ => return None,
    })
}

/// The byte sequences swept for a set.
fn candidates(cs: &str, maxlen: u32) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    match cs {
        "utf8mb3" | "utf8mb4" => {}
        "ucs2" | "utf16" | "utf16le" => {
            out.extend((0..=0xFFFFu32).map(|u| (u as u16).to_be_bytes().to_vec()));
            if cs == "utf16le" {
                out.iter_mut().for_each(|s| s.reverse());
            }
            if cs != "ucs2" {
                // Surrogate pairs across planes 1–16 (one in 64 low surrogates of each high one).
                for hi in 0xD800u16..0xDC00 {
                    for lo in (0xDC00u16..0xE000).step_by(64) {
                        let mut s = [hi.to_be_bytes(), lo.to_be_bytes()].concat();
                        if cs == "utf16le" {
                            s = [hi.to_le_bytes(), lo.to_le_bytes()].concat();
                        }
                        out.push(s);
                    }
                }
            }
        }
        "utf32" => {
            let points = (0..0x3000u32)
                .chain((0xD7F0..0xE010).step_by(1))
                .chain((0xE010..0x110000).step_by(97))
                .chain([0xFFFE, 0xFFFF, 0x10FFFF, 0x110000, 0x7FFF_FFFF, 0xFFFF_FFFF]);
            out.extend(points.map(|p| p.to_be_bytes().to_vec()));
        }
        _ if maxlen == 1 => out.extend((0..=255u8).map(|b| vec![b])),
        _ => {
            out.extend((0x80..=0xFFu8).map(|b| vec![b]));
            for lead in 0x80..=0xFFu8 {
                for trail in 0x40..=0xFFu8 {
                    out.push(vec![lead, trail]);
                }
            }
            if matches!(cs, "ujis" | "eucjpms") {
                for a in 0xA1..=0xFEu8 {
                    for b in 0xA1..=0xFEu8 {
                        out.push(vec![0x8F, a, b]);
                    }
                }
            }
            if cs == "gb18030" {
                // The BMP part of the four-byte range, and the start of the supplementary one.
                for b1 in (0x81..=0x84u8).chain([0x90]) {
                    for b2 in 0x30..=0x39u8 {
                        for b3 in 0x81..=0xFEu8 {
                            for b4 in 0x30..=0x39u8 {
                                if b1 != 0x90 || b2 == 0x30 {
                                    out.push(vec![b1, b2, b3, b4]);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

/// What the server makes of each sequence: one character, or `None` (an error, `?` for a
/// byte that is not `?`, several characters, a surrogate).
async fn server_decodes(my: &mut Conn, cs: &str, seqs: &[Vec<u8>]) -> Vec<Option<char>> {
    server_texts(my, cs, seqs)
        .await
        .into_iter()
        .map(|(c, _)| c)
        .collect()
}

/// [`server_decodes`], with the whole text the server made of each sequence (`None`: NULL, as
/// MySQL answers for bytes that are no text; a code point that is no character, such as a
/// lone surrogate MariaDB passes through, as `?`).
async fn server_texts(
    my: &mut Conn,
    cs: &str,
    seqs: &[Vec<u8>],
) -> Vec<(Option<char>, Option<String>)> {
    let mut out = Vec::with_capacity(seqs.len());
    for chunk in seqs.chunks(250) {
        let cols: Vec<String> = chunk
            .iter()
            .map(|s| {
                format!(
                    "HEX(CONVERT(CAST(X'{}' AS CHAR CHARACTER SET {cs}) USING utf32))",
                    hex(s)
                )
            })
            .collect();
        let row: mysql_async::Row = my
            .query_first(format!("SELECT {}", cols.join(",")))
            .await
            .unwrap_or_else(|e| panic!("converting {cs} sequences on the server: {e}"))
            .unwrap();
        for (i, s) in chunk.iter().enumerate() {
            let v: Option<String> = row.get(i).unwrap();
            let text = v.as_ref().map(|h| {
                (0..h.len() / 8)
                    .map(|k| {
                        u32::from_str_radix(&h[k * 8..k * 8 + 8], 16)
                            .ok()
                            .and_then(char::from_u32)
                            .unwrap_or('?')
                    })
                    .collect::<String>()
            });
            let c = v
                .filter(|h| h.len() == 8)
                .and_then(|h| u32::from_str_radix(&h, 16).ok())
                .and_then(char::from_u32)
                // `?` is the server's mark for "no character", unless the bytes are `?` itself.
                .filter(|&c| c != '?' || QUESTION_MARKS.contains(&s.as_slice()));
            out.push((c, text));
        }
    }
    out
}

/// Our text (U+FFFD as `?`) against the server's, for bytes that are no single character. Two
/// differences are allowed, both reported as bad text by us: a bad sequence is one `?` where
/// the server may show one per byte, and MySQL drops an incomplete last sequence (`""`).
fn same_text(ours: &str, server: &str) -> bool {
    ours == server || (ours == "?" && (server.starts_with('?') || server.is_empty()))
}

/// `?` in the one-byte sets, UCS-2 / UTF-16, UTF-16LE and UTF-32.
const QUESTION_MARKS: [&[u8]; 4] = [b"?", b"\0?", b"?\0", b"\0\0\0?"];

/// Our decoder on one sequence alone: `Some(c)` when it gives exactly that one character.
fn ours(cs: &Charset, seq: &[u8]) -> Option<char> {
    let (text, bad) = cs.decode(seq);
    let mut chars = text.chars();
    match (bad, chars.next(), chars.next()) {
        (false, Some(c), None) => Some(c),
        _ => None,
    }
}

#[tokio::test]
async fn decoders_agree_with_the_server_on_every_sequence() {
    let _servers = Servers::shared();
    let env = Env::get();
    let mut my = env.mysql().await;
    let sets = server_charsets(&mut my).await;
    assert!(sets.len() >= 39, "the server lists only {sets:?}");
    let mut failures = Vec::new();
    let mut swept = 0;
    for (cs, maxlen) in &sets {
        let ours_cs = match Charset::for_mysql(cs) {
            Ok(c) => c,
            Err(e) => {
                failures.push(format!("{cs}: {e}"));
                continue;
            }
        };
        let seqs = candidates(cs, *maxlen);
        let server = server_texts(&mut my, cs, &seqs).await;
        swept += seqs.len();
        let mut bad: Vec<String> = seqs
            .iter()
            .zip(&server)
            .filter_map(|(s, (want, text))| {
                let got = ours(&ours_cs, s);
                if got != *want {
                    return Some(format!("{} server {want:?} ours {got:?}", hex(s)));
                }
                // Bytes that are no single character: the text must still be the server's,
                // U+FFFD where it shows `?`. One difference is allowed: a bad sequence is one
                // U+FFFD where the server may show `?` and then read its second byte again.
                let (t, _) = ours_cs.decode(s);
                let t = t.replace('\u{FFFD}', "?");
                match text {
                    Some(text) if want.is_none() && !same_text(&t, text) => {
                        Some(format!("{} server {text:?} ours {t:?}", hex(s)))
                    }
                    _ => None,
                }
            })
            .collect();
        if !bad.is_empty() {
            let n = bad.len();
            bad.truncate(8);
            failures.push(format!(
                "{cs}: {n} sequence(s) differ, e.g. {}",
                bad.join("; ")
            ));
        }
    }
    let _ = my.disconnect().await;
    assert!(
        failures.is_empty(),
        "{} of {} sets disagree with {} (after {swept} sequences):\n{}",
        failures.len(),
        sets.len(),
        env.server_name(),
        failures.join("\n")
    );
}

/// Writes `src/model/charset/tables.rs` from the server's conversions (see the file comment).
#[tokio::test]
#[ignore]
async fn write_charset_tables() {
    let _servers = Servers::shared();
    let Ok(path) = std::env::var("MGS_WRITE_CHARSET_TABLES") else {
        panic!("set MGS_WRITE_CHARSET_TABLES to the file to write");
    };
    let env = Env::get();
    let mut my = env.mysql().await;
    let sets = server_charsets(&mut my).await;
    let mut single = String::new();
    let mut multi = String::new();
    for (cs, maxlen) in &sets {
        let seqs = candidates(cs, *maxlen);
        if *maxlen == 1 {
            let server = server_decodes(&mut my, cs, &seqs).await;
            let map: Vec<String> = server
                .iter()
                .map(|c| match c {
                    Some(c) => {
                        let u = *c as u32;
                        assert!(u < 0xFFFF, "{cs}: U+{u:04X} does not fit the table");
                        format!("0x{u:04X}")
                    }
                    None => format!("0x{NOT_A_CHAR:04X}"),
                })
                .collect();
            single.push_str(&format!(
                "    SingleByte {{\n        name: \"{cs}\",\n        map: [\n"
            ));
            for row in map.chunks(8) {
                single.push_str(&format!("            {},\n", row.join(", ")));
            }
            single.push_str("        ],\n    },\n");
        } else if let Some((base, shape)) = multi_byte_base(cs) {
            let server = server_texts(&mut my, cs, &seqs).await;
            // Exceptions: where the base decoder, on the sequence alone, is not the server.
            let mut runs: Vec<(u32, u32, u32)> = Vec::new();
            for (s, (want, server_text)) in seqs.iter().zip(&server) {
                let (text, errors) = base.decode_without_bom_handling(s);
                let mut it = text.chars();
                let got = match (errors, it.next(), it.next()) {
                    (false, Some(c), None) => Some(c),
                    _ => None,
                };
                let code = match (want, server_text) {
                    (Some(c), _) if got == Some(*c) => continue,
                    (Some(c), _) => *c as u32,
                    // No character, for both, and the same text (`?` for U+FFFD).
                    (None, Some(t))
                        if got.is_none() && same_text(&text.replace('\u{FFFD}', "?"), t) =>
                    {
                        continue
                    }
                    (None, None) if got.is_none() => continue,
                    // The server reads the first byte as no character and the rest again.
                    (None, Some(t)) if t.starts_with('?') && t.chars().count() > 1 => BAD_LEAD,
                    (None, _) => BAD,
                };
                let seq = s.iter().fold(0u32, |a, &x| (a << 8) | x as u32);
                if let Some(last) = runs.last_mut() {
                    let (first, n, c0) = *last;
                    let constant = c0 <= BAD_LEAD && code == c0;
                    let follows =
                        seq == first + n && (constant || (c0 > BAD_LEAD && code == c0 + n));
                    if follows && n < u16::MAX as u32 {
                        last.1 += 1;
                        continue;
                    }
                }
                runs.push((seq, 1, code));
            }
            runs.sort();
            multi.push_str(&format!(
                "    MultiByte {{\n        name: \"{cs}\",\n        base: &encoding_rs::{}_INIT,\n        shape: Shape::{shape:?},\n        runs: &[\n",
                base.name().replace('-', "_").to_ascii_uppercase()
            ));
            for (first, n, code) in runs {
                multi.push_str(&format!("            (0x{first:X}, {n}, 0x{code:X}),\n"));
            }
            multi.push_str("        ],\n    },\n");
        }
    }
    // Sets this server lacks (gb18030 on MariaDB) keep their block from the current file.
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    for block in old.split("    MultiByte {\n").skip(1) {
        let block = &block[..block.find("\n    },\n").map_or(block.len(), |e| e + 8)];
        let name = block.split('"').nth(1).unwrap_or_default();
        if !sets.iter().any(|(cs, _)| cs == name) {
            multi.push_str(&format!("    MultiByte {{\n{block}"));
        }
    }
    let version = my_value(&mut my, "SELECT VERSION()")
        .await
        .unwrap_or_default();
    let text = format!(
        "//! Generated by `tests/e2e/charsets.rs` (`write_charset_tables`) from {} {version} (a set\n\
         //! it lacks keeps the block of an earlier run: gb18030 from MySQL 9.7): do not edit by\n\
         //! hand. `decoders_agree_with_the_server_on_every_sequence` checks it against every\n\
         //! server of the test environment.\n\n\
         use super::{{MultiByte, Shape, SingleByte}};\n\n\
         #[rustfmt::skip]\n\
         pub static SINGLE_BYTE: &[SingleByte] = &[\n{single}];\n\n\
         #[rustfmt::skip]\n\
         pub static MULTI_BYTE: &[MultiByte] = &[\n{multi}];\n",
        env.server_name()
    );
    std::fs::write(&path, text).expect("writing the tables");
}
