//! The `pve_corosync_totem` module; its code is in `library/src/modules/corosync_totem.rs`.

fn main() {
    pve_cluster::ansible::run::<pve_cluster::modules::CorosyncTotem>()
}
