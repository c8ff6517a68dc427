//! The `pve_cluster_join` module; its code is in `library/src/modules/cluster_join/`.

fn main() {
    library::ansible::run::<library::modules::ClusterJoin>()
}
