//! The `pve_cluster_plan` module; its code is in `library/src/modules/cluster_plan.rs`.

fn main() {
    pve_cluster::ansible::run::<pve_cluster::modules::ClusterPlan>()
}
