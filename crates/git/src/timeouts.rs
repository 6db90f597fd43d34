//! libgit2's network timeouts. libgit2 waits forever on a server that accepts a connection and
//! then says nothing; its connect and read/write timeouts are process-wide settings that git2
//! exposes only as `unsafe fn`. They are set once, before this crate runs any git operation.

use std::sync::Once;
use std::time::Duration;

/// Connecting to a git server may take this long.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// A connected git server may stay silent this long before the operation fails.
pub const IO_TIMEOUT: Duration = Duration::from_secs(60);

/// Sets libgit2's connect and I/O timeouts, once per process.
#[allow(unsafe_code)]
pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let millis = |d: Duration| i32::try_from(d.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: these setters write plain integers into libgit2's global settings without
        // synchronisation. `Once` runs this before the first git operation of this crate (every
        // entry point calls `init` first), so no libgit2 network code reads them concurrently.
        let result = unsafe {
            git2::opts::set_server_connect_timeout_in_milliseconds(millis(CONNECT_TIMEOUT))
                .and_then(|()| git2::opts::set_server_timeout_in_milliseconds(millis(IO_TIMEOUT)))
        };
        if let Err(err) = result {
            tracing::warn!(error = %err, "cannot set libgit2 network timeouts");
        }
    });
}
