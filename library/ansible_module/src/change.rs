//! The permission to change the node: [`ChangeToken`].
//!
//! Every operation that changes the node takes a `&ChangeToken`: starting a
//! changing command ([`crate::cmd::Cmd::mutating`]) here, and in the
//! crates built on this one every file writer, backup and lock that creates
//! files. Only [`crate::ansible::Context::change_token`] makes one, and it
//! refuses in check mode; so a module cannot reach a change in check mode
//! without the compiler noticing. This module depends on nothing, so every
//! layer can ask for a token.
//!
//! Outside this crate nothing can make a token:
//!
//! ```compile_fail
//! let token = ansible_module::change::ChangeToken(());
//! ```
//!
//! nor grant one:
//!
//! ```compile_fail
//! let token = ansible_module::change::ChangeToken::grant();
//! ```

/// Proof that the module may change the system.
#[derive(Debug)]
pub struct ChangeToken(());

impl ChangeToken {
    /// Only this crate grants tokens: the module context, when not in
    /// check mode.
    pub(crate) fn grant() -> ChangeToken {
        ChangeToken(())
    }

    /// A token for unit tests: this crate's, and those of crates built on
    /// it, through their dev-dependency's feature `test-tokens` (never in a
    /// shipped binary).
    #[cfg(any(test, feature = "test-tokens"))]
    pub fn for_tests() -> ChangeToken {
        ChangeToken(())
    }
}
