//! `master.info`, the file the Go tool keeps the position in (`bin_name = "mysql-bin.000003"`,
//! `bin_pos = 1234`), and lines this project adds when it knows them: `gtid = "…"`, the GTID
//! state at that position (MySQL's executed set, MariaDB's GTID position), and the history's
//! fingerprint (`bin_origin = "server_id:created"` of the binlog file, `gtid_last =
//! "gtid@time"` of the last transaction applied; see [`crate::model::history`]). The Go
//! tool's files, without them, read as before (and the Go tool ignores the extra lines).
//!
//! The file is replaced atomically (write a temp file, fsync, rename, fsync the directory), as
//! go-mysql-elasticsearch's `master.go` does: a crash leaves either the old or the new position,
//! never a torn one.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::model::gtid::GtidState;
use crate::model::history::{Fingerprint, Place};
use crate::model::position::Position;

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MasterInfo {
    bin_name: String,
    bin_pos: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gtid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bin_origin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gtid_last: Option<String>,
}

/// Reads `master.info`; `Ok(None)` when there is none yet.
pub fn load(path: &Path) -> Result<Option<Position>> {
    Ok(read(path)?.map(|mi| Position::new(mi.bin_name, mi.bin_pos)))
}

/// The GTID state `master.info` holds for its position, if it has one. `mariadb` says which
/// form the text is in.
pub fn load_gtids(path: &Path, mariadb: bool) -> Result<Option<GtidState>> {
    Ok(load_place(path, mariadb)?.and_then(|p| p.gtids))
}

/// The whole saved place: position, GTID state and fingerprint. `mariadb` says which form the
/// GTID texts are in.
pub fn load_place(path: &Path, mariadb: bool) -> Result<Option<Place>> {
    let Some(mi) = read(path)? else {
        return Ok(None);
    };
    let gtids = mi
        .gtid
        .as_deref()
        .filter(|g| !g.trim().is_empty())
        .map(|g| {
            GtidState::parse(g, mariadb)
                .with_context(|| format!("{}: the gtid line", path.display()))
        })
        .transpose()?;
    let fp = Fingerprint::from_texts(mi.bin_origin.as_deref(), mi.gtid_last.as_deref(), mariadb)
        .with_context(|| format!("{}: the bin_origin / gtid_last line", path.display()))?;
    Ok(Some(Place {
        pos: Position::new(mi.bin_name, mi.bin_pos),
        gtids,
        fp,
    }))
}

fn read(path: &Path) -> Result<Option<MasterInfo>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mi: MasterInfo = toml::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{} is not a valid position file ({}); expected two lines: bin_name = \"mysql-bin.000001\" and bin_pos = 4",
            path.display(),
            e.message().trim()
        )
    })?;
    if mi.bin_name.is_empty() {
        return Ok(None);
    }
    Ok(Some(mi))
}

/// Replaces `master.info` atomically and durably with `at`. What `at` does not know (the
/// GTID state, a part of the fingerprint) is kept from the file when it names the same
/// position (it belongs to that position), dropped otherwise.
pub fn save(path: &Path, at: &Place) -> Result<()> {
    let p = &at.pos;
    let same = match read(path) {
        Ok(Some(mi)) if mi.bin_name == *p.file && mi.bin_pos == p.pos => Some(mi),
        _ => None,
    };
    let kept = |mine: Option<String>, f: fn(MasterInfo) -> Option<String>| {
        mine.or_else(|| same.as_ref().and_then(|mi| f(mi.clone())))
    };
    let text = toml::to_string(&MasterInfo {
        bin_name: p.file.to_string(),
        bin_pos: p.pos,
        gtid: kept(at.gtids.as_ref().map(|g| g.to_string()), |m| m.gtid),
        bin_origin: kept(at.fp.origin_text(), |m| m.bin_origin),
        gtid_last: kept(at.fp.last_text(), |m| m.gtid_last),
    })?;
    atomic_write(path, text.as_bytes())
}

/// Writes a temp file beside `path`, fsyncs it, renames it over `path` and fsyncs the directory:
/// a reader (or a crash) sees the old content or the new, never a torn file.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create directory {}", dir.display()))?;
    }
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    {
        let mut f = std::fs::File::create(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))?;
    if let Some(dir) = dir {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::position::Position;

    #[test]
    fn round_trip_and_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/master.info");
        assert_eq!(load(&path).unwrap(), None);
        let p = Position::new("mysql-bin.000042", 12345);
        save(&path, &Place::bare(p.clone())).unwrap();
        assert_eq!(load(&path).unwrap(), Some(p));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("bin_name = \"mysql-bin.000042\""), "{text}");
        assert!(text.contains("bin_pos = 12345"), "{text}");
        assert!(!path.with_file_name("master.info.tmp").exists());
    }

    #[test]
    fn reads_the_go_tools_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.info");
        std::fs::write(&path, "bin_name = \"mysql-bin.000007\"\nbin_pos = 154\n").unwrap();
        assert_eq!(
            load(&path).unwrap(),
            Some(Position::new("mysql-bin.000007", 154))
        );
    }

    #[test]
    fn the_gtid_line_goes_with_its_position() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.info");
        let p = Position::new("mysql-bin.000042", 12345);
        let g = GtidState::parse("0-1-100", true).unwrap();
        let fp = Fingerprint::from_texts(Some("1:1796419979"), Some("0-1-100@1796419980"), true)
            .unwrap();
        let at = Place {
            pos: p.clone(),
            gtids: Some(g.clone()),
            fp: fp.clone(),
        };
        save(&path, &at).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("gtid = \"0-1-100\""), "{text}");
        assert!(text.contains("bin_origin = \"1:1796419979\""), "{text}");
        assert!(
            text.contains("gtid_last = \"0-1-100@1796419980\""),
            "{text}"
        );
        assert_eq!(load_gtids(&path, true).unwrap(), Some(g.clone()));
        assert_eq!(load_place(&path, true).unwrap(), Some(at.clone()));
        save(&path, &Place::bare(p.clone())).unwrap();
        assert_eq!(
            load_place(&path, true).unwrap(),
            Some(at),
            "same position: kept"
        );
        save(
            &path,
            &Place::bare(Position::new("mysql-bin.000042", 99999)),
        )
        .unwrap();
        let moved = load_place(&path, true).unwrap().unwrap();
        assert_eq!(moved.gtids, None, "another position: dropped");
        assert_eq!(
            moved.fp,
            Fingerprint::default(),
            "another position: dropped"
        );
        std::fs::write(&path, "bin_name = \"mysql-bin.000007\"\nbin_pos = 154\n").unwrap();
        assert_eq!(load_gtids(&path, true).unwrap(), None, "the Go tool's file");
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.info");
        std::fs::write(&path, "bin_pos = \"x\"\n").unwrap();
        let e = format!("{:#}", load(&path).unwrap_err());
        assert!(e.contains("master.info") && e.contains("bin_name"), "{e}");
    }
}
