//! The `pve_hosts` module; its code is in `library/src/modules/hosts.rs`.

fn main() {
    pve_cluster::ansible::run::<pve_cluster::modules::Hosts>()
}
