//! The permission to change the node: [`ChangeToken`].
//!
//! Every operation of the library that changes the node takes a
//! `&ChangeToken`: starting a changing command ([`crate::cmd::Cmd::mutating`]),
//! every file writer and backup ([`crate::fsutil`]), PVE's cluster lock
//! ([`crate::cluster_lock`]). Only [`crate::ansible::Context::change_token`]
//! makes one, and it refuses in check mode; so a module cannot reach a
//! change in check mode without the compiler noticing. This module depends
//! on nothing, so every layer can ask for a token.
//!
//! Outside the library nothing can make a token:
//!
//! ```compile_fail
//! let token = library::change::ChangeToken(());
//! ```
//!
//! and nothing writes a file without one:
//!
//! ```compile_fail
//! use library::fsutil::{write_atomic, WriteOptions};
//! write_atomic(std::path::Path::new("/etc/hosts"), b"", &WriteOptions::default());
//! ```

/// Proof that the module may change the system.
#[derive(Debug)]
pub struct ChangeToken(());

impl ChangeToken {
    /// Only the library makes tokens (the module context, when not in
    /// check mode; the library's own unit tests).
    pub(crate) fn grant() -> ChangeToken {
        ChangeToken(())
    }

    /// A token for the library's own unit tests.
    #[cfg(test)]
    pub(crate) fn for_tests() -> ChangeToken {
        ChangeToken(())
    }
}
