//! The `pve_cluster_status` module; its code is in `library/src/modules/cluster_status.rs`.

fn main() {
    library::ansible::run::<library::modules::ClusterStatus>()
}
