//! The `pve_ssh_trust` module; its code is in `library/src/modules/ssh_trust.rs`.

fn main() {
    library::ansible::run::<library::modules::SshTrust>()
}
