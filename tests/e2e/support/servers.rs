//! Which tests may run beside which. Every test that uses the servers holds them shared; a test
//! that restarts a server, changes a GLOBAL variable or counts server-wide sessions holds them
//! exclusively. The lock is an `flock` on a file in the test environment's directory, so it
//! holds between the threads of one test binary, between processes (nextest runs each test
//! in a process of its own) and between binaries, whatever the runner.

use std::fs::{File, OpenOptions};
use std::path::PathBuf;

/// The servers, held shared or exclusively until dropped (a test's first line).
pub struct Servers {
    _file: File,
}

impl Servers {
    /// For a test that leaves the servers and their global settings alone.
    pub fn shared() -> Servers {
        let file = open();
        file.lock_shared()
            .expect("locking the test servers (shared)");
        Servers { _file: file }
    }

    /// For a test that restarts a server, changes a GLOBAL variable or counts server-wide
    /// sessions: no other test runs meanwhile.
    pub fn exclusive() -> Servers {
        let file = open();
        file.lock().expect("locking the test servers (exclusive)");
        Servers { _file: file }
    }
}

/// Its own open file each time: flock conflicts between open files, also within a process.
fn open() -> File {
    let dir =
        PathBuf::from(std::env::var("MGS_TEST_DIR").unwrap_or_else(|_| "/tmp/mgs-test-env".into()));
    let path = dir.join("servers.lock");
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| {
            panic!(
                "opening {}: {e} (is the test environment up? scripts/test-env.sh up)",
                path.display()
            )
        })
}
