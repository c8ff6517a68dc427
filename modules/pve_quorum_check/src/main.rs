//! The `pve_quorum_check` module; its code is in `library/src/modules/quorum_check.rs`.

fn main() {
    pve_cluster::ansible::run::<pve_cluster::modules::QuorumCheck>()
}
