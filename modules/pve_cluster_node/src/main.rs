//! The `pve_cluster_node` module; its code is in `library/src/modules/cluster_node.rs`.

fn main() {
    pve_cluster::ansible::run::<pve_cluster::modules::ClusterNode>()
}
