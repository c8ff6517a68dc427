//! The `pve_corosync_totem` module; its code is in `library/src/modules/corosync_totem.rs`.

fn main() {
    library::ansible::run::<library::modules::CorosyncTotem>()
}
