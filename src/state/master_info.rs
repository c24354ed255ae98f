//! `master.info`, the file the Go tool keeps the position in (`bin_name = "mysql-bin.000003"`,
//! `bin_pos = 1234`).
//!
//! The file is replaced atomically (write a temp file, fsync, rename, fsync the directory), as
//! go-mysql-elasticsearch's `master.go` does: a crash leaves either the old or the new position,
//! never a torn one.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::model::position::Position;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MasterInfo {
    bin_name: String,
    bin_pos: u64,
}

/// Reads `master.info`; `Ok(None)` when there is none yet.
pub fn load(path: &Path) -> Result<Option<Position>> {
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
    Ok(Some(Position::new(mi.bin_name, mi.bin_pos)))
}

/// Replaces `master.info` atomically and durably.
pub fn save(path: &Path, p: &Position) -> Result<()> {
    let text = toml::to_string(&MasterInfo {
        bin_name: p.file.to_string(),
        bin_pos: p.pos,
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
        save(&path, &p).unwrap();
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
    fn garbage_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.info");
        std::fs::write(&path, "bin_pos = \"x\"\n").unwrap();
        let e = format!("{:#}", load(&path).unwrap_err());
        assert!(e.contains("master.info") && e.contains("bin_name"), "{e}");
    }
}
