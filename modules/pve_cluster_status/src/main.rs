//! The `pve_cluster_status` module; its code is in `library/src/modules/cluster_status.rs`.

fn main() {
    pve_cluster::ansible::run::<pve_cluster::modules::ClusterStatus>()
}
