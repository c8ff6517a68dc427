//! The `pve_ssh_trust` module; its code is in `library/src/modules/ssh_trust.rs`.

fn main() {
    pve_cluster::ansible::run::<pve_cluster::modules::SshTrust>()
}
