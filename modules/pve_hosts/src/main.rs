//! The `pve_hosts` module; its code is in `library/src/modules/hosts.rs`.

fn main() {
    library::ansible::run::<library::modules::Hosts>()
}
