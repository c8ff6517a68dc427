//! The `pve_cluster_join` module; its code is in `library/src/modules/cluster_join/`.

fn main() {
    pve_cluster::ansible::run::<pve_cluster::modules::ClusterJoin>()
}
