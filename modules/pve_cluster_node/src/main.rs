//! The `pve_cluster_node` module; its code is in `library/src/modules/cluster_node.rs`.

fn main() {
    library::ansible::run::<library::modules::ClusterNode>()
}
