//! The `pve_quorum_check` module; its code is in `library/src/modules/quorum_check.rs`.

fn main() {
    library::ansible::run::<library::modules::QuorumCheck>()
}
