//! The `pve_cluster_plan` module; its code is in `library/src/modules/cluster_plan.rs`.

fn main() {
    library::ansible::run::<library::modules::ClusterPlan>()
}
